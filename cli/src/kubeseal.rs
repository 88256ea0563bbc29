//! `kubeseal` compatibility: when run as `kubeseal` (e.g. through a symlink) or as
//! `sealant kubeseal …`, accept kubeseal's common flags with kubeseal's defaults (JSON output,
//! `-w x.yaml` forces YAML, `--merge-into` writes JSON unless `-o yaml`) and map them onto
//! `sealant seal` and `sealant unseal`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Parser};

use crate::OutputFormat;
use crate::certsrc::{KUBESEAL_CERT_ENV, resolve, resolve_cert};
use crate::io::{self, Source, WriteOptions};
use crate::kubecfg::{Cluster, ClusterArgs};
use crate::manifest::{doc_name, read_stream};
use crate::seal::{self, CliScope, SealAction, SealPlan};
use crate::unseal::{self, UnsealPlan};

/// kubeseal's flags (the common ones; see the README for what is not supported).
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct KubesealArgs {
    /// Certificate: a PEM file, a file:// or an http(s):// URL.
    #[arg(long, env = KUBESEAL_CERT_ENV, hide_env_values = true, value_name = "PATH|URL")]
    pub cert: Option<String>,

    /// Output format: json or yaml.
    #[arg(short = 'o', long = "format", default_value = "json")]
    pub format: String,

    /// Output file (a .yaml/.yml name forces YAML).
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "FILE")]
    pub sealed_secret_file: Option<PathBuf>,

    /// Input file (default stdin).
    #[arg(short = 'f', long = "secret-file", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Print the certificate instead of sealing.
    #[arg(long)]
    pub fetch_cert: bool,

    /// Allow Secrets with no data items.
    #[arg(long)]
    pub allow_empty_data: bool,

    /// Validate the input SealedSecrets with the controller.
    #[arg(long)]
    pub validate: bool,

    /// Merge the input's items into this SealedSecret file, in place.
    #[arg(long, value_name = "FILE")]
    pub merge_into: Option<PathBuf>,

    /// Seal one value and print its base64.
    #[arg(long)]
    pub raw: bool,

    /// Name (required with --raw and strict scope; else overrides metadata.name).
    #[arg(long)]
    pub name: Option<String>,

    /// Namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,

    /// With --raw: the file holding the value (`KEY=PATH` accepted).
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,

    /// strict, namespace-wide or cluster-wide ("" means strict; as in kubeseal, strict does not
    /// override an input's scope annotation).
    #[arg(long, default_value = "")]
    pub scope: String,

    /// Re-encrypt the input SealedSecrets with the controller's newest key.
    #[arg(long, alias = "rotate")]
    pub re_encrypt: bool,

    /// Decrypt the input SealedSecret offline with --recovery-private-key.
    #[arg(long)]
    pub recovery_unseal: bool,

    /// Private key file(s) for --recovery-unseal (repeat or separate with commas).
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub recovery_private_key: Vec<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Print the version.
    #[arg(long = "version")]
    pub version: bool,
}

/// `kubeseal` as its own program name.
#[derive(Debug, Parser)]
#[command(
    name = "kubeseal",
    about = "kubeseal-compatible front end of sealant",
    max_term_width = 100
)]
struct KubesealCli {
    #[command(flatten)]
    args: KubesealArgs,
}

/// Whether the program was started under the name `kubeseal` (e.g. through a symlink).
pub fn invoked_as_kubeseal(argv0: Option<&OsString>) -> bool {
    argv0
        .map(Path::new)
        .and_then(Path::file_stem)
        .is_some_and(|s| s == "kubeseal")
}

/// Parses kubeseal's command line (argv[0] included) and runs it.
pub fn main_from(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    run(&KubesealCli::parse_from(args).args)
}

fn parse_format(value: &str) -> Result<OutputFormat> {
    match value.to_ascii_lowercase().as_str() {
        "json" => Ok(OutputFormat::Json),
        "yaml" => Ok(OutputFormat::Yaml),
        _ => bail!("unsupported output format: {value}"),
    }
}

fn parse_scope(value: &str) -> Result<Option<CliScope>> {
    match value {
        "" => Ok(None),
        "strict" => Ok(Some(CliScope::Strict)),
        "namespace-wide" => Ok(Some(CliScope::NamespaceWide)),
        "cluster-wide" => Ok(Some(CliScope::ClusterWide)),
        _ => bail!("--scope {value:?}: must be one of: strict, namespace-wide, cluster-wide"),
    }
}

