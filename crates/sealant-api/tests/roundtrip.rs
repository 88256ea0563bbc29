//! seal -> unseal round trips: scopes, precedence, metadata rules, key-id hints.

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use sealant_api::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_KEY_IDS, ANNOTATION_NAMESPACE_WIDE,
    ANNOTATION_SKIP_SET_OWNER_REFERENCES, Error, Scope, SealOptions, UnsealOptions, seal_raw,
    seal_secret, unseal,
};

fn opts(scope: Option<Scope>) -> SealOptions {
    SealOptions {
        scope,
        default_namespace: "default".into(),
        ..SealOptions::default()
    }
}

#[test]
fn all_scopes_round_trip_and_string_data_wins() {
    let (key, cert) = key_and_cert(1);
    let ring = keyring_of(&[(key, cert.clone())]);
    for scope in Scope::ALL {
        let mut secret = webapp_secret();
        secret.string_data = Some(map(&[("password", "from-stringData"), ("extra", "x")]));
        let ss = seal_secret(&secret, &cert, &opts(Some(scope))).expect("seal");

        let top = ss.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            top.get(ANNOTATION_KEY_IDS),
            Some(&cert.key_id().to_string())
        );
        assert_eq!(
            top.contains_key(ANNOTATION_CLUSTER_WIDE),
            scope == Scope::ClusterWide
        );
        assert_eq!(
            top.contains_key(ANNOTATION_NAMESPACE_WIDE),
            scope == Scope::NamespaceWide
        );
        assert_eq!(ss.spec.encrypted_data.len(), 4);

        let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("unseal");
        let data = data_of(&out.secret);
        assert_eq!(data["password"], b"from-stringData");
        assert_eq!(data["extra"], b"x");
        assert_eq!(data["username"], b"webapp");
        assert_eq!(out.rsa_ops, 4);
        assert_eq!(out.key_ids, vec![cert.key_id().clone()]);
        assert!(out.secret.string_data.is_none());

        // Non-strict scopes survive a rename (and cluster-wide a move).
        let mut moved = ss.clone();
        moved.metadata.name = Some("renamed".into());
        let renamed_ok = unseal(&moved, &ring, &UnsealOptions::default()).is_ok();
        assert_eq!(renamed_ok, scope != Scope::Strict, "{scope}");
        moved.metadata.namespace = Some("elsewhere".into());
        let moved_ok = unseal(&moved, &ring, &UnsealOptions::default()).is_ok();
        assert_eq!(moved_ok, scope == Scope::ClusterWide, "{scope}");
    }
}

#[test]
fn template_metadata_is_copied_and_stripped() {
    let (key, cert) = key_and_cert(1);
    let ring = keyring_of(&[(key, cert.clone())]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db".into()),
            namespace: Some("prod".into()),
            labels: Some(map(&[("app", "db")])),
            annotations: Some(map(&[
                ("team", "data"),
                (
                    "kubectl.kubernetes.io/last-applied-configuration",
                    "{\"data\":\"SECRET\"}",
                ),
                ("kubecfg.ksonnet.io/last-applied-configuration", "SECRET"),
            ])),
            finalizers: Some(vec!["example.com/keep".into()]),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "x".into(),
                uid: "u".into(),
                ..OwnerReference::default()
            }]),
            uid: Some("1234".into()),
            resource_version: Some("99".into()),
            generation: Some(3),
            self_link: Some("/api/v1/x".into()),
            creation_timestamp: Some(Time("2024-01-01T00:00:00Z".parse().expect("timestamp"))),
            deletion_grace_period_seconds: Some(30),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/basic-auth".into()),
        immutable: Some(true),
        string_data: Some(map(&[("username", "admin"), ("password", "pw")])),
        ..Secret::default()
    };
    let ss = seal_secret(&secret, &cert, &opts(None)).expect("seal");
    let t = &ss.spec.template;
    assert_eq!(t.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(t.immutable, Some(true));
    assert_eq!(t.metadata.name.as_deref(), Some("db"));
    assert_eq!(t.metadata.namespace.as_deref(), Some("prod"));
    assert_eq!(t.metadata.labels, Some(map(&[("app", "db")])));
    assert_eq!(t.metadata.annotations, Some(map(&[("team", "data")])));
    assert_eq!(t.metadata.finalizers, Some(vec!["example.com/keep".into()]));
    assert!(t.metadata.owner_references.is_none());
    assert!(t.metadata.uid.is_none());
    assert!(t.metadata.resource_version.is_none());
    assert!(t.metadata.generation.is_none());
    assert!(t.metadata.self_link.is_none());
    assert!(t.metadata.creation_timestamp.is_none());
    assert!(t.metadata.deletion_grace_period_seconds.is_none());
    // Top level: name, namespace, annotations (key ids and sealed-for only for strict); no labels.
    assert!(ss.metadata.labels.is_none());
    let top = ss.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(
        top.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            sealant_api::ANNOTATION_KEY_IDS,
            sealant_api::ANNOTATION_SEALED_FOR
        ]
    );
    let yaml = sealant_api::to_yaml(&ss).expect("yaml");
    assert!(!yaml.contains("SECRET"), "last-applied leaked:\n{yaml}");

    let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("unseal");
    let s = &out.secret;
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(s.immutable, Some(true));
    assert_eq!(s.metadata.labels, Some(map(&[("app", "db")])));
    assert_eq!(s.metadata.annotations, Some(map(&[("team", "data")])));
    assert_eq!(s.metadata.finalizers, Some(vec!["example.com/keep".into()]));
    assert_eq!(s.metadata.owner_references.as_ref().map(Vec::len), Some(1));
    assert_eq!(data_of(s)["username"], b"admin");
}

