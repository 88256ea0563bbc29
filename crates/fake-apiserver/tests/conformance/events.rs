//! Events: one store, two views. What a controller writes through `events.k8s.io/v1` is what
//! `kubectl get events` and `kubectl events` show through core `v1`, and the other way round.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::cli::{Cluster, table};

/// An event as kube's recorder (and so the controller) writes it.
fn recorded() -> Event {
    serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "db.17f0a", "namespace": "prod"},
        "eventTime": "2024-05-06T07:08:09.123456Z",
        "regarding": {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "db", "namespace": "prod", "uid": "u-1"},
        "reason": "Unsealed", "note": "SealedSecret unsealed successfully", "type": "Normal",
        "action": "Unseal", "reportingController": "sealant-controller", "reportingInstance": "sealant-0",
    }))
    .unwrap()
}

#[test]
fn events_written_as_events_k8s_io_show_in_kubectl() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "prod"], None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = kube::Client::try_from(kube::Config::new(c.url.parse().unwrap())).unwrap();
        let events: Api<Event> = Api::namespaced(client.clone(), "prod");
        events
            .create(&PostParams::default(), &recorded())
            .await
            .unwrap();
        // The core view, typed.
        let core: Api<CoreEvent> = Api::namespaced(client, "prod");
        let e = core.get("db.17f0a").await.unwrap();
        assert_eq!(e.involved_object.name.as_deref(), Some("db"));
        assert_eq!(
            e.message.as_deref(),
            Some("SealedSecret unsealed successfully")
        );
        assert_eq!(e.reporting_component.as_deref(), Some("sealant-controller"));
        assert_eq!(e.reporting_instance.as_deref(), Some("sealant-0"));
        assert_eq!(e.first_timestamp, None);
        // Field selectors of each view.
        let by_core = core
            .list(&ListParams::default().fields("involvedObject.name=db"))
            .await
            .unwrap();
        assert_eq!(by_core.items.len(), 1);
        let by_regarding = events
            .list(&ListParams::default().fields("regarding.name=db,reason=Unsealed"))
            .await
            .unwrap();
        assert_eq!(by_regarding.items.len(), 1);
        let none = events
            .list(&ListParams::default().fields("regarding.name=other"))
            .await
            .unwrap();
        assert!(none.items.is_empty());
    });
    let rows = table(&c.ok(&["get", "events", "-n", "prod"], None));
    assert_eq!(
        rows[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(
        rows[1][1..],
        [
            "Normal",
            "Unsealed",
            "sealedsecret/db",
            "SealedSecret unsealed successfully"
        ]
    );
    let wide = table(&c.ok(&["get", "events", "-n", "prod", "-o", "wide"], None));
    assert_eq!(
        wide[0],
        [
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST SEEN",
            "COUNT",
            "NAME"
        ]
    );
    assert!(
        wide[1].contains(&"sealant-controller, sealant-0".to_string()),
        "{wide:?}"
    );
    let out = c.ok(&["events", "-n", "prod"], None);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{out}"
    );
    assert_eq!(
        rows[1][1..4],
        ["Normal", "Unsealed", "SealedSecret/db"],
        "{out}"
    );
    let json = c.get_json(&["events", "-n", "prod"]);
    let item = &json["items"][0];
    assert_eq!(item["apiVersion"], "v1");
    assert_eq!(item["source"], json!({}));
    assert_eq!(item["count"], json!(null));
    let ev = c.get_json(&["events.v1.events.k8s.io", "db.17f0a", "-n", "prod"]);
    assert_eq!(ev["note"], "SealedSecret unsealed successfully");
    assert_eq!(ev["eventTime"], "2024-05-06T07:08:09.123456Z");
    assert!(ev.get("message").is_none());
}

#[test]
fn core_events_show_in_the_events_k8s_io_view() {
    let c = Cluster::start();
    let core = r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"x.1","namespace":"default"},
        "involvedObject":{"kind":"Secret","name":"x","namespace":"default"},
        "reason":"Created","message":"made it","type":"Warning","count":3,
        "firstTimestamp":"2024-01-01T00:00:00Z","lastTimestamp":"2024-01-01T00:05:00Z",
        "source":{"component":"kubelet","host":"node-1"}}"#;
    assert_eq!(
        c.ok(&["create", "-f", "-"], Some(core)).trim(),
        "event/x.1 created"
    );
    let ev = c.get_json(&["events.events.k8s.io", "x.1"]);
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["regarding"]["name"], "x");
    assert_eq!(ev["note"], "made it");
    assert_eq!(ev["deprecatedCount"], 3);
    assert_eq!(ev["deprecatedSource"]["host"], "node-1");
    assert_eq!(ev["deprecatedLastTimestamp"], "2024-01-01T00:05:00Z");
    let rows = table(&c.ok(&["get", "events.events.k8s.io"], None));
    assert_eq!(rows[1][1..], ["Warning", "Created", "secret/x", "made it"]);
    // One store: deleting through either view deletes the event.
    c.ok(&["delete", "events.events.k8s.io", "x.1"], None);
    assert!(
        c.fails(&["get", "event", "x.1"], None)
            .contains("not found")
    );
}
