//! Command-line flags and environment variables.
//!
//! Flag names follow upstream's controller (`--key-prefix`, `--key-renew-period`, …) so existing
//! manifests keep working; every flag can also be set from a `SEALANT_*` environment variable
//! (the command line wins). Durations use Go's syntax (`720h`, `1h30m`, `90s`, `0`).
//!
//! Flag forms follow upstream's (pflag): `--flag value` and `--flag=value`; boolean flags are
//! bare (`--update-status`) or take their value after `=` (`--update-status=false`, any of Go's
//! `strconv.ParseBool` spellings); numbers may be negative as separate tokens
//! (`--kubeclient-qps -1`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use time::OffsetDateTime;

/// Which time orders keys: the newest key seals and is tried first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyOrderPriority {
    /// The certificate's notBefore (upstream's default).
    #[value(name = "CertNotBefore")]
    CertNotBefore,
    /// The key Secret's creationTimestamp.
    #[value(name = "SecretCreationTimestamp")]
    SecretCreationTimestamp,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `sealant-controller` configuration.
#[derive(Clone, Debug, Parser)]
#[command(name = "sealant-controller", version, about, long_about = None)]
pub struct Config {
    /// Namespace holding the key Secrets [default: env POD_NAMESPACE, else the service
    /// account's namespace, else `default`].
    #[arg(long, env = "SEALANT_NAMESPACE")]
    pub namespace: Option<String>,

    /// Prefix (`generateName`) of new key Secrets; also the name of the legacy single-key Secret.
    #[arg(long, env = "SEALANT_KEY_PREFIX", default_value = "sealed-secrets-key", value_parser = parse_key_prefix)]
    pub key_prefix: String,

    /// RSA modulus size of generated keys, in bits.
    #[arg(long, env = "SEALANT_KEY_SIZE", default_value_t = 4096)]
    pub key_size: usize,

    /// Validity of generated certificates.
    #[arg(long, env = "SEALANT_KEY_TTL", default_value = "87600h", value_parser = parse_duration)]
    pub key_ttl: Duration,

    /// Subject and issuer common name of generated certificates.
    #[arg(long = "my-cn", env = "SEALANT_MY_CN", default_value = "")]
    pub my_cn: String,

    /// Generate a new sealing key this often (0 disables renewal). Old keys are kept.
    #[arg(long, alias = "rotate-period", env = "SEALANT_KEY_RENEW_PERIOD", default_value = "720h", value_parser = parse_duration)]
    pub key_renew_period: Duration,

