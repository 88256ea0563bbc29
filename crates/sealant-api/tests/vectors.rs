//! The shared interoperability vectors: a SealedSecret made by another implementation.

mod common;

use common::*;
use sealant_api::{
    ANNOTATION_KEY_IDS, ANNOTATION_SEALED_FOR, Certificate, SealOptions, UnsealOptions,
    parse_stream, seal_secret, sealed_secret_from_value, to_yaml, unseal,
};
use sealant_crypto::KeyEntry;

fn vector_keyring() -> sealant_api::Keyring {
    let mut ring = sealant_api::Keyring::new();
    let key = sealant_api::PrivateKey::from_pem(VECTOR_KEY.as_bytes()).expect("key");
    ring.insert(KeyEntry::new(key, None));
    ring
}

#[test]
fn vector_unseals_to_expected_secret() {
    let docs = parse_stream(VECTOR_SEALED).expect("parse vector");
    assert_eq!(docs.len(), 1);
    let ss = docs[0].to_sealed_secret().expect("sealed secret");
    let out = unseal(&ss, &vector_keyring(), &UnsealOptions::default()).expect("unseal");

    let expected_docs = parse_stream(VECTOR_EXPECTED).expect("parse expected");
    let expected = expected_docs[0].to_secret().expect("expected secret");

    let got = &out.secret;
    assert_eq!(got.metadata.name, expected.metadata.name);
    assert_eq!(got.metadata.namespace, expected.metadata.namespace);
    assert_eq!(got.metadata.labels, expected.metadata.labels);
    assert_eq!(got.metadata.annotations, expected.metadata.annotations);
    assert_eq!(got.type_, expected.type_);
    assert_eq!(data_of(got), data_of(&expected));
    assert_eq!(out.rsa_ops, 3, "one private-key operation per item");

    let owner = &got.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(owner.api_version, "bitnami.com/v1alpha1");
    assert_eq!(owner.kind, "SealedSecret");
    assert_eq!(owner.name, "webapp");
    assert_eq!(owner.controller, Some(true));
}

/// Lines of `text` that do not carry ciphertext or sealant's key-id annotation.
fn shape_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        // sealant adds `metadata.annotations: {sealant.dev/key-ids: …, sealant.dev/sealed-for: …}`
        // at the top level.
        if line == "  annotations:"
            && lines
                .peek()
                .is_some_and(|l| l.trim_start().starts_with(ANNOTATION_KEY_IDS))
        {
            lines.next();
            if lines
                .peek()
                .is_some_and(|l| l.trim_start().starts_with(ANNOTATION_SEALED_FOR))
            {
                lines.next();
            }
            continue;
        }
        let trimmed = line.trim_start();
        let ciphertext = ["password: ", "settings.ini: ", "username: "]
            .iter()
            .any(|p| trimmed.starts_with(p) && line.starts_with("    "))
            && trimmed.contains(": Ag");
        if ciphertext {
            out.push(line.split(": Ag").next().unwrap_or_default().to_owned() + ": <ciphertext>");
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

#[test]
fn sealing_the_vector_input_reproduces_its_layout() {
    let cert = Certificate::from_pem(VECTOR_CERT.as_bytes()).expect("cert");
    let ss = seal_secret(&webapp_secret(), &cert, &SealOptions::default()).expect("seal");
    let yaml = to_yaml(&ss).expect("yaml");
    assert_eq!(
        shape_lines(&yaml),
        shape_lines(VECTOR_SEALED),
        "got:\n{yaml}"
    );
    // The only extra lines are the key-id and sealed-for annotations.
    let extra = yaml.lines().count() - VECTOR_SEALED.lines().count();
    assert_eq!(extra, 3, "got:\n{yaml}");
    assert!(yaml.contains(&format!(
        "  annotations:\n    {ANNOTATION_KEY_IDS}: {}\n    {ANNOTATION_SEALED_FOR}: {}\n",
        cert.key_id(),
        sealant_api::sealed_for(sealant_api::Scope::Strict, "prod", "webapp")
    )));
    // Each ciphertext is one unquoted line.
    for line in yaml.lines().filter(|l| l.contains(": Ag")) {
        assert!(!line.contains('"') && !line.contains('\''), "{line}");
    }

    // And it unseals with the vector key to the same values.
    let back = sealed_secret_from_value(&sealant_api::parse_documents(&yaml).expect("parse")[0])
        .expect("read back");
    let mut ring = sealant_api::Keyring::new();
    ring.insert(KeyEntry::new(
        sealant_api::PrivateKey::from_pem(VECTOR_KEY.as_bytes()).expect("key"),
        None,
    ));
    let out = unseal(&back, &ring, &UnsealOptions::default()).expect("unseal");
    assert_eq!(data_of(&out.secret), data_of(&webapp_secret()));
}
