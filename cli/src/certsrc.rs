//! Getting the sealing certificate: a file path, `file://` URL, or `http(s)://` URL.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use sealant_crypto::Certificate;
use time::OffsetDateTime;

use crate::io::{human_size, read_bounded};

/// A certificate file or response larger than this is refused (64 KiB; one is ~2 KiB).
pub const MAX_CERT_BYTES: u64 = 64 * 1024;
/// Connect, read and overall timeout for fetching a certificate URL.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// kubeseal's environment variable for `--cert`, honoured when `SEALANT_CERT` is not set.
pub const KUBESEAL_CERT_ENV: &str = "SEALED_SECRETS_CERT";

/// The `--cert` value: the flag, else `SEALANT_CERT` (both via clap), else kubeseal's
/// `SEALED_SECRETS_CERT`; a usage error (exit 2) when none is set.
pub fn cert_spec(flag: Option<&str>) -> String {
    if let Some(spec) = flag {
        return spec.to_owned();
    }
    match std::env::var(KUBESEAL_CERT_ENV) {
        Ok(spec) if !spec.is_empty() => spec,
        _ => clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            "the following required argument was not provided: --cert <PATH|URL>\n\n\
             Pass the controller's certificate as a file or an http(s) URL, or set SEALANT_CERT.\n",
        )
        .exit(),
    }
}

/// Reads `spec` (path or URL) as a certificate, without checking its validity period.
pub fn load_certificate(spec: &str) -> Result<Certificate> {
    let bytes = read_cert_bytes(spec)?;
    Certificate::from_pem(&bytes).map_err(|e| anyhow!("{}: {e}", display_spec(spec)))
}

/// Reads `spec` as a certificate to seal with: refuses an expired one.
pub fn load_sealing_certificate(spec: &str) -> Result<Certificate> {
    let cert = load_certificate(spec)?;
    cert.check_not_expired(OffsetDateTime::now_utc())
        .map_err(|e| anyhow!("{}: {e}", display_spec(spec)))?;
    Ok(cert)
}

fn read_cert_bytes(spec: &str) -> Result<Vec<u8>> {
    let name = display_spec(spec);
    if spec.is_empty() {
        bail!("--cert is empty: pass a certificate file path or an http(s) URL");
    }
    match scheme(spec) {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            fetch(spec, &name)
        }
        Some(s) if s.eq_ignore_ascii_case("file") => {
            let path = &spec[s.len() + 3..];
            read_file(path, &name)
        }
        Some(s) => bail!(
            "{name}: unsupported URL scheme {s:?}: pass a file path, or an http:// or https:// URL"
        ),
        None => read_file(spec, &name),
    }
}

fn read_file(path: &str, name: &str) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| anyhow!("{name}: cannot open: {e}"))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        bail!("{name}: is a directory, not a certificate file");
    }
    read_cert_limited(file, name)
}

fn read_cert_limited(reader: impl std::io::Read, name: &str) -> Result<Vec<u8>> {
    read_bounded(reader, MAX_CERT_BYTES, &name).map_err(|_| {
        anyhow!(
            "{name}: larger than {}: not a certificate",
            human_size(MAX_CERT_BYTES)
        )
    })
}

/// The URL scheme, as kubeseal decides: none (a path) when there is no `://` or the "scheme" is
/// a single letter (a Windows drive, `C://...`).
fn scheme(spec: &str) -> Option<&str> {
    let (scheme, _) = spec.split_once("://")?;
    let valid = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// The spec as shown in messages: URLs without any `user:password@`.
fn display_spec(spec: &str) -> String {
    if let Some((scheme, rest)) = spec.split_once("://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}{path}");
        }
    }
    spec.to_owned()
}

/// GETs a certificate over HTTP(S): 10 s timeouts, at most 64 KiB, proxies from `HTTPS_PROXY`,
/// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`; TLS via rustls with aws-lc-rs and Mozilla's roots.
fn fetch(url: &str, name: &str) -> Result<Vec<u8>> {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(ureq::Proxy::try_from_env())
        .timeout_global(Some(FETCH_TIMEOUT))
        .timeout_connect(Some(FETCH_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(5)
        .user_agent(concat!("sealant/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Accept", "application/x-pem-file, */*")
        .call()
        .map_err(|e| anyhow!("cannot fetch {name:?}: {}", fetch_error(&e)))?;
    let status = response.status();
    if status != ureq::http::StatusCode::OK {
        bail!("cannot fetch {name:?}: {status}");
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_CERT_BYTES)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => anyhow!(
                "cannot fetch {name:?}: the response is larger than {}: not a certificate",
                human_size(MAX_CERT_BYTES)
            ),
            other => anyhow!("cannot fetch {name:?}: {}", fetch_error(&other)),
        })
}

fn fetch_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("timed out after {} s ({e})", FETCH_TIMEOUT.as_secs()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_detection_like_kubeseal() {
        assert_eq!(scheme("https://x/cert.pem"), Some("https"));
        assert_eq!(scheme("file:///tmp/c.pem"), Some("file"));
        assert_eq!(scheme("C://dir/c.pem"), None);
        assert_eq!(scheme("/tmp/c.pem"), None);
        assert_eq!(scheme("dir/a://b"), None);
    }

    #[test]
    fn credentials_are_not_displayed() {
        assert_eq!(
            display_spec("https://u:p@host:8080/v1/cert.pem"),
            "https://host:8080/v1/cert.pem"
        );
        assert_eq!(display_spec("cert.pem"), "cert.pem");
    }
}
