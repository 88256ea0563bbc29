//! Reconciling SealedSecrets into Secrets against the fake API server.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use sealant_api::{ANNOTATION_MANAGED, ANNOTATION_PATCH, SealOptions, merge_into};
use sealant_controller::secret_merge::LABEL_UNSEALED;
use sealant_crypto::Scope;

#[tokio::test]
async fn create_and_update() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    let mut ss = seal(
        &cert,
        "app",
        "db",
        &[("password", "s3cr3t-create")],
        Scope::Strict,
    );
    ss.spec.template.metadata.labels = Some(BTreeMap::from([("team".into(), "a".into())]));
    create(&client, &ss).await;

    let got = ready(&client, "app", "db").await;
    let st = got.status.as_ref().unwrap();
    assert_eq!(st.observed_generation, Some(1));
    for t in ["Ready", "Synced"] {
        let c = condition(&got, t).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some("Unsealed"))
        );
        assert_eq!(c.observed_generation, Some(1));
        assert!(c.last_transition_time.is_some());
    }
    assert!(condition(&got, "Stalled").is_none());
    let s = secret_where(&client, "app", "db", |_| true).await;
    assert_eq!(item(&s, "password"), "s3cr3t-create");
    assert_eq!(s.metadata.labels.as_ref().unwrap()["team"], "a");
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "SealedSecret");
    assert_eq!(owner.uid, got.metadata.uid.clone().unwrap());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(s.type_.as_deref(), Some("Opaque"));

    // Update: new value and an appended item (merge-into with the same key).
    let mut updated = got.clone();
    let add = secret(
        "app",
        "db",
        &[("password", "s3cr3t-v2"), ("user", "admin-v2")],
    );
    merge_into(&mut updated, &add, &cert, &SealOptions::default()).unwrap();
    updated.status = None;
    ss_api(&client, "app")
        .replace("db", &PostParams::default(), &updated)
        .await
        .unwrap();
    let got = ready(&client, "app", "db").await;
    assert_eq!(got.status.as_ref().unwrap().observed_generation, Some(2));
    let s = secret_where(&client, "app", "db", |s| {
        s.data.as_ref().is_some_and(|d| d.contains_key("user"))
    })
    .await;
    assert_eq!(item(&s, "password"), "s3cr3t-v2");
    assert_eq!(item(&s, "user"), "admin-v2");

    // Rename an item: the old name disappears from the Secret (replace mode).
    let mut renamed = ss_api(&client, "app").get("db").await.unwrap();
    let v = renamed.spec.encrypted_data.remove("user").unwrap();
    renamed.spec.encrypted_data.insert("username".into(), v);
    ss_api(&client, "app")
        .replace("db", &PostParams::default(), &renamed)
        .await
        .unwrap();
    ready(&client, "app", "db").await;
    let s = secret_where(&client, "app", "db", |s| {
        s.data.as_ref().is_some_and(|d| d.contains_key("username"))
    })
    .await;
    assert!(!s.data.as_ref().unwrap().contains_key("user"));
    assert_eq!(item(&s, "username"), "admin-v2");

    // One Unsealed event per change, not per pass.
    let count = || async {
        let n = events_for(&client, "db", "Unsealed").await;
        n.iter()
            .map(|e| e.series.as_ref().map_or(1, |s| s.count))
            .sum::<i32>()
    };
    eventually(10, "three Unsealed events", || async {
        (count().await >= 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count().await, 3, "one Unsealed event per change");
    assert!(logs().contains("Secret written"), "log capture works");
    assert_no_plaintext(&client, &["s3cr3t-create", "s3cr3t-v2", "admin-v2"]).await;
}

#[tokio::test]
async fn scopes_and_diagnosis() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();

    // Namespace-wide: may be renamed within the namespace.
    let mut nw = seal(
        &cert,
        "ns1",
        "orig",
        &[("k", "nw-value")],
        Scope::NamespaceWide,
    );
    nw.metadata.name = Some("renamed".into());
    create(&client, &nw).await;
    // Cluster-wide: may move namespaces.
    let mut cw = seal(&cert, "ns1", "cw", &[("k", "cw-value")], Scope::ClusterWide);
    cw.metadata.namespace = Some("ns2".into());
    create(&client, &cw).await;
    // Strict: renaming breaks it.
    let mut strict = seal(
        &cert,
        "ns1",
        "strict",
        &[("k", "strict-value")],
        Scope::Strict,
    );
    strict.metadata.name = Some("strict-renamed".into());
    create(&client, &strict).await;
    // Sealed cluster-wide, but the annotation was dropped: scope mismatch.
    let mut mism = seal(
        &cert,
        "ns1",
        "mism",
        &[("k", "mism-value")],
        Scope::ClusterWide,
    );
    mism.metadata
        .annotations
        .as_mut()
        .unwrap()
        .remove(sealant_api::ANNOTATION_CLUSTER_WIDE);
    create(&client, &mism).await;

    ready(&client, "ns1", "renamed").await;
    assert_eq!(
        item(
            &secret_where(&client, "ns1", "renamed", |_| true).await,
            "k"
        ),
        "nw-value"
    );
    ready(&client, "ns2", "cw").await;
    assert_eq!(
        item(&secret_where(&client, "ns2", "cw", |_| true).await, "k"),
        "cw-value"
    );

    let bad = stalled(&client, "ns1", "strict-renamed").await;
    for t in ["Ready", "Synced"] {
        let c = condition(&bad, t).unwrap();
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("NameOrNamespaceMismatch"));
    }
    let msg = condition(&bad, "Stalled").unwrap().message.clone().unwrap();
    assert!(msg.contains("\"k\""), "names the item: {msg}");
    assert!(msg.contains("different name or namespace"), "{msg}");
    assert!(condition(&bad, "Reconciling").is_none());

    let bad = stalled(&client, "ns1", "mism").await;
    assert_eq!(
        condition(&bad, "Stalled").unwrap().reason.as_deref(),
        Some("ScopeMismatch")
    );
    assert!(
        secret_api(&client, "ns1")
            .get_opt("mism")
            .await
            .unwrap()
            .is_none()
    );
    await_events(&client, "mism", "ErrUnsealFailed").await;
    assert_no_plaintext(
        &client,
        &["nw-value", "cw-value", "strict-value", "mism-value"],
    )
    .await;
}

