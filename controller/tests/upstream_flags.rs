//! Upstream's flag forms: the arguments upstream's Helm chart (2.18.x) renders by default and
//! with common values, `controller.yaml` (no arguments) and the forms upstream's README shows,
//! all parse to the same settings as upstream's controller (pflag) would give them.
//!
//! The argument lists are written from upstream's chart templates as documented (compat spec
//! §5.2): each value is rendered as `--flag` then its value as the next list item, booleans as a
//! bare flag, and nothing at all for an empty value.

use std::time::Duration;

use sealant_controller::Config;
use sealant_controller::config::{KeyOrderPriority, LogFormat, with_upstream_env};

fn parse(args: &[&str]) -> Config {
    let mut all = vec!["controller"];
    all.extend_from_slice(args);
    match Config::try_from_args(&all) {
        Ok(c) => c,
        Err(e) => panic!("upstream arguments {args:?} rejected: {e}"),
    }
}

fn level_hint(level: &str) -> Option<tracing::level_filters::LevelFilter> {
    tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|e| panic!("--log-level {level}: {e}"))
        .max_level_hint()
}

#[test]
fn upstream_chart_default_values() {
    // helm template sealed-secrets bitnami/sealed-secrets (updateStatus: true, secretName,
    // containerPorts 8080/8081; every other value empty, so not passed).
    let c = parse(&[
        "--update-status",
        "--key-prefix",
        "sealed-secrets-key",
        "--listen-addr",
        ":8080",
        "--listen-metrics-addr",
        ":8081",
    ]);
    assert!(c.update_status);
    assert_eq!(c.key_prefix, "sealed-secrets-key");
    assert_eq!(c.listen_addr.port(), 8080);
    assert_eq!(c.listen_metrics_addr.port(), 8081);
    assert!(c.watched_namespaces().is_none());
    assert!(!c.skip_recreate);
    assert!(c.ignored_upstream_flags().is_empty());
}

#[test]
fn upstream_chart_common_values() {
    // updateStatus, skipRecreate, keyrenewperiod "0", keyttl, keycutofftime, rateLimit,
    // rateLimitBurst, secretName, additionalNamespaces, privateKeyAnnotations/Labels (rendered
    // as k=v pairs joined by commas), logInfoStdout, logLevel, logFormat, containerPorts,
    // maxRetries, watchForSecrets, kubeClientQPS -1 (upstream: negative disables the limit),
    // kubeClientBurst; in the chart template's order.
    let c = parse(&[
        "--update-status",
        "--skip-recreate",
        "--key-renew-period",
        "0",
        "--key-ttl",
        "8760h",
        "--key-cutoff-time",
        "Mon, 02 Jan 2006 15:04:05 -0700",
        "--rate-limit",
        "5",
        "--rate-limit-burst",
        "10",
        "--key-prefix",
        "my-keys",
        "--additional-namespaces",
        "team-a,team-b",
        "--privatekey-annotations",
        "owner=platform,backup=daily",
        "--privatekey-labels",
        "tier=keys",
        "--log-info-stdout",
        "--log-level",
        "ERROR",
        "--log-format",
        "json",
        "--listen-addr",
        ":9090",
        "--listen-metrics-addr",
        ":9091",
        "--max-unseal-retries",
        "3",
        "--watch-for-secrets",
        "--kubeclient-qps",
        "-1",
        "--kubeclient-burst",
        "20",
    ]);
    assert!(c.update_status && c.skip_recreate && c.watch_for_secrets);
    assert_eq!(c.key_renew_period, Duration::ZERO);
    assert_eq!(c.key_ttl, Duration::from_secs(8760 * 3600));
    assert!(c.key_cutoff_time.is_some());
    assert_eq!((c.rate_limit, c.rate_limit_burst), (5.0, 10));
    assert_eq!(c.key_prefix, "my-keys");
    let mut watched = c.watched_namespaces().unwrap();
    assert_eq!(watched.split_off(1), ["team-a", "team-b"]);
    assert_eq!(c.privatekey_annotations.0.len(), 2);
    assert_eq!(c.privatekey_labels.0["tier"], "keys");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(
        level_hint(&c.log_level),
        Some(tracing::level_filters::LevelFilter::ERROR)
    );
    assert_eq!(
        (c.listen_addr.port(), c.listen_metrics_addr.port()),
        (9090, 9091)
    );
    assert_eq!(c.upstream.max_unseal_retries, Some(3));
    // Negative QPS: the client is built without a rate limit (client::from_env takes qps ≤ 0
    // as "no limit", as client-go does for negative values).
    assert!(c.kubeclient_qps < 0.0);
    assert_eq!(c.kubeclient_burst, 20);
    assert_eq!(c.ignored_upstream_flags(), ["--max-unseal-retries"]);
}

