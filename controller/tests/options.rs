//! Controller options and less common SealedSecret shapes: namespaces, label selector,
//! deprecated v1 data, templates, metrics cleanup.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use kube::api::DeleteParams;
use sealant_crypto::{Scope, encode_value};

/// A SealedSecret in the deprecated v1 format: one sealed JSON Secret in `spec.data`.
fn v1_sealed(
    cert: &sealant_crypto::Certificate,
    ns: &str,
    name: &str,
    value: &str,
) -> sealant_api::SealedSecret {
    use base64::Engine;
    let inner = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {"k": base64::engine::general_purpose::STANDARD.encode(value)},
    });
    let label = Scope::Strict.label(ns, name);
    let sealed =
        sealant_crypto::seal(cert.public_key(), inner.to_string().as_bytes(), &label).unwrap();
    let mut ss = sealant_api::SealedSecret::new(name, Default::default());
    ss.metadata.namespace = Some(ns.to_owned());
    ss.spec.data = Some(encode_value(&sealed));
    ss
}

#[tokio::test]
async fn deprecated_v1_data_and_templates() {
    let (_server, client, _ctl) = setup().await;
    let (_, cert) = test_key();
    create(&client, &v1_sealed(&cert, "app", "legacy", "legacy-value")).await;
    ready(&client, "app", "legacy").await;
    assert_eq!(
        item(&secret_where(&client, "app", "legacy", |_| true).await, "k"),
        "legacy-value"
    );

    let mut t = seal(
        &cert,
        "app",
        "tpl",
        &[("user", "tpl-user"), ("pass", "tpl-pass")],
        Scope::Strict,
    );
    t.spec.template.data = Some(BTreeMap::from([(
        "dsn".to_owned(),
        "postgres://{{ .user }}:{{ .pass }}@db".to_owned(),
    )]));
    create(&client, &t).await;
    ready(&client, "app", "tpl").await;
    let s = secret_where(&client, "app", "tpl", |_| true).await;
    assert_eq!(item(&s, "dsn"), "postgres://tpl-user:tpl-pass@db");
    assert_no_plaintext(&client, &["legacy-value", "tpl-user", "tpl-pass"]).await;
}

#[tokio::test]
async fn v1_data_rejected_when_disabled() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let _ctl = controller(&client, &["--accept-deprecated-v1-data=false"]).await;
    create(&client, &v1_sealed(&cert, "app", "legacy", "legacy-off")).await;
    let bad = stalled(&client, "app", "legacy").await;
    assert_eq!(
        condition(&bad, "Stalled").unwrap().reason.as_deref(),
        Some("LegacyDataRejected")
    );
}

#[tokio::test]
async fn namespace_list_and_label_selector() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let _ctl = controller(
        &client,
        &["--additional-namespaces=app", "--label-selector=sync=yes"],
    )
    .await;
    let labelled = |ns: &str, name: &str| {
        let mut ss = seal(&cert, ns, name, &[("k", "v")], Scope::Strict);
        ss.metadata.labels = Some(BTreeMap::from([("sync".to_owned(), "yes".to_owned())]));
        ss
    };
    create(&client, &labelled("app", "in")).await;
    create(&client, &labelled("other", "outside")).await;
    create(
        &client,
        &seal(&cert, "app", "unlabelled", &[("k", "v")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "in").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (ns, name) in [("other", "outside"), ("app", "unlabelled")] {
        let ss = ss_api(&client, ns).get(name).await.unwrap();
        assert!(!ss.status_written(), "{ns}/{name} must be ignored");
        assert!(
            secret_api(&client, ns)
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn condition_metrics_dropped_with_the_object() {
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    create(
        &client,
        &seal(&cert, "app", "gone", &[("k", "v")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "gone").await;
    let series = "condition_info{namespace=\"app\",name=\"gone\"";
    assert!(ctl.metrics.encode().contains(series));
    ss_api(&client, "app")
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    eventually(8, "condition_info dropped", || {
        let m = ctl.metrics.clone();
        async move { (!m.encode().contains(series)).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn skip_recreate_and_no_status() {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let _ctl = controller(&client, &["--skip-recreate", "--update-status=false"]).await;
    create(
        &client,
        &seal(
            &cert,
            "app",
            "plain",
            &[("k", "plain-value")],
            Scope::Strict,
        ),
    )
    .await;
    secret_where(&client, "app", "plain", |_| true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.count(fake_apiserver::Verb::Update, "sealedsecrets/status"),
        0
    );
    assert!(
        !ss_api(&client, "app")
            .get("plain")
            .await
            .unwrap()
            .status_written()
    );
    // Without the Secret watch a deleted Secret is not re-created (upstream's --skip-recreate).
    secret_api(&client, "app")
        .delete("plain", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        secret_api(&client, "app")
            .get_opt("plain")
            .await
            .unwrap()
            .is_none()
    );
}