#[tokio::test]
async fn wrong_key_is_stalled_and_a_fix_clears_it() {
    let (_server, client, _ctl) = setup().await;
    let (_, other_cert) = new_key();
    let ss = seal(
        &other_cert,
        "app",
        "foreign",
        &[("k", "foreign-value")],
        Scope::Strict,
    );
    create(&client, &ss).await;
    let bad = stalled(&client, "app", "foreign").await;
    let reason = condition(&bad, "Ready").unwrap().reason.clone().unwrap();
    assert!(
        reason == "UnknownKey" || reason == "NoKeyMatches",
        "{reason}"
    );
    let msg = condition(&bad, "Ready").unwrap().message.clone().unwrap();
    assert!(msg.contains("another cluster"), "{msg}");

    // Fix it: re-seal with the right key; Stalled clears, Ready flips.
    let (_, cert) = test_key();
    let mut fixed = seal(
        &cert,
        "app",
        "foreign",
        &[("k", "fixed-value")],
        Scope::Strict,
    );
    let cur = ss_api(&client, "app").get("foreign").await.unwrap();
    fixed.metadata.resource_version = cur.metadata.resource_version.clone();
    ss_api(&client, "app")
        .replace("foreign", &PostParams::default(), &fixed)
        .await
        .unwrap();
    let good = ready(&client, "app", "foreign").await;
    assert!(condition(&good, "Stalled").is_none());
    assert_eq!(condition(&good, "Ready").unwrap().status, "True");
    assert_no_plaintext(&client, &["foreign-value", "fixed-value"]).await;
}

