//! The key manager: generation, bring-your-own keys, runtime changes, bad key Secrets.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use sealant_api::LABEL_SEALED_SECRETS_KEY;
use sealant_crypto::{Certificate, PrivateKey, Scope};

#[tokio::test]
async fn generates_a_key_in_upstream_shape_when_none() {
    let (_server, client) = server().await;
    let ctl = controller(&client, &[]).await;
    let keys = key_secrets(&client).await;
    assert_eq!(keys.len(), 1);
    let s = &keys[0];
    assert!(
        s.metadata
            .name
            .as_ref()
            .unwrap()
            .starts_with("sealed-secrets-key")
    );
    assert_eq!(
        s.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key")
    );
    assert_eq!(
        s.metadata.labels.as_ref().unwrap()[LABEL_SEALED_SECRETS_KEY],
        "active"
    );
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = s.data.as_ref().unwrap();
    assert!(String::from_utf8_lossy(&data["tls.key"].0).contains("BEGIN RSA PRIVATE KEY"));
    let crt = String::from_utf8(data["tls.crt"].0.clone()).unwrap();
    assert_eq!(ctl.keys.current().keyring.len(), 1);

    // /v1/cert.pem serves it.
    let (code, head, body) = http(ctl.http_addr, "GET", "/v1/cert.pem", &[], b"").await;
    assert_eq!(code, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-pem-file")
    );
    assert_eq!(body, crt);

    // A restarted controller reuses it (no second key).
    ctl.shutdown().await;
    let ctl = controller(&client, &[]).await;
    assert_eq!(key_secrets(&client).await.len(), 1);
    assert_eq!(ctl.keys.current().keyring.len(), 1);
}