    /// Which time decides the newest key.
    #[arg(
        long,
        env = "SEALANT_KEY_ORDER_PRIORITY",
        value_enum,
        default_value = "CertNotBefore"
    )]
    pub key_order_priority: KeyOrderPriority,

    /// Generate a key at startup if the newest key is older than this (RFC 1123Z, `date -R`).
    #[arg(long, env = "SEALANT_KEY_CUTOFF_TIME", value_parser = parse_cutoff)]
    pub key_cutoff_time: Option<OffsetDateTime>,

    /// Accept the deprecated v1 `spec.data` format.
    #[arg(long, env = "SEALANT_ACCEPT_DEPRECATED_V1_DATA", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub accept_deprecated_v1_data: bool,

    /// Watch SealedSecrets in all namespaces (ignored when --additional-namespaces is set).
    #[arg(long, env = "SEALANT_ALL_NAMESPACES", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub all_namespaces: bool,

    /// Comma-separated namespaces to watch besides the controller's own; setting it restricts
    /// the controller to those namespaces.
    #[arg(long, env = "SEALANT_ADDITIONAL_NAMESPACES", value_delimiter = ',')]
    pub additional_namespaces: Vec<String>,

    /// Label selector for the SealedSecrets (and Secrets) watched.
    #[arg(long, env = "SEALANT_LABEL_SELECTOR")]
    pub label_selector: Option<String>,

    /// Private-key operations per second per client on /v1/verify and /v1/rotate (0: no
    /// limit). A request costs one per value it opens (at most every value against every key),
    /// plus one per started 64 KiB of body.
    #[arg(long, env = "SEALANT_RATE_LIMIT", default_value_t = 50.0)]
    pub rate_limit: f64,

    /// Private-key operations a client may save up and spend at once.
    #[arg(long, env = "SEALANT_RATE_LIMIT_BURST", default_value_t = 500)]
    pub rate_limit_burst: u32,

    /// Comma-separated addresses or CIDR networks of proxies whose `X-Forwarded-For` names the
    /// client (only the hop the proxy appended); every other peer is itself the client.
    #[arg(long, env = "SEALANT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::http::client::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// `k=v,k=v` annotations added to new key Secrets.
    #[arg(long, env = "SEALANT_PRIVATEKEY_ANNOTATIONS", default_value = "", value_parser = parse_pairs)]
    pub privatekey_annotations: Pairs,

    /// `k=v,k=v` labels added to new key Secrets.
    #[arg(long, env = "SEALANT_PRIVATEKEY_LABELS", default_value = "", value_parser = parse_pairs)]
    pub privatekey_labels: Pairs,

    /// Refuse `spec.template.data` instead of rendering it: such SealedSecrets become Stalled
    /// (reason `TemplatesDisabled`) and are never decrypted or rendered.
    #[arg(long, env = "SEALANT_DISABLE_TEMPLATES", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub disable_templates: bool,

    /// Do not serve the sealing page (`GET /` and `/assets/...`) on the HTTP API port; the
    /// API itself (`/v1/...`) is served either way.
    #[arg(long, env = "SEALANT_DISABLE_WEB", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub disable_web: bool,

    /// Write the status subresource of SealedSecrets.
    #[arg(long, env = "SEALANT_UPDATE_STATUS", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub update_status: bool,

    /// Do not watch Secrets: deleted Secrets are then not recreated.
    #[arg(long, env = "SEALANT_SKIP_RECREATE", default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub skip_recreate: bool,

    /// Accepted for compatibility: sealant always follows key Secrets.
    #[arg(long, env = "SEALANT_WATCH_FOR_SECRETS", hide = true, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub watch_for_secrets: bool,

    /// Parallel decryptions [default: number of CPUs]. Up to four times as many reconciles are
    /// in flight, so their API requests overlap the decryptions.
    #[arg(long, env = "SEALANT_WORKERS")]
    pub workers: Option<u16>,

    /// Longest wait between retries of a transient failure.
    #[arg(long, env = "SEALANT_MAX_RETRY_DELAY", default_value = "5m", value_parser = parse_duration)]
    pub max_retry_delay: Duration,

    /// HTTP API address (`:8080` means all interfaces).
    #[arg(long, env = "SEALANT_LISTEN_ADDR", default_value = ":8080", value_parser = parse_addr)]
    pub listen_addr: SocketAddr,

    /// Metrics address.
    #[arg(long, env = "SEALANT_LISTEN_METRICS_ADDR", default_value = ":8081", value_parser = parse_addr)]
    pub listen_metrics_addr: SocketAddr,

    /// Time allowed to read a request body (HTTP API).
    #[arg(long, env = "SEALANT_READ_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub read_timeout: Duration,

    /// Time allowed to handle a request and write the answer (HTTP API).
    #[arg(long, env = "SEALANT_WRITE_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub write_timeout: Duration,

    /// Largest request body accepted by the HTTP API, in bytes.
    #[arg(long, env = "SEALANT_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Kubernetes API requests per second (client-side limit; 0 or negative disables it).
    #[arg(
        long,
        env = "SEALANT_KUBECLIENT_QPS",
        default_value_t = 50.0,
        allow_negative_numbers = true
    )]
    pub kubeclient_qps: f32,

    /// Kubernetes API request burst.
    #[arg(long, env = "SEALANT_KUBECLIENT_BURST", default_value_t = 100)]
    pub kubeclient_burst: u32,

    /// Elect a leader with a `coordination.k8s.io/v1` Lease in the controller namespace: only
    /// the leader reconciles and generates keys; every replica serves the HTTP API.
    #[arg(long, env = "SEALANT_LEADER_ELECT", default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub leader_elect: bool,

    /// Name of the leader election Lease.
    #[arg(
        long,
        env = "SEALANT_LEADER_ELECT_LEASE_NAME",
        default_value = "sealant-controller"
    )]
    pub leader_elect_lease_name: String,

    /// How long the other replicas wait after the leader's last renewal before taking over.
    #[arg(long, env = "SEALANT_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,

    /// How long the leader keeps reconciling without renewing the Lease (less than the lease
    /// duration).
    #[arg(long, env = "SEALANT_LEADER_ELECT_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub leader_elect_renew_deadline: Duration,

    /// Time between attempts to acquire or renew the Lease.
    #[arg(long, env = "SEALANT_LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub leader_elect_retry_period: Duration,

    /// BENCHMARK ONLY: mimic upstream's strategy (ignore key-id hints and try every key, and
    /// decrypt every object on every start, ignoring the recorded digest). Never use it in a
    /// cluster; it only exists so the benchmark can compare strategies in one run.
    #[arg(
        long,
        env = "SEALANT_BENCH_NAIVE",
        hide = true,
        default_value_t = false
    )]
    pub bench_naive: bool,

    /// Log level (`error`, `warn`, `info`, `debug`, `trace`, or a tracing filter).
    #[arg(long, env = "SEALANT_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format.
    #[arg(long, env = "SEALANT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Upstream flags accepted so existing manifests keep working, but not acted on (see
    /// [`Config::ignored_upstream_flags`]).
    #[command(flatten)]
    pub upstream: UpstreamFlags,
}