/// A running controller that has reconciled one object (so its Secret index is in sync), with
/// the fake API server's request counts reset afterwards.
async fn warmed_up() -> (
    fake_apiserver::FakeApiServer,
    kube::Client,
    sealant_controller::Running,
) {
    let (server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    create(
        &client,
        &seal(&cert, "app", "warm-up", &[("x", "w")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "warm-up").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.reset_counts();
    (server, client, ctl)
}

/// A SealedSecret nobody reconciled before gets its Secret with one create and no read; a
/// Secret in the way is still found (the create answers 409, covered by the test below).
#[tokio::test]
async fn new_object_creates_its_secret_without_reading_it() {
    let (server, client, _ctl) = warmed_up().await;
    let (_, cert) = test_key();

    create(
        &client,
        &seal(&cert, "app", "fresh", &[("x", "fresh-x")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "fresh").await;
    let s = secret_where(&client, "app", "fresh", |_| true).await;
    assert_eq!(item(&s, "x"), "fresh-x");
    // Let the follow-up reconciles (Secret event, status event) run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    use fake_apiserver::Verb;
    // The test's own `secret_where` read is the only GET.
    assert_eq!(
        server.count(Verb::Get, "secrets"),
        1,
        "{:?}",
        server.counts()
    );
    assert_eq!(server.count(Verb::Create, "secrets"), 1);
    assert_eq!(server.count(Verb::Update, "secrets"), 0);
    assert_eq!(server.count(Verb::Patch, "secrets"), 0);
}

/// A burst of new objects costs exactly one Secret create, one status write and one event each:
/// no read and no second status write, even though each object's own Secret event and status
/// event race to trigger its next reconcile (the one the Secret event triggers may see the cached
/// object from before the status write).
#[tokio::test]
async fn a_burst_of_new_objects_costs_one_write_of_each_kind_per_object() {
    let (server, client, _ctl) = warmed_up().await;
    let (_, cert) = test_key();

    const N: usize = 40;
    let objects: Vec<_> = (0..N)
        .map(|i| {
            let v = format!("v{i}");
            seal(
                &cert,
                "app",
                &format!("burst-{i}"),
                &[("x", &v)],
                Scope::Strict,
            )
        })
        .collect();
    for o in &objects {
        create(&client, o).await;
    }
    for i in 0..N {
        ready(&client, "app", &format!("burst-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    use fake_apiserver::Verb;
    let counts = server.counts();
    assert_eq!(
        server.count(Verb::Create, "secrets"),
        N as u64,
        "{counts:?}"
    );
    assert_eq!(server.count(Verb::Get, "secrets"), 0, "{counts:?}");
    assert_eq!(
        server.count(Verb::Update, "sealedsecrets/status"),
        N as u64,
        "{counts:?}"
    );
    assert_eq!(server.count(Verb::Create, "events"), N as u64, "{counts:?}");
}

/// The reconcile that an object's own new Secret triggers can start before the status write's
/// watch event reaches the cache, i.e. on the copy the status was written over. That copy is left
/// alone (no read, no second status write that would fail with a conflict); the newer copy is
/// reconciled as usual.
#[tokio::test]
async fn a_cached_copy_older_than_our_own_status_write_sends_no_request() {
    use fake_apiserver::Verb;
    use sealant_controller::cache::CachedSealedSecret;
    use sealant_controller::events::{Recorder, Reporter};
    use sealant_controller::reconcile::{Context, ReconcileOptions, reconcile};
    use std::sync::Arc;
    let (server, client) = server().await;
    let (key, cert) = test_key();
    let mut keyring = sealant_crypto::Keyring::new();
    keyring.insert(sealant_crypto::KeyEntry::new(key, Some(cert.clone())));
    let reporter = Reporter {
        controller: "test".into(),
        instance: None,
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        sealant_controller::Keys::fixed(keyring),
        sealant_controller::metrics::Metrics::new(),
        Recorder::new(client.clone(), reporter),
        ReconcileOptions {
            accept_v1_data: false,
            update_status: true,
            max_retry_delay: Duration::from_secs(1),
            workers: 1,
            templates_disabled: false,
        },
    ));
    let old = Arc::new(CachedSealedSecret::new(
        &create(
            &client,
            &seal(&cert, "app", "once", &[("x", "1")], Scope::Strict),
        )
        .await,
        false,
    ));
    server.reset_counts();
    reconcile(old.clone(), ctx.clone()).await.unwrap();
    assert_eq!(server.count(Verb::Create, "secrets"), 1);
    assert_eq!(server.count(Verb::Update, "sealedsecrets/status"), 1);

    server.reset_counts();
    reconcile(old, ctx.clone()).await.unwrap();
    assert!(server.counts().is_empty(), "{:?}", server.counts());

    let fresh = ss_api(&client, "app").get("once").await.unwrap();
    assert!(condition(&fresh, "Ready").is_some_and(|c| c.status == "True"));
    let fresh = Arc::new(CachedSealedSecret::new(&fresh, false));
    server.reset_counts();
    reconcile(fresh, ctx).await.unwrap();
    // Without the Secret watch, the Secret is read to know it is in sync; nothing is written.
    assert_eq!(
        server.count(Verb::Get, "secrets"),
        1,
        "{:?}",
        server.counts()
    );
    assert_eq!(server.write_count(), 0, "{:?}", server.counts());
}

#[tokio::test]
async fn managed_patch_and_unmanaged() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    let secrets = secret_api(&client, "app");

    // Unmanaged Secret in the way: untouched, SecretConflict.
    let mut mine = secret("app", "taken", &[("x", "users-own")]);
    mine.metadata.labels = Some(BTreeMap::from([("keep".into(), "me".into())]));
    let before = secrets.create(&PostParams::default(), &mine).await.unwrap();
    create(
        &client,
        &seal(&cert, "app", "taken", &[("x", "sealed-x")], Scope::Strict),
    )
    .await;
    let bad = stalled(&client, "app", "taken").await;
    assert_eq!(
        condition(&bad, "Stalled").unwrap().reason.as_deref(),
        Some("SecretConflict")
    );
    assert!(
        condition(&bad, "Stalled")
            .unwrap()
            .message
            .as_ref()
            .unwrap()
            .contains(ANNOTATION_MANAGED)
    );
    let after = secrets.get("taken").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "untouched"
    );
    await_events(&client, "taken", "ErrUpdateFailed").await;

    // Managed: replaced, owner set, managed annotation kept.
    let mut m = secret("app", "managed", &[("old", "gone"), ("x", "old-x")]);
    m.metadata.annotations = Some(BTreeMap::from([(ANNOTATION_MANAGED.into(), "true".into())]));
    secrets.create(&PostParams::default(), &m).await.unwrap();
    create(
        &client,
        &seal(
            &cert,
            "app",
            "managed",
            &[("x", "managed-x")],
            Scope::Strict,
        ),
    )
    .await;
    ready(&client, "app", "managed").await;
    let s = secret_where(&client, "app", "managed", |s| {
        s.metadata.owner_references.is_some()
    })
    .await;
    assert_eq!(item(&s, "x"), "managed-x");
    assert!(!s.data.as_ref().unwrap().contains_key("old"));

    // Patch: merged, no owner (not managed).
    let mut p = secret("app", "patched", &[("keep", "kept"), ("x", "old-x")]);
    p.metadata.annotations = Some(BTreeMap::from([(ANNOTATION_PATCH.into(), "true".into())]));
    p.metadata.labels = Some(BTreeMap::from([("l".into(), "1".into())]));
    secrets.create(&PostParams::default(), &p).await.unwrap();
    create(
        &client,
        &seal(
            &cert,
            "app",
            "patched",
            &[("x", "patched-x")],
            Scope::Strict,
        ),
    )
    .await;
    ready(&client, "app", "patched").await;
    let s = secret_where(&client, "app", "patched", |s| {
        s.data.as_ref().is_some_and(|d| d["x"].0 == b"patched-x")
    })
    .await;
    assert_eq!(item(&s, "keep"), "kept");
    assert_eq!(s.metadata.labels.as_ref().unwrap()["l"], "1");
    assert!(s.metadata.owner_references.is_none());

    // Removing a Secret that is in the way heals the conflict.
    let mut blocker = secret("app", "blocked", &[("x", "blocker")]);
    blocker.metadata.labels = None;
    secrets
        .create(&PostParams::default(), &blocker)
        .await
        .unwrap();
    create(
        &client,
        &seal(
            &cert,
            "app",
            "blocked",
            &[("x", "unblocked-x")],
            Scope::Strict,
        ),
    )
    .await;
    stalled(&client, "app", "blocked").await;
    secrets
        .delete("blocked", &DeleteParams::default())
        .await
        .unwrap();
    ready(&client, "app", "blocked").await;
    assert_eq!(
        item(&secrets.get("blocked").await.unwrap(), "x"),
        "unblocked-x"
    );

    // Fixing the conflict (annotating the Secret managed) lets it converge.
    secrets
        .patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"annotations": {ANNOTATION_MANAGED: "true"}}}),
            ),
        )
        .await
        .unwrap();
    ready(&client, "app", "taken").await;
    assert_no_plaintext(
        &client,
        &["users-own", "sealed-x", "managed-x", "patched-x"],
    )
    .await;
}

