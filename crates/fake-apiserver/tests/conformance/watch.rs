//! Watch semantics: list-then-watch without gaps, initial events, bookmarks, timeouts,
//! selectors, 410 Expired, dropped watches, and kube-runtime's watcher recovering.

use std::time::Duration;

use fake_apiserver::{FakeApiServer, Options, Verb};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn list_then_watch_has_no_gap() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    api.create(&PostParams::default(), &secret("before", &[]))
        .await
        .unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let list_rv = list.metadata.resource_version.unwrap();
    // Changes after the list but before the watch starts must be replayed.
    api.create(&PostParams::default(), &secret("gap1", &[]))
        .await
        .unwrap();
    api.patch(
        "before",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .unwrap();
    api.delete("gap1", &Default::default()).await.unwrap();
    let mut stream = Box::pin(api.watch(&WatchParams::default(), &list_rv).await.unwrap());
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(event_name(
            &next_event(&mut stream, Duration::from_secs(2))
                .await
                .unwrap(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED".into(), "gap1".into()),
            ("MODIFIED".into(), "before".into()),
            ("DELETED".into(), "gap1".into()),
        ]
    );
    // Live events follow, with increasing resourceVersions.
    let c = api
        .create(&PostParams::default(), &secret("live", &[]))
        .await
        .unwrap();
    match next_event(&mut stream, Duration::from_secs(2))
        .await
        .unwrap()
    {
        WatchEvent::Added(s) => assert_eq!(rv(&s), rv(&c)),
        other => panic!("{other:?}"),
    }
    assert!(server.open_watches() >= 1);
}

#[tokio::test]
async fn watch_without_version_sends_current_objects_first() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    api.create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &secret("b", &[]))
        .await
        .unwrap();
    for v in ["0", ""] {
        let path = format!(
            "/api/v1/namespaces/default/secrets?watch=true&resourceVersion={v}&timeoutSeconds=1"
        );
        let (code, head, body) = raw(&server, "GET", &path, &[], "", Duration::from_secs(3)).await;
        assert_eq!(code, 200);
        assert!(
            head.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{head}"
        );
        let evs = lines(&body);
        let names: Vec<(&str, &str)> = evs
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap(),
                    e["object"]["metadata"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(names, vec![("ADDED", "a"), ("ADDED", "b")], "rv={v:?}");
        assert_eq!(evs[0]["object"]["kind"], "Secret");
    }
    assert_eq!(server.count(Verb::Watch, "secrets"), 2);
}

#[tokio::test]
async fn bookmarks_and_timeout() {
    let server = FakeApiServer::start_with(Options {
        bookmark_interval: Duration::from_millis(200),
        ..Options::default()
    })
    .await
    .unwrap();
    let rv0 = server.resource_version();
    let start = std::time::Instant::now();
    let path = format!(
        "/api/v1/namespaces/default/secrets?watch=1&resourceVersion={rv0}&allowWatchBookmarks=true&timeoutSeconds=1"
    );
    let (code, _, body) = raw(&server, "GET", &path, &[], "", Duration::from_secs(5)).await;
    let took = start.elapsed();
    assert_eq!(code, 200);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let evs = lines(&body);
    assert!(evs.len() >= 3, "initial + periodic bookmarks: {body}");
    for e in &evs {
        assert_eq!(e["type"], "BOOKMARK");
        assert_eq!(e["object"]["kind"], "Secret");
        assert_eq!(e["object"]["metadata"]["resourceVersion"], rv0.to_string());
    }
}

