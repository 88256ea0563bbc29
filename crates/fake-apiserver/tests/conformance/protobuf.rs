//! Protobuf bodies: kubectl's typed generators send `application/vnd.kubernetes.protobuf`,
//! clients that ask for protobuf get it, and what is not supported is 415/406 as on a real
//! server.

use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::Value;

use crate::cli::{Cluster, table};

#[test]
fn kubectl_typed_create_commands_work() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&["create", "namespace", "prod"], None).trim(),
        "namespace/prod created"
    );
    let dir = c.dir.path();
    let file = dir.join("ca.txt");
    std::fs::write(&file, "line one\n").unwrap();
    let from_file = format!("--from-file=ca.txt={}", file.display());
    for (args, expect) in [
        (
            vec![
                "create",
                "secret",
                "generic",
                "db",
                "-n",
                "prod",
                "--from-literal=password=hunter2",
                from_file.as_str(),
            ],
            "secret/db created",
        ),
        (
            vec![
                "create",
                "secret",
                "docker-registry",
                "reg",
                "-n",
                "prod",
                "--docker-server=r.example",
                "--docker-username=u",
                "--docker-password=p",
            ],
            "secret/reg created",
        ),
        (
            vec![
                "create",
                "configmap",
                "settings",
                "-n",
                "prod",
                "--from-literal=mode=fast",
            ],
            "configmap/settings created",
        ),
        (
            vec!["create", "serviceaccount", "robot", "-n", "prod"],
            "serviceaccount/robot created",
        ),
        (
            vec![
                "create",
                "service",
                "clusterip",
                "web",
                "-n",
                "prod",
                "--tcp=80:8080",
            ],
            "service/web created",
        ),
    ] {
        assert_eq!(c.ok(&args, None).trim(), expect, "{args:?}");
    }
    let db = c.get_json(&["secret", "db", "-n", "prod"]);
    assert_eq!(db["data"]["password"], "aHVudGVyMg==");
    assert_eq!(db["data"]["ca.txt"], "bGluZSBvbmUK");
    assert_eq!(db["type"], "Opaque");
    let reg = c.get_json(&["secret", "reg", "-n", "prod"]);
    assert_eq!(reg["type"], "kubernetes.io/dockerconfigjson");
    assert!(reg["data"][".dockerconfigjson"].is_string());
    assert_eq!(
        c.get_json(&["configmap", "settings", "-n", "prod"])["data"]["mode"],
        "fast"
    );
    let web = c.get_json(&["service", "web", "-n", "prod"]);
    assert_eq!(web["spec"]["ports"][0]["port"], 80);
    assert_eq!(web["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(web["spec"]["selector"]["app"], "web");
    let rows = table(&c.ok(&["get", "services", "-n", "prod"], None));
    assert_eq!(
        rows[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(
        rows[1][..5],
        ["web", "ClusterIP", "<none>", "<none>", "80/TCP"]
    );
    // `create secret tls` reads PEM files.
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(
        &crt,
        include_str!("../../../../testdata/vectors/cert-2048.pem"),
    )
    .unwrap();
    std::fs::write(
        &key,
        include_str!("../../../../testdata/vectors/key-2048-pkcs8.pem"),
    )
    .unwrap();
    let cert_arg = format!("--cert={}", crt.display());
    let key_arg = format!("--key={}", key.display());
    assert_eq!(
        c.ok(
            &[
                "create", "secret", "tls", "web-tls", "-n", "prod", &cert_arg, &key_arg
            ],
            None
        )
        .trim(),
        "secret/web-tls created"
    );
    assert_eq!(
        c.get_json(&["secret", "web-tls", "-n", "prod"])["type"],
        "kubernetes.io/tls"
    );
    // A second create is refused by the server, as on a real one.
    let err = c.fails(&["create", "namespace", "prod"], None);
    assert!(err.contains("namespaces \"prod\" already exists"), "{err}");
}

fn proto_request(c: &Cluster, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let (code, headers, body) = c.http(
        method,
        path,
        &[
            ("Content-Type", "application/vnd.kubernetes.protobuf"),
            (
                "Accept",
                "application/vnd.kubernetes.protobuf, application/json",
            ),
        ],
        body,
    );
    let ctype = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (code, ctype, body)
}

fn unwrap_envelope(body: &[u8]) -> Unknown {
    let rest = body.strip_prefix(b"k8s\0").expect("protobuf magic");
    Unknown::decode(rest).unwrap()
}

#[test]
fn protobuf_requests_and_responses_use_the_envelope() {
    let c = Cluster::start();
    let secret = core::Secret {
        metadata: Some(k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("p".into()),
            ..Default::default()
        }),
        string_data: [("k".to_string(), "v".to_string())].into(),
        ..Default::default()
    };
    let env = Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
        }),
        raw: Some(secret.encode_to_vec()),
        ..Default::default()
    };
    let mut body = b"k8s\0".to_vec();
    env.encode(&mut body).unwrap();
    let (code, ctype, resp) =
        proto_request(&c, "POST", "/api/v1/namespaces/default/secrets", &body);
    assert_eq!(code, 201);
    assert_eq!(ctype, "application/vnd.kubernetes.protobuf");
    let back = unwrap_envelope(&resp);
    assert_eq!(back.type_meta.unwrap().kind.as_deref(), Some("Secret"));
    let stored = core::Secret::decode(back.raw.unwrap().as_slice()).unwrap();
    assert_eq!(stored.data.get("k").map(Vec::as_slice), Some(&b"v"[..]));
    assert!(stored.string_data.is_empty());
    assert_eq!(stored.r#type.as_deref(), Some("Opaque"));
    let meta = stored.metadata.unwrap();
    assert!(meta.uid.is_some_and(|u| u.len() == 36));
    assert!(
        meta.creation_timestamp
            .and_then(|t| t.seconds)
            .is_some_and(|s| s > 1_600_000_000)
    );

    // Lists come back as `<Kind>List`.
    let (code, _, resp) = proto_request(&c, "GET", "/api/v1/namespaces/default/secrets", b"");
    assert_eq!(code, 200);
    let list = unwrap_envelope(&resp);
    assert_eq!(list.type_meta.unwrap().kind.as_deref(), Some("SecretList"));
    let list = core::SecretList::decode(list.raw.unwrap().as_slice()).unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.unwrap().resource_version.is_some());

    // Custom resources have no protobuf form: 415 for the body, JSON when also accepted.
    let crd = serde_json::to_string(&sealant_api::crd()).unwrap();
    c.ok(&["apply", "-f", "-"], Some(&crd));
    let (code, ctype, resp) = proto_request(
        &c,
        "POST",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        &body,
    );
    assert_eq!(code, 415);
    assert_eq!(ctype, "application/json");
    let status: Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "UnsupportedMediaType");
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
    );
    let (code, ctype, _) = proto_request(
        &c,
        "GET",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        b"",
    );
    assert_eq!((code, ctype.as_str()), (200, "application/json"));
    let (code, _, body) = c.http(
        "GET",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        &[("Accept", "application/vnd.kubernetes.protobuf")],
        b"",
    );
    assert_eq!(code, 406, "{}", String::from_utf8_lossy(&body));
    // Nor a strategic merge patch.
    let (code, _, body) = c.http(
        "PATCH",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets/x",
        &[("Content-Type", "application/strategic-merge-patch+json")],
        b"{}",
    );
    assert_eq!(code, 415);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
    // A body the server cannot read at all.
    let (code, _, body) = c.http(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    assert_eq!(code, 415);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    // Garbage after the magic is a 400, not a crash.
    let (code, _, _) = proto_request(
        &c,
        "POST",
        "/api/v1/namespaces/default/secrets",
        b"k8s\0\xff\xff\xff",
    );
    assert_eq!(code, 400);
}
