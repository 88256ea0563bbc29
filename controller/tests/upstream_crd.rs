//! Upstream's CRD left in place (Helm never upgrades an existing CRD): its status schema has no
//! `observedGeneration` in the conditions, so the API server prunes that field from every status
//! the controller writes. The controller must still converge: one status write per change and
//! none while nothing changes, not a rewrite on every pass.
//!
//! The CRD is testdata/upstream/crd-sealedsecrets.bitnami.com.yaml (upstream's schema), and the
//! fake API server prunes status fields its schema does not declare, as the real one does.

use std::time::Duration;

use fake_apiserver::{FakeApiServer, Verb};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use sealant_crypto::Scope;

use crate::common::*;

const UPSTREAM_CRD: &str =
    include_str!("../../testdata/upstream/crd-sealedsecrets.bitnami.com.yaml");

/// A fake API server with upstream's CRD (instead of sealant's) and the test namespaces.
async fn server_with_upstream_crd() -> (FakeApiServer, Client) {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client().await.unwrap();
    let doc = sealant_api::parse_stream(UPSTREAM_CRD).unwrap().remove(0);
    let crd: CustomResourceDefinition = serde_json::from_value(doc.value).unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut n = k8s_openapi::api::core::v1::Namespace::default();
    n.metadata.name = Some("app".to_owned());
    namespaces.create(&PostParams::default(), &n).await.unwrap();
    (server, client)
}

/// Status writes to SealedSecrets during `window` (counters reset first).
async fn status_writes_during(server: &FakeApiServer, window: Duration) -> u64 {
    server.reset_counts();
    tokio::time::sleep(window).await;
    server.count(Verb::Update, "sealedsecrets/status")
        + server.count(Verb::Patch, "sealedsecrets/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_converges_under_upstreams_crd() {
    let (server, client) = server_with_upstream_crd().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    let _ctl = controller(&client, &[]).await;

    create(
        &client,
        &seal(
            &cert,
            "app",
            "db",
            &[("password", "hunter2")],
            Scope::Strict,
        ),
    )
    .await;
    let ss = ready(&client, "app", "db").await;
    // The server kept what upstream's schema declares and dropped the rest: this test is only
    // meaningful while it does.
    let status = ss.status.as_ref().unwrap();
    assert_eq!(status.observed_generation, ss.metadata.generation);
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation.is_none()),
        "the API server did not prune conditions[].observedGeneration: {status:?}"
    );
    assert!(condition(&ss, "Synced").is_some_and(|c| c.status == "True"));

    // Settled: no status writes while nothing changes.
    assert_eq!(
        status_writes_during(&server, Duration::from_millis(1500)).await,
        0,
        "status rewritten while nothing changed"
    );

    // A metadata change runs a reconcile pass (same generation): still no status write.
    server.reset_counts();
    ss_api(&client, "app")
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"touched": "1"}}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server.count(Verb::Update, "sealedsecrets/status"),
        0,
        "a pass over an unchanged object rewrote the pruned status"
    );

    // A new generation is written (status.observedGeneration is kept), then it is quiet again.
    let mut next = seal(
        &cert,
        "app",
        "db",
        &[("password", "hunter3")],
        Scope::Strict,
    );
    let current = ss_api(&client, "app").get("db").await.unwrap();
    next.metadata.resource_version = current.metadata.resource_version.clone();
    ss_api(&client, "app")
        .replace("db", &PostParams::default(), &next)
        .await
        .unwrap();
    let ss = ready(&client, "app", "db").await;
    assert_eq!(ss.metadata.generation, Some(2));
    assert_eq!(ss.status.as_ref().unwrap().observed_generation, Some(2));
    let secret = secret_where(&client, "app", "db", |s| item(s, "password") == "hunter3").await;
    assert_eq!(item(&secret, "password"), "hunter3");
    assert_eq!(
        status_writes_during(&server, Duration::from_millis(1500)).await,
        0,
        "status rewritten after the new generation converged"
    );
}