/// Upstream controller flags that sealant accepts but does not act on.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct UpstreamFlags {
    /// Ignored: transient failures are retried with capped exponential backoff, without limit.
    #[arg(long, hide = true, env = "SEALANT_MAX_UNSEAL_RETRIES")]
    pub max_unseal_retries: Option<u32>,
    /// Ignored: Secrets are deleted by Kubernetes garbage collection through their ownerReference.
    #[arg(long, hide = true, env = "SEALANT_OLD_GC_BEHAVIOR", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub old_gc_behavior: Option<bool>,
    /// Ignored: logs go to stderr.
    #[arg(long, hide = true, env = "SEALANT_LOG_INFO_STDOUT", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub log_info_stdout: Option<bool>,
}

/// `k=v` pairs from a comma-separated list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairs(pub BTreeMap<String, String>);

impl Config {
    /// Parses the process's arguments and environment. Upstream's `SEALED_SECRETS_<FLAG>`
    /// variables are honoured too, below the command line and `SEALANT_<FLAG>`.
    pub fn from_env() -> Self {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::parse_from(with_upstream_env(args, &vars))
    }

    /// The upstream flags that were given but are not acted on.
    pub fn ignored_upstream_flags(&self) -> Vec<&'static str> {
        let u = &self.upstream;
        let mut out = Vec::new();
        if u.max_unseal_retries.is_some() {
            out.push("--max-unseal-retries");
        }
        if u.old_gc_behavior == Some(true) {
            out.push("--old-gc-behavior");
        }
        out
    }

    /// Parses explicit arguments (the first is the program name), for tests.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(args)
    }

    /// The controller's namespace: `--namespace`, env `POD_NAMESPACE`, the service account's
    /// namespace file, else `default`.
    pub fn controller_namespace(&self) -> String {
        if let Some(ns) = self.namespace.as_deref().filter(|n| !n.is_empty()) {
            return ns.to_owned();
        }
        if let Ok(ns) = std::env::var("POD_NAMESPACE")
            && !ns.is_empty()
        {
            return ns;
        }
        std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }

    /// The namespaces to watch: `None` for all namespaces.
    pub fn watched_namespaces(&self) -> Option<Vec<String>> {
        let extra: Vec<String> = self
            .additional_namespaces
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if self.all_namespaces && extra.is_empty() {
            return None;
        }
        let mut out = vec![self.controller_namespace()];
        for ns in extra {
            if !out.contains(&ns) {
                out.push(ns);
            }
        }
        Some(out)
    }

    /// Leader election settings, or `None` without `--leader-elect`.
    pub fn election(&self) -> Result<Option<crate::leader::ElectionOptions>, String> {
        if !self.leader_elect {
            return Ok(None);
        }
        let name = self.leader_elect_lease_name.trim();
        if name.is_empty()
            || name.len() > 253
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(format!(
                "--leader-elect-lease-name {name:?}: must be 1-253 characters of [a-z0-9.-]"
            ));
        }
        let opts = crate::leader::ElectionOptions {
            namespace: self.controller_namespace(),
            name: name.to_owned(),
            identity: crate::leader::default_identity(),
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
        };
        opts.validate()?;
        Ok(Some(opts))
    }

    /// Parallel decryptions.
    pub fn worker_count(&self) -> u16 {
        self.workers.filter(|w| *w > 0).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| u16::try_from(n.get()).unwrap_or(u16::MAX))
                .unwrap_or(1)
        })
    }
}

/// Appends `--flag=value` for each upstream `SEALED_SECRETS_<FLAG>` variable whose flag exists,
/// is not on the command line and has no `SEALANT_<FLAG>` variable set.
pub fn with_upstream_env(
    mut args: Vec<std::ffi::OsString>,
    vars: &[(String, String)],
) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let cmd = Config::command();
    let longs: Vec<String> = cmd
        .get_arguments()
        .flat_map(|a| {
            a.get_long_and_visible_aliases()
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
        })
        .collect();
    let given = |flag: &str| {
        args.iter().skip(1).any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{flag}") || a.starts_with(&format!("--{flag}="))
        })
    };
    let mut extra = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("SEALED_SECRETS_") else {
            continue;
        };
        let flag = rest.to_ascii_lowercase().replace('_', "-");
        let ours = format!("SEALANT_{rest}");
        if !longs.contains(&flag) || given(&flag) || vars.iter().any(|(n, _)| *n == ours) {
            continue;
        }
        extra.push(std::ffi::OsString::from(format!("--{flag}={value}")));
    }
    args.extend(extra);
    args
}

