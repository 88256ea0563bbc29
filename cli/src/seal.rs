//! `sealant seal`: Secret manifests (or one raw value) into SealedSecrets.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{Document, SealOptions, SealedSecret};
use sealant_crypto::{Certificate, Scope};

use crate::OutputFormat;
use crate::certsrc::resolve_cert;
use crate::io::{self, Source, WriteOptions};

/// Namespace for inputs without one when `-n` is not given (no kubeconfig handling yet).
pub const DEFAULT_NAMESPACE: &str = "default";

pub const EXAMPLES: &str = "\
Examples:
  # Seal a Secret manifest; the output is a SealedSecret (YAML by default)
  sealant seal --cert cert.pem -f secret.yaml -w sealed-secret.yaml

  # From stdin, with the certificate served by the controller, as JSON
  kubectl create secret generic db --from-literal=password=hunter2 --dry-run=client -o yaml \\
    | sealant seal --cert https://sealed-secrets.example.com/v1/cert.pem -o json

  # Seal for any name in namespace prod (namespace-wide scope)
  sealant seal --cert cert.pem --scope namespace-wide -n prod -f secret.yaml

  # Add or replace items of an existing SealedSecret file in place
  sealant seal --cert cert.pem --merge-into sealed-secret.yaml -f new-items.yaml

  # Seal one value (printed as base64 without a trailing newline)
  printf %s 'hunter2' | sealant seal --cert cert.pem --raw -n prod --name db
  sealant seal --cert cert.pem --raw --scope cluster-wide --from-file ./token.txt

The certificate can also be given in SEALANT_CERT. Input documents are read from -f (or stdin)
as a YAML stream or concatenated JSON objects; each Secret gives one SealedSecret, and nothing
is written unless all of them succeed.";

/// Arguments of `sealant seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Certificate to seal with: a PEM file, or an http(s):// URL (e.g. the controller's
    /// /v1/cert.pem). Expired certificates are refused. kubeseal's SEALED_SECRETS_CERT is also
    /// read.
    /// Repeat `--cert` (with --out-dir) to seal for several clusters in one run.
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
    /// else strict].
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
    /// (other items are kept byte-identical; the file keeps its YAML or JSON format).
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

pub fn run(args: &SealArgs) -> Result<()> {
    if args.cert.len() > 1 || args.out_dir.is_some() {
        return crate::multi::run(args);
    }
    // No --cert: the controller's certificate through the kubeconfig (or its cached copy).
    let cert_flag = args.cert.first().map(String::as_str);
    let cluster = &args.cluster;
    crate::certsrc::require_source(cert_flag, cluster);
    if args.raw {
        return run_raw(args, cert_flag, cluster);
    }
    let source = Source::from_arg(args.file.as_deref());
    let text = io::read_source_text(&source)?;
    let secrets = read_secrets(&source, &text)?;
    let cert = resolve_cert(cert_flag, cluster)?;
    let opts = seal_options(args);

    if let Some(target) = &args.merge_into {
        return merge(args, target, &source, &secrets, &cert, &opts);
    }

    let format = output_format(args.format, args.out.as_deref());
    let mut out = String::new();
    for (doc, secret) in &secrets {
        let ss = sealant_api::seal_secret(secret, &cert, &opts)
            .map_err(|e| locate_err(&source, doc, secrets.len(), e))?;
        out.push_str(&render(&ss, format, &source)?);
    }
    io::emit(args.out.as_deref(), out.as_bytes())
}

pub(crate) fn seal_options(args: &SealArgs) -> SealOptions {
    SealOptions {
        scope: args.scope.map(Scope::from),
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        default_namespace: DEFAULT_NAMESPACE.to_owned(),
        allow_empty_data: args.allow_empty_data,
    }
}

/// `-o` if given; else JSON for a `-w` file named `*.json`; else YAML.
pub(crate) fn output_format(
    explicit: Option<OutputFormat>,
    out: Option<&Path>,
) -> sealant_api::Format {
    let by_extension = out
        .and_then(Path::extension)
        .filter(|e| e.eq_ignore_ascii_case("json"))
        .map(|_| OutputFormat::Json);
    explicit
        .or(by_extension)
        .unwrap_or(OutputFormat::Yaml)
        .into()
}

fn render(ss: &SealedSecret, format: sealant_api::Format, source: &Source) -> Result<String> {
    sealant_api::render(ss, format).map_err(|e| anyhow!("{source}: {e}"))
}

/// Where an object came from, for messages: `file`, or `file: document N` (plus the `List`
/// item) when the input held more than one object.
pub fn doc_name(source: &Source, doc: &Document, count: usize) -> String {
    match (count, doc.list_item) {
        (0 | 1, _) => source.to_string(),
        (_, None) => format!("{source}: document {}", doc.number),
        (_, Some(i)) => format!("{source}: document {}: items[{i}]", doc.number),
    }
}

/// `file: <error>`; errors that already name their document are not located twice.
pub fn locate_err(
    source: &Source,
    doc: &Document,
    count: usize,
    err: sealant_api::Error,
) -> anyhow::Error {
    match err {
        err @ sealant_api::Error::Document { .. } => anyhow!("{source}: {}", doc.locate(err)),
        other => anyhow!("{}: {other}", doc_name(source, doc, count)),
    }
}

