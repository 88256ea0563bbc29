//! Sealing: `Secret` manifests into [`SealedSecret`]s, as `kubeseal` does (compat spec §2.5, §4.4).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealant_crypto::{Certificate, Scope, encode_value, seal};

use crate::annotations::{format_key_ids, parse_key_ids, set_scope_annotations};
use crate::names;
use crate::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_KEY_IDS, ANNOTATION_KUBECFG_LAST_APPLIED,
    ANNOTATION_KUBECTL_LAST_APPLIED, ANNOTATION_NAMESPACE_WIDE, ANNOTATION_SEALED_FOR, Error,
    SealedSecret, SealedSecretSpec, SecretTemplateSpec, check_sealed_data, check_secret_data,
    scope_from_annotations, sealed_for,
};

/// How to seal a Secret (the relevant `kubeseal` flags).
#[derive(Clone, Debug, Default)]
pub struct SealOptions {
    /// `None` keeps the input's scope annotations; `Some` always replaces them, strict
    /// included (upstream cannot tell `--scope strict` from no flag and ignores it: a caller
    /// that wants that passes `None`).
    pub scope: Option<Scope>,
    /// Overrides `metadata.name` of the input (`--name`).
    pub name: Option<String>,
    /// An explicitly given namespace (`-n`): an input in another namespace is an error.
    pub namespace: Option<String>,
    /// The namespace used when the input has none and `namespace` is not given (the
    /// kubeconfig context's, else `default`).
    pub default_namespace: String,
    /// Allow a Secret with neither `data` nor `stringData` items (`--allow-empty-data`).
    pub allow_empty_data: bool,
}

/// Seals a Secret manifest for the holder of `cert`'s private key.
///
/// Top-level metadata gets the name, the namespace, the scope annotation (non-strict scopes
/// only), [`ANNOTATION_KEY_IDS`] and [`ANNOTATION_SEALED_FOR`]; `spec.template.metadata` is the input's metadata minus
/// last-applied annotations, ownerReferences and server-set fields; `data` items are sealed,
/// then `stringData` items (which win on a name clash).
///
/// The caller checks that `cert` has not expired (this function has no clock).
pub fn seal_secret(
    secret: &Secret,
    cert: &Certificate,
    opts: &SealOptions,
) -> Result<SealedSecret, Error> {
    check_not_empty(secret, opts)?;
    check_secret_data(secret)?;
    let mut meta = secret.metadata.clone();

    if let Some(scope) = opts.scope {
        let mut annotations = meta.annotations.take().unwrap_or_default();
        set_scope_annotations(&mut annotations, scope);
        meta.annotations = Some(annotations);
    }
    let scope = meta
        .annotations
        .as_ref()
        .map_or(Scope::Strict, scope_from_annotations);

    if scope != Scope::ClusterWide {
        let explicit = non_empty(opts.namespace.as_deref());
        match (non_empty(meta.namespace.as_deref()), explicit) {
            (Some(input), Some(given)) if input != given => {
                return Err(Error::NamespaceMismatch {
                    input: input.to_owned(),
                    specified: given.to_owned(),
                });
            }
            (Some(_), _) => {}
            (None, given) => {
                meta.namespace = given
                    .or(non_empty(Some(&opts.default_namespace)))
                    .map(str::to_owned);
            }
        }
    }

    if let Some(name) = non_empty(opts.name.as_deref()) {
        meta.name = Some(name.to_owned());
    }
    let name = non_empty(meta.name.as_deref())
        .ok_or(Error::MissingName)?
        .to_owned();
    let namespace = non_empty(meta.namespace.as_deref()).map(str::to_owned);
    names::check("metadata.name", &name, names::object_name_problem)?;
    if let Some(ns) = &namespace {
        names::check("metadata.namespace", ns, names::namespace_problem)?;
    }

    strip_for_template(&mut meta);

    let label = scope.label(namespace.as_deref().unwrap_or_default(), &name);
    let encrypted_data = seal_items(secret, cert, &label)?;

    let mut top_annotations = BTreeMap::new();
    set_scope_annotations(&mut top_annotations, scope);
    top_annotations.insert(
        ANNOTATION_KEY_IDS.to_owned(),
        cert.key_id().as_str().to_owned(),
    );
    top_annotations.insert(
        ANNOTATION_SEALED_FOR.to_owned(),
        sealed_for(scope, namespace.as_deref().unwrap_or_default(), &name),
    );

    let mut ss = SealedSecret::new(
        &name,
        SealedSecretSpec {
            template: SecretTemplateSpec {
                metadata: meta,
                type_: secret.type_.clone(),
                immutable: secret.immutable,
                data: None,
            },
            encrypted_data,
            data: None,
        },
    );
    ss.metadata.namespace = namespace;
    ss.metadata.annotations = Some(top_annotations);
    Ok(ss)
}