/// Parses a Go duration: `0`, or a sequence of `<number><unit>` with units `h`, `m`, `s`, `ms`,
/// `us`/`µs`, `ns` (e.g. `720h`, `1h30m`, `1.5s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".to_owned());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// Parses `--key-cutoff-time` (RFC 1123Z, as `date -R` prints; RFC 3339 is accepted too).
pub fn parse_cutoff(text: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::{Rfc2822, Rfc3339};
    OffsetDateTime::parse(text.trim(), &Rfc2822)
        .or_else(|_| OffsetDateTime::parse(text.trim(), &Rfc3339))
        .map_err(|e| format!("expected RFC 1123Z like `date -R` prints ({e})"))
}

/// Parses `:8080`, `0.0.0.0:8080` or `127.0.0.1:0`.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let full = if t.starts_with(':') {
        format!("0.0.0.0{t}")
    } else {
        t.to_owned()
    };
    full.parse()
        .map_err(|e| format!("invalid listen address {text:?} ({e})"))
}

/// Parses a boolean flag value the way Go's `strconv.ParseBool` (and so upstream's pflag) does:
/// `1 t T TRUE true True` and `0 f F FALSE false False`. Boolean flags take their value only
/// after `=` (`--update-status=false`); a bare flag means true, as in pflag.
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (true or false)")),
    }
}

fn parse_key_prefix(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 245
        || !text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("must be 1-245 characters of [a-z0-9-]".to_owned());
    }
    Ok(text.to_owned())
}

fn parse_pairs(text: &str) -> Result<Pairs, String> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, found {pair:?}"))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(Pairs(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_env_below_flags_and_sealant_env() {
        let args = vec!["x".into(), "--key-size=2048".into()];
        let vars = vec![
            ("SEALED_SECRETS_KEY_SIZE".to_owned(), "1024".to_owned()),
            (
                "SEALED_SECRETS_KEY_PREFIX".to_owned(),
                "upstream".to_owned(),
            ),
            ("SEALED_SECRETS_MY_CN".to_owned(), "cn".to_owned()),
            ("SEALANT_MY_CN".to_owned(), "ours".to_owned()),
            ("SEALED_SECRETS_NOT_A_FLAG".to_owned(), "x".to_owned()),
        ];
        let out = with_upstream_env(args, &vars);
        let out: Vec<String> = out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(out, vec!["x", "--key-size=2048", "--key-prefix=upstream"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_duration("720h").unwrap(),
            Duration::from_secs(720 * 3600)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn defaults_and_flags() {
        let c = Config::try_from_args(["x"]).unwrap();
        assert_eq!(c.key_prefix, "sealed-secrets-key");
        assert_eq!(c.key_size, 4096);
        assert_eq!(c.key_renew_period, Duration::from_secs(720 * 3600));
        assert!(c.accept_deprecated_v1_data);
        assert_eq!(c.listen_addr.port(), 8080);
        assert_eq!(c.listen_metrics_addr.port(), 8081);
        assert!(c.watched_namespaces().is_none());

        let c = Config::try_from_args([
            "x",
            "--namespace=sys",
            "--additional-namespaces=a,b",
            "--key-cutoff-time=Mon, 02 Jan 2006 15:04:05 -0700",
            "--privatekey-labels=a=b,c=d",
            "--accept-deprecated-v1-data=false",
            "--rotate-period=0",
        ])
        .unwrap();
        assert_eq!(
            c.watched_namespaces().unwrap(),
            vec!["sys".to_owned(), "a".to_owned(), "b".to_owned()]
        );
        assert!(c.key_cutoff_time.is_some());
        assert_eq!(c.privatekey_labels.0.len(), 2);
        assert!(!c.accept_deprecated_v1_data);
        assert_eq!(c.key_renew_period, Duration::ZERO);
        assert!(Config::try_from_args(["x", "--privatekey-labels=nope"]).is_err());
        // Upstream flags are accepted.
        let c = Config::try_from_args([
            "x",
            "--max-unseal-retries=5",
            "--kubeclient-qps=5",
            "--old-gc-behavior",
            "--read-timeout=2m",
            "--watch-for-secrets",
            "--log-info-stdout=true",
        ])
        .unwrap();
        assert_eq!(c.ignored_upstream_flags().len(), 2);
        assert_eq!(c.kubeclient_qps, 5.0);
        assert!(Config::try_from_args(["x", "--key-prefix=Bad_Prefix"]).is_err());
    }
}