/// Parses the input stream; errors name the file.
pub fn read_stream(source: &Source, text: &str, what: &str) -> Result<Vec<Document>> {
    let docs = sealant_api::parse_stream(text).map_err(|e| anyhow!("{source}: {e}"))?;
    if docs.is_empty() {
        bail!("{source}: no {what} found: the input holds no YAML or JSON object");
    }
    Ok(docs)
}

/// Parses the input stream into Secrets; errors name the file and document.
pub(crate) fn read_secrets(source: &Source, text: &str) -> Result<Vec<(Document, Secret)>> {
    let docs = read_stream(source, text, "Secrets")?;
    docs.into_iter()
        .map(|doc| {
            let secret = doc.to_secret().map_err(|e| anyhow!("{source}: {e}"))?;
            Ok((doc, secret))
        })
        .collect()
}

fn merge(
    args: &SealArgs,
    target: &Path,
    source: &Source,
    secrets: &[(Document, Secret)],
    cert: &Certificate,
    opts: &SealOptions,
) -> Result<()> {
    let target_source = Source::File(target.to_path_buf());
    let text = io::read_source_text(&target_source)?;
    let detected = if text.trim_start().starts_with('{') {
        sealant_api::Format::Json
    } else {
        sealant_api::Format::Yaml
    };
    let docs = read_stream(&target_source, &text, "SealedSecret")?;
    let [doc] = docs.as_slice() else {
        bail!(
            "{target_source}: expected exactly one SealedSecret to merge into, found {} objects",
            docs.len()
        );
    };
    let mut ss = doc
        .to_sealed_secret()
        .map_err(|e| anyhow!("{target_source}: {e}"))?;
    for (doc, secret) in secrets {
        sealant_api::merge_into(&mut ss, secret, cert, opts).map_err(|e| match e {
            e @ (sealant_api::Error::MergeTarget(_)
            | sealant_api::Error::MergeScopeConflict { .. }) => {
                anyhow!("{target_source}: {e}")
            }
            other => locate_err(source, doc, secrets.len(), other),
        })?;
    }
    let format = args.format.map_or(detected, Into::into);
    let mut out = render(&ss, format, &target_source)?;
    // Keep the diff minimal: no `---` line added to a YAML file that had none.
    if format == sealant_api::Format::Yaml
        && !starts_with_document_marker(&text)
        && let Some(body) = out.strip_prefix("---\n")
    {
        out = body.to_owned();
    }
    io::write_atomic(target, out.as_bytes(), WriteOptions::REPLACE)
}

/// Whether the first line that is not blank or a comment is a `---` document marker.
fn starts_with_document_marker(text: &str) -> bool {
    text.lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l == "---" || l.starts_with("--- "))
}

fn run_raw(
    args: &SealArgs,
    cert_flag: Option<&str>,
    cluster: &crate::kubecfg::ClusterArgs,
) -> Result<()> {
    let (source, value) = match &args.from_file {
        Some(spec) => {
            let source = Source::from_arg(Some(&raw_value_path(spec)));
            let value = io::read_source(&source)?;
            (source, value)
        }
        None => {
            let source = Source::Stdin;
            let value = io::read_source(&source)?;
            (source, value)
        }
    };
    let cert = resolve_cert(cert_flag, cluster)?;
    let scope = args.scope.map_or(Scope::Strict, Scope::from);
    let namespace = match (&args.namespace, scope) {
        (_, Scope::ClusterWide) => String::new(),
        (Some(ns), _) => ns.clone(),
        (None, _) => DEFAULT_NAMESPACE.to_owned(),
    };
    let name = match scope {
        Scope::Strict => args.name.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let sealed = sealant_api::seal_raw(&value, &cert, scope, &namespace, &name)
        .map_err(|e| anyhow!("{source}: {e}"))?;
    io::emit(args.out.as_deref(), sealed.as_bytes())
}

/// `--from-file` takes `PATH` or kubeseal's `KEY=PATH` (the key is ignored). An existing file
/// named literally wins over the `KEY=PATH` reading.
fn raw_value_path(spec: &str) -> PathBuf {
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
    fn format_defaults() {
        use sealant_api::Format;
        assert_eq!(output_format(None, None), Format::Yaml);
        assert_eq!(output_format(None, Some(Path::new("x.json"))), Format::Json);
        assert_eq!(output_format(None, Some(Path::new("x.yml"))), Format::Yaml);
        assert_eq!(
            output_format(Some(OutputFormat::Yaml), Some(Path::new("x.JSON"))),
            Format::Yaml
        );
    }

    #[test]
    fn document_marker() {
        assert!(starts_with_document_marker("---\napiVersion: x\n"));
        assert!(starts_with_document_marker("# c\n\n--- # x\na: b\n"));
        assert!(!starts_with_document_marker("apiVersion: x\n---\n"));
        assert!(!starts_with_document_marker(""));
    }

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
