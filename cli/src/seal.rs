//! `sealant seal`: Secret manifests (or one raw value) into SealedSecrets.
//!
//! The arguments are resolved once into a [`SealPlan`] (the input, the certificates, the
//! options and where the output goes), which [`run`] carries out; `sealant kubeseal` builds the
//! same plan from kubeseal's flags.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::{Args, ValueEnum};
use sealant_api::{Format, SealOptions};
use sealant_crypto::{Certificate, Scope};

use crate::OutputFormat;
use crate::bulk;
use crate::certsrc::resolve_cert;
use crate::io::{self, Source};
use crate::manifest::{locate_err, output_format, read_secrets};
use crate::multi::OutDir;

/// Namespace for inputs without one when `-n` is not given (never the kubeconfig's).
pub const DEFAULT_NAMESPACE: &str = "default";

pub const EXAMPLES: &str = "\
Examples:
  # Seal a Secret manifest; the output is a SealedSecret (YAML by default)
  sealant seal --cert cert.pem secret.yaml -w sealed-secret.yaml

  # From stdin, with the certificate served by the controller, as JSON
  kubectl create secret generic db --from-literal=password=hunter2 --dry-run=client -o yaml \\
    | sealant seal --cert https://sealed-secrets.example.com/v1/cert.pem -o json

  # Seal for any name in namespace prod (namespace-wide scope)
  sealant seal --cert cert.pem --scope namespace-wide -n prod -f secret.yaml

  # Add or replace items of an existing SealedSecret file in place (comments are kept)
  sealant seal --cert cert.pem --merge-into sealed-secret.yaml -f new-items.yaml

  # Seal one value (printed as base64 without a trailing newline)
  printf %s 'hunter2' | sealant seal --cert cert.pem --raw -n prod --name db
  sealant seal --cert cert.pem --raw --scope cluster-wide --from-file ./token.txt

The certificate can also be given in SEALANT_CERT. Input documents are read from FILE (or -f,
or stdin) as a YAML stream or concatenated JSON objects; each Secret gives one SealedSecret,
and nothing is written unless all of them succeed.";

/// Arguments of `sealant seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Input Secret manifest(s), as -f; `-` or neither reads stdin.
    #[arg(value_name = "FILE", conflicts_with_all = ["file", "raw"])]
    pub input: Option<PathBuf>,

    /// Certificate to seal with: a PEM file, a file:// URL, or an http(s):// URL (e.g. the
    /// controller's /v1/cert.pem). Expired certificates are refused. kubeseal's
    /// SEALED_SECRETS_CERT is also read. Repeat it (with --out-dir) to seal for several
    /// clusters in one run.
    #[arg(
        long,
        env = "SEALANT_CERT",
        value_name = "PATH|URL",
        hide_env_values = true,
        action = clap::ArgAction::Append
    )]
    pub cert: Vec<String>,

    /// Input Secret manifest(s); `-` or no flag reads stdin.
    #[arg(short = 'f', long = "file", alias = "secret-file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format [default: json for a -w file ending in .json, else yaml].
    #[arg(
        short = 'o',
        long = "format",
        alias = "output",
        value_enum,
        ignore_case = true
    )]
    pub format: Option<OutputFormat>,

    /// Write the output to FILE (atomically, and only if everything succeeded) instead of stdout.
    #[arg(
        short = 'w',
        long = "sealed-secret-file",
        alias = "output-file",
        value_name = "FILE"
    )]
    pub out: Option<PathBuf>,

    /// Scope: where the sealed values may be unsealed [default: the input's scope annotation,
    /// else strict]. Given, it always wins over the input's annotation.
    #[arg(long, value_enum)]
    pub scope: Option<CliScope>,

    /// Name of the Secret (overrides the input's metadata.name; required with --raw and strict
    /// scope).
    #[arg(long)]
    pub name: Option<String>,

    /// Namespace: used when the input has none (default: "default"); an input in another
    /// namespace is an error.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,

    /// Allow Secrets with no data items.
    #[arg(long)]
    pub allow_empty_data: bool,

    /// Seal the input's items into this existing SealedSecret file and rewrite it in place
    /// (other items and comments are kept byte-identical; the file keeps its YAML or JSON
    /// format).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["out", "raw"])]
    pub merge_into: Option<PathBuf>,

    /// Seal one value (from --from-file, else all of stdin) and print only its base64.
    #[arg(long, conflicts_with_all = ["file", "format", "allow_empty_data"])]
    pub raw: bool,

    /// With --raw: the file holding the value (`KEY=PATH` is accepted; the key is ignored).
    #[arg(long, value_name = "FILE", requires = "raw")]
    pub from_file: Option<String>,

    /// Multi-cluster: write one file per certificate (cluster) and Secret under DIR, all or
    /// nothing. Paths follow --out-template.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "raw", "merge_into"])]
    pub out_dir: Option<PathBuf>,

    /// With --out-dir: relative output path; placeholders {cluster} (certificate file stem),
    /// {keyid}, {namespace}, {name}, {ext} (yaml|json). Objects mapping to the same path are
    /// written as one stream.
    #[arg(long, value_name = "TEMPLATE", requires = "out_dir", default_value = crate::multi::DEFAULT_TEMPLATE)]
    pub out_template: String,

    /// Without --cert: where the controller is (kubeconfig, context, Service) and certificate
    /// pins.
    #[command(flatten)]
    pub cluster: crate::kubecfg::ClusterArgs,
}