#[tokio::test]
async fn byo_pkcs8_key_is_used_and_nothing_generated() {
    let (_server, client) = server().await;
    let key = PrivateKey::from_pem(VECTOR_KEY_2048_PKCS8.as_bytes()).unwrap();
    let cert = Certificate::from_pem(VECTOR_CERT_2048.as_bytes()).unwrap();
    // Store the PKCS#8 PEM as-is (as a user would with `kubectl create secret tls`).
    let s = Secret {
        metadata: ObjectMeta {
            name: Some("my-key".into()),
            namespace: Some(KEY_NS.into()),
            labels: Some(BTreeMap::from([(
                LABEL_SEALED_SECRETS_KEY.into(),
                "active".into(),
            )])),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            (
                "tls.key".into(),
                ByteString(VECTOR_KEY_2048_PKCS8.as_bytes().to_vec()),
            ),
            (
                "tls.crt".into(),
                ByteString(VECTOR_CERT_2048.as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    secret_api(&client, KEY_NS)
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let ctl = controller(&client, &[]).await;
    assert_eq!(key_secrets(&client).await.len(), 1, "no key generated");
    let current = ctl.keys.current();
    assert_eq!(current.keyring.newest().unwrap().key_id(), key.key_id());
    create(
        &client,
        &seal(&cert, "app", "byo", &[("k", "byo-value")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "byo").await;
    assert_eq!(
        item(&secret_where(&client, "app", "byo", |_| true).await, "k"),
        "byo-value"
    );
}

#[tokio::test]
async fn bad_key_secret_is_reported_and_skipped() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "good", &key, &cert).await;
    let bad = Secret {
        metadata: ObjectMeta {
            name: Some("broken".into()),
            namespace: Some(KEY_NS.into()),
            labels: Some(BTreeMap::from([(
                LABEL_SEALED_SECRETS_KEY.into(),
                "active".into(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "tls.key".into(),
            ByteString(
                b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"
                    .to_vec(),
            ),
        )])),
        ..Default::default()
    };
    secret_api(&client, KEY_NS)
        .create(&PostParams::default(), &bad)
        .await
        .unwrap();
    let ctl = controller(&client, &[]).await;
    assert_eq!(ctl.keys.current().keyring.len(), 1);
    let evs = await_events(&client, "broken", "ErrInvalidKey").await;
    assert_eq!(evs[0].type_.as_deref(), Some("Warning"));
    assert!(evs[0].note.as_ref().unwrap().contains("key Secret skipped"));
}

#[tokio::test]
async fn runtime_key_changes_compromised_and_added() {
    let (_server, client) = server().await;
    let (key_a, cert_a) = test_key();
    let (key_b, cert_b) = new_key();
    put_key(&client, "key-a", &key_a, &cert_a).await;
    let ctl = controller(&client, &[]).await;
    create(
        &client,
        &seal(
            &cert_a,
            "app",
            "before",
            &[("k", "before-value")],
            Scope::Strict,
        ),
    )
    .await;
    ready(&client, "app", "before").await;

    // Sealed with a key the cluster does not have yet: Stalled until the key is added.
    create(
        &client,
        &seal(
            &cert_b,
            "app",
            "later",
            &[("k", "later-value")],
            Scope::Strict,
        ),
    )
    .await;
    stalled(&client, "app", "later").await;
    put_key(&client, "key-b", &key_b, &cert_b).await;
    ready(&client, "app", "later").await;
    assert_eq!(ctl.keys.current().keyring.len(), 2);

    // Key A is compromised: relabelled at runtime. It is no longer served or used for sealing,
    // but what was sealed with it keeps unsealing, and each such object is flagged.
    secret_api(&client, KEY_NS)
        .patch(
            "key-a",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {LABEL_SEALED_SECRETS_KEY: "compromised"}}})),
        )
        .await
        .unwrap();
    eventually(5, "key A retired", || {
        let keys = ctl.keys.clone();
        async move {
            let k = keys.current();
            (k.keyring.len() == 1 && k.opening.len() == 2 && k.compromised.len() == 1).then_some(())
        }
    })
    .await;
    let id_a = cert_a.key_id().as_str().to_owned();
    let id_b = cert_b.key_id().as_str().to_owned();
    assert_eq!(
        ctl.keys
            .current()
            .keyring
            .newest()
            .unwrap()
            .key_id()
            .as_str(),
        id_b
    );

    // Already unsealed before the relabelling: still Ready, its Secret untouched, and flagged.
    let flagged = |ss: &sealant_api::SealedSecret| {
        condition(ss, "KeyCompromised").is_some_and(|c| c.status == "True")
            && condition(ss, "Ready").is_some_and(|c| {
                c.status == "True" && c.reason.as_deref() == Some("UnsealedWithCompromisedKey")
            })
    };
    let before = eventually(10, "before flagged", || {
        let api = ss_api(&client, "app");
        async move { api.get("before").await.ok().filter(|ss| flagged(ss)) }
    })
    .await;
    let synced = condition(&before, "Synced").unwrap();
    assert!(
        synced.message.as_deref().unwrap().contains(&id_a),
        "{synced:?}"
    );
    await_events(&client, "before", "UnsealedWithCompromisedKey").await;
    assert_eq!(
        item(
            &secret_api(&client, "app").get("before").await.unwrap(),
            "k"
        ),
        "before-value"
    );
    // Sealed with key B: not flagged.
    let later = ss_api(&client, "app").get("later").await.unwrap();
    assert!(condition(&later, "KeyCompromised").is_none(), "{later:?}");

    // Sealed with key A after the relabelling: unsealed (applications keep working), flagged.
    create(
        &client,
        &seal(
            &cert_a,
            "app",
            "after",
            &[("k", "after-value")],
            Scope::Strict,
        ),
    )
    .await;
    eventually(10, "after flagged", || {
        let api = ss_api(&client, "app");
        async move { api.get("after").await.ok().filter(|ss| flagged(ss)) }
    })
    .await;
    assert_eq!(
        item(&secret_api(&client, "app").get("after").await.unwrap(), "k"),
        "after-value"
    );

    // The metric lists exactly the flagged objects and the key.
    let listed = |body: &str| -> Vec<String> {
        let mut v: Vec<String> = body
            .lines()
            .filter(|l| l.starts_with("sealant_sealed_with_compromised_key{"))
            .map(|l| {
                assert!(l.contains(&format!("key_id=\"{id_a}\"")), "{l}");
                l.split("name=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        v.sort();
        v
    };
    let (_, _, body) = http(ctl.metrics_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(listed(&body), ["after", "before"], "{body}");
    assert!(body.contains("sealant_compromised_keys 1"), "{body}");

    // Never served: the certificate endpoints know only key B.
    let (_, _, pem) = http(ctl.http_addr, "GET", "/v1/cert.pem", &[], b"").await;
    assert_eq!(pem.trim(), cert_b.to_pem().trim());
    let (_, _, certs) = http(ctl.http_addr, "GET", "/v1/certs", &[], b"").await;
    assert!(!certs.contains(&id_a) && certs.contains(&id_b), "{certs}");

    // Rotate opens it and re-seals with key B; applied, the flag goes away.
    let sealed_a = ss_api(&client, "app").get("before").await.unwrap();
    let body = serde_json::to_vec(&sealed_a).unwrap();
    let (code, _, out) = http(ctl.http_addr, "POST", "/v1/rotate", &[], &body).await;
    assert_eq!(code, 200, "{out}");
    let resealed: sealant_api::SealedSecret = serde_json::from_str(&out).unwrap();
    assert_eq!(
        resealed.metadata.annotations.as_ref().unwrap()[sealant_api::ANNOTATION_KEY_IDS],
        id_b
    );
    let mut current = ss_api(&client, "app").get("before").await.unwrap();
    current.spec = resealed.spec;
    ss_api(&client, "app")
        .replace("before", &PostParams::default(), &current)
        .await
        .unwrap();
    eventually(10, "before no longer flagged", || {
        let api = ss_api(&client, "app");
        async move {
            let ss = api.get("before").await.ok()?;
            (condition(&ss, "KeyCompromised").is_none()
                && condition(&ss, "Ready")
                    .is_some_and(|c| c.status == "True" && c.reason.as_deref() == Some("Unsealed")))
            .then_some(())
        }
    })
    .await;
    let (_, _, body) = http(ctl.metrics_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(listed(&body), ["after"], "{body}");

    // Across a restart the flag holds: objects are decrypted while a key is compromised.
    ctl.shutdown().await;
    let ctl = controller(&client, &[]).await;
    let body = eventually(10, "flag after restart", || {
        let addr = ctl.metrics_addr;
        async move {
            let (_, _, body) = http(addr, "GET", "/metrics", &[], b"").await;
            body.contains("sealant_sealed_with_compromised_key{")
                .then_some(body)
        }
    })
    .await;
    assert_eq!(listed(&body), ["after"], "{body}");
    assert!(flagged(&ss_api(&client, "app").get("after").await.unwrap()));
    assert_no_plaintext(&client, &["before-value", "later-value", "after-value"]).await;
    ctl.shutdown().await;
}

#[tokio::test]
async fn requested_renewal_and_cutoff_add_keys() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "old", &key, &cert).await;
    // The cutoff is after the existing key's notBefore: a key is generated at startup.
    let cutoff = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    let ctl = controller(&client, &["--key-cutoff-time", &cutoff]).await;
    assert_eq!(ctl.keys.current().keyring.len(), 2);
    assert_ne!(
        ctl.keys.current().keyring.newest().unwrap().key_id(),
        key.key_id()
    );

    // SIGUSR1 (request_new_key) adds one more; none is deleted.
    ctl.request_new_key();
    eventually(20, "third key", || {
        let keys = ctl.keys.clone();
        async move { (keys.current().keyring.len() == 3).then_some(()) }
    })
    .await;
    assert_eq!(key_secrets(&client).await.len(), 3);
}

#[tokio::test]
async fn renew_period_generates_keys() {
    let (_server, client) = server().await;
    let (key, cert) = new_key();
    put_key(&client, "fresh", &key, &cert).await;
    let ctl = controller(&client, &["--key-renew-period", "2s"]).await;
    assert_eq!(ctl.keys.current().keyring.len(), 1);
    eventually(15, "renewed key", || {
        let keys = ctl.keys.clone();
        async move { (keys.current().keyring.len() >= 2).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn empty_keyring_at_runtime_gets_a_new_key() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "byo-key", &key, &cert).await;
    let ctl = controller(&client, &[]).await;
    let first = ctl
        .keys
        .current()
        .keyring
        .newest()
        .unwrap()
        .key_id()
        .clone();
    assert_eq!(key_secrets(&client).await.len(), 1);

    // Relabelled: the only key is no longer active, so the leader makes a new one.
    let patch =
        serde_json::json!({"metadata": {"labels": {LABEL_SEALED_SECRETS_KEY: "compromised"}}});
    secret_api(&client, KEY_NS)
        .patch("byo-key", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let second = eventually(20, "a new key after relabelling", || {
        let keys = ctl.keys.clone();
        let first = first.clone();
        async move {
            let state = keys.current();
            let id = state.keyring.newest()?.key_id().clone();
            (id != first && state.keyring.len() == 1).then_some(id)
        }
    })
    .await;
    let active: Vec<String> = key_secrets(&client)
        .await
        .into_iter()
        .filter(|s| s.metadata.labels.as_ref().unwrap()[LABEL_SEALED_SECRETS_KEY] == "active")
        .map(|s| s.metadata.name.unwrap())
        .collect();
    assert_eq!(active.len(), 1, "{active:?}");
    assert!(active[0].starts_with("sealed-secrets-key"), "{active:?}");

    // Deleted: again a new key, exactly one.
    secret_api(&client, KEY_NS)
        .delete(&active[0], &Default::default())
        .await
        .unwrap();
    eventually(20, "a new key after deletion", || {
        let keys = ctl.keys.clone();
        let second = second.clone();
        async move {
            let state = keys.current();
            let id = state.keyring.newest()?.key_id().clone();
            (id != second && state.keyring.len() == 1).then_some(())
        }
    })
    .await;
    // Give a duplicate generation the chance to show up, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let active = key_secrets(&client)
        .await
        .into_iter()
        .filter(|s| s.metadata.labels.as_ref().unwrap()[LABEL_SEALED_SECRETS_KEY] == "active")
        .count();
    assert_eq!(active, 1);
    assert_eq!(ctl.keys.current().keyring.len(), 1);
    ctl.shutdown().await;
}
