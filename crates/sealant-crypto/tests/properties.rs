//! Property tests: round trips, tamper detection, label binding, keyring hints.

#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;

use proptest::prelude::*;
use sealant_crypto::{
    CertOptions, Certificate, Error, KeyEntry, Keyring, PrivateKey, Scope, seal, unseal,
};

static KEY: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());
static OTHER: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());

fn scope() -> impl Strategy<Value = Scope> {
    prop::sample::select(Scope::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip(value in prop::collection::vec(any::<u8>(), 0..2048), ns in "[a-z0-9-]{1,20}",
                  name in "[a-z0-9.-]{1,40}", scope in scope()) {
        let label = scope.label(&ns, &name);
        let sealed = seal(KEY.public_key(), &value, &label).unwrap();
        prop_assert_eq!(sealed.len(), 2 + 256 + value.len() + 16);
        prop_assert_eq!(&sealed[..2], &[1u8, 0][..]);
        let opened = unseal(&KEY, &sealed, &label).unwrap();
        prop_assert_eq!(&opened[..], &value[..]);
    }

    #[test]
    fn any_single_byte_change_fails(value in prop::collection::vec(any::<u8>(), 1..256),
                                    pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let sealed = seal(KEY.public_key(), &value, b"ns/name").unwrap();
        let mut tampered = sealed.clone();
        let i = pos.index(tampered.len());
        tampered[i] ^= flip;
        prop_assert!(unseal(&KEY, &tampered, b"ns/name").is_err(), "byte {} changed yet unsealed", i);
    }

    #[test]
    fn wrong_label_fails(value in prop::collection::vec(any::<u8>(), 0..64), a in "[a-z/]{0,12}", b in "[a-z/]{0,12}") {
        prop_assume!(a != b);
        let sealed = seal(KEY.public_key(), &value, a.as_bytes()).unwrap();
        prop_assert!(matches!(unseal(&KEY, &sealed, b.as_bytes()), Err(Error::WrongKeyOrLabel)));
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = unseal(&KEY, &bytes, b"");
    }
}

#[test]
fn wrong_key_fails_and_truncation_is_reported() {
    let sealed = seal(KEY.public_key(), b"v", b"l").unwrap();
    assert!(matches!(
        unseal(&OTHER, &sealed, b"l"),
        Err(Error::WrongKeyOrLabel)
    ));
    for len in [0, 1, 2, 100, 2 + 256 + 15] {
        assert!(
            matches!(
                unseal(&KEY, &sealed[..len], b"l"),
                Err(Error::TooShort { .. })
            ),
            "len {len}"
        );
    }
    // Flipping a bit of the AES part after a valid RSA part is reported as corruption.
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(unseal(&KEY, &tampered, b"l"), Err(Error::Corrupt)));
}

#[test]
fn keyring_hint_costs_one_private_key_operation() {
    let now = time::OffsetDateTime::now_utc();
    let mut ring = Keyring::new();
    let mut oldest = None;
    for i in 0..24 {
        let key = if i == 0 {
            KEY.clone()
        } else {
            PrivateKey::generate(2048).unwrap()
        };
        let opts = CertOptions::default();
        let cert = Certificate::self_signed(&key, &opts, now + time::Duration::days(i)).unwrap();
        if i == 0 {
            oldest = Some(key.key_id().clone());
        }
        ring.insert(KeyEntry::new(key, Some(cert)));
    }
    let oldest = oldest.unwrap();
    assert_eq!(ring.len(), 24);
    assert_ne!(ring.newest().unwrap().key_id(), &oldest, "newest first");
    let sealed = seal(KEY.public_key(), b"secret", b"a/b").unwrap();

    let hinted = ring
        .unseal(&sealed, b"a/b", std::slice::from_ref(&oldest))
        .unwrap();
    assert_eq!((hinted.rsa_ops, &hinted.key_id), (1, &oldest));
    assert_eq!(&hinted.plaintext[..], b"secret");

    let unhinted = ring.unseal(&sealed, b"a/b", &[]).unwrap();
    assert_eq!(
        unhinted.rsa_ops, 24,
        "oldest key is tried last without a hint"
    );

    let err = ring
        .unseal(&sealed, b"a/c", std::slice::from_ref(&oldest))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::NoKeyCouldDecrypt {
            keys_tried: 24,
            hint_missing: None
        }
    ));

    let stranger = OTHER.key_id().clone();
    let foreign = seal(OTHER.public_key(), b"x", b"a/b").unwrap();
    let err = ring
        .unseal(&foreign, b"a/b", std::slice::from_ref(&stranger))
        .unwrap_err();
    assert!(
        matches!(err, Error::NoKeyCouldDecrypt { hint_missing: Some(ref id), .. } if *id == stranger)
    );
    assert!(err.to_string().contains(stranger.as_str()));
}

#[test]
fn keyring_deduplicates_and_orders_by_not_before() {
    let now = time::OffsetDateTime::now_utc();
    let old =
        Certificate::self_signed(&KEY, &CertOptions::default(), now - time::Duration::days(9))
            .unwrap();
    let new = Certificate::self_signed(&OTHER, &CertOptions::default(), now).unwrap();
    let mut ring = Keyring::new();
    assert!(ring.insert(KeyEntry::new(OTHER.clone(), Some(new))));
    assert!(ring.insert(KeyEntry::new(KEY.clone(), None)));
    assert_eq!(ring.newest().unwrap().key_id(), OTHER.key_id());
    // Same key again with its certificate: not added twice, but it gains the cert.
    assert!(!ring.insert(KeyEntry::new(KEY.clone(), Some(old))));
    assert_eq!(ring.len(), 2);
    assert!(ring.get(KEY.key_id()).unwrap().cert.is_some());
}

#[test]
fn self_signed_cert_matches_upstream_shape() {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let opts = CertOptions {
        common_name: "my-cluster".into(),
        ..CertOptions::default()
    };
    let cert = Certificate::self_signed(&KEY, &opts, now).unwrap();
    assert_eq!(cert.key_id(), KEY.key_id());
    assert_eq!(cert.subject(), "CN=my-cluster");
    assert_eq!(cert.not_before(), now);
    assert_eq!(
        cert.not_after() - cert.not_before(),
        time::Duration::hours(87_600)
    );
    let again = Certificate::from_pem(cert.to_pem().as_bytes()).unwrap();
    assert_eq!(again.der(), cert.der());
    let empty = Certificate::self_signed(&KEY, &CertOptions::default(), now).unwrap();
    assert_eq!(empty.subject(), "");
    assert_ne!(empty.serial(), cert.serial(), "serials are random");
}
