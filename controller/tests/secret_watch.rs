//! The Secret watch selects only Secrets sealant labelled (`sealant.dev/unsealed`), so Secrets
//! written before the label existed, by upstream, or stripped of the label by hand are outside
//! it. Each is found by reading it on demand and brought back under the watch, without
//! decrypting what already carries the right digest; the behaviour the old all-Secrets watch
//! gave (re-creation of deleted Secrets, restarts that cost nothing) holds for them afterwards.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use fake_apiserver::Verb;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use sealant_controller::secret_merge::{ANNOTATION_UNSEALED_FROM, LABEL_UNSEALED};
use sealant_crypto::Scope;

fn labelled(s: &k8s_openapi::api::core::v1::Secret) -> bool {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_UNSEALED))
        .is_some_and(|v| v == "true")
}

/// Removes sealant's label from the Secret, as a hand edit (or an older sealant) leaves it.
async fn strip_label(client: &kube::Client, ns: &str, name: &str) {
    secret_api(client, ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {LABEL_UNSEALED: null}}})),
        )
        .await
        .unwrap();
}

/// A Secret as a sealant that did not label left it: a SealedSecret `name` in `app` with item
/// `k` = `value`, unsealed by a controller (stopped again), then the label removed. Returns the
/// fake API server, its client and the Secret as it was written.
async fn unlabelled_secret(
    name: &str,
    value: &str,
) -> (
    fake_apiserver::FakeApiServer,
    kube::Client,
    k8s_openapi::api::core::v1::Secret,
) {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    let ctl = controller(&client, &[]).await;
    create(
        &client,
        &seal(&cert, "app", name, &[("k", value)], Scope::Strict),
    )
    .await;
    ready(&client, "app", name).await;
    let written = secret_where(&client, "app", name, labelled).await;
    ctl.shutdown().await;
    strip_label(&client, "app", name).await;
    (server, client, written)
}

fn key_ops(ctl: &sealant_controller::Running) -> u64 {
    ctl.metrics.private_key_operations.get()
}

/// A Secret written by a sealant that did not label (digest, owner, no label): the first start
/// labels it with one update and no decryption; from then on it is watched (deleting it
/// re-creates it) and a restart sends no request at all for it.
#[tokio::test]
async fn an_unlabelled_secret_of_an_older_sealant_is_labelled_once_without_decryption() {
    let (server, client, written) = unlabelled_secret("old", "old-value").await;
    let digest = written.metadata.annotations.as_ref().unwrap()[ANNOTATION_UNSEALED_FROM].clone();

    server.reset_counts();
    let ctl = controller(&client, &[]).await;
    let relabelled = secret_where(&client, "app", "old", labelled).await;
    assert_eq!(
        relabelled.metadata.annotations.as_ref().unwrap()[ANNOTATION_UNSEALED_FROM],
        digest
    );
    assert_eq!(item(&relabelled, "k"), "old-value");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(key_ops(&ctl), 0, "no decryption");
    assert_eq!(
        server.count(Verb::Update, "secrets"),
        1,
        "{:?}",
        server.counts()
    );
    assert_eq!(server.write_count(), 1, "{:?}", server.counts());

    // Now under the watch: a deletion is noticed and the Secret re-created.
    secret_api(&client, "app")
        .delete("old", &DeleteParams::default())
        .await
        .unwrap();
    let again = secret_where(&client, "app", "old", |s| {
        s.metadata.uid != relabelled.metadata.uid
    })
    .await;
    assert_eq!(item(&again, "k"), "old-value");
    assert!(labelled(&again));
    ctl.shutdown().await;

    // And a restart costs nothing: no read, no write, no decryption.
    server.reset_counts();
    let ctl = controller(&client, &[]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        server.count(Verb::Get, "secrets"),
        0,
        "{:?}",
        server.counts()
    );
    assert_eq!(server.write_count(), 0, "{:?}", server.counts());
    assert_eq!(key_ops(&ctl), 0);
    ctl.shutdown().await;
}

