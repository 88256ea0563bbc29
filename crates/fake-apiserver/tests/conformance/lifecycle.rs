//! Finalizers, deletionTimestamp, garbage collection and namespace deletion.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn finalizers_hold_deletion() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let mut s = secret("f", &[]);
    s.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let c = api.create(&PostParams::default(), &s).await.unwrap();
    let mut w = Box::pin(api.watch(&WatchParams::default(), &rv(&c)).await.unwrap());
    let r = api.delete("f", &DeleteParams::default()).await.unwrap();
    let terminating = r.left().expect("object still there");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("MODIFIED".into(), "f".into())
    );
    // Deleting again changes nothing.
    let again = api
        .delete("f", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(rv(&again), rv(&terminating));
    assert!(api.get("f").await.is_ok());
    // Removing the finalizer deletes it.
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("DELETED".into(), "f".into())
    );
    assert_eq!(api_err(api.get("f").await.unwrap_err()).code, 404);
}

/// A ConfigMap in `default` to own other objects.
async fn owner(cms: &Api<ConfigMap>, name: &str) -> ConfigMap {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap()
}

#[tokio::test]
async fn deleted_owners_take_dependents_with_them() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner1 = owner(&cms, "o1").await;
    let owner2 = owner(&cms, "o2").await;
    let oref = |o: &ConfigMap| k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: o.name_any(),
        uid: o.uid().unwrap(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut only1 = secret("dep1", &[]);
    only1.metadata.owner_references = Some(vec![oref(&owner1)]);
    let mut both = secret("dep2", &[]);
    both.metadata.owner_references = Some(vec![oref(&owner1), oref(&owner2)]);
    let mut free = secret("free", &[]);
    free.metadata.owner_references = None;
    let d1 = api.create(&PostParams::default(), &only1).await.unwrap();
    assert_eq!(
        d1.metadata.owner_references.as_ref().unwrap()[0].uid,
        owner1.uid().unwrap()
    );
    api.create(&PostParams::default(), &both).await.unwrap();
    api.create(&PostParams::default(), &free).await.unwrap();
    let mut w = Box::pin(api.watch(&WatchParams::default(), &rv(&d1)).await.unwrap());
    let _ = next_event(&mut w, Duration::from_secs(1)).await; // dep2 ADDED
    let _ = next_event(&mut w, Duration::from_secs(1)).await; // free ADDED
    cms.delete("o1", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("DELETED".into(), "dep1".into())
    );
    assert!(api.get("dep2").await.is_ok(), "one owner remains");
    cms.delete("o2", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("DELETED".into(), "dep2".into())
    );
    assert!(api.get("free").await.is_ok());

    // A dependent written after its owners are gone (a stale cache) is collected too; one
    // with a live owner among gone ones is kept.
    let mut late = secret("late", &[]);
    late.metadata.owner_references = Some(vec![oref(&owner1), oref(&owner2)]);
    let created = api.create(&PostParams::default(), &late).await.unwrap();
    assert_eq!(created.name_any(), "late", "the write itself succeeds");
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("ADDED".into(), "late".into())
    );
    assert_eq!(
        event_name(&next_event(&mut w, Duration::from_secs(2)).await.unwrap()),
        ("DELETED".into(), "late".into())
    );
    assert_eq!(api_err(api.get("late").await.unwrap_err()).code, 404);
    let live = owner(&cms, "live").await;
    let mut mixed = secret("mixed", &[]);
    mixed.metadata.owner_references = Some(vec![oref(&owner1), oref(&live)]);
    api.create(&PostParams::default(), &mixed).await.unwrap();
    assert!(api.get("mixed").await.is_ok(), "one owner exists");

    // Orphan propagation leaves dependents (and drops the dangling ownerReference).
    let o3 = owner(&cms, "o3").await;
    let mut d3 = secret("dep3", &[]);
    d3.metadata.owner_references = Some(vec![oref(&o3)]);
    api.create(&PostParams::default(), &d3).await.unwrap();
    cms.delete("o3", &DeleteParams::orphan()).await.unwrap();
    let kept: Secret = api.get("dep3").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let (_server, client) = setup().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &Namespace {
            metadata: ObjectMeta {
                name: Some("team".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let api: Api<Secret> = Api::namespaced(client.clone(), "team");
    api.create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &secret("b", &[]))
        .await
        .unwrap();
    secrets(&client)
        .create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    let r = nss.delete("team", &DeleteParams::default()).await.unwrap();
    assert!(r.is_right(), "immediately deleted: Status Success");
    assert_eq!(api_err(api.get("a").await.unwrap_err()).code, 404);
    assert_eq!(api_err(api.get("b").await.unwrap_err()).code, 404);
    assert!(secrets(&client).get("a").await.is_ok());
    assert_eq!(api_err(nss.get("team").await.unwrap_err()).code, 404);
}