/// The three scopes, as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CliScope {
    /// Only under the same name and namespace.
    Strict,
    /// Under any name in the same namespace.
    NamespaceWide,
    /// Under any name in any namespace.
    ClusterWide,
}

impl From<CliScope> for Scope {
    fn from(s: CliScope) -> Self {
        match s {
            CliScope::Strict => Scope::Strict,
            CliScope::NamespaceWide => Scope::NamespaceWide,
            CliScope::ClusterWide => Scope::ClusterWide,
        }
    }
}

/// What a `seal` run does, with everything resolved: certificates loaded, formats decided.
pub struct SealPlan {
    /// Where the Secret manifests (or, for `Raw`, the value) come from.
    pub input: Source,
    /// Scope, name, namespace and empty-data handling.
    pub options: SealOptions,
    /// kubeseal mode was given `--scope strict`, which (as in kubeseal) does not override an
    /// input's scope annotation: say so when it happens.
    pub strict_ignored: bool,
    /// What to make and where it goes.
    pub action: SealAction,
}

/// The output of a `seal` run.
pub enum SealAction {
    /// The SealedSecrets, to stdout or a file.
    Print {
        cert: Certificate,
        format: Format,
        out: Option<PathBuf>,
    },
    /// The items sealed into an existing SealedSecret file (`format`: rewrite in another one).
    Merge {
        cert: Certificate,
        target: PathBuf,
        format: Option<Format>,
    },
    /// One value, as base64.
    Raw {
        cert: Certificate,
        out: Option<PathBuf>,
    },
    /// One file per certificate and Secret under a directory.
    OutDir(OutDir),
}

impl SealArgs {
    /// Resolves the arguments: reads the certificates (fetching the controller's when there is
    /// no `--cert`) and decides formats and targets.
    pub fn plan(&self) -> Result<SealPlan> {
        let input = match &self.from_file {
            Some(spec) => Source::from_arg(Some(&raw_value_path(spec))),
            None => Source::from_arg(self.input.as_deref().or(self.file.as_deref())),
        };
        let options = SealOptions {
            scope: self.scope.map(Scope::from),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            default_namespace: DEFAULT_NAMESPACE.to_owned(),
            allow_empty_data: self.allow_empty_data,
        };
        let action = if self.cert.len() > 1 || self.out_dir.is_some() {
            let Some(dir) = &self.out_dir else {
                anyhow::bail!(
                    "--cert given {} times: sealing for several clusters needs --out-dir DIR (and optionally --out-template)",
                    self.cert.len()
                );
            };
            let format = output_format(self.format, None);
            SealAction::OutDir(OutDir::new(&self.cert, dir, &self.out_template, format)?)
        } else {
            let flag = self.cert.first().map(String::as_str);
            crate::certsrc::require_source(flag, &self.cluster)?;
            let cert = resolve_cert(flag, &self.cluster)?;
            if self.raw {
                SealAction::Raw {
                    cert,
                    out: self.out.clone(),
                }
            } else if let Some(target) = &self.merge_into {
                SealAction::Merge {
                    cert,
                    target: target.clone(),
                    format: self.format.map(Format::from),
                }
            } else {
                SealAction::Print {
                    cert,
                    format: output_format(self.format, self.out.as_deref()),
                    out: self.out.clone(),
                }
            }
        };
        Ok(SealPlan {
            input,
            options,
            strict_ignored: false,
            action,
        })
    }
}

