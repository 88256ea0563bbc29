//! Reading YAML/JSON streams: documents, lists, errors with positions, limits.

use proptest::prelude::*;
use sealant_api::{
    Error, MAX_INPUT_BYTES, MAX_STRING_BYTES, parse_documents, parse_stream,
    sealed_secret_from_value, secret_from_value,
};

const SECRET_A: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\ndata:\n  k: dg==\n";

#[test]
fn multi_document_yaml_skips_empty_documents() {
    let input = format!(
        "# leading comment\n---\n{SECRET_A}---\n---\n# just a comment\n---\nkind: Secret\nmetadata:\n  name: b\nstringData:\n  x: why\n...\n"
    );
    let docs = parse_stream(&input).expect("parse");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].number, 1);
    assert_eq!(
        docs[1].number, 4,
        "empty documents still count for numbering"
    );
    let b = docs[1].to_secret().expect("secret b");
    assert_eq!(b.string_data.expect("stringData")["x"], "why");
    assert!(parse_documents("").expect("empty").is_empty());
    assert!(
        parse_documents("---\n---\n")
            .expect("only markers")
            .is_empty()
    );
}

#[test]
fn json_stream_of_concatenated_objects() {
    let input = r#"{"kind":"Secret","metadata":{"name":"a"},"data":{"k":"dg=="}}
{"kind":"Secret","metadata":{"name":"b"},"stringData":{"k":"v"}}{"kind":"Secret","metadata":{"name":"c"}}"#;
    let docs = parse_stream(input).expect("parse");
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[2].number, 3);
    let a = docs[0].to_secret().expect("a");
    assert_eq!(a.data.expect("data")["k"].0, b"v");

    let err = parse_stream(r#"{"kind":"Secret"} {"kind": "Secret", oops}"#).expect_err("bad");
    assert!(
        err.to_string().starts_with("document 2: not valid JSON"),
        "{err}"
    );
    // A YAML flow mapping is not mistaken for broken JSON.
    let docs = parse_documents("{kind: Secret, metadata: {name: a}}").expect("flow yaml");
    assert_eq!(docs[0]["kind"], "Secret");
}

#[test]
fn lists_are_expanded() {
    let input = "apiVersion: v1\nkind: List\nitems:\n- kind: Secret\n  metadata: {name: a}\n  data: {k: dg==}\n- kind: Secret\n  metadata: {name: b}\n  data: {k: '%%%'}\n";
    let docs = parse_stream(input).expect("parse");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].list_item, Some(1));
    let err = docs[1].to_secret().expect_err("bad base64");
    let text = err.to_string();
    assert!(
        text.starts_with("document 1: items[1].data.k: invalid base64"),
        "{text}"
    );
    let input = r#"{"kind":"SecretList","items":[{"kind":"Secret","metadata":{"name":"a"}}]}"#;
    assert_eq!(parse_documents(input).expect("SecretList").len(), 1);
}

#[test]
fn bad_yaml_names_document_and_absolute_line() {
    let input = format!("{SECRET_A}---\n{SECRET_A}---\nkind: Secret\nmetadata:\n  name: [broken\n");
    let err = parse_stream(&input).expect_err("bad yaml");
    let text = err.to_string();
    assert!(text.starts_with("document 3: not valid YAML:"), "{text}");
    assert!(text.contains("line 1"), "line numbers are absolute: {text}");
    assert!(matches!(
        err,
        Error::Document {
            document: Some(3),
            ..
        }
    ));

    let err = parse_stream("just a string\n").expect_err("scalar");
    assert!(
        err.to_string().contains("expected a Kubernetes object"),
        "{err}"
    );
}