#[test]
fn unseal_forces_identity_and_honours_skip_owner_references() {
    let (key, cert) = key_and_cert(1);
    let ring = keyring_of(&[(key, cert.clone())]);
    let mut secret = webapp_secret();
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_SKIP_SET_OWNER_REFERENCES.into(), "true".into());
    let mut ss = seal_secret(&secret, &cert, &opts(None)).expect("seal");
    // The template's name/namespace do not matter; the top-level ones do.
    ss.spec.template.metadata.name = Some("other".into());
    ss.spec.template.metadata.namespace = Some("other-ns".into());
    ss.metadata.uid = Some("uid-1".into());
    let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("unseal");
    assert_eq!(out.secret.metadata.name.as_deref(), Some("webapp"));
    assert_eq!(out.secret.metadata.namespace.as_deref(), Some("prod"));
    assert!(out.secret.metadata.owner_references.is_none());

    let ss = seal_secret(&webapp_secret(), &cert, &opts(None)).expect("seal");
    let mut ss2 = ss;
    ss2.metadata.uid = Some("uid-2".into());
    let out = unseal(&ss2, &ring, &UnsealOptions::default()).expect("unseal");
    let owner = &out.secret.metadata.owner_references.expect("owner")[0];
    assert_eq!(owner.uid, "uid-2");
    assert_eq!(owner.block_owner_deletion, None);
}

#[test]
fn key_id_hint_costs_one_operation_per_item() {
    // 24 keys; the sealing key is the OLDEST, so trial decryption would try it last.
    let mut pairs: Vec<_> = (0..24).map(|age| key_and_cert(age + 1)).collect();
    let oldest = pairs.pop().expect("24 keys");
    let cert = oldest.1.clone();
    pairs.push(oldest);
    let ring = keyring_of(&pairs);
    assert_eq!(ring.len(), 24);
    assert_eq!(ring.iter().last().map(|e| e.key_id()), Some(cert.key_id()));

    let ss = seal_secret(&webapp_secret(), &cert, &opts(None)).expect("seal");
    let out = unseal(&ss, &ring, &UnsealOptions::default()).expect("unseal");
    assert_eq!(
        out.rsa_ops, 3,
        "one private-key operation per item with the hint"
    );

    let mut unhinted = ss.clone();
    unhinted.metadata.annotations = None;
    let out = unseal(&unhinted, &ring, &UnsealOptions::default()).expect("unseal");
    assert_eq!(
        out.rsa_ops,
        3 * 24,
        "without the hint every key is tried, newest first"
    );
    assert_eq!(data_of(&out.secret), data_of(&webapp_secret()));

    // A garbage hint list is ignored, not fatal.
    let mut junk = ss;
    junk.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_KEY_IDS.into(), "not-a-key-id,,zz".into());
    assert!(unseal(&junk, &ring, &UnsealOptions::default()).is_ok());
}