/// Carries out a plan: nothing is written unless every object succeeded.
pub fn run(plan: &SealPlan) -> Result<()> {
    if let SealAction::Raw { cert, out } = &plan.action {
        return run_raw(plan, cert, out.as_deref());
    }
    let source = &plan.input;
    let text = io::read_source_text(source)?;
    let secrets = read_secrets(source, &text)?;
    if plan.strict_ignored {
        for (_, secret) in &secrets {
            let declared = secret
                .metadata
                .annotations
                .as_ref()
                .map_or(Scope::Strict, sealant_api::scope_from_annotations);
            if declared != Scope::Strict {
                io::note(&format!(
                    "warning: {source}: --scope strict does not override the input's {declared} annotation in kubeseal mode (as kubeseal); `sealant seal --scope strict` does"
                ));
            }
        }
    }
    match &plan.action {
        SealAction::Print { cert, format, out } => {
            let rendered = bulk::try_map("seal", &secrets, |(doc, secret)| {
                let ss = sealant_api::seal_secret(secret, cert, &plan.options)
                    .map_err(|e| locate_err(source, doc, secrets.len(), e))?;
                sealant_api::render(&ss, *format).map_err(|e| anyhow!("{source}: {e}"))
            })?;
            io::emit(out.as_deref(), rendered.concat().as_bytes())
        }
        SealAction::Merge {
            cert,
            target,
            format,
        } => crate::merge::run(target, *format, source, &secrets, cert, &plan.options),
        SealAction::OutDir(out_dir) => out_dir.seal(source, &secrets, &plan.options),
        SealAction::Raw { .. } => unreachable!("handled above"),
    }
}

fn run_raw(plan: &SealPlan, cert: &Certificate, out: Option<&Path>) -> Result<()> {
    let source = &plan.input;
    let value = io::read_source(source)?;
    let opts = &plan.options;
    let scope = opts.scope.unwrap_or(Scope::Strict);
    let namespace = match (&opts.namespace, scope) {
        (_, Scope::ClusterWide) => String::new(),
        (Some(ns), _) => ns.clone(),
        (None, _) => opts.default_namespace.clone(),
    };
    let name = match scope {
        Scope::Strict => opts.name.clone().unwrap_or_default(),
        _ => String::new(),
    };
    if value.len() > sealant_api::MAX_SECRET_DATA_BYTES {
        anyhow::bail!(
            "{source}: the value is {} bytes, more than the {} bytes (1 MiB) Kubernetes allows in a Secret's data",
            value.len(),
            sealant_api::MAX_SECRET_DATA_BYTES
        );
    }
    let sealed = sealant_api::seal_raw(&value, cert, scope, &namespace, &name)
        .map_err(|e| anyhow!("{source}: {e}"))?;
    io::emit(out, sealed.as_bytes())
}

/// `--from-file` takes `PATH` or kubeseal's `KEY=PATH` (the key is ignored). An existing file
/// named literally wins over the `KEY=PATH` reading.
pub fn raw_value_path(spec: &str) -> PathBuf {
    let literal = Path::new(spec);
    if literal.exists() {
        return literal.to_path_buf();
    }
    match spec.split_once('=') {
        Some((_, path)) if !path.is_empty() => PathBuf::from(path),
        _ => literal.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_file_key_syntax() {
        assert_eq!(
            raw_value_path("k=/nonexistent/v"),
            PathBuf::from("/nonexistent/v")
        );
        assert_eq!(
            raw_value_path("/nonexistent/v"),
            PathBuf::from("/nonexistent/v")
        );
    }
}
