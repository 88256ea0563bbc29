//! Output layout (YAML/JSON) and YAML round trips of awkward values.

mod common;

use common::*;
use proptest::prelude::*;
use sealant_api::{
    Format, SealOptions, SecretTemplateSpec, parse_documents, render, seal_secret,
    sealed_secret_from_value, secret_from_value, secret_to_json, secret_to_yaml, to_json, to_yaml,
};

static SAMPLE: std::sync::LazyLock<sealant_api::SealedSecret> = std::sync::LazyLock::new(|| {
    let (_key, cert) = key_and_cert(1);
    seal_secret(&webapp_secret(), &cert, &SealOptions::default()).expect("seal")
});

fn sample() -> sealant_api::SealedSecret {
    SAMPLE.clone()
}

#[test]
fn json_uses_kubeseal_key_order() {
    let mut ss = sample();
    ss.spec.template.immutable = Some(true);
    let json = to_json(&ss).expect("json");
    assert!(json.ends_with("}\n"));
    assert!(json.starts_with("{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n  \"metadata\": {\n    \"name\": \"webapp\",\n    \"namespace\": \"prod\",\n    \"creationTimestamp\": null,\n    \"annotations\": {"), "{json}");
    let pos = |needle: &str| {
        json.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing in {json}"))
    };
    assert!(pos("\"spec\"") < pos("\"template\""));
    assert!(pos("\"template\"") < pos("\"encryptedData\""));
    assert!(pos("\"type\": \"Opaque\"") < pos("\"immutable\": true"));
    assert!(pos("\"password\"") < pos("\"settings.ini\""));
    assert!(pos("\"settings.ini\"") < pos("\"username\""));
    // Template metadata: name, namespace, creationTimestamp, labels, annotations.
    let t = &json[pos("\"template\"")..];
    let tp = |needle: &str| t.find(needle).unwrap_or(usize::MAX);
    assert!(tp("\"name\"") < tp("\"creationTimestamp\""));
    assert!(tp("\"creationTimestamp\"") < tp("\"labels\""));
    assert!(tp("\"labels\"") < tp("\"annotations\""));
    let back = sealed_secret_from_value(&parse_documents(&json).expect("parse")[0]).expect("read");
    assert_eq!(back, ss);
}

#[test]
fn json_escapes_html_like_go() {
    let mut ss = sample();
    ss.spec.template.metadata.annotations = Some(map(&[("note", "a<b>&c\u{2028}")]));
    let json = to_json(&ss).expect("json");
    assert!(
        json.contains(r#""note": "a\u003cb\u003e\u0026c\u2028""#),
        "{json}"
    );
    let back = sealed_secret_from_value(&parse_documents(&json).expect("parse")[0]).expect("read");
    assert_eq!(back, ss);
}

#[test]
fn yaml_is_stable_and_round_trips() {
    let ss = sample();
    let a = to_yaml(&ss).expect("yaml");
    assert_eq!(a, to_yaml(&ss).expect("again"));
    assert!(
        a.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n")
    );
    assert_eq!(a.matches("creationTimestamp: null").count(), 2);
    let back = sealed_secret_from_value(&parse_documents(&a).expect("parse")[0]).expect("read");
    assert_eq!(back, ss);
    assert_eq!(render(&ss, Format::Yaml).expect("render"), a);
    assert_eq!("YAML".parse::<Format>().expect("fmt"), Format::Yaml);
    assert_eq!(
        "xml".parse::<Format>().expect_err("xml").to_string(),
        "unsupported output format: xml"
    );
}

#[test]
fn secret_output_round_trips() {
    let secret = webapp_secret();
    for text in [
        secret_to_yaml(&secret).expect("yaml"),
        secret_to_json(&secret).expect("json"),
    ] {
        let back = secret_from_value(&parse_documents(&text).expect("parse")[0]).expect("read");
        assert_eq!(back.data, secret.data);
        assert_eq!(back.metadata.labels, secret.metadata.labels);
        assert_eq!(back.type_, secret.type_);
    }
    let yaml = secret_to_yaml(&secret).expect("yaml");
    assert!(
        yaml.contains("apiVersion: v1\n") && yaml.contains("kind: Secret\n"),
        "{yaml}"
    );
}

const AWKWARD: &[&str] = &[
    "a: b",
    "#not a comment",
    " leading",
    "trailing ",
    "true",
    "no",
    "y",
    "~",
    "null",
    "123",
    "0x1F",
    "1e3",
    "-",
    "- x",
    "? x",
    "[x]",
    "{x}",
    "*alias",
    "&anchor",
    "!tag",
    "%dir",
    "@at",
    "`tick",
    "'single'",
    "\"double\"",
    "multi\nline\n",
    "tab\there",
    "",
    "---",
    "...",
    "2024-01-01",
    "é ünïcode ✓",
    "back\\slash",
    "ctrl\u{1}char",
    "{{ index . \"x\" }}",
];

#[test]
fn yaml_round_trips_awkward_values() {
    let mut ss = sample();
    ss.spec.template = SecretTemplateSpec {
        data: Some(
            AWKWARD
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("k{i}"), (*v).to_owned()))
                .collect(),
        ),
        ..ss.spec.template.clone()
    };
    ss.spec.template.metadata.annotations = Some(
        AWKWARD
            .iter()
            .map(|v| (format!("x/{}", v.len()), (*v).to_owned()))
            .collect(),
    );
    let yaml = to_yaml(&ss).expect("yaml");
    let back = sealed_secret_from_value(&parse_documents(&yaml).expect("parse")[0]).expect("read");
    assert_eq!(back, ss, "{yaml}");
}

proptest! {
    #[test]
    fn yaml_round_trips_any_string(value in "\\PC{0,40}", key in "[a-z0-9./_-]{1,20}") {
        let mut ss = sample();
        ss.spec.template.metadata.labels = Some(map(&[(&key, &value)]));
        ss.spec.template.data = Some(map(&[(&key, &value)]));
        let yaml = to_yaml(&ss).expect("yaml");
        let back = sealed_secret_from_value(&parse_documents(&yaml).expect("parse")[0]).expect("read");
        prop_assert_eq!(back, ss);
    }
}