/// Removing the label by hand takes the Secret out of the watch (the API server says `DELETED`);
/// the controller notices, reads it, and puts the label back without decrypting.
#[tokio::test]
async fn a_label_removed_by_hand_is_put_back_without_decryption() {
    let (server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    create(
        &client,
        &seal(&cert, "app", "strip", &[("k", "v")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "strip").await;
    secret_where(&client, "app", "strip", labelled).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ops = key_ops(&ctl);
    server.reset_counts();

    strip_label(&client, "app", "strip").await;
    let back = secret_where(&client, "app", "strip", labelled).await;
    assert_eq!(item(&back, "k"), "v");
    assert_eq!(key_ops(&ctl), ops, "no decryption");
    // The test's patch, and the controller's one update.
    assert_eq!(
        server.count(Verb::Update, "secrets"),
        1,
        "{:?}",
        server.counts()
    );
    ctl.shutdown().await;
}

/// A Secret upstream wrote (controlled by the SealedSecret, no digest, no label) is taken over
/// at the first start: decrypted once and written with digest and label; the next start costs
/// nothing.
#[tokio::test]
async fn a_secret_written_by_upstream_is_migrated_once() {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    let ss = create(
        &client,
        &seal(&cert, "app", "up", &[("k", "sealed-value")], Scope::Strict),
    )
    .await;
    let mut theirs = secret("app", "up", &[("k", "stale-value")]);
    theirs.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        name: "up".into(),
        uid: ss.metadata.uid.clone().unwrap(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    theirs.metadata.labels = Some(BTreeMap::from([("app".into(), "up".into())]));
    secret_api(&client, "app")
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();

    let ctl = controller(&client, &[]).await;
    ready(&client, "app", "up").await;
    let s = secret_where(&client, "app", "up", labelled).await;
    assert_eq!(item(&s, "k"), "sealed-value");
    assert!(
        s.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION_UNSEALED_FROM))
    );
    assert_eq!(key_ops(&ctl), 1);
    ctl.shutdown().await;

    server.reset_counts();
    let ctl = controller(&client, &[]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.write_count(), 0, "{:?}", server.counts());
    assert_eq!(
        server.count(Verb::Get, "secrets"),
        0,
        "{:?}",
        server.counts()
    );
    assert_eq!(key_ops(&ctl), 0);
    ctl.shutdown().await;
}

/// A Secret in the way that is not sealant's is outside the watch: the conflict is found again
/// by reading it (ever less often, at most `--max-retry-delay` apart; one second in tests), so
/// deleting it or annotating it `managed` still heals the SealedSecret, without a change to it.
#[tokio::test]
async fn a_conflict_heals_when_the_secret_in_the_way_goes_though_it_is_not_watched() {
    let (server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    let secrets = secret_api(&client, "app");
    secrets
        .create(
            &PostParams::default(),
            &secret("app", "blocked", &[("x", "mine")]),
        )
        .await
        .unwrap();
    create(
        &client,
        &seal(&cert, "app", "blocked", &[("x", "sealed")], Scope::Strict),
    )
    .await;
    stalled(&client, "app", "blocked").await;
    // Still in the way after a while: looked at again, left alone, no status rewrite.
    server.reset_counts();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        server.count(Verb::Get, "secrets") >= 2,
        "{:?}",
        server.counts()
    );
    assert_eq!(server.write_count(), 0, "{:?}", server.counts());
    assert_eq!(item(&secrets.get("blocked").await.unwrap(), "x"), "mine");

    secrets
        .delete("blocked", &DeleteParams::default())
        .await
        .unwrap();
    ready(&client, "app", "blocked").await;
    let s = secret_where(&client, "app", "blocked", labelled).await;
    assert_eq!(item(&s, "x"), "sealed");
}

/// A hand edit that takes both sealant's label and its digest off the Secret (so it is outside
/// the watch and no longer says what it was unsealed from) is still found: the watch reports
/// the Secret gone, the controller reads it, sees no digest, and rewrites it from the
/// SealedSecret, with the label back on.
#[tokio::test]
async fn a_hand_edit_removing_label_and_digest_is_rewritten() {
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    create(
        &client,
        &seal(
            &cert,
            "app",
            "edit",
            &[("k", "sealed-value")],
            Scope::Strict,
        ),
    )
    .await;
    ready(&client, "app", "edit").await;
    secret_where(&client, "app", "edit", labelled).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ops = key_ops(&ctl);

    // "hand-edit", base64.
    let edit = serde_json::json!({
        "data": {"k": "aGFuZC1lZGl0"},
        "metadata": {
            "labels": {LABEL_UNSEALED: null},
            "annotations": {ANNOTATION_UNSEALED_FROM: null},
        },
    });
    secret_api(&client, "app")
        .patch("edit", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let healed = secret_where(&client, "app", "edit", |s| {
        labelled(s)
            && s.data
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
            .is_some_and(|a| a.contains_key(ANNOTATION_UNSEALED_FROM))
    );
    assert_eq!(key_ops(&ctl), ops + 1, "decrypted once to rewrite it");
    ctl.shutdown().await;
}

/// Adoption: a Secret someone created and annotated `managed` (no owner, no label, so outside
/// the watch) is read when its SealedSecret appears, taken over and labelled; from then on it is
/// watched, so deleting it re-creates it.
#[tokio::test]
async fn an_adopted_secret_is_labelled_and_watched() {
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    let secrets = secret_api(&client, "app");
    let mut theirs = secret("app", "adopt", &[("k", "theirs")]);
    theirs.metadata.annotations = Some(BTreeMap::from([(
        sealant_api::ANNOTATION_MANAGED.into(),
        "true".into(),
    )]));
    secrets
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    create(
        &client,
        &seal(&cert, "app", "adopt", &[("k", "sealed")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "adopt").await;
    let adopted = secret_where(&client, "app", "adopt", labelled).await;
    assert_eq!(item(&adopted, "k"), "sealed");
    assert!(adopted.metadata.owner_references.is_some());

    secrets
        .delete("adopt", &DeleteParams::default())
        .await
        .unwrap();
    let again = secret_where(&client, "app", "adopt", |s| {
        s.metadata.uid != adopted.metadata.uid
    })
    .await;
    assert_eq!(item(&again, "k"), "sealed");
    assert!(labelled(&again));
    ctl.shutdown().await;
}

/// A conflict is reported although the Secret in the way is outside the watch, and annotating
/// that Secret `managed` (no change to the SealedSecret, no event the controller sees) heals it
/// at the next look.
#[tokio::test]
async fn a_conflict_is_reported_and_heals_when_the_secret_in_the_way_is_annotated_managed() {
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    let secrets = secret_api(&client, "app");
    secrets
        .create(
            &PostParams::default(),
            &secret("app", "taken", &[("x", "mine")]),
        )
        .await
        .unwrap();
    create(
        &client,
        &seal(&cert, "app", "taken", &[("x", "sealed")], Scope::Strict),
    )
    .await;
    let bad = stalled(&client, "app", "taken").await;
    assert_eq!(
        condition(&bad, "Stalled").unwrap().reason.as_deref(),
        Some("SecretConflict")
    );
    await_events(&client, "taken", "ErrUpdateFailed").await;
    secrets
        .patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                sealant_api::ANNOTATION_MANAGED: "true"
            }}})),
        )
        .await
        .unwrap();
    ready(&client, "app", "taken").await;
    let s = secret_where(&client, "app", "taken", labelled).await;
    assert_eq!(item(&s, "x"), "sealed");
    ctl.shutdown().await;
}

