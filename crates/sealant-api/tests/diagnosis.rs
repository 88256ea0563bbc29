//! Unseal failures: every item listed, causes diagnosed, legacy and template handling.

mod common;

use std::collections::BTreeMap;

use common::*;
use sealant_api::{
    ANNOTATION_KEY_IDS, ANNOTATION_NAMESPACE_WIDE, FailureCause, Scope, SealOptions, SealedSecret,
    UnsealOptions, merge_into, seal_secret, unseal,
};

fn sealed(scope: Option<Scope>) -> (sealant_api::Keyring, sealant_api::Certificate, SealedSecret) {
    let (key, cert) = key_and_cert(1);
    let ss = seal_secret(
        &webapp_secret(),
        &cert,
        &SealOptions {
            scope,
            ..SealOptions::default()
        },
    )
    .expect("seal");
    (keyring_of(&[(key, cert.clone())]), cert, ss)
}

fn causes(ss: &SealedSecret, ring: &sealant_api::Keyring) -> Vec<(String, FailureCause)> {
    let err = unseal(ss, ring, &UnsealOptions::default()).expect_err("must fail");
    err.failures
        .into_iter()
        .map(|f| (f.item, f.cause))
        .collect()
}

#[test]
fn renamed_object_is_a_name_or_namespace_mismatch() {
    let (ring, _, mut ss) = sealed(None);
    ss.metadata.name = Some("webapp-v2".into());
    let err = unseal(&ss, &ring, &UnsealOptions::default()).expect_err("renamed");
    assert_eq!(err.failures.len(), 3, "every item is listed");
    assert!(
        err.failures
            .iter()
            .all(|f| matches!(f.cause, FailureCause::NameOrNamespaceMismatch { .. }))
    );
    assert_eq!(err.reason(), "NameOrNamespaceMismatch");
    assert!(err.is_permanent());
    let text = err.to_string();
    assert!(
        text.starts_with(r#"cannot unseal prod/webapp-v2: items "password", "settings.ini", "username": sealed for a different name or namespace"#),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[test]
fn removed_scope_annotation_is_a_scope_mismatch() {
    let (ring, _, mut ss) = sealed(Some(Scope::NamespaceWide));
    ss.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .remove(ANNOTATION_NAMESPACE_WIDE);
    let c = causes(&ss, &ring);
    assert_eq!(
        c[0].1,
        FailureCause::ScopeMismatch {
            sealed_as: Scope::NamespaceWide,
            declared: Scope::Strict
        }
    );
    let err = unseal(&ss, &ring, &UnsealOptions::default()).expect_err("fails");
    assert!(err.to_string().contains(
        r#"sealed for scope namespace-wide, but the SealedSecret is strict (add annotation sealedsecrets.bitnami.com/namespace-wide: "true" or re-seal)"#
    ), "{err}");

    // Sealed strict, declared cluster-wide.
    let (ring, _, mut ss) = sealed(None);
    ss.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            "sealedsecrets.bitnami.com/cluster-wide".into(),
            "true".into(),
        );
    assert_eq!(
        causes(&ss, &ring)[0].1,
        FailureCause::ScopeMismatch {
            sealed_as: Scope::Strict,
            declared: Scope::ClusterWide
        }
    );

    // Without the key-id hint the diagnosis still works (trying all keys).
    let (ring, _, mut ss) = sealed(Some(Scope::ClusterWide));
    ss.metadata.annotations = None;
    assert_eq!(
        causes(&ss, &ring)[0].1,
        FailureCause::ScopeMismatch {
            sealed_as: Scope::ClusterWide,
            declared: Scope::Strict
        }
    );
}

#[test]
fn other_clusters_key_is_unknown_key_or_no_key_matches() {
    let (_ring, cert, ss) = sealed(None);
    let (other_key, other_cert) = key_and_cert(1);
    let other_ring = keyring_of(&[(other_key, other_cert)]);
    let c = causes(&ss, &other_ring);
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].1, FailureCause::UnknownKey(cert.key_id().clone()));
    let err = unseal(&ss, &other_ring, &UnsealOptions::default()).expect_err("x");
    assert!(err.to_string().contains(&format!(
        "sealed with key {}, which is not among the loaded keys",
        cert.key_id()
    )));
    assert_eq!(err.reason(), "UnknownKey");

    let mut unhinted = ss;
    unhinted.metadata.annotations = None;
    assert_eq!(
        causes(&unhinted, &other_ring)[0].1,
        FailureCause::NoKeyMatches
    );

    assert_eq!(
        causes(&unhinted, &sealant_api::Keyring::new())[0].1,
        FailureCause::NoKeys
    );
}

