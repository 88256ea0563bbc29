//! Each metric counts what its help text says (issue 23: `unseal_requests_total` counted
//! reconciles, not SealedSecrets unsealed).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use sealant_crypto::Scope;

/// The sum of every series of `name` (any labels) whose labels contain `with`.
fn value(body: &str, name: &str, with: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, labels) = series.split_once('{').unwrap_or((series, ""));
            (n == name && labels.contains(with)).then(|| v.parse::<f64>().ok())?
        })
        .sum()
}

/// The help text of a metric family (`name` without `_total`).
fn help<'a>(body: &'a str, name: &str) -> &'a str {
    let name = name.strip_suffix("_total").unwrap_or(name);
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("# HELP {name} ")))
        .unwrap_or_else(|| panic!("no help for {name}"))
}

async fn scrape(ctl: &sealant_controller::Running) -> String {
    let (code, _, body) = http(ctl.metrics_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(code, 200);
    body
}

#[tokio::test]
async fn metrics_count_what_their_help_says() {
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    for i in 0..3 {
        let ss = seal(
            &cert,
            "app",
            &format!("m{i}"),
            &[("a", "1"), ("b", "2")],
            Scope::Strict,
        );
        create(&client, &ss).await;
    }
    for i in 0..3 {
        ready(&client, "app", &format!("m{i}")).await;
    }
    // The status writes trigger further reconciles of objects now in sync: they decrypt nothing.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let body = scrape(&ctl).await;
    let requests = "sealed_secrets_controller_unseal_requests_total";
    assert!(help(&body, requests).starts_with("SealedSecrets decrypted"));
    assert_eq!(
        value(&body, requests, ""),
        3.0,
        "three objects decrypted once each"
    );
    assert_eq!(
        value(
            &body,
            "sealed_secrets_controller_unseal_duration_seconds_count",
            ""
        ),
        3.0
    );
    // Two values each, opened by the key their key-id hint names: one operation per value.
    assert_eq!(
        value(&body, "sealant_private_key_operations_total", ""),
        6.0
    );
    assert_eq!(value(&body, "sealed_secrets_controller_keys", ""), 1.0);
    assert_eq!(
        value(
            &body,
            "sealed_secrets_controller_condition_info",
            "condition=\"Ready\""
        ),
        3.0
    );

    // A deleted Secret is recreated: one more decryption.
    secret_api(&client, "app")
        .delete("m0", &Default::default())
        .await
        .unwrap();
    secret_where(&client, "app", "m0", |_| true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = scrape(&ctl).await;
    assert_eq!(value(&body, requests, ""), 4.0);

    // One that no key opens: a decryption that failed, counted as an unseal error.
    let (_, other) = new_key();
    create(
        &client,
        &seal(&other, "app", "bad", &[("a", "1")], Scope::Strict),
    )
    .await;
    stalled(&client, "app", "bad").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = scrape(&ctl).await;
    // One decryption: the pass its own status write triggers (and any later one while neither
    // the spec nor the keys change) knows it fails and does not decrypt again.
    assert_eq!(value(&body, requests, ""), 5.0);
    assert_eq!(
        value(
            &body,
            "sealed_secrets_controller_unseal_duration_seconds_count",
            ""
        ),
        5.0
    );
    assert_eq!(
        value(
            &body,
            "sealed_secrets_controller_unseal_errors_total",
            "reason=\"unseal\""
        ),
        1.0
    );
    assert_eq!(
        value(&body, "sealant_private_key_operations_total", ""),
        8.0,
        "failed decryptions are not counted; the recreated Secret's two values are"
    );

    // HTTP API requests: /v1/ paths only, never the probes.
    for path in ["/healthz", "/readyz", "/v1/cert.pem", "/v1/cert.pem"] {
        http(ctl.http_addr, "GET", path, &[], b"").await;
    }
    let body = scrape(&ctl).await;
    let http_total = "sealed_secrets_controller_http_requests_total";
    assert!(help(&body, http_total).contains("/v1/ paths"));
    assert_eq!(value(&body, http_total, "path=\"/v1/cert.pem\""), 2.0);
    assert_eq!(value(&body, http_total, "healthz"), 0.0);
    assert_eq!(value(&body, http_total, "readyz"), 0.0);
    ctl.shutdown().await;
}

/// The Secret a pass creates and the status it writes come back through the watches; those
/// echoes start no pass of their own, so a batch of new objects costs one pass each (58 passes for
/// these 20 with the echoes let through).
#[tokio::test]
async fn the_echoes_of_the_controllers_own_writes_start_no_pass() {
    const N: usize = 20;
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    let objects: Vec<_> = (0..N)
        .map(|i| seal(&cert, "app", &format!("e{i}"), &[("a", "1")], Scope::Strict))
        .collect();
    for ss in &objects {
        create(&client, ss).await;
    }
    for i in 0..N {
        ready(&client, "app", &format!("e{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let body = scrape(&ctl).await;
    let passes = value(&body, "sealant_reconciles_total", "");
    assert!(help(&body, "sealant_reconciles_total").starts_with("Reconcile passes"));
    // A write whose echo outruns its response still starts a pass (a few percent of them).
    assert!(
        (N as f64..=1.5 * N as f64).contains(&passes),
        "{passes} passes for {N} new objects"
    );
}
