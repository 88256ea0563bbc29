//! `sealant unseal`: offline recovery of Secrets from SealedSecrets with private keys.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use sealant_api::{UnsealOptions, render_secret};
use sealant_crypto::Keyring;

use crate::OutputFormat;
use crate::bulk;
use crate::io::{self, Source};
use crate::manifest::{doc_name, read_stream};

pub const EXAMPLES: &str = "\
Examples:
  # Recover the Secret from a SealedSecret with a backed-up key Secret
  kubectl get secret -n kube-system -o yaml \\
    -l sealedsecrets.bitnami.com/sealed-secrets-key > keys.yaml
  sealant unseal --key keys.yaml -f sealed-secret.yaml

  # Several key files (PEM private keys, key Secrets, Lists or streams of them), JSON output
  sealant unseal --key old.key --key new.key -f sealed-secrets.yaml -o json

  # From stdin
  cat sealed-secret.yaml | sealant unseal --key tls.key

The output holds the secret values (base64 is not encryption): do not commit it.";

/// Arguments of `sealant unseal`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// Private key file: a PEM RSA private key, a key Secret (tls.key), a List of them, or a
    /// multi-document stream. Repeat the flag (or separate with commas) for several files.
    #[arg(
        long = "key",
        alias = "recovery-private-key",
        value_name = "FILE",
        required = true,
        value_delimiter = ','
    )]
    pub keys: Vec<PathBuf>,

    /// Input SealedSecret(s); `-` or no flag reads stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "format",
        alias = "output",
        value_enum,
        ignore_case = true,
        default_value = "yaml"
    )]
    pub format: OutputFormat,

    /// Also accept the deprecated v1 `spec.data` format.
    #[arg(long)]
    pub accept_deprecated_v1_data: bool,
}

/// What an `unseal` run does: keys loaded, input and format decided.
pub struct UnsealPlan {
    /// The private keys.
    pub keyring: Keyring,
    /// The SealedSecrets.
    pub input: Source,
    /// Output format.
    pub format: sealant_api::Format,
    /// Whether the deprecated v1 format is accepted.
    pub options: UnsealOptions,
}

impl UnsealArgs {
    /// Loads the keys.
    pub fn plan(&self) -> Result<UnsealPlan> {
        Ok(UnsealPlan {
            keyring: load_keyring(&self.keys)?,
            input: Source::from_arg(self.file.as_deref()),
            format: self.format.into(),
            options: UnsealOptions {
                accept_v1_data: self.accept_deprecated_v1_data,
                ..UnsealOptions::default()
            },
        })
    }
}

/// Unseals every object (on all cores) and prints the Secrets in input order, or nothing.
pub fn run(plan: &UnsealPlan) -> Result<()> {
    let source = &plan.input;
    let text = io::read_source_text(source)?;
    let docs = read_stream(source, &text, "SealedSecrets")?;
    let rendered = bulk::try_map("unseal", &docs, |doc| {
        let name = doc_name(source, doc, docs.len());
        let ss = doc
            .to_sealed_secret()
            .map_err(|e| anyhow!("{source}: {e}"))?;
        let unsealed = sealant_api::unseal(&ss, &plan.keyring, &plan.options)
            .map_err(|e| anyhow!("{name}: {e}"))?;
        render_secret(&unsealed.secret, plan.format).map_err(|e| anyhow!("{name}: {e}"))
    })?;
    io::write_stdout(rendered.concat().as_bytes())
}

/// Reads every key file into one keyring; errors name the file.
pub fn load_keyring(paths: &[PathBuf]) -> Result<Keyring> {
    let mut keyring = Keyring::new();
    for path in paths {
        let source = Source::from_arg(Some(path));
        if matches!(source, Source::Stdin) {
            bail!("--key -: keys cannot be read from stdin; pass a file");
        }
        let text = io::read_source_text(&source)?;
        let found =
            sealant_api::keyring_from_documents(&text).map_err(|e| anyhow!("{source}: {e}"))?;
        if found.is_empty() {
            bail!(
                "{source}: no private key found: expected a PEM RSA private key or a key Secret with tls.key"
            );
        }
        for entry in found.iter() {
            keyring.insert(entry.clone());
        }
    }
    Ok(keyring)
}