#[test]
fn without_a_scope_the_input_annotation_is_kept_and_a_scope_rewrites_it() {
    let (key, cert) = key_and_cert(1);
    let ring = keyring_of(&[(key, cert.clone())]);
    let mut secret = webapp_secret();
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_NAMESPACE_WIDE.into(), "true".into());
    let ss = seal_secret(&secret, &cert, &opts(None)).expect("seal");
    let top = ss.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        top.get(ANNOTATION_NAMESPACE_WIDE).map(String::as_str),
        Some("true")
    );
    // The template keeps the annotation too (it ends up on the Secret, as upstream).
    let t = ss
        .spec
        .template
        .metadata
        .annotations
        .clone()
        .unwrap_or_default();
    assert_eq!(
        t.get(ANNOTATION_NAMESPACE_WIDE).map(String::as_str),
        Some("true")
    );
    let mut renamed = ss;
    renamed.metadata.name = Some("x".into());
    assert!(unseal(&renamed, &ring, &UnsealOptions::default()).is_ok());

    // A scope rewrites an existing annotation.
    let ss = seal_secret(&secret, &cert, &opts(Some(Scope::ClusterWide))).expect("seal");
    let top = ss.metadata.annotations.clone().unwrap_or_default();
    assert!(top.contains_key(ANNOTATION_CLUSTER_WIDE));
    assert!(!top.contains_key(ANNOTATION_NAMESPACE_WIDE));
}

#[test]
fn namespace_and_name_rules() {
    let (_key, cert) = key_and_cert(1);
    let mut secret = webapp_secret();

    let mut o = opts(None);
    o.namespace = Some("staging".into());
    let err = seal_secret(&secret, &cert, &o).expect_err("mismatch");
    assert_eq!(
        err.to_string(),
        r#"namespace mismatch: input secret is in namespace "prod" but "staging" was specified"#
    );

    secret.metadata.namespace = None;
    let ss = seal_secret(&secret, &cert, &o).expect("explicit namespace");
    assert_eq!(ss.metadata.namespace.as_deref(), Some("staging"));
    let ss = seal_secret(&secret, &cert, &opts(None)).expect("default namespace");
    assert_eq!(ss.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        ss.spec.template.metadata.namespace.as_deref(),
        Some("default")
    );

    // Cluster-wide keeps an empty namespace and ignores a mismatch.
    let ss = seal_secret(&secret, &cert, &opts(Some(Scope::ClusterWide))).expect("cw");
    assert_eq!(ss.metadata.namespace, None);

    // --name overrides; a missing name is an error.
    let mut o = opts(None);
    o.name = Some("renamed".into());
    let ss = seal_secret(&secret, &cert, &o).expect("rename");
    assert_eq!(ss.metadata.name.as_deref(), Some("renamed"));
    assert_eq!(ss.spec.template.metadata.name.as_deref(), Some("renamed"));
    secret.metadata.name = None;
    let err = seal_secret(&secret, &cert, &opts(None)).expect_err("no name");
    assert!(matches!(err, Error::MissingName));
    assert_eq!(err.to_string(), "missing metadata.name in input Secret");
}

#[test]
fn empty_data_is_an_error_unless_allowed() {
    let (key, cert) = key_and_cert(1);
    let mut secret = webapp_secret();
    secret.data = Some(BTreeMap::new());
    let err = seal_secret(&secret, &cert, &opts(None)).expect_err("empty");
    assert!(
        err.to_string()
            .starts_with("secret.data is empty in input Secret")
    );
    let mut o = opts(None);
    o.allow_empty_data = true;
    let ss = seal_secret(&secret, &cert, &o).expect("allowed");
    assert!(ss.spec.encrypted_data.is_empty());
    let out = unseal(&ss, &keyring_of(&[(key, cert)]), &UnsealOptions::default()).expect("unseal");
    assert!(out.secret.data.is_none());
    assert_eq!(out.rsa_ops, 0);
}

#[test]
fn raw_mode() {
    let (key, cert) = key_and_cert(1);
    let sealed = seal_raw(b"v\n", &cert, Scope::Strict, "ns", "n").expect("raw");
    assert!(!sealed.ends_with('\n'));
    let bytes = sealant_crypto::decode_value(&sealed).expect("b64");
    let plain = sealant_crypto::unseal(&key, &bytes, b"ns/n").expect("unseal");
    assert_eq!(&plain[..], b"v\n");
    let sealed = seal_raw(b"v", &cert, Scope::ClusterWide, "", "").expect("cw raw");
    let bytes = sealant_crypto::decode_value(&sealed).expect("b64");
    assert!(sealant_crypto::unseal(&key, &bytes, b"").is_ok());

    assert_eq!(
        seal_raw(b"v", &cert, Scope::NamespaceWide, "", "n")
            .expect_err("ns")
            .to_string(),
        "must provide the --namespace flag with --raw and --scope namespace-wide"
    );
    assert_eq!(
        seal_raw(b"v", &cert, Scope::Strict, "ns", "")
            .expect_err("name")
            .to_string(),
        "must provide the --name flag with --raw and --scope strict"
    );
}