/// With `--additional-namespaces`, Secrets are watched only in those namespaces: a Secret sealant
/// labelled in another namespace (written when the controller watched everything) is neither
/// read nor re-created once deleted, while one in a watched namespace is.
#[tokio::test]
async fn a_secret_in_a_namespace_not_watched_is_left_alone() {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    let ctl = controller(&client, &[]).await;
    for ns in ["app", "other"] {
        create(&client, &seal(&cert, ns, "s", &[("k", "v")], Scope::Strict)).await;
        ready(&client, ns, "s").await;
        secret_where(&client, ns, "s", labelled).await;
    }
    ctl.shutdown().await;

    let ctl = controller(&client, &["--additional-namespaces=app"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.reset_counts();
    secret_api(&client, "other")
        .delete("s", &DeleteParams::default())
        .await
        .unwrap();
    secret_api(&client, "app")
        .delete("s", &DeleteParams::default())
        .await
        .unwrap();
    secret_where(&client, "app", "s", labelled).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        secret_api(&client, "other")
            .get_opt("s")
            .await
            .unwrap()
            .is_none(),
        "not re-created outside the watched namespaces"
    );
    // The test's two deletes and its reads; the controller's one create, in `app`.
    assert_eq!(
        server.count(Verb::Create, "secrets"),
        1,
        "{:?}",
        server.counts()
    );
    assert_eq!(key_ops(&ctl), 1);
    ctl.shutdown().await;
}

/// The Secret to label can go between the read and the update (404): that is retried, not a
/// permanent failure, since nothing else would bring another pass for a Secret outside the watch
/// (with `--update-status=false` not even the echo of a status write).
#[tokio::test]
async fn a_secret_gone_before_it_is_labelled_is_retried() {
    let (server, client, _) = unlabelled_secret("race", "v").await;

    server.inject_fault(fake_apiserver::Fault::new(
        Some(Verb::Update),
        Some("secrets"),
        404,
        1,
    ));
    // Without status writes, whose echo would bring another pass anyway.
    let ctl = controller(&client, &["--update-status=false"]).await;
    let back = secret_where(&client, "app", "race", labelled).await;
    assert_eq!(item(&back, "k"), "v");
    assert!(server.pending_faults().is_empty(), "the 404 was met");
    ctl.shutdown().await;
}
