//! `sealant set` and `sealant unset`: add, replace or remove one item of a SealedSecret file in
//! place. Only the changed item's line (and the key-id annotation when sealing with a new key)
//! changes; see [`crate::yamledit`].

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::{ArgGroup, Args};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{MAX_SECRET_DATA_BYTES, SealOptions};

use crate::certsrc::resolve_cert;
use crate::io;
use crate::kubecfg::ClusterArgs;
use crate::yamledit::{Filter, Target};

pub const SET_EXAMPLES: &str = "\
Examples:
  # Add or replace the item `password`, reading the value from a file
  sealant set --cert cert.pem sealed-secret.yaml password --from-file ./password.txt

  # The value from stdin (taken byte for byte: a trailing newline is kept)
  printf %s 'hunter2' | sealant set --cert cert.pem sealed-secret.yaml password --value-stdin

  # A file with several SealedSecrets: pick one
  sealant set --cert cert.pem secrets.yaml token --name api -n prod --from-file token.txt

The value is sealed for the object's own name, namespace and scope. Other items keep their
ciphertext byte for byte, so the git diff shows only the changed line. The value is never
printed.";

pub const UNSET_EXAMPLES: &str = "\
Examples:
  # Remove the item `password`
  sealant unset sealed-secret.yaml password

  # From one of several SealedSecrets in a stream
  sealant unset secrets.yaml token --name api -n prod";

/// Which SealedSecret of the file to edit.
#[derive(Debug, Args)]
pub struct Select {
    /// Edit the SealedSecret with this metadata.name (needed when the file holds several).
    #[arg(long)]
    pub name: Option<String>,

    /// Edit the SealedSecret in this namespace (with several in the file).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

impl Select {
    fn filter(&self) -> Filter {
        Filter {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// Arguments of `sealant set`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("value").required(true).args(["from_file", "value_stdin"])))]
pub struct SetArgs {
    /// The SealedSecret file to edit in place (YAML, possibly several documents, or JSON).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The item to add or replace.
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Read the value from this file.
    #[arg(long, value_name = "F")]
    pub from_file: Option<PathBuf>,

    /// Read the value from stdin (all of it, trailing newline included).
    #[arg(long)]
    pub value_stdin: bool,

    /// Certificate to seal with (a PEM file, a file:// or an http(s):// URL), as for `sealant
    /// seal`; without it, the controller's (kubeconfig, or the cached copy).
    #[arg(
        long,
        env = "SEALANT_CERT",
        value_name = "PATH|URL",
        hide_env_values = true
    )]
    pub cert: Option<String>,

    #[command(flatten)]
    pub select: Select,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Allow an empty value.
    #[arg(long)]
    pub allow_empty_data: bool,
}

/// Arguments of `sealant unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The SealedSecret file to edit in place.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The item to remove.
    #[arg(value_name = "KEY")]
    pub key: String,

    #[command(flatten)]
    pub select: Select,
}

pub fn run_set(args: &SetArgs) -> Result<()> {
    check_key(&args.key)?;
    let target = Target::load(&args.file, &[args.select.filter()])?;
    let ss = target.sealed_secret()?;
    refuse_v1(&target, &ss)?;
    let value = read_value(args)?;
    if value.is_empty() && !args.allow_empty_data {
        bail!(
            "{}: the value for {:?} is empty; pass --allow-empty-data to store an empty value",
            value_source(args),
            args.key
        );
    }
    let cert = resolve_cert(args.cert.as_deref(), &args.cluster)?;
    let mut sealed = ss.clone();
    let secret = Secret {
        data: Some([(args.key.clone(), ByteString(value))].into()),
        ..Secret::default()
    };
    let opts = SealOptions {
        allow_empty_data: true,
        ..SealOptions::default()
    };
    sealant_api::merge_into(&mut sealed, &secret, &cert, &opts)
        .map_err(|e| anyhow!("{}: {e}", target.name()))?;
    // Only the item and the top-level annotations change (not the template).
    sealed.spec.template = ss.spec.template.clone();
    target.write(&sealed)?;
    let existed = ss.spec.encrypted_data.contains_key(&args.key);
    io::note(&format!(
        "{}: {} item {:?}",
        target.name(),
        if existed { "replaced" } else { "added" },
        args.key
    ));
    Ok(())
}

pub fn run_unset(args: &UnsetArgs) -> Result<()> {
    check_key(&args.key)?;
    let target = Target::load(&args.file, &[args.select.filter()])?;
    let ss = target.sealed_secret()?;
    refuse_v1(&target, &ss)?;
    if !ss.spec.encrypted_data.contains_key(&args.key) {
        let mut keys: Vec<&str> = ss.spec.encrypted_data.keys().map(String::as_str).collect();
        keys.truncate(20);
        bail!(
            "{}: no item {:?} in spec.encryptedData (items: {})",
            target.name(),
            args.key,
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        );
    }
    let mut after = ss.clone();
    after.spec.encrypted_data.remove(&args.key);
    target.write(&after)?;
    io::note(&format!("{}: removed item {:?}", target.name(), args.key));
    Ok(())
}

fn refuse_v1(target: &Target, ss: &sealant_api::SealedSecret) -> Result<()> {
    if ss.spec.data.is_some() {
        bail!(
            "{}: uses the deprecated v1 spec.data format; re-seal it before editing items",
            target.name()
        );
    }
    Ok(())
}

fn value_source(args: &SetArgs) -> String {
    match &args.from_file {
        Some(p) => p.display().to_string(),
        None => "<stdin>".to_owned(),
    }
}

fn read_value(args: &SetArgs) -> Result<Vec<u8>> {
    let limit = MAX_SECRET_DATA_BYTES as u64;
    match &args.from_file {
        Some(path) => {
            if path.as_os_str() == "-" {
                bail!("--from-file -: use --value-stdin to read the value from stdin");
            }
            let name = path.display();
            let file =
                std::fs::File::open(path).map_err(|e| anyhow!("{name}: cannot open: {e}"))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                bail!("{name}: is a directory, not a file");
            }
            io::read_bounded(file, limit, &name)
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                io::note("(tty detected: reading the value from stdin until end of input, Ctrl-D)");
            }
            io::read_bounded(std::io::stdin().lock(), limit, &"<stdin>")
        }
    }
}

/// Kubernetes Secret keys (the rules `seal` applies too): letters, digits, `-`, `_`, `.`; at
/// most 253 characters; not `.`, `..` or starting with `..`.
fn check_key(key: &str) -> Result<()> {
    match sealant_api::names::item_key_problem(key) {
        None => Ok(()),
        Some(why) => bail!("KEY {key:?} is not a valid Secret item name: it {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("tls.crt").is_ok());
        assert!(check_key("a_b-c").is_ok());
        for bad in ["", ".", "..", "..a", "a/b", "a b", "ключ"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