#[tokio::test]
async fn recreate_deleted_secret_and_skip_owner_refs() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    create(
        &client,
        &seal(&cert, "app", "re", &[("k", "re-value")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "re").await;
    let first = secret_where(&client, "app", "re", |_| true).await;
    secret_api(&client, "app")
        .delete("re", &DeleteParams::default())
        .await
        .unwrap();
    let again = secret_where(&client, "app", "re", |s| {
        s.metadata.uid != first.metadata.uid
    })
    .await;
    assert_eq!(item(&again, "k"), "re-value");

    // skip-set-owner-references: no owner.
    let mut ss = seal(&cert, "app", "noowner", &[("k", "v")], Scope::Strict);
    ss.spec.template.metadata.annotations = Some(BTreeMap::from([(
        sealant_api::ANNOTATION_SKIP_SET_OWNER_REFERENCES.into(),
        "true".into(),
    )]));
    create(&client, &ss).await;
    ready(&client, "app", "noowner").await;
    let s = secret_where(&client, "app", "noowner", |_| true).await;
    assert!(s.metadata.owner_references.is_none());
}

#[tokio::test]
async fn immutable_and_custom_type() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    let mut ss = seal(&cert, "app", "imm", &[("k", "imm-v1")], Scope::Strict);
    ss.spec.template.immutable = Some(true);
    create(&client, &ss).await;
    ready(&client, "app", "imm").await;
    let s = secret_where(&client, "app", "imm", |_| true).await;
    assert_eq!(s.immutable, Some(true));

    let mut cur = ss_api(&client, "app").get("imm").await.unwrap();
    let newer = seal(&cert, "app", "imm", &[("k", "imm-v2")], Scope::Strict);
    cur.spec.encrypted_data = newer.spec.encrypted_data;
    ss_api(&client, "app")
        .replace("imm", &PostParams::default(), &cur)
        .await
        .unwrap();
    let bad = stalled(&client, "app", "imm").await;
    assert_eq!(
        condition(&bad, "Stalled").unwrap().reason.as_deref(),
        Some("SecretImmutable")
    );
    assert_eq!(
        item(&secret_api(&client, "app").get("imm").await.unwrap(), "k"),
        "imm-v1"
    );

    let mut tls = seal(
        &cert,
        "app",
        "tls",
        &[("tls.crt", "c"), ("tls.key", "k")],
        Scope::Strict,
    );
    tls.spec.template.type_ = Some("kubernetes.io/tls".into());
    create(&client, &tls).await;
    ready(&client, "app", "tls").await;
    let s = secret_where(&client, "app", "tls", |_| true).await;
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_no_plaintext(&client, &["imm-v1", "imm-v2"]).await;
}