#[test]
fn upstream_log_levels_and_number_forms() {
    // Upstream's slog levels, as its chart passes them verbatim.
    for (level, want) in [
        ("INFO", tracing::level_filters::LevelFilter::INFO),
        ("ERROR", tracing::level_filters::LevelFilter::ERROR),
        ("WARN", tracing::level_filters::LevelFilter::WARN),
        ("DEBUG", tracing::level_filters::LevelFilter::DEBUG),
    ] {
        let c = parse(&["--log-level", level]);
        assert_eq!(level_hint(&c.log_level), Some(want), "{level}");
    }
    // Negative and fractional numbers in both forms.
    for args in [
        &["--kubeclient-qps", "-1"][..],
        &["--kubeclient-qps=-1"],
        &["--kubeclient-qps", "-0.5"],
    ] {
        assert!(parse(args).kubeclient_qps < 0.0, "{args:?}");
    }
    assert_eq!(parse(&["--kubeclient-qps", "7.5"]).kubeclient_qps, 7.5);
    // The deprecated alias upstream still accepts.
    assert_eq!(
        parse(&["--rotate-period", "720h30m"]).key_renew_period,
        Duration::from_secs(720 * 3600 + 30 * 60)
    );
    assert_eq!(
        parse(&["--key-order-priority", "SecretCreationTimestamp"]).key_order_priority,
        KeyOrderPriority::SecretCreationTimestamp
    );
}

#[test]
fn upstream_readme_forms() {
    // "--key-renew-period=<value>" (Go duration), "--all-namespaces=false",
    // "--additional-namespaces=<ns1>,<ns2>", "--max-unseal-retries N".
    let c = parse(&["--key-renew-period=720h30m", "--all-namespaces=false"]);
    assert_eq!(c.key_renew_period, Duration::from_secs(720 * 3600 + 1800));
    assert!(!c.all_namespaces);
    assert_eq!(c.watched_namespaces().map(|n| n.len()), Some(1));
    let c = parse(&[
        "--additional-namespaces=ns1,ns2",
        "--max-unseal-retries",
        "10",
    ]);
    assert_eq!(c.watched_namespaces().unwrap()[1..], ["ns1", "ns2"]);
    assert_eq!(c.upstream.max_unseal_retries, Some(10));
}

#[test]
fn boolean_flags_take_go_spellings_after_equals() {
    // Every boolean flag: bare means true; `=` takes any of strconv.ParseBool's spellings.
    type Get = fn(&Config) -> bool;
    let flags: [(&str, Get); 8] = [
        ("update-status", |c| c.update_status),
        ("skip-recreate", |c| c.skip_recreate),
        ("accept-deprecated-v1-data", |c| c.accept_deprecated_v1_data),
        ("all-namespaces", |c| c.all_namespaces),
        ("watch-for-secrets", |c| c.watch_for_secrets),
        ("leader-elect", |c| c.leader_elect),
        ("old-gc-behavior", |c| {
            c.upstream.old_gc_behavior == Some(true)
        }),
        ("log-info-stdout", |c| {
            c.upstream.log_info_stdout == Some(true)
        }),
    ];
    for (flag, get) in flags {
        assert!(get(&parse(&[&format!("--{flag}")])), "--{flag}");
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(get(&parse(&[&format!("--{flag}={t}")])), "--{flag}={t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert!(!get(&parse(&[&format!("--{flag}={f}")])), "--{flag}={f}");
        }
        assert!(Config::try_from_args(["x", &format!("--{flag}=yes")]).is_err());
        // pflag reads `--update-status false` as the bare flag plus a stray argument, so upstream
        // would quietly keep the status updates on; sealant refuses it instead of guessing.
        let err = Config::try_from_args(["x", &format!("--{flag}"), "false"]).unwrap_err();
        assert!(err.to_string().contains("false"), "{err}");
    }
}

#[test]
fn upstream_environment_variables() {
    // SEALED_SECRETS_<FLAG> (pflagenv), including booleans and negative numbers.
    let vars: Vec<(String, String)> = [
        ("SEALED_SECRETS_ALL_NAMESPACES", "false"),
        ("SEALED_SECRETS_UPDATE_STATUS", "0"),
        ("SEALED_SECRETS_KUBECLIENT_QPS", "-1"),
        (
            "SEALED_SECRETS_KEY_CUTOFF_TIME",
            "Mon, 02 Jan 2006 15:04:05 -0700",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let args = with_upstream_env(vec!["controller".into()], &vars);
    let c = Config::try_from_args(args).unwrap();
    assert!(!c.all_namespaces);
    assert!(!c.update_status);
    assert!(c.kubeclient_qps < 0.0);
    assert!(c.key_cutoff_time.is_some());
}