#[test]
fn damaged_values_are_reported_per_item() {
    let (ring, _, mut ss) = sealed(None);
    // Flip one byte of the AES part of "password".
    let mut bytes = sealant_crypto::decode_value(&ss.spec.encrypted_data["password"]).expect("b64");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    ss.spec
        .encrypted_data
        .insert("password".into(), sealant_crypto::encode_value(&bytes));
    ss.spec
        .encrypted_data
        .insert("settings.ini".into(), "not base64!".into());
    ss.spec.encrypted_data.insert(
        "username".into(),
        sealant_crypto::encode_value(b"\x02\x00abc"),
    );
    let c = causes(&ss, &ring);
    assert_eq!(
        c,
        vec![
            ("password".to_owned(), FailureCause::Corrupt),
            ("settings.ini".to_owned(), FailureCause::InvalidBase64),
            ("username".to_owned(), FailureCause::TooShort),
        ]
    );
    let err = unseal(&ss, &ring, &UnsealOptions::default()).expect_err("x");
    let text = err.to_string();
    assert!(
        text.contains(r#"item "password": sealed value is corrupt"#),
        "{text}"
    );
    assert!(
        text.contains(r#"item "settings.ini": sealed value is not valid base64"#),
        "{text}"
    );
    assert!(
        text.contains(r#"item "username": sealed value is too short"#),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[test]
fn legacy_v1_data() {
    let (ring, cert, base) = sealed(None);
    let inner = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "webapp", "namespace": "prod", "labels": {"legacy": "yes"}},
        "data": {"token": sealant_crypto::encode_value(b"t0k3n")},
        "type": "Opaque"
    });
    let blob = sealant_crypto::seal(
        cert.public_key(),
        inner.to_string().as_bytes(),
        &Scope::Strict.label("prod", "webapp"),
    )
    .expect("seal");
    let mut ss = base.clone();
    ss.spec.encrypted_data.clear();
    ss.spec.data = Some(sealant_crypto::encode_value(&blob));

    let err = unseal(&ss, &ring, &UnsealOptions::default()).expect_err("rejected");
    assert_eq!(err.failures[0].cause, FailureCause::LegacyDataRejected);
    assert_eq!(
        err.to_string(),
        "cannot unseal prod/webapp: spec.data: using deprecated 'data' field, use 'encryptedData' or flip the feature flag"
    );

    let accept = UnsealOptions {
        accept_v1_data: true,
        ..UnsealOptions::default()
    };
    let out = unseal(&ss, &ring, &accept).expect("accepted");
    assert_eq!(data_of(&out.secret)["token"], b"t0k3n");
    assert_eq!(
        out.secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("legacy"))
            .map(String::as_str),
        Some("yes")
    );
    assert_eq!(out.secret.metadata.name.as_deref(), Some("webapp"));

    let mut both = ss.clone();
    both.spec.encrypted_data = base.spec.encrypted_data.clone();
    let err = unseal(&both, &ring, &accept).expect_err("both");
    assert_eq!(err.failures[0].cause, FailureCause::LegacyDataConflict);
    assert!(err.to_string().ends_with(
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    ));
}

#[test]
fn go_templates_render_over_unsealed_values_and_errors_name_the_item() {
    let (ring, _, mut ss) = sealed(None);
    ss.spec.template.data = Some(map(&[
        (
            "dsn",
            "postgres://{{ .username }}:{{ index . \"password\" }}@db",
        ),
        ("username", "{{ .username | upper }}"),
    ]));
    let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("templates render");
    let data = out.secret.data.as_ref().expect("data");
    let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(
        text("dsn"),
        "postgres://webapp:correct horse battery staple@db"
    );
    assert_eq!(
        text("username"),
        "WEBAPP",
        "a template overrides the same-named item"
    );
    assert_eq!(text("password"), "correct horse battery staple");

    // verify/rotate open values only: templates are not rendered.
    let values_only =
        sealant_api::unseal_values_only(&ss, &ring, &UnsealOptions::default()).expect("values");
    let raw = &values_only.secret.data.as_ref().expect("data")["username"].0;
    assert_eq!(raw, b"webapp");
    assert!(
        !values_only
            .secret
            .data
            .as_ref()
            .expect("data")
            .contains_key("dsn")
    );

    ss.spec.template.data = Some(map(&[(
        "bad",
        "{{ if .username }}{{ fail \"x\" }}{{ end }}",
    )]));
    let err = unseal(&ss, &ring, &UnsealOptions::default()).expect_err("refused function");
    assert_eq!(err.failures[0].item, "spec.template.data.bad");
    assert!(matches!(err.failures[0].cause, FailureCause::Template(_)));
    assert_eq!(err.reason(), "TemplateError");
    assert!(err.to_string().contains("\"fail\" is not allowed"), "{err}");

    // Switched off: refused before anything is decrypted.
    let off = UnsealOptions {
        templates_disabled: true,
        ..UnsealOptions::default()
    };
    let err = unseal(&ss, &ring, &off).expect_err("templates disabled");
    assert_eq!(err.failures[0].cause, FailureCause::TemplatesDisabled);
    assert_eq!(err.reason(), "TemplatesDisabled");
}

#[test]
fn merge_keeps_untouched_ciphertexts_and_unseals() {
    let (key, cert) = key_and_cert(2);
    let ss = seal_secret(&webapp_secret(), &cert, &SealOptions::default()).expect("seal");
    let (key2, cert2) = key_and_cert(1);
    let ring = keyring_of(&[(key, cert.clone()), (key2, cert2.clone())]);

    let mut merged = ss.clone();
    let mut update = k8s_openapi::api::core::v1::Secret::default();
    // The input's own name/namespace are ignored: the existing object's are used.
    update.metadata.name = Some("ignored".into());
    update.metadata.namespace = Some("elsewhere".into());
    update.metadata.labels = Some(map(&[("tier", "backend")]));
    update.string_data = Some(map(&[("password", "new-password"), ("api-key", "k")]));
    merge_into(&mut merged, &update, &cert2, &SealOptions::default()).expect("merge");

    assert_eq!(
        merged.spec.encrypted_data["username"],
        ss.spec.encrypted_data["username"]
    );
    assert_eq!(
        merged.spec.encrypted_data["settings.ini"],
        ss.spec.encrypted_data["settings.ini"]
    );
    assert_ne!(
        merged.spec.encrypted_data["password"],
        ss.spec.encrypted_data["password"]
    );
    assert_eq!(merged.spec.encrypted_data.len(), 4);
    let ids =
        merged.metadata.annotations.as_ref().expect("annotations")[ANNOTATION_KEY_IDS].clone();
    assert_eq!(ids, format!("{},{}", cert2.key_id(), cert.key_id()));
    let labels = merged
        .spec
        .template
        .metadata
        .labels
        .clone()
        .unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("backend"));
    assert_eq!(labels.get("app").map(String::as_str), Some("webapp"));

    let out = unseal(&merged, &ring, &UnsealOptions::default()).expect("unseal merged");
    let data = data_of(&out.secret);
    assert_eq!(data["password"], b"new-password");
    assert_eq!(data["api-key"], b"k");
    assert_eq!(data["username"], b"webapp");
    assert_eq!(out.key_ids.len(), 2);

    // A conflicting explicit scope is refused.
    let err = merge_into(
        &mut merged.clone(),
        &update,
        &cert2,
        &SealOptions {
            scope: Some(Scope::ClusterWide),
            ..SealOptions::default()
        },
    )
    .expect_err("scope conflict");
    assert!(
        err.to_string().contains("cannot merge into prod/webapp"),
        "{err}"
    );
}