#[test]
fn yaml_errors_do_not_echo_values() {
    let err =
        parse_stream("stringData:\n  password: hunter2-secret\n  bad: [x\n").expect_err("bad");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn secret_kind_and_fields_are_checked() {
    let docs = parse_stream("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: a}\nspec: {encryptedData: {}}\n").expect("parse");
    let err = docs[0]
        .to_secret()
        .expect_err("sealed secret is not a secret");
    assert!(
        err.to_string()
            .contains("document 1: kind: this is a SealedSecret, which is already sealed"),
        "{err}"
    );
    let docs = parse_stream("kind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n").expect("parse");
    assert!(
        docs[0]
            .to_secret()
            .expect_err("configmap")
            .to_string()
            .contains("only Secrets can be sealed")
    );

    // Missing kind is tolerated; stringData non-strings are an error naming the field.
    let docs = parse_documents("metadata: {name: a}\nstringData: {n: 5}\n").expect("parse");
    let err = secret_from_value(&docs[0]).expect_err("number");
    assert_eq!(
        err.to_string(),
        "stringData.n: expected a string, found a number (quote the value in YAML)"
    );

    // YAML 1.1 booleans are booleans (as upstream's decoder): the error says to quote them.
    let docs = parse_documents("stringData: {enabled: yes}\n").expect("parse");
    assert!(
        secret_from_value(&docs[0])
            .expect_err("bool")
            .to_string()
            .contains("found a boolean (quote the value")
    );

    // creationTimestamp: null, absent or a time; Go-style base64 with line breaks.
    for ts in ["null", "\"2024-05-01T10:00:00Z\"", "garbage"] {
        let input = format!(
            "kind: Secret\nmetadata:\n  name: a\n  creationTimestamp: {ts}\ndata:\n  k: \"dm\\r\\nFs\"\n"
        );
        let s = secret_from_value(&parse_documents(&input).expect("parse")[0]).expect(ts);
        assert_eq!(s.data.expect("data")["k"].0, b"val");
    }
    // Key names with dots or odd characters are quoted in paths.
    let err = secret_from_value(&parse_documents("data:\n  'a b': '!!'\n").expect("p")[0])
        .expect_err("x");
    assert!(
        err.to_string().starts_with(r#"data."a b": invalid base64"#),
        "{err}"
    );
}

#[test]
fn sealed_secret_requires_api_version_and_kind_and_is_lenient() {
    let err = sealed_secret_from_value(&serde_json::json!({"kind": "SealedSecret", "spec": {}}))
        .expect_err("no apiVersion");
    assert!(
        err.to_string()
            .contains("apiVersion bitnami.com/v1alpha1 and kind SealedSecret are required"),
        "{err}"
    );
    let err = sealed_secret_from_value(&serde_json::json!({"apiVersion": "v1", "kind": "Secret"}))
        .expect_err("plain secret");
    assert!(
        err.to_string()
            .contains("not a SealedSecret: seal it first"),
        "{err}"
    );
    let err = sealed_secret_from_value(
        &serde_json::json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret"}),
    )
    .expect_err("no spec");
    assert_eq!(err.to_string(), "spec: missing (it is required)");

    let ss = sealed_secret_from_value(&serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "a", "namespace": "n", "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {
            "encryptedData": {"ok": "AgA=", "num": 5, "nul": null, "list": []},
            "template": {"metadata": null}
        },
        "status": {"conditions": [{"type": "Synced", "status": "True", "lastUpdateTime": "2024-05-01T10:00:00Z"}], "observedGeneration": 2}
    }))
    .expect("lenient");
    assert_eq!(
        ss.spec.encrypted_data.len(),
        1,
        "non-string values are dropped"
    );
    assert_eq!(ss.status.expect("status").observed_generation, Some(2));
}

#[test]
fn size_limits() {
    let big = "a".repeat(MAX_INPUT_BYTES + 1);
    assert!(matches!(
        parse_stream(&big),
        Err(Error::InputTooLarge { .. })
    ));
    let input = format!(
        "kind: Secret\nmetadata: {{name: a}}\nstringData:\n  blob: {}\n",
        "x".repeat(MAX_STRING_BYTES + 1)
    );
    let err = parse_stream(&input).expect_err("value too big");
    assert!(
        err.to_string()
            .starts_with("document 1: stringData.blob: value is"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_documents_never_panics(input in ".{0,400}") {
        let _ = parse_documents(&input);
    }

    #[test]
    fn parse_documents_never_panics_on_yamlish(input in "([-a-z:{}\\[\\]#'\" \\n\\t.,&*!|>%@]){0,300}") {
        if let Ok(docs) = parse_documents(&input) {
            for d in docs {
                let _ = secret_from_value(&d);
                let _ = sealed_secret_from_value(&d);
            }
        }
    }
}