pub fn run(args: &KubesealArgs) -> Result<()> {
    if args.version {
        return io::write_stdout(
            format!("kubeseal version: sealant-{}\n", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
    }
    // kubeseal's order: --from-file check, output handling, recovery, validate, re-encrypt,
    // certificate, fetch-cert, merge-into, raw, seal.
    if !args.from_file.is_empty() && !args.raw {
        bail!("--from-file requires --raw");
    }
    if args.from_file.len() > 1 {
        bail!("--from-file: only one file can be sealed with --raw");
    }
    let mut format = parse_format(&args.format)?;
    let scope = parse_scope(&args.scope)?;
    if let Some(out) = &args.sealed_secret_file {
        let yaml = out
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if yaml {
            format = OutputFormat::Yaml;
        }
    }

    if args.recovery_unseal {
        if args.recovery_private_key.is_empty() {
            bail!("--recovery-unseal needs --recovery-private-key");
        }
        return unseal::run(&UnsealPlan {
            keyring: unseal::load_keyring(&args.recovery_private_key)?,
            input: Source::from_arg(args.secret_file.as_deref()),
            format: format.into(),
            options: sealant_api::UnsealOptions::default(),
        });
    }
    if !args.recovery_private_key.is_empty() {
        io::note("warning: --recovery-private-key is ignored without --recovery-unseal");
    }
    if args.validate {
        let ok = crate::verify::run(&crate::verify::VerifyPlan {
            files: vec![Source::from_arg(args.secret_file.as_deref())],
            checker: crate::verify::Checker::Online(Box::new(Cluster::open(&args.cluster)?)),
            strict: false,
        })?;
        if !ok {
            bail!("unable to validate the sealed secret(s)");
        }
        return Ok(());
    }
    if args.re_encrypt {
        return re_encrypt(args, format);
    }
    if args.fetch_cert {
        let resolved = resolve(args.cert.as_deref(), &args.cluster, false)?;
        return io::emit(args.sealed_secret_file.as_deref(), &resolved.pem);
    }
    // Without --cert: the controller's certificate (kubeconfig, --controller-name/-namespace).
    let cert = resolve_cert(args.cert.as_deref(), &args.cluster)?;
    let out = args.sealed_secret_file.clone();
    let raw = args.raw && args.merge_into.is_none();
    let action = if raw {
        SealAction::Raw { cert, out }
    } else if let Some(target) = &args.merge_into {
        SealAction::Merge {
            cert,
            target: target.clone(),
            format: Some(format.into()),
        }
    } else {
        SealAction::Print {
            cert,
            format: format.into(),
            out,
        }
    };
    let input = match args.from_file.first() {
        Some(spec) if raw => Source::from_arg(Some(&seal::raw_value_path(spec))),
        _ => Source::from_arg(args.secret_file.as_deref()),
    };
    seal::run(&SealPlan {
        input,
        options: sealant_api::SealOptions {
            // kubeseal cannot tell `--scope strict` from no flag: an input's annotation wins.
            scope: scope.filter(|s| *s != CliScope::Strict).map(Into::into),
            name: args.name.clone(),
            namespace: args.namespace.clone(),
            default_namespace: seal::DEFAULT_NAMESPACE.to_owned(),
            allow_empty_data: args.allow_empty_data,
        },
        strict_ignored: scope == Some(CliScope::Strict) && !raw,
        action,
    })
}

/// `--re-encrypt`: each input SealedSecret through the controller's `/v1/rotate`; the result goes
/// to `-w`, else back into the `-f` file, else stdout (as kubeseal does).
fn re_encrypt(args: &KubesealArgs, format: OutputFormat) -> Result<()> {
    let source = Source::from_arg(args.secret_file.as_deref());
    let text = io::read_source_text(&source)?;
    let docs = read_stream(&source, &text, "SealedSecrets")?;
    let cluster = Cluster::open(&args.cluster)?;
    let mut out = String::new();
    for doc in &docs {
        let name = doc_name(&source, doc, docs.len());
        let ss = doc
            .to_sealed_secret()
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        let new = crate::rotate::rotate_one(&cluster, &ss, &doc.value)?
            .map_err(|why| anyhow::anyhow!("{name}: cannot re-encrypt secret: {why}"))?;
        out.push_str(
            &sealant_api::render(&new, format.into())
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?,
        );
    }
    match (&args.sealed_secret_file, &source) {
        (Some(_), _) => io::emit(args.sealed_secret_file.as_deref(), out.as_bytes()),
        (None, Source::File(path)) => io::write_atomic(path, out.as_bytes(), WriteOptions::REPLACE),
        (None, Source::Stdin) => io::write_stdout(out.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_valid() {
        KubesealCli::command().debug_assert();
    }

    #[test]
    fn argv0_detection() {
        assert!(invoked_as_kubeseal(Some(&"/usr/local/bin/kubeseal".into())));
        assert!(invoked_as_kubeseal(Some(&"kubeseal.exe".into())));
        assert!(!invoked_as_kubeseal(Some(&"sealant".into())));
        assert!(!invoked_as_kubeseal(None));
    }

    #[test]
    fn formats_and_scopes() {
        assert_eq!(parse_format("YAML").unwrap(), OutputFormat::Yaml);
        assert!(parse_format("xml").is_err());
        assert_eq!(parse_scope("").unwrap(), None);
        assert!(parse_scope("global").is_err());
    }
}
