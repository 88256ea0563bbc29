//! Known-answer tests against `testdata/vectors/` (values from Go's stdlib and Python `cryptography`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use sealant_crypto::{Certificate, Error, KeyEntry, Keyring, PrivateKey, decode_value, unseal};

fn vector(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn hybrid() -> serde_json::Value {
    serde_json::from_slice(&vector("hybrid.json")).unwrap()
}

fn str_field<'a>(v: &'a serde_json::Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} missing"))
}

#[test]
fn every_vector_item_unseals_with_its_key_and_label() {
    let doc = hybrid();
    let items = doc["items"].as_array().unwrap();
    assert!(items.len() >= 20, "expected the full vector set");
    let mut producers = std::collections::BTreeSet::new();
    for item in items {
        let key = PrivateKey::from_pem(&vector(str_field(item, "key"))).unwrap();
        let sealed = decode_value(str_field(item, "sealed_b64")).unwrap();
        let expected = decode_value(str_field(item, "plaintext_b64")).unwrap();
        let label = str_field(item, "label").as_bytes();
        let scope: sealant_crypto::Scope = str_field(item, "scope").parse().unwrap();
        assert_eq!(
            scope.label(str_field(item, "namespace"), str_field(item, "name")),
            label,
            "scope label rule disagrees with the vector"
        );
        let opened = unseal(&key, &sealed, label).unwrap_or_else(|e| {
            panic!(
                "{} {}: {e}",
                str_field(item, "producer"),
                str_field(item, "name")
            )
        });
        assert_eq!(&opened[..], &expected[..]);
        producers.insert(str_field(item, "producer").to_owned());
    }
    assert_eq!(
        producers.len(),
        2,
        "vectors come from two independent producers"
    );
}

#[test]
fn every_must_fail_item_fails_under_its_wrong_label() {
    let doc = hybrid();
    let items = doc["must_fail"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        let key = PrivateKey::from_pem(&vector(str_field(item, "key"))).unwrap();
        let sealed = decode_value(str_field(item, "sealed_b64")).unwrap();
        let err = unseal(&key, &sealed, str_field(item, "wrong_label").as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::WrongKeyOrLabel),
            "{}: got {err}",
            str_field(item, "why")
        );
    }
}

#[test]
fn key_ids_of_vector_keys_and_certs_agree() {
    for (key, cert) in [
        ("key-4096.pem", "cert-4096.pem"),
        ("key-2048-pkcs8.pem", "cert-2048.pem"),
    ] {
        let key = PrivateKey::from_pem(&vector(key)).unwrap();
        let cert = Certificate::from_pem(&vector(cert)).unwrap();
        assert_eq!(key.key_id(), cert.key_id());
        assert_eq!(key.public_key().spki_der(), cert.public_key().spki_der());
    }
    let k4 = PrivateKey::from_pem(&vector("key-4096.pem")).unwrap();
    let k2 = PrivateKey::from_pem(&vector("key-2048-pkcs8.pem")).unwrap();
    assert_eq!((k4.bits(), k2.bits()), (4096, 2048));
    assert_ne!(k4.key_id(), k2.key_id());
}

#[test]
fn vector_cert_metadata() {
    let cert = Certificate::from_pem(&vector("cert-4096.pem")).unwrap();
    assert_eq!(cert.subject(), "CN=sealant-test-vectors");
    assert_eq!(cert.public_key().bits(), 4096);
    assert!(cert.not_after() > cert.not_before());
    cert.check_not_expired(cert.not_before()).unwrap();
    let late = cert.not_after() + time::Duration::seconds(1);
    assert!(matches!(
        cert.check_not_expired(late),
        Err(Error::CertExpired { .. })
    ));
}

#[test]
fn pkcs1_round_trip_preserves_the_key() {
    let key = PrivateKey::from_pem(&vector("key-2048-pkcs8.pem")).unwrap();
    let pkcs1 = key.to_pkcs1_pem();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let again = PrivateKey::from_pem(pkcs1.as_bytes()).unwrap();
    assert_eq!(again.key_id(), key.key_id());
}

#[test]
fn pem_output_matches_go_byte_for_byte() {
    // Go's pem.Encode: LF line endings, 64-column lines. The vector cert was written that way.
    let pem = vector("cert-4096.pem");
    let cert = Certificate::from_pem(&pem).unwrap();
    assert_eq!(cert.to_pem().as_bytes(), pem.as_slice());
    let key = PrivateKey::from_pem(&vector("key-2048-pkcs8.pem")).unwrap();
    assert!(!key.to_pkcs1_pem().contains('\r'));
}

#[test]
fn a_keyring_finds_the_right_vector_key_without_hints() {
    let mut ring = Keyring::new();
    for (key, cert) in [
        ("key-2048-pkcs8.pem", "cert-2048.pem"),
        ("key-4096.pem", "cert-4096.pem"),
    ] {
        let key = PrivateKey::from_pem(&vector(key)).unwrap();
        let cert = Certificate::from_pem(&vector(cert)).unwrap();
        assert!(ring.insert(KeyEntry::new(key, Some(cert))));
    }
    let doc = hybrid();
    for item in doc["items"].as_array().unwrap() {
        let sealed = decode_value(str_field(item, "sealed_b64")).unwrap();
        let out = ring
            .unseal(&sealed, str_field(item, "label").as_bytes(), &[])
            .unwrap();
        // The other key has a different modulus size, so it costs no private-key operation.
        assert_eq!(out.rsa_ops, 1);
    }
}

#[test]
fn key_and_cert_parsing_errors_are_specific() {
    let cert_pem = vector("cert-4096.pem");
    let key_pem = vector("key-4096.pem");
    let err = Certificate::from_pem(&key_pem).unwrap_err().to_string();
    assert!(err.contains("private key, not a certificate"), "{err}");
    let err = PrivateKey::from_pem(&cert_pem).unwrap_err().to_string();
    assert!(
        err.contains("certificate where a private key was expected"),
        "{err}"
    );
    let err = Certificate::from_pem(b"hello").unwrap_err().to_string();
    assert!(err.contains("no PEM CERTIFICATE"), "{err}");
    // A truncated certificate body is malformed DER.
    let der = Certificate::from_pem(&cert_pem).unwrap().der().to_vec();
    let body = sealant_crypto::encode_value(&der[..300]);
    let truncated = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
    let err = Certificate::from_pem(truncated.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("malformed X.509"), "{err}");
    let other = PrivateKey::from_pem(&vector("key-2048-pkcs8.pem")).unwrap();
    let err = sealant_crypto::parse_key_pair(other.to_pkcs1_pem().as_bytes(), Some(&cert_pem))
        .unwrap_err();
    assert!(matches!(err, Error::KeyCertMismatch { .. }));
}
