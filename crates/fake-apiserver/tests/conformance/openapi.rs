//! OpenAPI v2/v3 documents and server-side field validation, with the real kubectl and no
//! extra flags: `apply`/`create -f` validate by default, `explain` reads the documents.

use serde_json::{Value, json};

use crate::cli::Cluster;

const SEALED_SECRET: &str = r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret",
"metadata":{"name":"db","namespace":"default"},"spec":{"encryptedData":{"password":"AgA="}}}"#;

fn install_crd(c: &Cluster) {
    let out = c.ok(&["apply", "-f", "-"], Some(&sealant_api::crd_yaml()));
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/sealedsecrets.bitnami.com created"
    );
}

#[test]
fn kubectl_apply_and_create_validate_against_the_servers_openapi() {
    let c = Cluster::start();
    install_crd(&c);
    assert_eq!(
        c.ok(&["create", "-f", "-"], Some(SEALED_SECRET)).trim(),
        "sealedsecret.bitnami.com/db created"
    );
    let applied = SEALED_SECRET.replace("AgA=", "AgB=");
    assert_eq!(
        c.ok(&["apply", "-f", "-"], Some(&applied)).trim(),
        "sealedsecret.bitnami.com/db configured"
    );
    // Strict by default: an unknown field fails with the real server's message, for a create
    // (400) and for the patch `apply` sends for an existing object (422 with the patched object).
    let bad = SEALED_SECRET.replace("\"spec\":{", "\"spec\":{\"bogus\":1,");
    let err = c.fails(
        &["apply", "-f", "-"],
        Some(&bad.replace("\"db\"", "\"db2\"")),
    );
    assert!(
        err.contains(
            "SealedSecret in version \"v1alpha1\" cannot be handled as a SealedSecret: strict decoding error: unknown field \"spec.bogus\""
        ),
        "{err}"
    );
    let err = c.fails(&["apply", "-f", "-"], Some(&bad));
    assert!(
        err.contains("error when patching \"STDIN\":  \"\" is invalid: patch: Invalid value: \"{"),
        "{err}"
    );
    assert!(
        err.ends_with("strict decoding error: unknown field \"spec.bogus\"\n"),
        "{err}"
    );
    // Built-in kinds too (Go's strict decoding), including unknown metadata fields.
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  colour: red\ndata:\n  a: b\n";
    let err = c.fails(&["create", "-f", "-"], Some(cm));
    assert!(
        err.contains("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.colour\""),
        "{err}"
    );
    // The user's documented ways out: warn (kubectl prints the server's warning) or ignore.
    let o = c.kubectl(&["create", "--validate=warn", "-f", "-"], Some(cm));
    assert!(o.status.success());
    let warn = String::from_utf8_lossy(&o.stderr);
    assert!(
        warn.contains("Warning: unknown field \"metadata.colour\""),
        "{warn}"
    );
    let got = c.get_json(&["configmap", "c"]);
    assert!(got["metadata"].get("colour").is_none(), "{got}");
    assert_eq!(got["data"]["a"], "b");
}

#[test]
fn explain_reads_v3_and_v2_documents() {
    let c = Cluster::start();
    install_crd(&c);
    let out = c.ok(&["explain", "sealedsecret.spec.encryptedData"], None);
    assert!(out.contains("KIND:       SealedSecret"), "{out}");
    assert!(
        out.contains("FIELD: encryptedData <map[string]string>"),
        "{out}"
    );
    assert!(out.contains("The sealed values"), "{out}");
    let out = c.ok(&["explain", "secret.data"], None);
    assert!(out.contains("FIELD: data <map[string]string>"), "{out}");
    // The protobuf OpenAPI v2 document, decoded by kubectl itself.
    let out = c.ok(
        &[
            "explain",
            "configmaps.binaryData",
            "--output=plaintext-openapiv2",
        ],
        None,
    );
    assert!(out.contains("binaryData <map[string]string>"), "{out}");
    let out = c.ok(
        &[
            "explain",
            "sealedsecrets.spec",
            "--output=plaintext-openapiv2",
        ],
        None,
    );
    assert!(
        out.contains("encryptedData\t<map[string]string> -required-"),
        "{out}"
    );
}

