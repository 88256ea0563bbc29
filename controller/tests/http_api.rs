//! The HTTP API and metrics endpoints, through real listeners.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use sealant_api::{SealedSecret, to_json};
use sealant_crypto::Scope;

#[tokio::test]
async fn health_certs_and_metrics() {
    let (_server, client, ctl) = setup().await;
    let (key, cert) = test_key();
    let (code, _, body) = http(ctl.http_addr, "GET", "/healthz", &[], b"").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, _, _) = http(ctl.http_addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(code, 200);
    let (code, _, body) = http(ctl.http_addr, "GET", "/v1/cert.pem", &[], b"").await;
    assert_eq!(code, 200);
    assert_eq!(body, cert.to_pem());

    // A second, newer key: listed first.
    let (key2, cert2) = new_key();
    put_key(&client, "second", &key2, &cert2).await;
    eventually(5, "two keys", || {
        let keys = ctl.keys.clone();
        async move { (keys.current().keyring.len() == 2).then_some(()) }
    })
    .await;
    let (code, head, body) = http(ctl.http_addr, "GET", "/v1/certs", &[], b"").await;
    assert_eq!(code, 200);
    assert!(head.to_ascii_lowercase().contains("application/json"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = v["certificates"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["keyId"], key2.key_id().as_str());
    assert_eq!(list[0]["newest"], true);
    assert_eq!(list[1]["keyId"], key.key_id().as_str());
    assert!(list[0]["notBefore"].as_str().unwrap().ends_with('Z'));
    assert!(list[0]["notAfter"].is_string());
    let (_, _, body) = http(ctl.http_addr, "GET", "/v1/cert.pem", &[], b"").await;
    assert_eq!(body, cert2.to_pem(), "cert.pem serves the newest");

    // Metrics, with upstream's names.
    create(
        &client,
        &seal(&cert, "app", "m", &[("k", "metric-value")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "m").await;
    let (code, _, body) = http(ctl.metrics_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(code, 200);
    for name in [
        "sealed_secrets_controller_build_info{revision=",
        "sealed_secrets_controller_unseal_requests_total",
        "sealed_secrets_controller_condition_info{namespace=\"app\",name=\"m\",condition=\"Ready\",ss_app_kubernetes_io_instance=\"\"} 1",
        "sealed_secrets_controller_http_requests_total{path=\"/v1/certs\",code=\"200\",method=\"GET\"}",
        "sealed_secrets_controller_http_request_duration_seconds_bucket",
        "sealed_secrets_controller_unseal_duration_seconds_bucket",
    ] {
        assert!(body.contains(name), "missing {name} in\n{body}");
    }
    assert!(body.contains("sealed_secrets_controller_build_info{revision=\"0.1.0\"} 1"));
    assert!(!body.contains("metric-value"));
}

#[tokio::test]
async fn verify_and_rotate() {
    let (_server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    let ss = seal(
        &cert,
        "app",
        "v",
        &[("password", "verify-value")],
        Scope::NamespaceWide,
    );
    let body = to_json(&ss).unwrap();
    let (code, _, resp) = http(ctl.http_addr, "POST", "/v1/verify", &[], body.as_bytes()).await;
    assert_eq!(code, 200, "{resp}");
    assert!(!resp.contains("verify-value"));

    // Wrong name under strict scope: 409 with the diagnosis.
    let strict = seal(
        &cert,
        "app",
        "v",
        &[("password", "verify-value")],
        Scope::Strict,
    );
    let mut moved = strict.clone();
    moved.metadata.name = Some("other".into());
    let (code, _, resp) = http(
        ctl.http_addr,
        "POST",
        "/v1/verify",
        &[("X-Forwarded-For", "10.0.0.2")],
        to_json(&moved).unwrap().as_bytes(),
    )
    .await;
    assert_eq!(code, 409);
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["reason"], "NameOrNamespaceMismatch");

    // Templates are never rendered by verify.
    let mut templated = strict.clone();
    templated.spec.template.data = Some([("x".to_owned(), "{{ .password }}".to_owned())].into());
    let (code, _, resp) = http(
        ctl.http_addr,
        "POST",
        "/v1/verify",
        &[("X-Forwarded-For", "10.0.0.3")],
        to_json(&templated).unwrap().as_bytes(),
    )
    .await;
    assert_eq!(code, 200);
    assert!(!resp.contains("verify-value"));

    // Rotate: a full SealedSecret, same scope, new key id, unseals to the same values.
    let (key2, cert2) = new_key();
    put_key(&client, "newer", &key2, &cert2).await;
    let id2 = key2.key_id().clone();
    eventually(5, "newer key", || {
        let keys = ctl.keys.clone();
        let id2 = id2.clone();
        async move { (keys.current().keyring.newest().unwrap().key_id() == &id2).then_some(()) }
    })
    .await;
    let (code, _, resp) = http(
        ctl.http_addr,
        "POST",
        "/v1/rotate",
        &[("X-Forwarded-For", "10.0.0.4")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{resp}");
    assert!(!resp.contains("verify-value"));
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["apiVersion"], "bitnami.com/v1alpha1");
    assert_eq!(v["kind"], "SealedSecret");
    let rotated: SealedSecret = serde_json::from_value(v).unwrap();
    let ann = rotated.metadata.annotations.clone().unwrap();
    assert_eq!(ann[sealant_api::ANNOTATION_NAMESPACE_WIDE], "true");
    assert_eq!(ann[sealant_api::ANNOTATION_KEY_IDS], key2.key_id().as_str());
    assert_ne!(rotated.spec.encrypted_data, ss.spec.encrypted_data);
    let mut only_new = sealant_crypto::Keyring::new();
    only_new.insert(sealant_crypto::KeyEntry::new(
        key2.clone(),
        Some(cert2.clone()),
    ));
    let out = sealant_api::unseal(&rotated, &only_new, &Default::default()).unwrap();
    assert_eq!(out.secret.data.unwrap()["password"].0, b"verify-value");

    // Scope is never widened: a template claiming cluster-wide does not change the label.
    let mut sneaky = strict.clone();
    sneaky
        .spec
        .template
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(sealant_api::ANNOTATION_CLUSTER_WIDE.into(), "true".into());
    let (code, _, resp) = http(
        ctl.http_addr,
        "POST",
        "/v1/rotate",
        &[("X-Forwarded-For", "10.0.0.5")],
        to_json(&sneaky).unwrap().as_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{resp}");
    let rotated: SealedSecret = serde_json::from_str(&resp).unwrap();
    assert!(
        rotated
            .metadata
            .annotations
            .as_ref()
            .unwrap()
            .get(sealant_api::ANNOTATION_CLUSTER_WIDE)
            .is_none()
    );
    assert!(
        rotated
            .spec
            .template
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| a.get(sealant_api::ANNOTATION_CLUSTER_WIDE).is_none())
    );
    let mut moved = rotated.clone();
    moved.metadata.namespace = Some("elsewhere".into());
    assert!(sealant_api::unseal(&moved, &only_new, &Default::default()).is_err());
}

/// Batch `/v1/rotate`: a `kind: List` in, a `kind: List` out, one result per item in order.
#[tokio::test]
async fn batch_rotate_answers_a_list_item_by_item() {
    let (_server, _client, ctl) = setup().await;
    let (key, cert) = test_key();
    let (_, foreign) = new_key();
    let good = seal(&cert, "app", "a", &[("k", "batch-value")], Scope::Strict);
    let other = seal(&foreign, "app", "b", &[("k", "x")], Scope::Strict);
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            serde_json::to_value(&good).unwrap(),
            serde_json::to_value(&other).unwrap(),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}},
            serde_json::to_value(&good).unwrap(),
        ],
    });
    // YAML too: a block List whose items are flow mappings.
    let yaml: String = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .fold("apiVersion: v1\nkind: List\nitems:\n".to_owned(), |y, i| {
            y + &format!("- {i}\n")
        });
    for body in [serde_json::to_string(&list).unwrap(), yaml.clone()] {
        let (code, head, resp) = http(
            ctl.http_addr,
            "POST",
            "/v1/rotate",
            &[("X-Forwarded-For", "10.3.0.1")],
            body.as_bytes(),
        )
        .await;
        assert_eq!(code, 200, "{resp}");
        assert!(head.to_ascii_lowercase().contains("application/json"));
        assert!(!resp.contains("batch-value"));
        let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
        assert_eq!(
            (v["apiVersion"].as_str(), v["kind"].as_str()),
            (Some("v1"), Some("List"))
        );
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        for i in [0, 3] {
            assert_eq!(items[i]["kind"], "SealedSecret");
            assert_eq!(items[i]["apiVersion"], "bitnami.com/v1alpha1");
            let rotated: SealedSecret = serde_json::from_value(items[i].clone()).unwrap();
            let mut ring = sealant_crypto::Keyring::new();
            ring.insert(sealant_crypto::KeyEntry::new(
                key.clone(),
                Some(cert.clone()),
            ));
            let out = sealant_api::unseal(&rotated, &ring, &Default::default()).unwrap();
            assert_eq!(out.secret.data.unwrap()["k"].0, b"batch-value");
        }
        for (i, reason, code) in [(1, "UnknownKey", 409), (2, "InvalidInput", 400)] {
            let s = &items[i];
            assert_eq!(
                (s["apiVersion"].as_str(), s["kind"].as_str()),
                (Some("v1"), Some("Status"))
            );
            assert_eq!(s["status"], "Failure");
            assert_eq!(s["reason"], reason, "{s}");
            assert_eq!(s["code"], code);
            assert!(s["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    // At most 100 items: more is 413 with a JSON error, and nothing is re-sealed.
    let many = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": vec![serde_json::to_value(&good).unwrap(); 101],
    });
    let (code, _, resp) = http(
        ctl.http_addr,
        "POST",
        "/v1/rotate",
        &[("X-Forwarded-For", "10.3.0.2")],
        serde_json::to_string(&many).unwrap().as_bytes(),
    )
    .await;
    assert_eq!(code, 413, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["reason"], "TooManyItems");
    // A List next to another document is no batch.
    let two = format!("{yaml}---\n{}", sealant_api::to_yaml(&good).unwrap());
    let (code, _, _) = http(
        ctl.http_addr,
        "POST",
        "/v1/rotate",
        &[("X-Forwarded-For", "10.3.0.3")],
        two.as_bytes(),
    )
    .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn bad_bodies_and_limits() {
    let (_server, _client, ctl) = setup().await;
    let cases: [(&[u8], u16); 5] = [
        (b"not: [yaml", 400),
        (b"apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n", 400),
        (b"{}", 400),
        (b"a: 1\n---\nb: 2\n", 400),
        (&[0xff, 0xfe, 0x00], 400),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let ip = format!("10.1.0.{i}");
        let (code, _, resp) = http(
            ctl.http_addr,
            "POST",
            "/v1/verify",
            &[("X-Forwarded-For", &ip)],
            body,
        )
        .await;
        assert_eq!(code, *want, "case {i}: {resp}");
        let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "case {i}: {resp}"
        );
    }
    // Too large: 413.
    let big = vec![b'a'; 3 * 1024 * 1024];
    let (code, _, _) = http(
        ctl.http_addr,
        "POST",
        "/v1/rotate",
        &[("X-Forwarded-For", "10.2.0.1")],
        &big,
    )
    .await;
    assert_eq!(code, 413);
}

#[tokio::test]
async fn slow_request_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let ctl = controller(&client, &["--read-timeout=200ms", "--write-timeout=100ms"]).await;
    let mut s = tokio::net::TcpStream::connect(ctl.http_addr).await.unwrap();
    // Announce a body and never send it.
    s.write_all(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn unknown_paths_do_not_create_metric_series() {
    let (_server, _client, ctl) = setup().await;
    let (code, _, _) = http(ctl.http_addr, "GET", "/v1/random-123", &[], b"").await;
    assert_eq!(code, 404);
    let (_, _, body) = http(ctl.metrics_addr, "GET", "/metrics", &[], b"").await;
    assert!(!body.contains("random-123"));
    assert!(body.contains("path=\"other\",code=\"404\""), "{body}");
}