#[tokio::test]
async fn kubeseal_vector_becomes_the_expected_secret() {
    let (_server, client) = server().await;
    let key = sealant_crypto::PrivateKey::from_pem(VECTOR_KEY.as_bytes()).unwrap();
    let cert = sealant_crypto::Certificate::from_pem(VECTOR_CERT.as_bytes()).unwrap();
    put_key(&client, "vector-key", &key, &cert).await;
    let _ctl = controller(&client, &[]).await;

    let doc = &sealant_api::parse_documents(VECTOR_SEALED).unwrap()[0];
    let ss = sealant_api::sealed_secret_from_value(doc).unwrap();
    let started = std::time::Instant::now();
    create(&client, &ss).await;
    ready(&client, "prod", "webapp").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "Ready within a second"
    );
    let got = secret_api(&client, "prod").get("webapp").await.unwrap();
    let expected =
        sealant_api::secret_from_value(&sealant_api::parse_documents(VECTOR_EXPECTED).unwrap()[0])
            .unwrap();
    assert_eq!(got.data, expected.data);
    assert_eq!(got.type_, expected.type_);
    // The template's labels, and sealant's own (what its Secret watch selects).
    let mut labels = got.metadata.labels.clone().unwrap();
    assert_eq!(labels.remove(LABEL_UNSEALED).as_deref(), Some("true"));
    assert_eq!(Some(labels), expected.metadata.labels);
    assert_eq!(
        got.metadata.annotations.as_ref().unwrap()["team"],
        expected.metadata.annotations.as_ref().unwrap()["team"]
    );
}

