//! The generated CRD matches upstream's schema; key Secrets are read and written.

mod common;

use common::*;
use sealant_api::{
    LABEL_SEALED_SECRETS_KEY, crd, crd_yaml, key_secret, keyring_from_documents, secret_to_yaml,
};
use serde_json::Value;

#[test]
fn crd_identity_and_schema() {
    let crd = crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("sealedsecrets.bitnami.com")
    );
    let spec = &crd.spec;
    assert_eq!(spec.group, "bitnami.com");
    assert_eq!(spec.scope, "Namespaced");
    assert_eq!(spec.names.kind, "SealedSecret");
    assert_eq!(spec.names.plural, "sealedsecrets");
    assert_eq!(spec.names.list_kind.as_deref(), Some("SealedSecretList"));
    let version = &spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<(String, String)> = version
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.json_path))
        .collect();
    assert_eq!(
        columns,
        vec![
            (
                "Status".into(),
                r#".status.conditions[?(@.type=="Synced")].message"#.into()
            ),
            (
                "Synced".into(),
                r#".status.conditions[?(@.type=="Synced")].status"#.into()
            ),
            ("Age".into(), ".metadata.creationTimestamp".into()),
        ]
    );

    let schema = serde_json::to_value(
        version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .expect("json");
    let required = |v: &Value| -> Vec<String> {
        v["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(required(&schema).contains(&"spec".to_owned()), "{schema:#}");
    let spec = &schema["properties"]["spec"];
    assert!(
        required(spec).contains(&"encryptedData".to_owned()),
        "{spec:#}"
    );
    let ed = &spec["properties"]["encryptedData"];
    assert_eq!(ed["type"], "object");
    assert_eq!(ed["additionalProperties"]["type"], "string");
    assert_eq!(ed["x-kubernetes-preserve-unknown-fields"], true);
    let tmeta = &spec["properties"]["template"]["properties"]["metadata"];
    assert_eq!(tmeta["nullable"], true);
    assert_eq!(tmeta["x-kubernetes-preserve-unknown-fields"], true);
    for p in ["name", "namespace", "labels", "annotations", "finalizers"] {
        assert!(
            tmeta["properties"].get(p).is_some(),
            "template.metadata.{p}"
        );
    }
    let tdata = &spec["properties"]["template"]["properties"]["data"];
    assert_eq!(tdata["nullable"], true);
    assert_eq!(tdata["additionalProperties"]["type"], "string");
    assert_eq!(
        spec["properties"]["template"]["properties"]["type"]["type"],
        "string"
    );
    assert_eq!(
        spec["properties"]["template"]["properties"]["immutable"]["type"],
        "boolean"
    );
    assert_eq!(spec["properties"]["data"]["format"], "byte");
    let cond = &schema["properties"]["status"]["properties"]["conditions"]["items"];
    let mut req = required(cond);
    req.sort();
    assert_eq!(req, vec!["status".to_owned(), "type".to_owned()]);
    assert_eq!(
        cond["properties"]["lastTransitionTime"]["format"],
        "date-time"
    );

    // The one API-server default: an absent status reads as not yet observed (kstatus).
    let mut without_status_default = schema.clone();
    assert_eq!(
        without_status_default["properties"]["status"]
            .as_object_mut()
            .and_then(|s| s.remove("default")),
        Some(serde_json::json!({"observedGeneration": -1}))
    );
    assert!(
        !without_status_default.to_string().contains("\"default\""),
        "serde defaults must not become API-server defaults"
    );

    let yaml = crd_yaml();
    assert!(
        yaml.starts_with(
            "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        ),
        "{yaml}"
    );
    let back = sealant_api::parse_documents(&yaml).expect("parse crd yaml");
    assert_eq!(back[0], serde_json::to_value(&crd).expect("json"));
}

#[test]
fn key_secret_shape_and_reading_back() {
    let (key, cert) = key_and_cert(1);
    let secret = key_secret(&key, &cert, "kube-system", "sealed-secrets-key");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key")
    );
    assert_eq!(secret.metadata.namespace.as_deref(), Some("kube-system"));
    assert_eq!(
        secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SEALED_SECRETS_KEY))
            .map(String::as_str),
        Some("active")
    );
    let data = data_of(&secret);
    assert!(data["tls.key"].starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    assert!(data["tls.crt"].starts_with(b"-----BEGIN CERTIFICATE-----"));

    // A Secret, a List of Secrets, a multi-doc stream, and PEM all load.
    let yaml = secret_to_yaml(&secret).expect("yaml");
    let ring = keyring_from_documents(&yaml).expect("secret");
    assert_eq!(ring.len(), 1);
    assert!(ring.newest().and_then(|e| e.cert.as_ref()).is_some());

    let (key2, cert2) = key_and_cert(2);
    let second = key_secret(&key2, &cert2, "kube-system", "sealed-secrets-key");
    let stream = format!("{yaml}{}", secret_to_yaml(&second).expect("yaml"));
    assert_eq!(keyring_from_documents(&stream).expect("stream").len(), 2);
    let list = serde_json::json!({
        "apiVersion": "v1", "kind": "List",
        "items": [serde_json::to_value(&secret).expect("v"), serde_json::to_value(&second).expect("v")]
    });
    let ring = keyring_from_documents(&list.to_string()).expect("list");
    assert_eq!(ring.len(), 2);
    assert_eq!(ring.newest().map(|e| e.key_id()), Some(key.key_id()));

    let pem = format!("{}{}", &*key.to_pkcs1_pem(), cert.to_pem());
    let ring = keyring_from_documents(&pem).expect("pem");
    assert_eq!(ring.len(), 1);
    assert!(
        ring.newest().and_then(|e| e.cert.as_ref()).is_some(),
        "cert paired by key id"
    );
    let ring = keyring_from_documents(VECTOR_KEY).expect("vector pem");
    assert_eq!(ring.len(), 1);
    let pkcs8 = include_str!("../../../testdata/vectors/key-2048-pkcs8.pem");
    let both = format!("{VECTOR_KEY}\n{pkcs8}");
    assert_eq!(
        keyring_from_documents(&both).expect("two pem keys").len(),
        2
    );

    let sd = "kind: Secret\nmetadata: {name: k}\nstringData:\n  tls.key: |\n".to_owned()
        + &key
            .to_pkcs1_pem()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>();
    assert_eq!(keyring_from_documents(&sd).expect("stringData").len(), 1);
}

#[test]
fn key_file_errors_name_the_document() {
    let err = keyring_from_documents("kind: Secret\nmetadata: {name: a}\ndata: {}\n---\n")
        .expect_err("no tls.key");
    assert!(
        err.to_string()
            .starts_with("document 1: data: secret must contain a 'tls.key' key"),
        "{err}"
    );
    let err = keyring_from_documents("").expect_err("empty");
    assert!(err.to_string().contains("no private keys found"), "{err}");
    let err = keyring_from_documents("kind: Secret\ndata:\n  tls.key: bm90IGEga2V5\n")
        .expect_err("garbage");
    assert!(
        err.to_string()
            .starts_with("document 1: data.tls.key: invalid private key"),
        "{err}"
    );
    let err = keyring_from_documents(VECTOR_CERT).expect_err("cert only");
    assert!(err.to_string().contains("no private keys found"), "{err}");
}