#[test]
fn unseal_output_debug_hides_values() {
    let (ring, _, ss) = sealed(None);
    let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("unseal");
    let debug = format!("{out:?}");
    assert!(debug.contains("password"));
    assert!(!debug.contains("correct horse"), "{debug}");
    assert!(!debug.contains("99, 111, 114"), "{debug}"); // bytes of "cor"
}

#[test]
fn each_scope_gets_a_true_message_when_names_do_not_match() {
    // Namespace-wide, moved to another namespace: it may be renamed, not moved.
    let (ring, _, mut ss) = sealed(Some(Scope::NamespaceWide));
    ss.metadata.namespace = Some("staging".into());
    let err = unseal(&ss, &ring, &UnsealOptions::default()).expect_err("moved");
    assert_eq!(
        err.failures[0].cause,
        FailureCause::NameOrNamespaceMismatch {
            declared: Scope::NamespaceWide
        }
    );
    let text = err.to_string();
    assert!(text.contains("sealed for a different namespace"), "{text}");
    assert!(text.contains("can be renamed"), "{text}");
    assert!(!text.contains("unless sealed namespace-wide"), "{text}");

    // Strict, renamed: neither renames nor moves are allowed.
    let (ring, _, mut ss) = sealed(None);
    ss.metadata.name = Some("other".into());
    let text = unseal(&ss, &ring, &UnsealOptions::default())
        .expect_err("renamed")
        .to_string();
    assert!(
        text.contains("a strict SealedSecret cannot be renamed or moved"),
        "{text}"
    );
}

