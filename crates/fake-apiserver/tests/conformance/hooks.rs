//! Counters, fault injection, service proxy and the admin HTTP endpoints.

use std::time::Duration;

use fake_apiserver::{Delay, Fault, Verb};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

#[tokio::test]
async fn counts_per_verb_and_resource() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    server.reset_counts();
    api.create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    api.get("a").await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
    )
    .await
    .unwrap();
    api.delete("a", &Default::default()).await.unwrap();
    let c = server.counts();
    for v in [
        Verb::Create,
        Verb::Get,
        Verb::List,
        Verb::Patch,
        Verb::Delete,
    ] {
        assert_eq!(c.get(&(v, "secrets".to_string())), Some(&1), "{v}");
    }
    assert_eq!(server.write_count(), 3);
    server.reset_counts();
    assert!(server.counts().is_empty());
    let (_, _, body) = raw(
        &server,
        "GET",
        "/fake/counts",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(body, "[]");
}

#[tokio::test]
async fn faults_fail_the_next_matching_requests() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    api.create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    // (500: kube's client retries 429/503/504 by itself.)
    server.inject_fault(Fault::new(Some(Verb::Get), Some("secrets"), 500, 2));
    // Non-matching requests pass.
    api.list(&ListParams::default()).await.unwrap();
    for _ in 0..2 {
        let e = api_err(api.get("a").await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    }
    api.get("a").await.unwrap();
    assert_eq!(server.count(Verb::Get, "secrets"), 3);
    // Custom reason through the admin endpoint; status writes are their own resource.
    let (code, _, _) = raw(
        &server,
        "POST",
        "/fake/faults",
        &[],
        r#"{"verb":"update","resource":"secrets","code":500,"reason":"InternalError","count":1}"#,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 200);
    let s = api.get("a").await.unwrap();
    let e = api_err(
        api.replace("a", &PostParams::default(), &s)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    api.replace("a", &PostParams::default(), &s).await.unwrap();
    // A wildcard fault and clearing.
    server.inject_fault(Fault::new(None, None, 403, 100));
    let e = api_err(api.get("a").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    // The retried 503 is absorbed by kube's retry policy: the fault is consumed, the call succeeds.
    server.clear_faults();
    server.inject_fault(Fault::new(Some(Verb::Get), Some("secrets"), 503, 1));
    api.get("a").await.unwrap();
    server.inject_fault(Fault::new(None, None, 403, 100));
    server.clear_faults();
    api.get("a").await.unwrap();
}

#[tokio::test]
async fn faults_and_delays_can_target_the_later_pages_of_a_list() {
    let (server, client) = setup().await;
    let api = secrets(&client);
    for i in 0..5 {
        api.create(&PostParams::default(), &secret(&format!("s{i}"), &[]))
            .await
            .unwrap();
    }
    let first = ListParams::default().limit(2);
    server.inject_fault(Fault::new(Some(Verb::List), Some("secrets"), 500, 1).continued());
    // A first page (and a get) passes; the fault waits for a continued page.
    let page = api.list(&first).await.unwrap();
    api.get("s0").await.unwrap();
    let token = page.metadata.continue_.clone().unwrap();
    let e = api_err(
        api.list(&first.clone().continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    // Consumed: the same page now arrives.
    let again = api
        .list(&first.clone().continue_token(&token))
        .await
        .unwrap();
    assert_eq!(again.items.len(), 2);

    server.inject_delay(Delay::new(Some(Verb::List), Some("secrets"), 400, 1).continued());
    let started = std::time::Instant::now();
    let page = api.list(&first).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "first page held"
    );
    let token = page.metadata.continue_.clone().unwrap();
    let started = std::time::Instant::now();
    api.list(&first.clone().continue_token(&token))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "later page not held"
    );
    let started = std::time::Instant::now();
    api.list(&first.clone().continue_token(&token))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "held more than count"
    );

    // The admin endpoint takes the same JSON; DELETE /fake/faults clears delays too.
    let (code, _, _) = raw(
        &server,
        "POST",
        "/fake/delays",
        &[],
        r#"{"verb":"get","resource":"secrets","millis":5000,"count":1}"#,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 200);
    server.clear_faults();
    let started = std::time::Instant::now();
    api.get("s0").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "cleared delay held"
    );
}

async fn backend() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = req.lines().next().unwrap_or("").to_string();
                let body = format!("backend saw: {line}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn service_proxy_forwards() {
    let (server, client) = setup().await;
    let addr = backend().await;
    server.add_proxy("kube-system", "sealed-secrets-controller", addr);
    for (svc, path) in [
        ("sealed-secrets-controller", "/v1/cert.pem"),
        ("http:sealed-secrets-controller:", "/v1/cert.pem?x=1"),
        ("http:sealed-secrets-controller:http", "/v1/verify"),
    ] {
        let (code, head, body) = raw(
            &server,
            "POST",
            &format!("/api/v1/namespaces/kube-system/services/{svc}/proxy{path}"),
            &[],
            "payload",
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(code, 200, "{svc}: {body}");
        assert!(
            head.contains("x-backend: yes") || head.contains("X-Backend: yes"),
            "{head}"
        );
        assert_eq!(body, format!("backend saw: POST {path} HTTP/1.1"));
    }
    // Through kube's client as `sealant` would do it.
    let req = http::Request::get(
        "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem",
    )
    .body(Vec::new())
    .unwrap();
    let text = client.request_text(req).await.unwrap();
    assert_eq!(text, "backend saw: GET /v1/cert.pem HTTP/1.1");
    // Unknown services are 404; a dead target is 503.
    let (code, _, body) = raw(
        &server,
        "GET",
        "/api/v1/namespaces/default/services/nope/proxy/",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 404, "{body}");
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    server.add_proxy("default", "dead", dead);
    let (code, _, body) = raw(
        &server,
        "GET",
        "/api/v1/namespaces/default/services/dead/proxy/",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 503, "{body}");
}

#[tokio::test]
async fn admin_endpoints() {
    let (server, client) = setup().await;
    let api: Api<Secret> = secrets(&client);
    let s = api
        .create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &secret("b", &[]))
        .await
        .unwrap();
    let (code, _, _) = raw(
        &server,
        "POST",
        "/fake/compact",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 200);
    let path = format!(
        "/api/v1/namespaces/default/secrets?watch=true&resourceVersion={}",
        rv(&s)
    );
    let (_, _, body) = raw(&server, "GET", &path, &[], "", Duration::from_secs(2)).await;
    assert!(body.contains("\"Expired\""), "{body}");
    let (code, _, _) = raw(
        &server,
        "POST",
        "/fake/drop-watches",
        &[],
        "",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(server.open_watches(), 0);
}
