//! `sealant cert info`: what a sealing certificate is and whether it can still be used.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use sealant_crypto::Certificate;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::certsrc::{cert_spec, load_certificate};
use crate::io::write_stdout;

pub const EXAMPLES: &str = "\
Examples:
  sealant cert info --cert cert.pem
  sealant cert info --cert https://sealed-secrets.example.com/v1/cert.pem -o json";

const INFO_EXAMPLES: &str = "\
Examples:
  # Key id, size, subject, serial and validity of a certificate file
  sealant cert info --cert cert.pem

  # The same as JSON, from a URL
  sealant cert info --cert https://sealed-secrets.example.com/v1/cert.pem -o json

  # Fail a CI step when the certificate has expired
  sealant cert info --cert cert.pem -o json | jq -e '.expired == false'";

/// `sealant cert ...`.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show a certificate's key id, key size, subject, serial and validity.
    #[command(
        after_help = INFO_EXAMPLES,
        override_usage = "sealant cert info [--cert <PATH|URL>] [-o <FORMAT>]"
    )]
    Info(InfoArgs),
    /// Fetch the controller's certificate through the Kubernetes API (kubeconfig), print or
    /// write it, and cache it for offline sealing.
    #[command(
        after_help = crate::fetch::EXAMPLES,
        override_usage = "sealant cert fetch [OPTIONS] [--cert <PATH|URL>] [-o <FILE>]"
    )]
    Fetch(crate::fetch::FetchArgs),
}

/// Arguments of `sealant cert info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Certificate: a PEM file, a file:// or an http(s):// URL.
    #[arg(
        long,
        env = "SEALANT_CERT",
        value_name = "PATH|URL",
        hide_env_values = true
    )]
    pub cert: Option<String>,

    /// Output format.
    #[arg(
        short = 'o',
        long = "format",
        alias = "output",
        value_enum,
        ignore_case = true,
        default_value = "text"
    )]
    pub format: InfoFormat,
}

/// Output of `cert info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InfoFormat {
    /// Aligned `field: value` lines.
    Text,
    /// One JSON object.
    Json,
}

pub fn run(cmd: &CertCommand) -> Result<()> {
    match cmd {
        CertCommand::Info(args) => info(args),
        CertCommand::Fetch(args) => crate::fetch::run(args),
    }
}

fn info(args: &InfoArgs) -> Result<()> {
    let cert = load_certificate(&cert_spec(args.cert.as_deref())?)?;
    let now = OffsetDateTime::now_utc();
    let out = match args.format {
        InfoFormat::Text => info_text(&cert, now),
        InfoFormat::Json => {
            let mut s = serde_json::to_string_pretty(&info_json(&cert, now))
                .map_err(|e| anyhow!("cannot format JSON: {e}"))?;
            s.push('\n');
            s
        }
    };
    write_stdout(out.as_bytes())
}

/// `cert info -o json`, fields in this order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct InfoJson<'a> {
    key_id: &'a str,
    bits: usize,
    subject: &'a str,
    serial: &'a str,
    not_before: String,
    not_after: String,
    expired: bool,
}

fn info_json(cert: &Certificate, now: OffsetDateTime) -> InfoJson<'_> {
    InfoJson {
        key_id: cert.key_id().as_str(),
        bits: cert.public_key().bits(),
        subject: cert.subject(),
        serial: cert.serial(),
        not_before: rfc3339(cert.not_before()),
        not_after: rfc3339(cert.not_after()),
        expired: cert.check_not_expired(now).is_err(),
    }
}

fn info_text(cert: &Certificate, now: OffsetDateTime) -> String {
    let subject = if cert.subject().is_empty() {
        "(empty)"
    } else {
        cert.subject()
    };
    let status = if cert.check_not_expired(now).is_err() {
        format!(
            "yes, {} ago: sealing with it is refused",
            human_span(now - cert.not_after())
        )
    } else {
        format!("no ({} left)", human_span(cert.not_after() - now))
    };
    format!(
        "key id:     {}\n\
         key size:   {} bits\n\
         subject:    {subject}\n\
         serial:     {}\n\
         not before: {}\n\
         not after:  {}\n\
         expired:    {status}\n",
        cert.key_id(),
        cert.public_key().bits(),
        cert.serial(),
        rfc3339(cert.not_before()),
        rfc3339(cert.not_after()),
    )
}

/// `2035-01-02T03:04:05Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(0)
        .unwrap_or(utc)
        .format(&Rfc3339)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// `3649 days`, `5 hours`, `12 minutes`, `30 seconds`.
fn human_span(d: time::Duration) -> String {
    let (n, unit) = if d.whole_days() >= 2 {
        (d.whole_days(), "days")
    } else if d.whole_hours() >= 2 {
        (d.whole_hours(), "hours")
    } else if d.whole_minutes() >= 2 {
        (d.whole_minutes(), "minutes")
    } else {
        (d.whole_seconds(), "seconds")
    };
    format!("{n} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(human_span(time::Duration::days(10)), "10 days");
        assert_eq!(human_span(time::Duration::hours(30)), "30 hours");
        assert_eq!(human_span(time::Duration::seconds(5)), "5 seconds");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
