//! Shared test helpers.
#![allow(dead_code, missing_docs)]

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealant_api::{Certificate, Keyring, PrivateKey};
use sealant_crypto::{CertOptions, KeyEntry};
use time::OffsetDateTime;

pub const VECTOR_SEALED: &str =
    include_str!("../../../../testdata/vectors/sealedsecret-strict.yaml");
pub const VECTOR_EXPECTED: &str = include_str!("../../../../testdata/vectors/secret-expected.yaml");
pub const VECTOR_KEY: &str = include_str!("../../../../testdata/vectors/key-4096.pem");
pub const VECTOR_CERT: &str = include_str!("../../../../testdata/vectors/cert-4096.pem");

/// A fresh 2048-bit key and a certificate whose notBefore is `age_days` days in the past.
pub fn key_and_cert(age_days: i64) -> (PrivateKey, Certificate) {
    let key = PrivateKey::generate(2048).expect("generate key");
    let now = OffsetDateTime::now_utc() - time::Duration::days(age_days);
    let cert = Certificate::self_signed(&key, &CertOptions::default(), now).expect("cert");
    (key, cert)
}

pub fn keyring_of(pairs: &[(PrivateKey, Certificate)]) -> Keyring {
    let mut ring = Keyring::new();
    for (k, c) in pairs {
        ring.insert(KeyEntry::new(k.clone(), Some(c.clone())));
    }
    ring
}

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn bytes_map(pairs: &[(&str, &[u8])]) -> BTreeMap<String, ByteString> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
        .collect()
}

/// The Secret the vector SealedSecret was made from.
pub fn webapp_secret() -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some("webapp".into()),
            namespace: Some("prod".into()),
            labels: Some(map(&[("app", "webapp")])),
            annotations: Some(map(&[("team", "web")])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(bytes_map(&[
            ("password", b"correct horse battery staple"),
            ("settings.ini", b"[db]\nhost=db.prod\n"),
            ("username", b"webapp"),
        ])),
        ..Secret::default()
    }
}

pub fn data_of(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}