/// The controller caches SealedSecrets without managedFields and kubectl's last-applied
/// annotation; objects carrying both still unseal, and the stored object keeps them after the
/// status write (only `.status` is taken from a `/status` PUT).
#[tokio::test]
async fn applied_objects_keep_their_metadata_through_status_writes() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    let mut ss = seal(
        &cert,
        "app",
        "applied",
        &[("password", "s3cr3t-applied")],
        Scope::Strict,
    );
    let last_applied = serde_json::to_string(&ss).unwrap();
    ss.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            last_applied.clone(),
        );
    let params = PatchParams::apply("flux-like").force();
    ss_api(&client, "app")
        .patch("applied", &params, &Patch::Apply(&ss))
        .await
        .unwrap();

    let got = ready(&client, "app", "applied").await;
    let s = secret_where(&client, "app", "applied", |_| true).await;
    assert_eq!(item(&s, "password"), "s3cr3t-applied");
    assert!(
        !s.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "last-applied is not copied to the Secret"
    );
    let annotations = got.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get("kubectl.kubernetes.io/last-applied-configuration"),
        Some(&last_applied)
    );
    let managers: Vec<_> = got
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().any(|m| m == "flux-like"), "{managers:?}");
}

/// Objects that exist before the controller starts are decrypted while their list is still
/// arriving (reconciles start only after the whole list): each value still costs exactly one
/// private-key operation, every Secret is right, and no Secret is read.
#[tokio::test]
async fn a_cold_start_decrypts_ahead_of_the_list_once_per_value() {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    const N: usize = 30;
    for i in 0..N {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        let ss = seal(
            &cert,
            "app",
            &format!("early-{i}"),
            &[("a", &a), ("b", &b)],
            Scope::Strict,
        );
        create(&client, &ss).await;
    }
    server.reset_counts();
    let ctl = controller(&client, &[]).await;
    for i in 0..N {
        ready(&client, "app", &format!("early-{i}")).await;
    }
    for i in 0..N {
        let s = secret_where(&client, "app", &format!("early-{i}"), |_| true).await;
        assert_eq!(item(&s, "a"), format!("a{i}"));
        assert_eq!(item(&s, "b"), format!("b{i}"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let head_starts = ctl.metrics.unseal_head_starts.get();
    assert!(
        head_starts > 0,
        "no decryption started before the reconciles"
    );
    assert!(head_starts <= N as u64);
    assert_eq!(ctl.metrics.private_key_operations.get(), 2 * N as u64);
    use fake_apiserver::Verb;
    // The test's own `secret_where` reads are the only GETs.
    assert_eq!(server.count(Verb::Get, "secrets"), N as u64);
    assert_eq!(server.count(Verb::Create, "secrets"), N as u64);
}