#[test]
fn documents_are_served_as_clients_ask() {
    let c = Cluster::start();
    install_crd(&c);
    let (code, _, index) = c.json("GET", "/openapi/v3", "", "");
    assert_eq!(code, 200);
    let url = index["paths"]["apis/bitnami.com/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("/openapi/v3/apis/bitnami.com/v1alpha1?hash="),
        "{url}"
    );
    assert!(index["paths"]["api/v1"].is_object());
    let (code, _, doc) = c.json("GET", &url, "", "");
    assert_eq!(code, 200);
    let schema = &doc["components"]["schemas"]["com.bitnami.v1alpha1.SealedSecret"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"],
        json!([{"group": "bitnami.com", "kind": "SealedSecret", "version": "v1alpha1"}])
    );
    assert_eq!(
        schema["properties"]["status"]["default"],
        json!({"observedGeneration": -1})
    );
    // What kubectl checks before leaving validation to the server.
    let patch = &doc["paths"]["/apis/bitnami.com/v1alpha1/namespaces/{namespace}/sealedsecrets/{name}"]
        ["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "SealedSecret"
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
        "{patch}"
    );
    assert_eq!(c.json("GET", "/openapi/v3/apis/nope.io/v1", "", "").0, 404);
    let (code, _, v2) = c.json("GET", "/openapi/v2", "", "");
    assert_eq!(code, 200);
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.core.v1.Secret"].is_object());
    assert!(v2["definitions"]["com.bitnami.v1alpha1.SealedSecret"].is_object());
    // The protobuf form starts with gnostic's `swagger` field; anything else is 406.
    let (code, headers, body) = c.http(
        "GET",
        "/openapi/v2",
        &[(
            "Accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )],
        b"",
    );
    assert_eq!(code, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains("protobuf"))
    );
    assert_eq!(&body[..5], b"\x0a\x032.0");
    let (code, _, body) = c.http("GET", "/openapi/v2", &[("Accept", "text/html")], b"");
    assert_eq!(code, 406);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["reason"], "NotAcceptable");
}

#[test]
fn field_validation_directives_for_unknown_and_duplicate_fields() {
    let c = Cluster::start();
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","name":"d"},"data":{"a":"1","a":"2"},"extra":true}"#;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, _, status) = c.json(
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        "application/json",
        body,
    );
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"metadata.name\", duplicate field \"data.a\", unknown field \"extra\""
    );
    // Warn (also the default without the parameter): one Warning header each, stored anyway,
    // the last duplicate winning.
    let (code, warnings, created) = c.json("POST", path, "application/json", body);
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        warnings,
        [
            "299 - \"duplicate field \\\"metadata.name\\\"\"",
            "299 - \"duplicate field \\\"data.a\\\"\"",
            "299 - \"unknown field \\\"extra\\\"\"",
        ]
    );
    assert_eq!(created["data"]["a"], "2");
    assert!(created.get("extra").is_none());
    let (code, warnings, _) = c.json(
        "PUT",
        &format!("{path}/d?fieldValidation=Ignore"),
        "application/json",
        body,
    );
    assert_eq!(code, 200);
    assert!(warnings.is_empty());
    // A strict merge patch fails with 422 and the patched object, as the real server answers.
    let (code, _, status) = c.json(
        "PATCH",
        &format!("{path}/d?fieldValidation=Strict"),
        "application/merge-patch+json",
        r#"{"spec":{"x":1}}"#,
    );
    assert_eq!(code, 422, "{status}");
    let msg = status["message"].as_str().unwrap();
    assert!(
        msg.starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
        "{msg}"
    );
    assert!(
        msg.ends_with("strict decoding error: unknown field \"spec\""),
        "{msg}"
    );
    // Server-side apply declares every field: an undeclared one fails whatever the directive.
    let (code, _, status) = c.json(
        "PATCH",
        &format!("{path}/d?fieldManager=m"),
        "application/apply-patch+yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\nnope: 1\n",
    );
    assert_eq!(code, 500, "{status}");
    assert_eq!(
        status["message"],
        "failed to create typed patch object (default/d; /v1, Kind=ConfigMap): .nope: field not declared in schema"
    );
    let (code, _, status) = c.json(
        "POST",
        &format!("{path}?fieldValidation=strict"),
        "application/json",
        body,
    );
    assert_eq!(code, 422);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("fieldValidation: Unsupported value: \"strict\""),
        "{status}"
    );
}
