//! Secret-specific rules.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn string_data_is_folded_and_type_defaults() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let mut s = secret("s", &[("a", "old"), ("b", "keep")]);
    s.string_data = Some(BTreeMap::from([
        ("a".to_string(), "new".to_string()),
        ("c".to_string(), "str".to_string()),
    ]));
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(created.string_data.is_none());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let data = created.data.unwrap();
    assert_eq!(data["a"].0, b"new");
    assert_eq!(data["b"].0, b"keep");
    assert_eq!(data["c"].0, b"str");
    // Merge patch with stringData also folds.
    let p = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"d": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.unwrap()["d"].0, b"x");
    assert!(p.string_data.is_none());
    // Stored objects never carry stringData.
    let got = api.get("s").await.unwrap();
    assert!(got.string_data.is_none());
    assert_eq!(
        got.metadata.generation, None,
        "real servers keep no generation for Secrets, even after a data change"
    );
}

#[tokio::test]
async fn type_is_immutable() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    api.create(&PostParams::default(), &secret("x", &[]))
        .await
        .unwrap();
    let e = api_err(
        api.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"type": "kubernetes.io/tls"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "Secret \"x\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is immutable"
    );
}

#[tokio::test]
async fn immutable_secrets() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    let mut s = secret("i", &[("a", "1")]);
    s.immutable = Some(true);
    api.create(&PostParams::default(), &s).await.unwrap();
    let rv0 = server.resource_version();
    let e = api_err(
        api.patch(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "Mg=="}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Secret \"i\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    let e = api_err(
        api.patch(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"immutable": false})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(e.message.contains("immutable: Forbidden"), "{}", e.message);
    // Metadata may still change.
    let ok = api
        .patch(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"l": "v"}}})),
        )
        .await
        .unwrap();
    assert_eq!(ok.metadata.labels.unwrap()["l"], "v");
    assert_eq!(server.resource_version(), rv0 + 1);
}

#[tokio::test]
async fn data_is_validated() {
    let (server, _client) = setup().await;
    let (code, _, body) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/secrets",
        &[("Content-Type", "application/json")],
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"},"data":{"k":"not base64!"}}"#,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"kind\":\"Status\""));
    let (code, _, body) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/secrets",
        &[("Content-Type", "application/json")],
        r#"{"metadata":{"name":"b"},"data":{"bad key":"eA=="}}"#,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("a valid config key must consist of alphanumeric characters"),
        "{body}"
    );
}