#[tokio::test]
async fn selectors_filter_lists_and_watches() {
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let mk = |name: &str, labels: serde_json::Value| -> Secret {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    };
    api.create(
        &PostParams::default(),
        &mk("a", json!({"app": "x", "tier": "web"})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &mk("b", json!({"app": "y"})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &mk("c", json!({})))
        .await
        .unwrap();
    let names = |l: kube::core::ObjectList<Secret>| {
        l.items
            .into_iter()
            .map(|s| s.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let q = |sel: &str| ListParams::default().labels(sel);
    assert_eq!(names(api.list(&q("app=x")).await.unwrap()), ["a"]);
    assert_eq!(names(api.list(&q("app==y")).await.unwrap()), ["b"]);
    assert_eq!(names(api.list(&q("app!=x")).await.unwrap()), ["b", "c"]);
    assert_eq!(
        names(api.list(&q("app in (x,y)")).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(api.list(&q("app notin (x)")).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(names(api.list(&q("tier")).await.unwrap()), ["a"]);
    assert_eq!(names(api.list(&q("!app")).await.unwrap()), ["c"]);
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.namespace=default,metadata.name!=b"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        api.list(&ListParams::default().fields("metadata.namespace=other"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );

    // A watcher with a selector: objects entering the selection are ADDED, leaving are DELETED.
    let rv0 = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = Box::pin(
        api.watch(&WatchParams::default().labels("app=x"), &rv0)
            .await
            .unwrap(),
    );
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"other": "1"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "z"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"more": "1"}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(event_name(
            &next_event(&mut stream, Duration::from_secs(2))
                .await
                .unwrap(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED".into(), "c".into()),
            ("DELETED".into(), "a".into()),
            ("MODIFIED".into(), "c".into())
        ]
    );
    assert!(
        next_event(&mut stream, Duration::from_millis(200))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn compacted_versions_get_410() {
    let server = FakeApiServer::start_with(Options {
        history: 5,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = server.kube_client().await.unwrap();
    let api = secrets(&client);
    let first = api
        .create(&PostParams::default(), &secret("s0", &[]))
        .await
        .unwrap();
    for i in 1..10 {
        api.create(&PostParams::default(), &secret(&format!("s{i}"), &[]))
            .await
            .unwrap();
    }
    // The bounded history no longer reaches back to `first`.
    let path = format!(
        "/api/v1/namespaces/default/secrets?watch=true&resourceVersion={}",
        rv(&first)
    );
    let (code, _, body) = raw(&server, "GET", &path, &[], "", Duration::from_secs(2)).await;
    assert_eq!(code, 200);
    let evs = lines(&body);
    assert_eq!(evs.len(), 1, "{body}");
    let e = &evs[0];
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["apiVersion"], "v1");
    assert_eq!(e["object"]["status"], "Failure");
    assert_eq!(e["object"]["reason"], "Expired");
    assert_eq!(e["object"]["code"], 410);
    let msg = e["object"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("too old resource version: {} (", rv(&first))),
        "{msg}"
    );
    // Recent versions still replay; compact() expires everything older than now.
    let now = server.resource_version();
    let mut s = Box::pin(
        api.watch(&WatchParams::default(), &(now - 1).to_string())
            .await
            .unwrap(),
    );
    assert_eq!(
        event_name(&next_event(&mut s, Duration::from_secs(2)).await.unwrap()),
        ("ADDED".into(), "s9".into())
    );
    server.compact();
    let mut s = Box::pin(
        api.watch(&WatchParams::default(), &(now - 1).to_string())
            .await
            .unwrap(),
    );
    match next_event(&mut s, Duration::from_secs(2)).await.unwrap() {
        WatchEvent::Error(st) => assert_eq!(st.code, 410),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn drop_watches_closes_streams() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    let mut s = Box::pin(
        api.watch(
            &WatchParams::default(),
            &server.resource_version().to_string(),
        )
        .await
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.open_watches(), 1);
    server.drop_watches();
    let end = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(e) = s.next().await {
            if !matches!(e, Ok(WatchEvent::Bookmark(_))) {
                return Some(e);
            }
        }
        None
    })
    .await
    .expect("stream should end");
    assert!(end.is_none());
    assert_eq!(server.open_watches(), 0);
}

#[tokio::test]
async fn runtime_watcher_relists_after_410() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    api.create(&PostParams::default(), &secret("one", &[]))
        .await
        .unwrap();
    let mut w = Box::pin(watcher::watcher(api.clone(), watcher::Config::default()));
    // Initial paginated list.
    let mut init = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(3), w.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Event::Init => {}
            Event::InitApply(s) => init.push(s.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(init, ["one"]);
    assert_eq!(server.count(Verb::List, "secrets"), 1);
    // Make sure the watch is open, then expire history and cut the stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut next = Box::pin(w.next());
    while server.open_watches() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watcher never opened its watch"
        );
        tokio::select! {
            _ = &mut next => panic!("no event expected yet"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    drop(next);
    api.create(&PostParams::default(), &secret("two", &[]))
        .await
        .unwrap();
    // Consume the live event for "two".
    match tokio::time::timeout(Duration::from_secs(3), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        Event::Apply(s) => assert_eq!(s.metadata.name.as_deref(), Some("two")),
        other => panic!("{other:?}"),
    }
    // Changes while the watcher's stream is cut and history is gone.
    server.compact();
    server.drop_watches();
    api.create(&PostParams::default(), &secret("three", &[]))
        .await
        .unwrap();
    server.compact();
    // The watcher re-watches from its bookmark/last version, gets 410, and relists.
    let mut relisted = Vec::new();
    let mut saw_init = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline, w.next())
            .await
            .expect("watcher recovers")
            .unwrap();
        match ev {
            Ok(Event::Init) => saw_init = true,
            Ok(Event::InitApply(s)) => relisted.push(s.metadata.name.unwrap()),
            Ok(Event::InitDone) => break,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {} // the 410 surfaces as an error before the relist
        }
    }
    assert!(saw_init);
    assert_eq!(relisted, ["one", "three", "two"]);
    assert!(server.count(Verb::List, "secrets") >= 2);
    // And it keeps following later changes.
    api.create(&PostParams::default(), &secret("four", &[]))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(3), w.next())
            .await
            .unwrap()
            .unwrap()
        {
            Ok(Event::Apply(s)) => {
                assert_eq!(s.metadata.name.as_deref(), Some("four"));
                break;
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => {}
        }
    }
}

#[tokio::test]
async fn runtime_watcher_streaming_lists() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    api.create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    let mut w = Box::pin(watcher::watcher(
        api.clone(),
        watcher::Config::default().streaming_lists(),
    ));
    let mut init = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(3), w.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Event::Init => {}
            Event::InitApply(s) => init.push(s.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(init, ["a"]);
    assert_eq!(
        server.count(Verb::List, "secrets"),
        0,
        "no list in streaming mode"
    );
    api.delete("a", &Default::default()).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(3), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        Event::Delete(s) => assert_eq!(s.metadata.name.as_deref(), Some("a")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn metadata_only_get_list_watch() {
    use kube::core::PartialObjectMeta;
    use kube::runtime::WatchStreamExt;
    let (_server, client) = setup().await;
    let api = secrets(&client);
    let mut s = secret("m", &[("k", "v")]);
    s.metadata.labels = Some([("app".to_string(), "x".to_string())].into());
    api.create(&PostParams::default(), &s).await.unwrap();
    let pm = api.get_metadata("m").await.unwrap();
    assert_eq!(pm.metadata.labels.unwrap()["app"], "x");
    assert_eq!(pm.types.unwrap().kind, "PartialObjectMetadata");
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let (_, _, body) = raw(
        &_server,
        "GET",
        "/api/v1/namespaces/default/secrets",
        &[(
            "Accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )],
        "",
        Duration::from_secs(2),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "PartialObjectMetadataList");
    assert!(
        v["items"][0].get("data").is_none(),
        "no data in metadata-only lists"
    );
    let mut w = Box::pin(
        watcher::watcher(
            kube::Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), "default"),
            watcher::Config::default().labels("app=x"),
        )
        .applied_objects(),
    );
    let first = tokio::time::timeout(Duration::from_secs(3), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("m"));
    api.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}})),
    )
    .await
    .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(3), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.metadata.annotations.unwrap()["a"], "b");
}
