//! Restarts, transient API errors, dropped watches, and quiet after convergence.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use fake_apiserver::{Fault, Verb};
use sealant_crypto::Scope;

/// Asserts that nothing is written during `ms` milliseconds.
async fn assert_quiet(server: &fake_apiserver::FakeApiServer, ms: u64) {
    server.reset_counts();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let writes: Vec<_> = server
        .counts()
        .into_iter()
        .filter(|((v, _), _)| v.is_write())
        .collect();
    assert!(writes.is_empty(), "writes after convergence: {writes:?}");
}

#[tokio::test]
async fn restart_over_synced_objects_writes_nothing() {
    let (server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    for i in 0..5 {
        let name = format!("r{i}");
        create(
            &client,
            &seal(
                &cert,
                "app",
                &name,
                &[("k", "restart-value")],
                Scope::Strict,
            ),
        )
        .await;
    }
    // One broken object too: its Stalled status must not be rewritten either.
    let (_, foreign) = new_key();
    create(
        &client,
        &seal(&foreign, "app", "broken", &[("k", "x")], Scope::Strict),
    )
    .await;
    for i in 0..5 {
        ready(&client, "app", &format!("r{i}")).await;
    }
    stalled(&client, "app", "broken").await;
    assert_quiet(&server, 500).await;
    ctl.shutdown().await;

    server.reset_counts();
    let ctl = controller(&client, &[]).await;
    let unseals_before = ctl.metrics.unseal_duration.clone();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let writes: Vec<_> = server
        .counts()
        .into_iter()
        .filter(|((v, _), _)| v.is_write())
        .collect();
    assert!(writes.is_empty(), "a restart wrote: {writes:?}");
    // Synced objects are known from the Secret watch: only the failing one reads its Secret.
    assert!(
        server.count(Verb::Get, "secrets") <= 1,
        "{:?}",
        server.counts()
    );
    // No decryption either, except the one failing object (it has no Secret digest).
    let text = ctl.metrics.encode();
    let line = text
        .lines()
        .find(|l| l.starts_with("sealed_secrets_controller_unseal_duration_seconds_count"))
        .unwrap();
    assert!(line.ends_with(" 1"), "{line}");
    drop(unseals_before);
    assert_no_plaintext(&client, &["restart-value"]).await;
}

#[tokio::test]
async fn transient_errors_converge_then_quiet() {
    let (server, client, ctl) = setup().await;
    let (_, cert) = test_key();

    // Secret writes fail for a while: Reconciling=True, Ready=False, no Stalled.
    server.inject_fault(Fault::new(Some(Verb::Create), Some("secrets"), 500, 1000));
    create(
        &client,
        &seal(
            &cert,
            "app",
            "t",
            &[("k", "transient-value")],
            Scope::Strict,
        ),
    )
    .await;
    let api = ss_api(&client, "app");
    let retrying = eventually(10, "Reconciling=True", || {
        let api = api.clone();
        async move {
            let ss = api.get("t").await.ok()?;
            condition(&ss, "Reconciling")
                .is_some_and(|c| c.status == "True")
                .then_some(ss)
        }
    })
    .await;
    let ready_c = condition(&retrying, "Ready").unwrap();
    assert_eq!(ready_c.status, "False");
    assert_eq!(ready_c.reason.as_deref(), Some("UpdateFailed"));
    assert!(condition(&retrying, "Stalled").is_none());
    assert_eq!(
        condition(&retrying, "Reconciling")
            .unwrap()
            .reason
            .as_deref(),
        Some("ProgressingWithRetry")
    );
    server.clear_faults();
    let done = ready(&client, "app", "t").await;
    assert!(condition(&done, "Reconciling").is_none());
    assert_eq!(
        item(&secret_where(&client, "app", "t", |_| true).await, "k"),
        "transient-value"
    );

    // Status conflicts, server errors on reads, dropped watches.
    server.inject_fault(Fault::new(
        Some(Verb::Update),
        Some("sealedsecrets/status"),
        409,
        2,
    ));
    server.inject_fault(Fault::new(Some(Verb::Get), Some("secrets"), 500, 2));
    create(
        &client,
        &seal(&cert, "app", "u", &[("k", "u-value")], Scope::Strict),
    )
    .await;
    server.drop_watches();
    ready(&client, "app", "u").await;
    server.drop_watches();
    create(
        &client,
        &seal(&cert, "app", "w", &[("k", "w-value")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "w").await;
    secret_where(&client, "app", "w", |_| true).await;

    // Converged: no further writes over a quiet window.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_quiet(&server, 1500).await;
    let text = ctl.metrics.encode();
    assert!(text.contains(
        "sealed_secrets_controller_unseal_errors_total{reason=\"update\",namespace=\"app\"}"
    ));
    assert_no_plaintext(&client, &["transient-value", "u-value", "w-value"]).await;
}

#[tokio::test]
async fn permanent_failures_do_not_retry() {
    let (server, client, _ctl) = setup().await;
    let (_, foreign) = new_key();
    create(
        &client,
        &seal(
            &foreign,
            "app",
            "perm",
            &[("k", "perm-value")],
            Scope::Strict,
        ),
    )
    .await;
    stalled(&client, "app", "perm").await;
    // No retry storm: nothing is read or written for this object any more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.reset_counts();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server.count(Verb::Get, "secrets"),
        0,
        "{:?}",
        server.counts()
    );
    assert_eq!(server.write_count(), 0, "{:?}", server.counts());
    let evs = events_for(&client, "perm", "ErrUnsealFailed").await;
    assert_eq!(evs.len(), 1);
    assert!(evs[0].series.is_none(), "the warning is emitted once");
}

#[tokio::test]
async fn a_hand_edit_survives_a_restart_and_removing_the_digest_heals_it() {
    use kube::api::{Patch, PatchParams};
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    create(
        &client,
        &seal(
            &cert,
            "app",
            "edited",
            &[("k", "sealed-value")],
            Scope::Strict,
        ),
    )
    .await;
    ready(&client, "app", "edited").await;
    let secrets = secret_api(&client, "app");
    // "hand-edit", base64.
    let edit = serde_json::json!({"data": {"k": "aGFuZC1lZGl0"}});
    secrets
        .patch("edited", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    ctl.shutdown().await;

    // The recorded digest still matches the SealedSecret: the restart neither decrypts nor
    // rewrites, so the edit stays (documented in docs/security.md).
    let ctl = controller(&client, &[]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        item(&secrets.get("edited").await.unwrap(), "k"),
        "hand-edit"
    );

    // Without the digest the Secret no longer says what it was unsealed from: it is rewritten.
    let drop_digest =
        serde_json::json!({"metadata": {"annotations": {"sealant.dev/unsealed-from": null}}});
    secrets
        .patch(
            "edited",
            &PatchParams::default(),
            &Patch::Merge(&drop_digest),
        )
        .await
        .unwrap();
    let healed = secret_where(&client, "app", "edited", |s| {
        s.data
            .as_ref()
            .and_then(|d| d.get("k"))
            .is_some_and(|v| v.0 == b"sealed-value")
    })
    .await;
    assert!(
        healed
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("sealant.dev/unsealed-from")),
        "the rewritten Secret records its digest again"
    );
    ctl.shutdown().await;
}