/// Seals `secret`'s items into `existing` (`kubeseal --merge-into`).
///
/// Values are sealed for the EXISTING object's name, namespace and scope (its top-level
/// metadata), whatever the input says, so they unseal where they are put. Entries not in the
/// input stay byte-identical. The input's template labels and annotations are merged into the
/// existing template (scope and last-applied annotations excepted), and the new key id is put
/// first in [`ANNOTATION_KEY_IDS`].
///
/// [`ANNOTATION_SEALED_FOR`] is added only when every value is now known to be sealed for the
/// object's label: the object had no other items, or it already carried the same fingerprint. An
/// existing different fingerprint is kept (the old items were sealed for something else, and an
/// offline check should keep saying so); an object without one whose other items were sealed
/// elsewhere (e.g. by upstream) does not get one.
pub fn merge_into(
    existing: &mut SealedSecret,
    secret: &Secret,
    cert: &Certificate,
    opts: &SealOptions,
) -> Result<(), Error> {
    check_not_empty(secret, opts)?;
    let name = non_empty(existing.metadata.name.as_deref())
        .ok_or_else(|| Error::MergeTarget("the SealedSecret has no metadata.name".to_owned()))?
        .to_owned();
    let namespace = existing.metadata.namespace.clone().unwrap_or_default();
    let top_annotations = existing.metadata.annotations.take().unwrap_or_default();
    let scope = scope_from_annotations(&top_annotations);
    existing.metadata.annotations = Some(top_annotations);
    if let Some(requested) = opts.scope.filter(|s| *s != scope) {
        return Err(Error::MergeScopeConflict {
            object: format!("{namespace}/{name}"),
            existing: scope,
            requested,
        });
    }

    let label = scope.label(&namespace, &name);
    let sealed = seal_items(secret, cert, &label)?;
    let fingerprint = sealed_for(scope, &namespace, &name);
    let others_unknown = existing
        .spec
        .encrypted_data
        .keys()
        .any(|item| !sealed.contains_key(item))
        || existing.spec.data.is_some();
    existing.spec.encrypted_data.extend(sealed);
    check_sealed_data(existing)?;
    let annotations = existing
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    if !annotations.contains_key(ANNOTATION_SEALED_FOR) && !others_unknown {
        annotations.insert(ANNOTATION_SEALED_FOR.to_owned(), fingerprint);
    }

    let template = &mut existing.spec.template.metadata;
    if let Some(labels) = secret.metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        template
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(labels.clone());
    }
    if let Some(annotations) = secret.metadata.annotations.as_ref() {
        let merged: Vec<(String, String)> = annotations
            .iter()
            .filter(|(k, _)| {
                ![
                    ANNOTATION_KUBECTL_LAST_APPLIED,
                    ANNOTATION_KUBECFG_LAST_APPLIED,
                    ANNOTATION_CLUSTER_WIDE,
                    ANNOTATION_NAMESPACE_WIDE,
                ]
                .contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !merged.is_empty() {
            template
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(merged);
        }
    }

    let annotations = existing
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    let old = annotations
        .get(ANNOTATION_KEY_IDS)
        .map(|l| parse_key_ids(l))
        .unwrap_or_default();
    let ids = format_key_ids(std::iter::once(cert.key_id()).chain(old.iter()));
    annotations.insert(ANNOTATION_KEY_IDS.to_owned(), ids);
    Ok(())
}

/// Seals one value (`kubeseal --raw`), returning standard padded base64 with no newline.
///
/// `namespace` is required unless the scope is cluster-wide, `name` only for strict.
pub fn seal_raw(
    value: &[u8],
    cert: &Certificate,
    scope: Scope,
    namespace: &str,
    name: &str,
) -> Result<String, Error> {
    if scope != Scope::ClusterWide && namespace.is_empty() {
        return Err(Error::RawMissingNamespace { scope });
    }
    if scope == Scope::Strict && name.is_empty() {
        return Err(Error::RawMissingName);
    }
    if !namespace.is_empty() {
        names::check("namespace", namespace, names::namespace_problem)?;
    }
    if !name.is_empty() {
        names::check("name", name, names::object_name_problem)?;
    }
    let sealed = seal(cert.public_key(), value, &scope.label(namespace, name))?;
    Ok(encode_value(&sealed))
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

fn check_not_empty(secret: &Secret, opts: &SealOptions) -> Result<(), Error> {
    let has_data = secret.data.as_ref().is_some_and(|d| !d.is_empty());
    let has_string_data = secret.string_data.as_ref().is_some_and(|d| !d.is_empty());
    if !has_data && !has_string_data && !opts.allow_empty_data {
        return Err(Error::EmptyData);
    }
    Ok(())
}

/// What kubeseal removes from the input metadata before copying it into the template.
fn strip_for_template(meta: &mut ObjectMeta) {
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(ANNOTATION_KUBECTL_LAST_APPLIED);
        annotations.remove(ANNOTATION_KUBECFG_LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
    meta.owner_references = None;
    meta.self_link = None;
    meta.uid = None;
    meta.resource_version = None;
    meta.generation = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

/// Seals `data` items, then `stringData` items (which replace same-named `data` items).
fn seal_items(
    secret: &Secret,
    cert: &Certificate,
    label: &[u8],
) -> Result<BTreeMap<String, String>, Error> {
    for item in secret
        .data
        .iter()
        .flatten()
        .map(|(k, _)| ("data", k))
        .chain(
            secret
                .string_data
                .iter()
                .flatten()
                .map(|(k, _)| ("stringData", k)),
        )
    {
        names::check(
            &format!("{}.{}", item.0, item.1),
            item.1,
            names::item_key_problem,
        )?;
    }
    let key = cert.public_key();
    let mut out = BTreeMap::new();
    for (item, value) in secret.data.iter().flatten() {
        out.insert(item.clone(), encode_value(&seal(key, &value.0, label)?));
    }
    for (item, value) in secret.string_data.iter().flatten() {
        out.insert(
            item.clone(),
            encode_value(&seal(key, value.as_bytes(), label)?),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SealedForCheck, check_sealed_for};
    use k8s_openapi::ByteString;
    use sealant_crypto::{CertOptions, PrivateKey};

    fn secret(name: &str, items: &[&str]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some(name.to_owned());
        s.metadata.namespace = Some("prod".to_owned());
        s.data = Some(
            items
                .iter()
                .map(|i| ((*i).to_owned(), ByteString(b"v".to_vec())))
                .collect(),
        );
        s
    }

    fn fingerprint(ss: &SealedSecret) -> Option<String> {
        ss.metadata
            .annotations
            .as_ref()?
            .get(ANNOTATION_SEALED_FOR)
            .cloned()
    }

    #[test]
    fn sealed_for_is_recorded_and_kept_honest_by_merge() {
        let key = PrivateKey::generate(2048).unwrap();
        let cert = Certificate::self_signed(
            &key,
            &CertOptions::default(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let opts = SealOptions::default();
        let ss = seal_secret(&secret("db", &["a"]), &cert, &opts).unwrap();
        assert_eq!(
            fingerprint(&ss).as_deref(),
            Some(sealed_for(Scope::Strict, "prod", "db").as_str())
        );
        let top = ss.metadata.annotations.clone().unwrap();
        assert_eq!(
            check_sealed_for(&top, "prod", "db"),
            SealedForCheck::Matches
        );

        // Merging into an object with the same fingerprint keeps it.
        let mut merged = ss.clone();
        merge_into(&mut merged, &secret("x", &["b"]), &cert, &opts).unwrap();
        assert_eq!(fingerprint(&merged), fingerprint(&ss));

        // An upstream object (no annotations) with other items does not get one...
        let mut upstream = ss.clone();
        upstream.metadata.annotations = None;
        merge_into(&mut upstream, &secret("db", &["b"]), &cert, &opts).unwrap();
        assert_eq!(fingerprint(&upstream), None);
        // ...unless every item is (re)sealed now.
        let mut upstream = ss.clone();
        upstream.metadata.annotations = None;
        merge_into(&mut upstream, &secret("db", &["a", "b"]), &cert, &opts).unwrap();
        assert_eq!(fingerprint(&upstream), fingerprint(&ss));

        // A renamed object keeps its old fingerprint, so the rename stays visible offline.
        let mut renamed = ss.clone();
        renamed.metadata.name = Some("db2".to_owned());
        merge_into(&mut renamed, &secret("db2", &["b"]), &cert, &opts).unwrap();
        assert_eq!(fingerprint(&renamed), fingerprint(&ss));
        let top = renamed.metadata.annotations.clone().unwrap();
        assert_eq!(check_sealed_for(&top, "prod", "db2"), SealedForCheck::Moved);
    }

    #[test]
    fn names_and_keys_kubernetes_would_refuse_are_not_sealed() {
        let cert = Certificate::from_pem(include_bytes!("../../../testdata/vectors/cert-2048.pem"))
            .unwrap();
        let opts = SealOptions::default();
        assert!(seal_secret(&secret("db", &["tls.crt"]), &cert, &opts).is_ok());
        for (s, field) in [
            (secret("Db_1", &["a"]), "metadata.name"),
            (secret("db", &["a/b"]), "data.a/b"),
            (secret("db", &["..a"]), "data...a"),
        ] {
            let err = seal_secret(&s, &cert, &opts).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains("is not valid"), "{err}");
        }
        let mut bad_ns = secret("db", &["a"]);
        bad_ns.metadata.namespace = Some("Prod".to_owned());
        let err = seal_secret(&bad_ns, &cert, &opts).unwrap_err().to_string();
        assert!(err.contains("metadata.namespace"), "{err}");
        assert!(seal_raw(b"v", &cert, Scope::Strict, "prod", "a_b").is_err());
        assert!(seal_raw(b"v", &cert, Scope::Strict, "prod", "a-b").is_ok());
    }
}
