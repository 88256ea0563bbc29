//! Create/get/update/delete semantics and error objects.

use std::time::Duration;

use fake_apiserver::Verb;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams, WatchParams};

use crate::common::*;

#[tokio::test]
async fn create_get_and_errors() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    let created = api
        .create(&PostParams::default(), &secret("s1", &[("a", "1")]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.uid.as_ref().unwrap().len(), 36);
    let ts = serde_json::to_value(meta.creation_timestamp.as_ref().unwrap()).unwrap();
    let ts = ts.as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert_eq!(
        meta.generation, None,
        "real servers keep no generation for Secrets"
    );
    let rv1: u64 = rv(&created).parse().unwrap();
    assert!(rv1 > 0);

    let again = api
        .create(&PostParams::default(), &secret("s1", &[]))
        .await
        .unwrap_err();
    let st = api_err(again);
    assert_eq!(st.code, 409);
    assert_eq!(st.reason, "AlreadyExists");
    assert_eq!(st.message, "secrets \"s1\" already exists");

    let missing = api_err(api.get("nope").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "secrets \"nope\" not found");
    assert_eq!(missing.details.as_ref().unwrap().name, "nope");
    assert_eq!(missing.details.as_ref().unwrap().kind, "secrets");
    let del = api_err(
        api.delete("nope", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(del.code, 404);

    // A second object gets a strictly larger, global resourceVersion (any resource).
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("c".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(rv(&cm).parse::<u64>().unwrap() > rv1);
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata.resource_version.as_deref(),
        Some(rv(&cm).as_str())
    );
    assert_eq!(list.items.len(), 1);
    assert_eq!(server.count(Verb::Create, "secrets"), 2);
    assert_eq!(server.count(Verb::Create, "configmaps"), 1);
}

#[tokio::test]
async fn update_conflict_and_retry() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let s = api
        .create(&PostParams::default(), &secret("s", &[("a", "1")]))
        .await
        .unwrap();
    // Two writers start from the same version.
    let mut w1 = s.clone();
    let mut w2 = s.clone();
    w1.data = Some([("a".to_string(), k8s_openapi::ByteString(b"2".to_vec()))].into());
    w2.data = Some([("a".to_string(), k8s_openapi::ByteString(b"3".to_vec()))].into());
    let u1 = api.replace("s", &PostParams::default(), &w1).await.unwrap();
    assert_ne!(rv(&u1), rv(&s));
    let err = api_err(
        api.replace("s", &PostParams::default(), &w2)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on secrets \"s\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // Retry after re-get succeeds.
    let mut fresh = api.get("s").await.unwrap();
    fresh.data = w2.data.clone();
    let u2 = api
        .replace("s", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(u2.data.unwrap()["a"].0, b"3");
    // Without a resourceVersion the update is unconditional.
    let mut blind = secret("s", &[("a", "4")]);
    blind.metadata.resource_version = None;
    let u3 = api
        .replace("s", &PostParams::default(), &blind)
        .await
        .unwrap();
    assert_eq!(u3.data.unwrap()["a"].0, b"4");
    // Name mismatch is a 400.
    let bad = api_err(
        api.replace("s", &PostParams::default(), &secret("other", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.code, 400);
    // Update of a missing object is a 404.
    let nf = api_err(
        api.replace("zz", &PostParams::default(), &secret("zz", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(nf.code, 404);
}

#[tokio::test]
async fn noop_update_bumps_nothing_and_emits_nothing() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    let s = api
        .create(&PostParams::default(), &secret("s", &[("a", "1")]))
        .await
        .unwrap();
    let mut stream = Box::pin(api.watch(&WatchParams::default(), &rv(&s)).await.unwrap());
    let before = server.resource_version();
    let same = api.replace("s", &PostParams::default(), &s).await.unwrap();
    assert_eq!(rv(&same), rv(&s));
    assert_eq!(same.metadata.generation, None);
    assert_eq!(same.metadata.managed_fields, s.metadata.managed_fields);
    assert_eq!(server.resource_version(), before);
    assert_eq!(server.count(Verb::Update, "secrets"), 1);
    assert!(
        next_event(&mut stream, Duration::from_millis(300))
            .await
            .is_none()
    );
    // A real change does produce an event.
    let mut changed = same.clone();
    changed.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
    let c = api
        .replace("s", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, None, "Secrets keep no generation");
    let ev = next_event(&mut stream, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(event_name(&ev), ("MODIFIED".into(), "s".into()));
}

#[tokio::test]
async fn dry_run_stores_nothing() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    let before = server.resource_version();
    let dr = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let out = api.create(&dr, &secret("d", &[("a", "1")])).await.unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("d"));
    assert!(out.metadata.uid.is_some());
    assert_eq!(api_err(api.get("d").await.unwrap_err()).code, 404);
    api.create(&PostParams::default(), &secret("d", &[("a", "1")]))
        .await
        .unwrap();
    let after_create = server.resource_version();
    let mut upd = api.get("d").await.unwrap();
    upd.data = Some([("a".to_string(), k8s_openapi::ByteString(b"2".to_vec()))].into());
    let o = api.replace("d", &dr, &upd).await.unwrap();
    assert_eq!(o.data.unwrap()["a"].0, b"2");
    assert_eq!(api.get("d").await.unwrap().data.unwrap()["a"].0, b"1");
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("d", &dp).await.unwrap();
    assert!(api.get("d").await.is_ok());
    assert_eq!(server.resource_version(), after_create);
    assert!(after_create > before);
}

#[tokio::test]
async fn names_namespaces_generate_name() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let mut g = secret("", &[]);
    g.metadata.name = None;
    g.metadata.generate_name = Some("gen-".into());
    let created = api.create(&PostParams::default(), &g).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(
        name[4..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );

    let bad = api_err(
        api.create(&PostParams::default(), &secret("Bad_Name", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((bad.code, bad.reason.as_str()), (422, "Invalid"));
    assert!(
        bad.message
            .starts_with("Secret \"Bad_Name\" is invalid: metadata.name: Invalid value"),
        "{}",
        bad.message
    );

    let mut none = secret("", &[]);
    none.metadata.name = None;
    let e = api_err(api.create(&PostParams::default(), &none).await.unwrap_err());
    assert_eq!(e.code, 422);

    let elsewhere: Api<Secret> = Api::namespaced(client.clone(), "missing-ns");
    let e = api_err(
        elsewhere
            .create(&PostParams::default(), &secret("x", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
    assert_eq!(e.message, "namespaces \"missing-ns\" not found");

    let nss: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    for n in ["default", "kube-system", "kube-public"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    let ns = nss
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("missing-ns".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    elsewhere
        .create(&PostParams::default(), &secret("x", &[]))
        .await
        .unwrap();
    // Cluster-wide list sees both namespaces.
    let all: Api<Secret> = Api::all(client.clone());
    let mut found: Vec<(String, String)> = all
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| (s.metadata.namespace.unwrap(), s.metadata.name.unwrap()))
        .collect();
    found.sort();
    assert_eq!(found.len(), 2);
    assert_eq!(found[1], ("missing-ns".to_string(), "x".to_string()));
}

#[tokio::test]
async fn malformed_bodies_are_status_400() {
    let (server, _client) = setup().await;
    let (code, head, body) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/secrets",
        &[("Content-Type", "application/json")],
        "{not json",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["status"], "Failure");
    assert_eq!(v["reason"], "BadRequest");
    assert_eq!(v["code"], 400);
    for (m, p, b, ct) in [
        (
            "POST",
            "/api/v1/namespaces/default/secrets",
            "[1,2]",
            "application/json",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/secrets",
            "{\"metadata\": 5}",
            "application/json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/secrets/x",
            "{}",
            "application/merge-patch+json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/secrets/x",
            "zz: [",
            "application/apply-patch+yaml",
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/secrets/x",
            "\u{0}",
            "application/json",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/secrets?labelSelector=a%20in%20b",
            "",
            "application/json",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/secrets?limit=abc",
            "",
            "application/json",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/secrets",
            "{{",
            "application/json",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/secrets/x",
            "{}",
            "application/json",
        ),
        ("GET", "/api/v1/nonexistent", "", "application/json"),
        ("GET", "/apis/nope/v1/things", "", "application/json"),
    ] {
        let (code, _, body) = raw(
            &server,
            m,
            p,
            &[("Content-Type", ct)],
            b,
            Duration::from_secs(2),
        )
        .await;
        assert!((400..500).contains(&code), "{m} {p} {b}: {code}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{m} {p}: {e}: {body}"));
        assert_eq!(v["kind"], "Status", "{m} {p}");
        assert_eq!(v["code"], code);
    }
    // PUT to a collection is 405 MethodNotAllowed.
    let (code, _, body) = raw(
        &server,
        "PUT",
        "/api/v1/namespaces/default/secrets",
        &[],
        "{}",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 405);
    assert!(body.contains("MethodNotAllowed"));
}

#[tokio::test]
async fn pagination_with_limit_and_continue() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    for i in 0..7 {
        api.create(&PostParams::default(), &secret(&format!("s{i}"), &[]))
            .await
            .unwrap();
    }
    let snapshot_rv = server.resource_version().to_string();
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(snapshot_rv.as_str())
        );
        names.extend(page.items.into_iter().map(|s| s.metadata.name.unwrap()));
        if pages == 1 {
            // Changes between pages do not show up in the paginated snapshot.
            api.create(&PostParams::default(), &secret("s99", &[]))
                .await
                .unwrap();
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = ListParams::default().limit(3).continue_token(&c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("s{i}")).collect::<Vec<_>>());
    // An unknown/compacted continue token is 410 Expired.
    let e = api_err(
        api.list(&ListParams::default().limit(3).continue_token("12345"))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    // resourceVersionMatch=NotOlderThan is accepted.
    let l = api
        .list(
            &ListParams::default()
                .at(&snapshot_rv)
                .matching(kube::api::VersionMatch::NotOlderThan),
        )
        .await
        .unwrap();
    assert_eq!(l.items.len(), 8);
}

#[tokio::test]
async fn other_builtin_resources() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{Event as CoreEvent, Service};
    use k8s_openapi::api::events::v1::Event;
    let (server, client) = setup().await;
    let meta = |n: &str| ObjectMeta {
        name: Some(n.into()),
        ..Default::default()
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let mut l = Lease {
        metadata: meta("leader"),
        ..Default::default()
    };
    l.spec = Some(
        serde_json::from_value(
            serde_json::json!({"holderIdentity": "a", "leaseDurationSeconds": 15}),
        )
        .unwrap(),
    );
    let created = leases.create(&PostParams::default(), &l).await.unwrap();
    // Leader election style compare-and-swap.
    let mut take = created.clone();
    take.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("leader", &PostParams::default(), &take)
        .await
        .unwrap();
    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("c".into());
    assert_eq!(
        api_err(
            leases
                .replace("leader", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        )
        .code,
        409
    );
    assert_eq!(
        leases
            .get("leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("b")
    );

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let ev: Event = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "s."}, "eventTime": "2025-01-01T00:00:00.000000Z",
        "reason": "Unsealed", "action": "Unseal", "type": "Normal", "note": "ok",
        "reportingController": "sealant", "reportingInstance": "x",
        "regarding": {"kind": "SealedSecret", "name": "s", "namespace": "default"},
    }))
    .unwrap();
    let e = events.create(&PostParams::default(), &ev).await.unwrap();
    assert_eq!(e.reason.as_deref(), Some("Unsealed"));
    assert_eq!(
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let ce: CoreEvent = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s.1"}, "reason": "Unsealed", "message": "ok", "type": "Normal",
        "involvedObject": {"kind": "SealedSecret", "name": "s", "namespace": "default"},
    }))
    .unwrap();
    core.create(&PostParams::default(), &ce).await.unwrap();
    assert_eq!(
        core.get("s.1").await.unwrap().message.as_deref(),
        Some("ok")
    );

    let svcs: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "sealed-secrets-controller"},
        "spec": {"ports": [{"name": "http", "port": 8080}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
    }))
    .unwrap();
    let s = svcs.create(&PostParams::default(), &svc).await.unwrap();
    assert!(
        s.status
            .and_then(|st| st.load_balancer)
            .and_then(|lb| lb.ingress)
            .is_none(),
        "status is a subresource"
    );
    // With a Service but no proxy target, the proxy answers 503.
    let (code, _, _) = raw(
        &server,
        "GET",
        "/api/v1/namespaces/kube-system/services/sealed-secrets-controller/proxy/",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 503);
}

#[tokio::test]
async fn garbage_never_breaks_the_server() {
    let (server, client) = setup().await;
    secrets(&client)
        .create(&PostParams::default(), &secret("s", &[("a", "b")]))
        .await
        .unwrap();
    let bodies = [
        "",
        "null",
        "1",
        "\"x\"",
        "[]",
        "{}",
        "{\"metadata\": []}",
        "{\"metadata\": {\"name\": 5}}",
        "{\"metadata\": {\"labels\": 5, \"finalizers\": \"x\", \"ownerReferences\": {}}}",
        "{\"data\": []}",
        "{\"data\": {\"a\": 5}}",
        "{\"stringData\": 5}",
        "{\"type\": 7}",
        "[{\"op\": \"replace\", \"path\": \"/metadata\", \"value\": 1}]",
        "[{\"op\": \"add\", \"path\": \"/data/x/y/z\", \"value\": 1}]",
        "[{\"op\": \"move\", \"from\": \"/\", \"path\": \"\"}]",
        "[{\"op\": \"remove\", \"path\": \"\"}]",
        "[{}]",
        "[1]",
        "apiVersion: [",
        "metadata: {name: s}\ndata: 5\n",
        "\u{feff}{}",
        "{\"kind\": \"ConfigMap\"}",
        "{\"apiVersion\": \"apps/v1\"}",
    ];
    let types = [
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "text/plain",
    ];
    for body in bodies {
        for (method, path) in [
            ("POST", "/api/v1/namespaces/default/secrets"),
            ("PUT", "/api/v1/namespaces/default/secrets/s"),
            (
                "PATCH",
                "/api/v1/namespaces/default/secrets/s?fieldManager=f",
            ),
            ("PUT", "/api/v1/namespaces/default/secrets/s/status"),
            ("DELETE", "/api/v1/namespaces/default/secrets/zz"),
            (
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            ),
        ] {
            for ct in types {
                if method != "PATCH" && ct != "application/json" {
                    continue;
                }
                let (code, _, resp) = raw(
                    &server,
                    method,
                    path,
                    &[("Content-Type", ct)],
                    body,
                    Duration::from_secs(2),
                )
                .await;
                assert!(
                    code > 0 && code < 500,
                    "{method} {path} {ct} {body:?} -> {code} {resp}"
                );
                let v: serde_json::Value = serde_json::from_str(&resp)
                    .unwrap_or_else(|e| panic!("{method} {path} {body:?}: {e} {resp}"));
                if code >= 400 {
                    assert_eq!(v["kind"], "Status");
                }
            }
        }
    }
    for q in [
        "watch=true&resourceVersion=abc",
        "watch=true&timeoutSeconds=99999999999999999",
        "limit=-1",
        "continue=zz",
        "resourceVersion=x",
        "fieldSelector=bogus",
        "labelSelector=a%3D%3D%3Db",
    ] {
        let (code, _, _) = raw(
            &server,
            "GET",
            &format!("/api/v1/secrets?{q}"),
            &[],
            "",
            Duration::from_millis(300),
        )
        .await;
        assert!(code > 0 && code < 500, "{q}: {code}");
    }
    // Still serving, and the object was never corrupted.
    let s = secrets(&client).get("s").await.unwrap();
    assert!(s.metadata.labels.is_none());
}
