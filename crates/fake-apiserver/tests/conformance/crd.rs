//! CustomResourceDefinitions: serving, discovery, status subresource and generation.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchParams,
};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

use crate::common::*;

pub fn sealedsecret_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "sealedsecrets.bitnami.com"},
        "spec": {
            "group": "bitnami.com",
            "names": {"kind": "SealedSecret", "listKind": "SealedSecretList", "plural": "sealedsecrets", "singular": "sealedsecret"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}
            }]
        }
    })
}

pub async fn install_crd(client: &kube::Client) -> Api<DynamicObject> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(sealedsecret_crd()).unwrap(),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(
            crds,
            "sealedsecrets.bitnami.com",
            conditions::is_crd_established(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    );
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn ss(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

#[tokio::test]
async fn crd_is_served_and_discoverable() {
    let (server, client) = setup().await;
    // Not served before the CRD exists.
    let (code, _, _) = raw(
        &server,
        "GET",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 404);
    let api = install_crd(&client).await;
    let (_, _, body) = raw(&server, "GET", "/apis", &[], "", Duration::from_secs(2)).await;
    let groups: serde_json::Value = serde_json::from_str(&body).unwrap();
    let g = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "bitnami.com")
        .expect("group listed");
    assert_eq!(
        g["preferredVersion"]["groupVersion"],
        "bitnami.com/v1alpha1"
    );
    let (_, _, body) = raw(
        &server,
        "GET",
        "/apis/bitnami.com/v1alpha1",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    let rl: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = rl["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sealedsecrets", "sealedsecrets/status"]);
    assert_eq!(rl["resources"][0]["kind"], "SealedSecret");
    assert_eq!(rl["resources"][0]["namespaced"], true);
    // kube's discovery sees it too.
    let disc = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    assert!(disc.groups().any(|g| g.name() == "bitnami.com"));

    let o = api
        .create(
            &PostParams::default(),
            &ss("a", json!({"encryptedData": {"k": "AgB="}})),
        )
        .await
        .unwrap();
    assert_eq!(o.metadata.generation, Some(1));
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    // Deleting the CRD deletes its objects and stops serving.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut w = Box::pin(
        api.watch(
            &WatchParams::default(),
            &o.metadata.resource_version.clone().unwrap(),
        )
        .await
        .unwrap(),
    );
    crds.delete("sealedsecrets.bitnami.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("DELETED".into(), "a".into())
    );
    let (code, _, _) = raw(
        &server,
        "GET",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let (server, client) = setup().await;
    let api = install_crd(&client).await;
    let mut obj = ss("s", json!({"encryptedData": {"k": "AgA="}}));
    obj.data["status"] = json!({"ignored": true});
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );
    assert_eq!(created.metadata.generation, Some(1));

    // Status writes change only status, never generation.
    let mut st = created.clone();
    st.data["status"] =
        json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]});
    st.data["spec"] = json!({"encryptedData": {"k": "CHANGED"}});
    let after = api
        .replace_status("s", &PostParams::default(), &st)
        .await
        .unwrap();
    assert_eq!(after.data["status"]["observedGeneration"], 1);
    assert_eq!(
        after.data["spec"]["encryptedData"]["k"], "AgA=",
        "status write ignores spec"
    );
    assert_eq!(after.metadata.generation, Some(1));
    assert_ne!(
        after.metadata.resource_version,
        created.metadata.resource_version
    );
    let mf = after.metadata.managed_fields.clone().unwrap();
    assert!(
        mf.iter()
            .any(|m| m.subresource.as_deref() == Some("status"))
    );

    // A status write whose body carries no spec (what sealant-controller sends) keeps the spec,
    // and it is still conditional on the resourceVersion in the body.
    let lean = |rv: &Option<String>, generation: i64| {
        let mut o = ss("s", json!(null));
        o.data = json!({"status": {"observedGeneration": generation}});
        o.metadata.resource_version = rv.clone();
        o
    };
    let stale = api
        .replace_status(
            "s",
            &PostParams::default(),
            &lean(&created.metadata.resource_version, 5),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(stale, kube::Error::Api(ref s) if s.code == 409),
        "{stale}"
    );
    let after = api
        .replace_status(
            "s",
            &PostParams::default(),
            &lean(&after.metadata.resource_version, 1),
        )
        .await
        .unwrap();
    assert_eq!(after.data["spec"]["encryptedData"]["k"], "AgA=");
    assert_eq!(after.data["status"], json!({"observedGeneration": 1}));
    assert_eq!(after.metadata.generation, Some(1));

    // Main writes ignore status and bump generation on spec changes only.
    let mut main = after.clone();
    main.data["status"] = json!({"observedGeneration": 99});
    main.metadata.labels = Some([("l".to_string(), "1".to_string())].into());
    let m = api
        .replace("s", &PostParams::default(), &main)
        .await
        .unwrap();
    assert_eq!(m.data["status"]["observedGeneration"], 1);
    assert_eq!(m.metadata.generation, Some(1));
    let spec = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"encryptedData": {"k": "AgB="}}})),
        )
        .await
        .unwrap();
    assert_eq!(spec.metadata.generation, Some(2));

    // patch_status with merge patch and with apply.
    let p = api
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["status"]["observedGeneration"], 2);
    assert_eq!(p.metadata.generation, Some(2));
    let rv_before = server.resource_version();
    let applied = api
        .patch_status(
            "s",
            &PatchParams::apply("ctrl").force(),
            &Patch::Apply(json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "s"}, "status": {"observedGeneration": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["status"]["observedGeneration"], 2);
    // Same values, only a new owner: managedFields change, so it is a real write.
    assert!(server.resource_version() > rv_before);
    let again = api
        .patch_status(
            "s",
            &PatchParams::apply("ctrl").force(),
            &Patch::Apply(json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "s"}, "status": {"observedGeneration": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version, applied.metadata.resource_version,
        "no-op status apply"
    );
    let g = api.get_status("s").await.unwrap();
    assert_eq!(g.data["status"]["observedGeneration"], 2);
}

#[tokio::test]
async fn invalid_crds_are_rejected() {
    let (_server, client) = setup().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut bad = sealedsecret_crd();
    bad["metadata"]["name"] = json!("wrong.bitnami.com");
    let e = api_err(
        crds.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
}
