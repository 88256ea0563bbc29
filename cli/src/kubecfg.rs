//! Talking to the controller through the Kubernetes API server's service proxy, with the
//! user's kubeconfig (as kubeseal does): `GET /v1/cert.pem`, `POST /v1/verify`, `POST /v1/rotate`.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Service;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Connect timeout for the API server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read/write timeout of one API request (re-sealing a large object takes a while).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Responses larger than this (4 MiB) are refused.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// API server answers (lists of Secrets, for `audit`) larger than this (64 MiB) are refused.
pub const MAX_API_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How long rate-limited (429) requests are retried in total.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// Where the controller is and how to reach the cluster (kubeseal's flags and defaults), plus
/// pins that refuse an unexpected certificate.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Controller (without --cert) and certificate pins")]
pub struct ClusterArgs {
    /// kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// kubeconfig context to use [default: the current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Name of the controller's Service.
    #[arg(
        long,
        value_name = "NAME",
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = DEFAULT_CONTROLLER_NAME
    )]
    pub controller_name: String,

    /// Namespace of the controller's Service.
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = DEFAULT_CONTROLLER_NAMESPACE
    )]
    pub controller_namespace: String,

    /// Refuse any certificate whose SHA-256 fingerprint (of its DER bytes, hex; colons and a
    /// `sha256:` prefix are accepted) is not this one.
    #[arg(long, value_name = "SHA256")]
    pub cert_fingerprint: Option<String>,

    /// Refuse any certificate whose key id (`sealant cert info`) is not this one.
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
}

/// kubeseal's default `--controller-name`.
pub const DEFAULT_CONTROLLER_NAME: &str = "sealed-secrets-controller";
/// kubeseal's default `--controller-namespace`.
pub const DEFAULT_CONTROLLER_NAMESPACE: &str = "kube-system";

/// The API server could not be reached or did not answer (as opposed to answering "no"): a
/// cached certificate may be used instead.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// Whether `err` says the cluster could not be reached.
pub fn is_unreachable(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Unreachable>().is_some()
}

/// A kubeconfig was found and names a cluster; nothing has been requested yet.
pub struct Cluster {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    /// The API server URL (the cache key).
    pub server: String,
    /// Controller Service namespace.
    pub namespace: String,
    /// Controller Service name.
    pub name: String,
    port: std::cell::OnceCell<String>,
}

/// An HTTP answer from the controller (through the proxy).
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body (at most [`MAX_RESPONSE_BYTES`]).
    pub body: Vec<u8>,
}

/// Whether no kubeconfig can be found at all (no flag, no `KUBECONFIG`, no `~/.kube/config`).
pub fn no_kubeconfig(args: &ClusterArgs) -> bool {
    if args.kubeconfig.is_some() {
        return false;
    }
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    match std::env::var_os("HOME") {
        Some(home) => !PathBuf::from(home).join(".kube").join("config").exists(),
        None => true,
    }
}

fn check_dns_name(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok {
        bail!(
            "{what} {value:?} is not a valid Kubernetes name (lower-case letters, digits, '-', '.')"
        );
    }
    Ok(())
}

impl Cluster {
    /// Reads the kubeconfig and prepares a client; does not contact the cluster.
    pub fn open(args: &ClusterArgs) -> Result<Self> {
        check_dns_name("--controller-name", &args.controller_name)?;
        check_dns_name("--controller-namespace", &args.controller_namespace)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
        let kubeconfig = match &args.kubeconfig {
            Some(path) => Kubeconfig::read_from(path)
                .map_err(|e| anyhow!("{}: cannot read kubeconfig: {e}", path.display()))?,
            None => Kubeconfig::read().map_err(|e| {
                anyhow!(
                    "cannot read kubeconfig ($KUBECONFIG or ~/.kube/config): {e}; pass --kubeconfig, or --cert FILE|URL"
                )
            })?,
        };
        let opts = KubeConfigOptions {
            context: args.context.clone(),
            ..Default::default()
        };
        let mut config = rt
            .block_on(kube::Config::from_custom_kubeconfig(kubeconfig, &opts))
            .map_err(|e| match &args.context {
                Some(ctx) => anyhow!("kubeconfig context {ctx:?}: {e}"),
                None => anyhow!("kubeconfig: {e}"),
            })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        config.reset_reader_on_write = true;
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let client = {
            let _guard = rt.enter();
            kube::Client::try_from(config)
                .map_err(|e| anyhow!("cannot set up a client for {server}: {e}"))?
        };
        Ok(Cluster {
            rt,
            client,
            server: server.trim_end_matches('/').to_owned(),
            namespace: args.controller_namespace.clone(),
            name: args.controller_name.clone(),
            port: std::cell::OnceCell::new(),
        })
    }

