//! `sealant keys generate`: a new RSA sealing key and its self-signed certificate.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use sealant_crypto::{CertOptions, Certificate, DEFAULT_KEY_BITS, PrivateKey};
use time::OffsetDateTime;

use crate::io::{WriteOptions, write_atomic};

pub const EXAMPLES: &str = "\
Examples:
  # A 4096-bit key and a certificate valid for 10 years (the controller's defaults)
  sealant keys generate --key-out tls.key --cert-out tls.crt

  # Bring your own key to the controller (label it so the controller loads it)
  kubectl -n kube-system create secret tls my-sealing-key --key tls.key --cert tls.crt
  kubectl -n kube-system label secret my-sealing-key sealedsecrets.bitnami.com/sealed-secrets-key=active";

const GENERATE_EXAMPLES: &str = "\
Examples:
  # A 4096-bit key and a certificate valid for 10 years (the controller's defaults)
  sealant keys generate --key-out tls.key --cert-out tls.crt

  # A 2048-bit key with a common name, valid for one year, replacing existing files
  sealant keys generate --key-out tls.key --cert-out tls.crt \\
    --bits 2048 --cn sealant --validity 8760h --force

The private key file is written with mode 0600. Keep it out of git; back it up safely.";

/// `sealant keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an RSA private key (PKCS#1 PEM) and a self-signed sealing certificate.
    #[command(
        after_help = GENERATE_EXAMPLES,
        override_usage = "sealant keys generate --key-out <FILE> --cert-out <FILE> [OPTIONS]"
    )]
    Generate(GenerateArgs),
}

/// Arguments of `sealant keys generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to write the private key (PEM, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub key_out: PathBuf,

    /// Where to write the certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub cert_out: PathBuf,

    /// RSA modulus size in bits: 2048, 3072, 4096 or 8192.
    #[arg(long, default_value_t = DEFAULT_KEY_BITS, value_parser = parse_bits)]
    pub bits: usize,

    /// Certificate subject common name (empty: an empty subject, like the controller's default).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub cn: String,

    /// Certificate validity, as a duration such as 87600h, 8760h, 720h30m or 365d.
    #[arg(long, value_name = "DURATION", default_value = "87600h", value_parser = parse_duration)]
    pub validity: time::Duration,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: &KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Generate(args) => generate(args),
    }
}

fn generate(args: &GenerateArgs) -> Result<()> {
    if args.key_out == args.cert_out {
        bail!(
            "{}: --key-out and --cert-out must be different files",
            args.key_out.display()
        );
    }
    if !args.force {
        for path in [&args.key_out, &args.cert_out] {
            if path.exists() {
                bail!(
                    "{}: already exists (use --force to overwrite it)",
                    path.display()
                );
            }
        }
    }
    let key = PrivateKey::generate(args.bits).map_err(|e| anyhow!("generating the key: {e}"))?;
    let options = CertOptions {
        common_name: args.cn.clone(),
        validity: args.validity,
    };
    let cert = Certificate::self_signed(&key, &options, OffsetDateTime::now_utc())
        .map_err(|e| anyhow!("{}: {e}", args.cert_out.display()))?;

    let key_opts = WriteOptions {
        no_clobber: !args.force,
        mode: Some(0o600),
    };
    let cert_opts = WriteOptions {
        no_clobber: !args.force,
        mode: Some(0o644),
    };
    write_atomic(&args.key_out, key.to_pkcs1_pem().as_bytes(), key_opts)?;
    if let Err(e) = write_atomic(&args.cert_out, cert.to_pem().as_bytes(), cert_opts) {
        // Do not leave a key without its certificate behind.
        let _ = std::fs::remove_file(&args.key_out);
        return Err(e);
    }
    crate::io::note(&format!(
        "Wrote a {}-bit RSA key (key id {}) to {} and its certificate (valid until {}) to {}.",
        key.bits(),
        key.key_id(),
        args.key_out.display(),
        crate::cert::rfc3339(cert.not_after()),
        args.cert_out.display()
    ));
    Ok(())
}

fn parse_bits(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(bits @ (2048 | 3072 | 4096 | 8192)) => Ok(bits),
        _ => Err("expected 2048, 3072, 4096 or 8192".to_owned()),
    }
}

/// Parses a Go-style duration (`87600h`, `1h30m`, `90s`) plus days (`365d`); must be positive.
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let bad = || {
        format!("invalid duration {s:?}: expected a number and unit, e.g. 87600h, 720h30m or 365d")
    };
    let mut total: i64 = 0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds_per_unit: i64 = match unit {
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            _ => return Err(bad()),
        };
        let number: i64 = number.parse().map_err(|_| bad())?;
        total = number
            .checked_mul(seconds_per_unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
        rest = tail;
    }
    if total <= 0 {
        return Err(format!("duration {s:?} must be longer than zero"));
    }
    // Keep notAfter within what X.509 and `time` can represent (year 9999).
    if total > 9_000 * 365 * 86_400 {
        return Err(format!("duration {s:?} is too long"));
    }
    Ok(time::Duration::seconds(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("87600h").unwrap(),
            time::Duration::hours(87_600)
        );
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            time::Duration::minutes(90)
        );
        assert_eq!(parse_duration("365d").unwrap(), time::Duration::days(365));
        assert_eq!(parse_duration("45s").unwrap(), time::Duration::seconds(45));
        for bad in [
            "",
            "h",
            "10",
            "10x",
            "0h",
            "-5h",
            "1.5h",
            "99999999999999999999h",
            "1h m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bits() {
        assert_eq!(parse_bits("2048"), Ok(2048));
        assert!(parse_bits("1024").is_err());
        assert!(parse_bits("x").is_err());
    }
}