#[test]
fn values_adding_up_to_more_than_a_secret_holds_are_refused_before_decrypting() {
    let (key, cert) = key_and_cert(1);
    let ring = keyring_of(&[(key, cert.clone())]);
    let mut secret = webapp_secret();
    // Exactly 1 MiB of values: what Kubernetes accepts.
    secret.data = Some(bytes_map(&[
        ("a", &vec![b'a'; 1024 * 1024 - 1]),
        ("b", b"b"),
    ]));
    let ss = seal_secret(&secret, &cert, &SealOptions::default()).expect("1 MiB seals");
    let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("and unseals");
    assert_eq!(out.rsa_ops, 2);

    // One byte more, assembled by hand (sealing refuses it): refused without any RSA work.
    let mut bigger = ss.clone();
    let mut extra = secret.clone();
    extra.data = Some(bytes_map(&[("c", b"c")]));
    let extra = seal_secret(&extra, &cert, &SealOptions::default()).expect("seal one byte");
    bigger
        .spec
        .encrypted_data
        .insert("c".into(), extra.spec.encrypted_data["c"].clone());
    let err = unseal(&bigger, &ring, &UnsealOptions::default()).expect_err("too large");
    assert_eq!(err.reason(), "TooLarge");
    let text = err.to_string();
    assert!(
        text.contains("1048577 bytes") && text.contains("1 MiB"),
        "{text}"
    );

    secret.data = Some(bytes_map(&[("a", &vec![b'a'; 1024 * 1024 + 1])]));
    let err = seal_secret(&secret, &cert, &SealOptions::default()).expect_err("over 1 MiB");
    assert!(err.to_string().contains("1048577 bytes"), "{err}");
}

#[test]
fn an_explicit_strict_scope_overrides_the_input_annotation() {
    let (_, cert) = key_and_cert(1);
    let mut secret = webapp_secret();
    secret.metadata.annotations = Some(map(&[(ANNOTATION_NAMESPACE_WIDE, "true")]));
    let strict = seal_secret(
        &secret,
        &cert,
        &SealOptions {
            scope: Some(Scope::Strict),
            ..SealOptions::default()
        },
    )
    .expect("seal");
    let top = strict.metadata.annotations.clone().unwrap_or_default();
    assert!(!top.contains_key(ANNOTATION_NAMESPACE_WIDE), "{top:?}");
    let template = strict
        .spec
        .template
        .metadata
        .annotations
        .unwrap_or_default();
    assert!(
        !template.contains_key(ANNOTATION_NAMESPACE_WIDE),
        "{template:?}"
    );
    // Without a scope the input's annotation is kept.
    let kept = seal_secret(&secret, &cert, &SealOptions::default()).expect("seal");
    assert_eq!(
        kept.metadata.annotations.unwrap_or_default()[ANNOTATION_NAMESPACE_WIDE],
        "true"
    );
}