    /// `namespace/name` of the controller Service.
    pub fn service(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The Service's first port name (may be empty: unnamed port), read once.
    fn port(&self) -> Result<&str> {
        if let Some(p) = self.port.get() {
            return Ok(p);
        }
        let api: kube::Api<Service> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let svc = self
            .rt
            .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, api.get(&self.name)).await })
            .map_err(|_| Unreachable(format!("{}: timed out", self.server)))?
            .map_err(|e| self.kube_error(e))?;
        let port = svc
            .spec
            .and_then(|s| s.ports)
            .and_then(|p| p.into_iter().next())
            .map(|p| p.name.unwrap_or_default())
            .ok_or_else(|| {
                anyhow!(
                    "service {} has no ports: is it the sealed-secrets controller? (use --controller-name and --controller-namespace)",
                    self.service()
                )
            })?;
        if !port.is_empty() {
            check_dns_name("service port name", &port)?;
        }
        Ok(self.port.get_or_init(|| port))
    }

    fn kube_error(&self, e: kube::Error) -> anyhow::Error {
        match e {
            kube::Error::Api(status) if status.code == 404 => anyhow!(
                "cannot get the sealed-secrets service {} at {}: not found; use --controller-name and --controller-namespace to name the controller's Service",
                self.service(),
                self.server
            ),
            kube::Error::Api(status) => anyhow!(
                "cannot get the sealed-secrets service {} at {}: {} ({})",
                self.service(),
                self.server,
                status.message,
                status.code
            ),
            other => anyhow!(Unreachable(format!(
                "cannot reach the API server {}: {}",
                self.server,
                one_line_error(&other)
            ))),
        }
    }

    /// The service-proxy path of `endpoint` (e.g. `/v1/cert.pem`), like kubeseal's
    /// `http:<name>:<port>` form; an unnamed port gives `http:<name>:`.
    pub fn proxy_path(&self, endpoint: &str) -> Result<String> {
        let port = self.port()?;
        Ok(format!(
            "/api/v1/namespaces/{}/services/http:{}:{port}/proxy{endpoint}",
            self.namespace, self.name
        ))
    }

    /// One request to the controller through the proxy; 429 answers are retried after their
    /// `Retry-After` (at most [`MAX_RATE_LIMIT_WAIT`] in total).
    pub fn call(&self, method: &str, endpoint: &str, body: Option<&[u8]>) -> Result<Answer> {
        let path = self.proxy_path(endpoint)?;
        self.send(
            method,
            &path,
            endpoint,
            "application/x-pem-file, */*",
            body,
            MAX_RESPONSE_BYTES,
        )
    }

    /// One request to the API server itself (`path` with its query, e.g.
    /// `/api/v1/namespaces/x/secrets?limit=50`), JSON both ways; answers up to
    /// [`MAX_API_RESPONSE_BYTES`].
    pub fn api(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Answer> {
        self.send(
            method,
            path,
            path,
            "application/json",
            body,
            MAX_API_RESPONSE_BYTES,
        )
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        endpoint: &str,
        accept: &str,
        body: Option<&[u8]>,
        max_bytes: usize,
    ) -> Result<Answer> {
        let started = Instant::now();
        loop {
            let mut req = http::Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::ACCEPT, accept);
            if body.is_some() {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
            }
            let req = req
                .body(kube::client::Body::from(body.unwrap_or_default().to_vec()))
                .map_err(|e| anyhow!("cannot build request {path}: {e}"))?;
            let client = self.client.clone();
            let fut = async move {
                let resp = client.send(req).await?;
                let (parts, body) = resp.into_parts();
                let limited = http_body_util::Limited::new(body, max_bytes);
                let bytes = limited.collect().await.map_err(|e| {
                    kube::Error::Service(format!("reading the response: {e}").into())
                })?;
                Ok::<_, kube::Error>((parts, bytes.to_bytes().to_vec()))
            };
            let (parts, bytes) = self
                .rt
                .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, fut).await })
                .map_err(|_| {
                    Unreachable(format!(
                        "{} {endpoint} through {}: timed out after {} s",
                        method,
                        self.server,
                        REQUEST_TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|e| {
                    Unreachable(format!(
                        "cannot reach the API server {}: {}",
                        self.server,
                        one_line_error(&e)
                    ))
                })?;
            let status = parts.status.as_u16();
            if status == 429 {
                let wait = parts
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 30);
                let wait = Duration::from_secs(wait);
                if started.elapsed() + wait <= MAX_RATE_LIMIT_WAIT {
                    std::thread::sleep(wait);
                    continue;
                }
            }
            return Ok(Answer {
                status,
                body: bytes,
            });
        }
    }

    /// `GET /v1/cert.pem`: the controller's newest certificate (PEM bytes, unparsed).
    pub fn fetch_cert_pem(&self) -> Result<Vec<u8>> {
        let answer = self.call("GET", "/v1/cert.pem", None)?;
        match answer.status {
            200 => Ok(answer.body),
            // The API server's own answers (no endpoints, cannot dial): the controller is down.
            502..=504 => Err(anyhow!(Unreachable(format!(
                "cannot fetch the certificate from {} at {}: the controller is unavailable ({}: {})",
                self.service(),
                self.server,
                answer.status,
                status_message(&answer.body)
            )))),
            other => bail!(
                "cannot fetch the certificate from {} at {}: {other}: {}",
                self.service(),
                self.server,
                status_message(&answer.body)
            ),
        }
    }
}

/// A short, one-line message out of an error body: a Kubernetes `Status` or the controller's
/// `{"reason","message"}` JSON, else the first line of text (bounded).
pub fn status_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
        let reason = v.get("reason").and_then(|m| m.as_str()).unwrap_or("");
        match (reason.is_empty(), message.is_empty()) {
            (false, false) => return truncate(&format!("{reason}: {message}")),
            (true, false) => return truncate(message),
            (false, true) => return reason.to_owned(),
            (true, true) => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty body)");
    truncate(line)
}

fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

fn one_line_error(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_use_in_paths() {
        assert!(check_dns_name("x", "sealed-secrets-controller").is_ok());
        assert!(check_dns_name("x", "a/../b").is_err());
        assert!(check_dns_name("x", "").is_err());
        assert!(check_dns_name("x", "A").is_err());
    }

    #[test]
    fn status_messages() {
        assert_eq!(
            status_message(
                br#"{"kind":"Status","message":"no endpoints","reason":"ServiceUnavailable"}"#
            ),
            "ServiceUnavailable: no endpoints"
        );
        assert_eq!(status_message(b"\n oops \n"), "oops");
        assert_eq!(status_message(b""), "(empty body)");
    }
}
