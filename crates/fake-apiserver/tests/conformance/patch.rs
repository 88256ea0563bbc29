//! Merge, strategic merge, JSON patch and server-side apply.

use std::time::Duration;

use fake_apiserver::Verb;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

use crate::common::*;

fn cm(client: &kube::Client) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), "default")
}

#[tokio::test]
async fn merge_strategic_and_json_patch() {
    let (server, client) = setup().await;
    let api = cm(&client);
    api.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}})).unwrap())
        .await
        .unwrap();
    let m = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": null}}, "data": {"x": "9"}})),
        )
        .await
        .unwrap();
    assert_eq!(m.metadata.labels.clone().unwrap().len(), 1);
    assert_eq!(m.data.clone().unwrap()["x"], "9");
    assert_eq!(m.data.clone().unwrap()["y"], "2");
    let s = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"z": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(s.data.clone().unwrap().len(), 3);
    let jp = |ops: serde_json::Value| {
        let server = &server;
        async move {
            raw(
                server,
                "PATCH",
                "/api/v1/namespaces/default/configmaps/c",
                &[("Content-Type", "application/json-patch+json")],
                &ops.to_string(),
                Duration::from_secs(2),
            )
            .await
        }
    };
    let (code, _, body) = jp(json!([
        {"op": "remove", "path": "/data/x"},
        {"op": "add", "path": "/data/w", "value": "4"},
        {"op": "test", "path": "/data/y", "value": "2"},
    ]))
    .await;
    assert_eq!(code, 200, "{body}");
    let d = api.get("c").await.unwrap().data.unwrap();
    assert!(!d.contains_key("x"));
    assert_eq!(d["w"], "4");
    // A failing test op is rejected and changes nothing.
    let (code, _, body) = jp(json!([{"op": "test", "path": "/data/y", "value": "nope"}, {"op": "remove", "path": "/data/y"}])).await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("\"kind\":\"Status\""));
    assert_eq!(api.get("c").await.unwrap().data.unwrap()["y"], "2");
    // A patch carrying a stale resourceVersion conflicts.
    let e = api_err(
        api.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {"q": "1"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    // Patch of a missing object is a 404.
    let e = api_err(
        api.patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn server_side_apply_semantics() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    let cfg = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa", "labels": {"team": "a"}}, "data": data});
    // fieldManager is required.
    let (code, _, body) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/secrets/ssa",
        &[("Content-Type", "application/apply-patch+yaml")],
        "metadata:\n  name: ssa\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(code == 400 || code == 422, "{code} {body}");
    assert!(body.contains("fieldManager"), "{body}");

    // Create on apply.
    let pp = PatchParams::apply("mgr-a");
    let s = api
        .patch(
            "ssa",
            &pp,
            &Patch::Apply(cfg(json!({"k1": "MQ==", "k2": "Mg=="}))),
        )
        .await
        .unwrap();
    assert_eq!(s.data.as_ref().unwrap().len(), 2);
    let mf = s.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("mgr-a"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    let f = serde_json::to_value(mf[0].fields_v1.as_ref().unwrap()).unwrap();
    assert_eq!(f["f:data"]["f:k1"], json!({}));
    assert_eq!(f["f:metadata"]["f:labels"]["f:team"], json!({}));

    // Re-applying the same config is a no-op (same rv, no event, same managedFields time).
    let mut stream = Box::pin(api.watch(&WatchParams::default(), &rv(&s)).await.unwrap());
    let again = api
        .patch(
            "ssa",
            &pp,
            &Patch::Apply(cfg(json!({"k1": "MQ==", "k2": "Mg=="}))),
        )
        .await
        .unwrap();
    assert_eq!(rv(&again), rv(&s));
    assert_eq!(again.metadata.managed_fields, s.metadata.managed_fields);
    assert!(
        next_event(&mut stream, Duration::from_millis(300))
            .await
            .is_none()
    );
    assert_eq!(
        server.count(Verb::Patch, "secrets"),
        3,
        "includes the rejected one"
    );

    // Dropping a field removes it.
    let dropped = api
        .patch("ssa", &pp, &Patch::Apply(cfg(json!({"k1": "MQ=="}))))
        .await
        .unwrap();
    assert_eq!(
        dropped.data.as_ref().unwrap().keys().collect::<Vec<_>>(),
        vec!["k1"]
    );
    // The real server keeps no generation for Secrets.
    assert_eq!(dropped.metadata.generation, None);
    let ev = next_event(&mut stream, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(event_name(&ev).0, "MODIFIED");

    // Another manager: same value shares, different value conflicts.
    let other = PatchParams::apply("mgr-b");
    let cfg_b = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa"}, "data": data});
    api.patch("ssa", &other, &Patch::Apply(cfg_b(json!({"k1": "MQ=="}))))
        .await
        .unwrap();
    let e = api_err(
        api.patch("ssa", &other, &Patch::Apply(cfg_b(json!({"k1": "OQ=="}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("conflict with \"mgr-a\""),
        "{}",
        e.message
    );
    assert!(e.message.contains(".data.k1"), "{}", e.message);
    // Force takes ownership.
    let forced = api
        .patch(
            "ssa",
            &other.clone().force(),
            &Patch::Apply(cfg_b(json!({"k1": "OQ=="}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["k1"].0, b"9");
    let mf = forced.metadata.managed_fields.unwrap();
    let a = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("mgr-a"))
        .unwrap();
    let fa = serde_json::to_value(a.fields_v1.as_ref().unwrap()).unwrap();
    assert!(
        fa.get("f:data").is_none_or(|d| d.get("f:k1").is_none()),
        "{fa}"
    );

    // mgr-a no longer owns k1, so dropping it from mgr-a's config keeps it; a field only
    // mgr-a owned (the label) is removed when mgr-a stops applying it.
    let a_cfg = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa"}, "data": {"k3": "Mw=="}});
    let r = api.patch("ssa", &pp, &Patch::Apply(a_cfg)).await.unwrap();
    assert_eq!(r.data.as_ref().unwrap()["k1"].0, b"9");
    assert_eq!(r.data.as_ref().unwrap()["k3"].0, b"3");
    assert!(r.metadata.labels.unwrap_or_default().is_empty());

    // An Update-operation manager (a plain merge patch) takes the fields it changes.
    let u = api
        .patch(
            "ssa",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"k3": "NA=="}})),
        )
        .await
        .unwrap();
    let mf = u.metadata.managed_fields.unwrap();
    let ed = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("editor"))
        .unwrap();
    assert_eq!(ed.operation.as_deref(), Some("Update"));
    let e = api_err(
        api.patch("ssa", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa"}, "data": {"k3": "Mw=="}})))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("conflict with \"editor\""),
        "{}",
        e.message
    );

    // dryRun apply stores nothing.
    let before = server.resource_version();
    let dr = api
        .patch("ssa", &PatchParams::apply("mgr-c").dry_run(), &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa"}, "data": {"new": "eA=="}})))
        .await
        .unwrap();
    assert!(dr.data.unwrap().contains_key("new"));
    assert_eq!(server.resource_version(), before);
    let live: Secret = api.get("ssa").await.unwrap();
    assert!(!live.data.unwrap().contains_key("new"));
}

#[tokio::test]
async fn apply_yaml_body_and_string_data() {
    let (server, client) = setup().await;
    let (code, _, body) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/secrets/y?fieldManager=yaml-test",
        &[("Content-Type", "application/apply-patch+yaml")],
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: y\nstringData:\n  hello: world\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let s = secrets(&client).get("y").await.unwrap();
    assert_eq!(s.data.unwrap()["hello"].0, b"world");
    assert!(s.string_data.is_none());
}
