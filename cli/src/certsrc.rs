//! Getting the sealing certificate: a file path, `file://` URL, or `http(s)://` URL; else
//! from the controller through the Kubernetes API service proxy ([`crate::kubecfg`]), with a
//! local cache for offline use; and pins (`--cert-fingerprint`, `--key-id`) that refuse an
//! unexpected certificate.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use sealant_crypto::Certificate;
use time::OffsetDateTime;

use crate::io::{self, WriteOptions, human_size, read_bounded};
use crate::kubecfg::{Cluster, ClusterArgs, is_unreachable, no_kubeconfig};

/// Overrides the certificate cache directory (tests, CI).
pub const CACHE_DIR_ENV: &str = "SEALANT_CACHE_DIR";

/// A certificate file or response larger than this is refused (64 KiB; one is ~2 KiB).
pub const MAX_CERT_BYTES: u64 = 64 * 1024;
/// Connect, read and overall timeout for fetching a certificate URL.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// kubeseal's environment variable for `--cert`, honoured when `SEALANT_CERT` is not set.
pub const KUBESEAL_CERT_ENV: &str = "SEALED_SECRETS_CERT";

/// The `--cert` value: the flag, else `SEALANT_CERT` (both via clap), else kubeseal's
/// `SEALED_SECRETS_CERT`; an error when none is set.
pub fn cert_spec(flag: Option<&str>) -> Result<String> {
    explicit_spec(flag).ok_or_else(|| {
        anyhow!(
            "no certificate: pass --cert <PATH|URL> (a PEM file, a file:// or an http(s):// URL) or set SEALANT_CERT"
        )
    })
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

/// A certificate and where it came from.
pub struct Resolved {
    /// The certificate.
    pub cert: Certificate,
    /// Its PEM text as received (what `cert fetch` prints).
    pub pem: Vec<u8>,
    /// Where it came from, for messages: a file, a URL, a cluster, or the cache.
    pub origin: String,
}

/// The explicit certificate spec: the flag (or `SEALANT_CERT`, via clap), else kubeseal's
/// `SEALED_SECRETS_CERT`; `None` means "ask the cluster".
pub fn explicit_spec(flag: Option<&str>) -> Option<String> {
    if let Some(spec) = flag {
        return Some(spec.to_owned());
    }
    std::env::var(KUBESEAL_CERT_ENV)
        .ok()
        .filter(|s| !s.is_empty())
}

/// Fails when there is neither an explicit certificate nor any kubeconfig to fetch one with.
pub fn require_source(flag: Option<&str>, cluster: &ClusterArgs) -> Result<()> {
    if explicit_spec(flag).is_none() && no_kubeconfig(cluster) {
        bail!(
            "no certificate: pass --cert <PATH|URL> (or set SEALANT_CERT), or configure cluster \
             access (--kubeconfig, KUBECONFIG or ~/.kube/config) to fetch it from the controller"
        );
    }
    Ok(())
}

/// The certificate to seal with: `--cert` (file or URL) if given, else the controller's, fetched
/// through the API server with the kubeconfig (falling back to the cache when the cluster cannot
/// be reached). Expired certificates and certificates that fail a pin are refused.
pub fn resolve_cert(flag: Option<&str>, cluster: &ClusterArgs) -> Result<Certificate> {
    Ok(resolve(flag, cluster, true)?.cert)
}

/// Like [`resolve_cert`], also returning the PEM and the origin. `for_sealing: false` accepts
/// an expired certificate from a file, URL or the controller (never from the cache).
pub fn resolve(flag: Option<&str>, cluster: &ClusterArgs, for_sealing: bool) -> Result<Resolved> {
    let resolved = match explicit_spec(flag) {
        Some(spec) => {
            let pem = read_cert_bytes(&spec)?;
            let name = display_spec(&spec);
            let cert = Certificate::from_pem(&pem).map_err(|e| anyhow!("{name}: {e}"))?;
            Resolved {
                cert,
                pem,
                origin: name,
            }
        }
        None => {
            require_source(None, cluster)?;
            from_cluster(cluster)?
        }
    };
    check_pins(&resolved, cluster)?;
    if for_sealing {
        resolved
            .cert
            .check_not_expired(OffsetDateTime::now_utc())
            .map_err(|e| anyhow!("{}: {e}", resolved.origin))?;
    }
    Ok(resolved)
}

/// The controller's certificate through the API server; on success the cache is refreshed, and
/// when the cluster cannot be reached an unexpired cached copy is used (with a note on stderr).
fn from_cluster(args: &ClusterArgs) -> Result<Resolved> {
    let cluster = Cluster::open(args)?;
    let origin = format!("controller {} at {}", cluster.service(), cluster.server);
    let cache = cache_path(&cluster.server, &cluster.namespace, &cluster.name);
    match cluster.fetch_cert_pem() {
        Ok(pem) => {
            let cert = Certificate::from_pem(&pem).map_err(|e| anyhow!("{origin}: {e}"))?;
            if let Some(path) = &cache {
                store_in_cache(path, &pem, &cert);
            }
            Ok(Resolved { cert, pem, origin })
        }
        Err(err) if is_unreachable(&err) => {
            let Some(path) = cache else {
                return Err(err.context("no certificate cache directory (set SEALANT_CACHE_DIR)"));
            };
            let Ok(pem) = std::fs::read(&path) else {
                return Err(anyhow!(
                    "{err:#}; no cached certificate for {origin} (fetch it once with `sealant cert fetch` while the cluster is reachable, or pass --cert)"
                ));
            };
            let cached = format!("cached certificate {}", path.display());
            let cert = Certificate::from_pem(&pem).map_err(|e| anyhow!("{cached}: {e}"))?;
            if let Err(e) = cert.check_not_expired(OffsetDateTime::now_utc()) {
                bail!("{err:#}; the {cached} of {origin} cannot be used: {e}");
            }
            let fetched = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .map(|t| rfc3339(OffsetDateTime::from(t)))
                .unwrap_or_else(|| "at an unknown time".to_owned());
            io::note(&format!(
                "note: {err:#}; using the {cached} of {origin}, fetched {fetched}"
            ));
            Ok(Resolved {
                cert,
                pem,
                origin: format!("{cached} of {origin}"),
            })
        }
        Err(err) => Err(err),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `$SEALANT_CACHE_DIR`, else `$XDG_CACHE_HOME/sealant`, else `~/.cache/sealant`.
fn cache_dir() -> Option<std::path::PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = env(CACHE_DIR_ENV) {
        return Some(dir.into());
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Some(std::path::PathBuf::from(dir).join("sealant"));
    }
    env("HOME").map(|h| std::path::PathBuf::from(h).join(".cache").join("sealant"))
}

/// The cache file of one controller: `certs/<16 hex of SHA-256(server, namespace, name)>.pem`.
fn cache_path(server: &str, namespace: &str, name: &str) -> Option<std::path::PathBuf> {
    let key = format!("{server}\0{namespace}\0{name}");
    let hash = sealant_crypto::sha256(key.as_bytes());
    let file: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    Some(cache_dir()?.join("certs").join(format!("{file}.pem")))
}

/// Best effort: a failure to cache is a note, never an error. Expired certificates are not
/// cached.
fn store_in_cache(path: &std::path::Path, pem: &[u8], cert: &Certificate) {
    if cert.check_not_expired(OffsetDateTime::now_utc()).is_err() {
        return;
    }
    let result = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(anyhow::Error::from)
        .and_then(|()| io::write_atomic(path, pem, WriteOptions::REPLACE));
    if let Err(e) = result {
        io::note(&format!(
            "note: cannot cache the certificate in {}: {e:#}",
            path.display()
        ));
    }
}

/// SHA-256 of the certificate's DER bytes, lower-case hex.
pub fn fingerprint(cert: &Certificate) -> String {
    sealant_crypto::sha256(cert.der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Normalises a `--cert-fingerprint` value: optional `sha256:`/`SHA256:` prefix, colons and
/// case ignored; 64 hex digits required.
fn normalise_fingerprint(pin: &str) -> Result<String> {
    let t = pin.trim();
    let t = t
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256:"))
        .map_or(t, |_| &t[7..]);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "--cert-fingerprint {pin:?}: expected a SHA-256 fingerprint (64 hex digits, colons allowed)"
        );
    }
    Ok(hex.to_ascii_lowercase())
}

/// Refuses a certificate that does not match `--cert-fingerprint` / `--key-id`.
pub fn check_pins(resolved: &Resolved, pins: &ClusterArgs) -> Result<()> {
    let cert = &resolved.cert;
    if let Some(pin) = &pins.cert_fingerprint {
        let want = normalise_fingerprint(pin)?;
        let got = fingerprint(cert);
        if want != got {
            bail!(
                "{}: certificate fingerprint sha256:{got} does not match --cert-fingerprint sha256:{want}: refusing an unexpected certificate",
                resolved.origin
            );
        }
    }
    if let Some(pin) = &pins.key_id {
        let pin = pin.trim();
        if cert.key_id().as_str() != pin.to_ascii_lowercase() {
            bail!(
                "{}: certificate key id {} does not match --key-id {pin}: refusing an unexpected certificate",
                resolved.origin,
                cert.key_id()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_pins_are_normalised() {
        let hex = "AB".repeat(32);
        assert_eq!(normalise_fingerprint(&hex).unwrap(), "ab".repeat(32));
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(
            normalise_fingerprint(&format!("SHA256:{colons}")).unwrap(),
            "ab".repeat(32)
        );
        assert!(normalise_fingerprint("abcd").is_err());
        assert!(normalise_fingerprint(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn cache_paths_differ_per_controller() {
        let a = cache_path("https://a", "kube-system", "c");
        let b = cache_path("https://b", "kube-system", "c");
        let c = cache_path("https://a", "kube-system", "d");
        if a.is_some() {
            assert_ne!(a, b);
            assert_ne!(a, c);
        }
    }

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
