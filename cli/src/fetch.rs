//! `sealant cert fetch`: the controller's certificate, through the API server (or `--cert`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::certsrc::{fingerprint, resolve};
use crate::io::{self, WriteOptions};
use crate::kubecfg::ClusterArgs;

pub const EXAMPLES: &str = "\
Examples:
  # Print the controller's newest certificate (kubeconfig's current context)
  sealant cert fetch > cert.pem

  # Another context and controller; write the file atomically
  sealant cert fetch --context prod --controller-namespace sealed-secrets \\
    --controller-name sealed-secrets -o prod-cert.pem

  # Refuse anything but the expected certificate
  sealant cert fetch --cert-fingerprint sha256:3f4c...e1 -o cert.pem

The certificate is cached (SEALANT_CACHE_DIR, else $XDG_CACHE_HOME/sealant or ~/.cache/sealant)
so `sealant seal` without --cert works while the cluster is unreachable, until it expires.";

/// Arguments of `sealant cert fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Read this certificate (a PEM file, a file:// or an http(s):// URL) instead of asking the
    /// controller; useful with the pins.
    #[arg(
        long,
        env = "SEALANT_CERT",
        value_name = "PATH|URL",
        hide_env_values = true
    )]
    pub cert: Option<String>,

    /// Write the certificate to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub fn run(args: &FetchArgs) -> Result<()> {
    let resolved = resolve(args.cert.as_deref(), &args.cluster, false)?;
    if let Err(e) = resolved
        .cert
        .check_not_expired(time::OffsetDateTime::now_utc())
    {
        io::note(&format!(
            "warning: {}: {e}; it cannot be used to seal",
            resolved.origin
        ));
    }
    let mut pem = resolved.pem;
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    match &args.out {
        Some(path) if path.as_os_str() != "-" => {
            io::write_atomic(path, &pem, WriteOptions::REPLACE)?;
            io::note(&format!(
                "wrote the certificate of {} (key id {}, sha256:{}) to {}",
                resolved.origin,
                resolved.cert.key_id(),
                fingerprint(&resolved.cert),
                path.display()
            ));
            Ok(())
        }
        _ => io::write_stdout(&pem),
    }
}
