//! Deciding what to do with an existing Secret (compat spec §3.4 steps 6–7), without I/O.
//!
//! - A Secret that is neither controlled by the SealedSecret nor annotated `managed`/`patch`
//!   is never touched ([`Plan::Conflict`]).
//! - `patch: "true"` on the EXISTING Secret: data, labels and annotations are merged key by key
//!   (new values win); ownerReferences are replaced only if it is also `managed: "true"`.
//! - Otherwise data, labels, annotations and ownerReferences are replaced; other metadata
//!   (finalizers, …) is kept. sealant also keeps the existing `managed`/`patch` annotations so
//!   a taken-over Secret stays managed.
//! - `type` comes from the template; `immutable` is only set on create.
//! - Nothing is written when the result equals the existing Secret.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{ANNOTATION_MANAGED, ANNOTATION_PATCH};

/// sealant's annotation on Secrets it writes: a digest of what the Secret was unsealed from.
/// An unchanged SealedSecret whose Secret carries the same digest is not decrypted again.
pub const ANNOTATION_UNSEALED_FROM: &str = "sealant.dev/unsealed-from";

/// sealant's label on Secrets it writes (value `"true"`). The controller watches only Secrets
/// that carry it (selected by the API server), so Secrets it has nothing to do with cost it
/// nothing; a Secret it did not write, or wrote before it set this label, is read on demand.
pub const LABEL_UNSEALED: &str = "sealant.dev/unsealed";

/// Whether `secret` carries [`LABEL_UNSEALED`].
pub fn labelled(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(LABEL_UNSEALED))
        .is_some_and(|v| v == "true")
}

/// What to do with the target Secret.
#[derive(Debug)]
pub enum Plan {
    /// No Secret exists: create this one.
    Create(Box<Secret>),
    /// Replace the existing Secret with this one (PUT, carries its resourceVersion).
    Update(Box<Secret>),
    /// The existing Secret already matches.
    Unchanged,
    /// A Secret exists that this SealedSecret neither owns nor manages.
    Conflict,
    /// The existing Secret is immutable and its data or type would change.
    Immutable,
}

/// Whether `secret` is controlled by the SealedSecret with `uid`.
pub fn is_controlled_by(secret: &Secret, uid: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

fn annotated(secret: &Secret, key: &str) -> bool {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

/// Whether the controller may write `existing` on behalf of the SealedSecret with `uid`:
/// controlled by it, annotated `managed` or `patch`, or written by sealant before (it carries
/// [`ANNOTATION_UNSEALED_FROM`]; this covers `skip-set-owner-references`).
pub fn may_write(existing: &Secret, uid: &str) -> bool {
    is_controlled_by(existing, uid)
        || recorded_digest(existing).is_some()
        || annotated(existing, ANNOTATION_MANAGED)
        || annotated(existing, ANNOTATION_PATCH)
}

/// The digest recorded on `secret`, if any.
pub fn recorded_digest(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_UNSEALED_FROM))
        .map(String::as_str)
}

/// Plans the write of `desired` (the unsealed Secret) over `existing`.
pub fn plan(existing: Option<&Secret>, desired: Secret, uid: &str) -> Plan {
    let Some(existing) = existing else {
        return Plan::Create(Box::new(desired));
    };
    // What is not written is wiped here: it holds the plaintext.
    let mut desired = desired;
    if !may_write(existing, uid) {
        crate::wipe::secret(&mut desired);
        return Plan::Conflict;
    }
    let mut merged = merge(existing, desired);
    if same(existing, &merged) {
        crate::wipe::secret(&mut merged);
        return Plan::Unchanged;
    }
    if existing.immutable == Some(true)
        && (!data_eq(&existing.data, &merged.data) || type_of(existing) != type_of(&merged))
    {
        crate::wipe::secret(&mut merged);
        return Plan::Immutable;
    }
    Plan::Update(Box::new(merged))
}

fn type_of(s: &Secret) -> &str {
    s.type_
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or("Opaque")
}

fn norm<V: Clone>(m: &Option<BTreeMap<String, V>>) -> BTreeMap<String, V> {
    m.clone().unwrap_or_default()
}

/// `data` equality, absent = empty, without copying the values.
fn data_eq(
    a: &Option<BTreeMap<String, ByteString>>,
    b: &Option<BTreeMap<String, ByteString>>,
) -> bool {
    a.as_ref().filter(|m| !m.is_empty()) == b.as_ref().filter(|m| !m.is_empty())
}

fn some_if_any<V>(m: BTreeMap<String, V>) -> Option<BTreeMap<String, V>> {
    Some(m).filter(|m| !m.is_empty())
}

/// `existing` with `desired` merged in or replacing its content, per the rules above.
pub fn merge(existing: &Secret, desired: Secret) -> Secret {
    // Everything but the values, which are copied only where kept (patch mode).
    let mut out = Secret {
        data: None,
        immutable: existing.immutable,
        metadata: existing.metadata.clone(),
        string_data: None,
        type_: existing.type_.clone(),
    };
    out.type_ = Some(type_of(&desired).to_owned());
    let patch = annotated(existing, ANNOTATION_PATCH);
    let managed = annotated(existing, ANNOTATION_MANAGED);
    if patch {
        let mut data = norm(&existing.data);
        data.extend(desired.data.unwrap_or_default());
        out.data = some_if_any(data);
        let mut labels = norm(&existing.metadata.labels);
        labels.extend(desired.metadata.labels.unwrap_or_default());
        out.metadata.labels = some_if_any(labels);
        let mut annotations = norm(&existing.metadata.annotations);
        annotations.extend(desired.metadata.annotations.unwrap_or_default());
        out.metadata.annotations = some_if_any(annotations);
        if managed {
            out.metadata.owner_references = desired.metadata.owner_references;
        }
    } else {
        out.data = desired.data.filter(|d| !d.is_empty());
        out.metadata.labels = desired.metadata.labels.filter(|l| !l.is_empty());
        let mut annotations = desired.metadata.annotations.unwrap_or_default();
        for keep in [ANNOTATION_MANAGED, ANNOTATION_PATCH] {
            if let Some(v) = existing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(keep))
            {
                annotations
                    .entry(keep.to_owned())
                    .or_insert_with(|| v.clone());
            }
        }
        out.metadata.annotations = some_if_any(annotations);
        out.metadata.owner_references = desired.metadata.owner_references.filter(|o| !o.is_empty());
    }
    out.string_data = None;
    out
}

/// Semantic equality of the fields the controller writes.
fn same(a: &Secret, b: &Secret) -> bool {
    data_eq(&a.data, &b.data)
        && norm(&a.metadata.labels) == norm(&b.metadata.labels)
        && norm(&a.metadata.annotations) == norm(&b.metadata.annotations)
        && a.metadata.owner_references.clone().unwrap_or_default()
            == b.metadata.owner_references.clone().unwrap_or_default()
        && type_of(a) == type_of(b)
}

/// What the Secret watch tells about Secrets sealant wrote: per `namespace/name`, the recorded
/// digest and the uid of the controlling owner. Only 128-bit fingerprints (SHA-256, truncated)
/// of those strings are kept, under 64 bytes per Secret and no allocation of its own, so a
/// reconcile whose Secret is known to be in sync needs no API request.
#[derive(Debug)]
pub struct SecretIndex {
    entries: std::sync::Mutex<IndexState>,
    synced: tokio::sync::watch::Sender<bool>,
}

impl Default for SecretIndex {
    fn default() -> Self {
        SecretIndex {
            entries: Default::default(),
            synced: tokio::sync::watch::channel(false).0,
        }
    }
}

type Fingerprint = [u8; 16];

#[derive(Debug, Default)]
struct IndexState {
    live: std::collections::HashMap<Fingerprint, IndexEntry>,
    relisting: Option<std::collections::HashMap<Fingerprint, IndexEntry>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexEntry {
    digest: Fingerprint,
    /// The controlling owner (the API server allows at most one).
    controller: Option<Fingerprint>,
}

/// The Secrets a relist found different from what the index held before it.
#[derive(Debug, Default)]
pub struct Relisted(std::collections::HashSet<Fingerprint>);

impl Relisted {
    /// Whether the Secret `namespace/name` changed, appeared or went in the relist.
    pub fn changed(&self, namespace: &str, name: &str) -> bool {
        !self.0.is_empty() && self.0.contains(&fingerprint(&[namespace, name]))
    }
}

/// The first 128 bits of the SHA-256 of `parts`, each followed by a NUL byte.
fn fingerprint(parts: &[&str]) -> Fingerprint {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p.as_bytes());
        ctx.update(&[0]);
    }
    let mut out = [0; 16];
    out.copy_from_slice(&ctx.finish().as_ref()[..16]);
    out
}

impl SecretIndex {
    fn entry(
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Option<(Fingerprint, IndexEntry)> {
        let digest = meta.annotations.as_ref()?.get(ANNOTATION_UNSEALED_FROM)?;
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| fingerprint(&[&o.uid]));
        Some((
            Self::key(meta)?,
            IndexEntry {
                digest: fingerprint(&[digest]),
                controller,
            },
        ))
    }

    fn key(
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Option<Fingerprint> {
        Some(fingerprint(&[
            meta.namespace.as_deref()?,
            meta.name.as_deref()?,
        ]))
    }

    /// Applies one watch event. At the end of a relist (not the first list), returns the
    /// Secrets whose entry the relist changed, added or removed: a Secret deleted or edited
    /// while the watch was down has no event of its own.
    pub fn observe<K: kube::Resource>(&self, event: &kube::runtime::watcher::Event<K>) -> Relisted {
        use kube::runtime::watcher::Event;
        let mut st = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Init => st.relisting = Some(Default::default()),
            Event::InitApply(o) => {
                if let (Some(map), Some((k, v))) = (st.relisting.as_mut(), Self::entry(o.meta())) {
                    map.insert(k, v);
                }
            }
            Event::InitDone => {
                let relist = self.is_synced();
                let old = st
                    .relisting
                    .take()
                    .map(|map| std::mem::replace(&mut st.live, map));
                self.synced.send_replace(true);
                if let (true, Some(old)) = (relist, old) {
                    let new = &st.live;
                    let gone_or_changed = old.iter().filter(|(k, v)| new.get(*k) != Some(*v));
                    let added = new.keys().filter(|k| !old.contains_key(*k));
                    return Relisted(
                        gone_or_changed
                            .map(|(k, _)| *k)
                            .chain(added.copied())
                            .collect(),
                    );
                }
            }
            Event::Apply(o) => match (Self::entry(o.meta()), Self::key(o.meta())) {
                (Some((k, v)), _) => {
                    st.live.insert(k, v);
                }
                (None, Some(k)) => {
                    st.live.remove(&k);
                }
                _ => {}
            },
            Event::Delete(o) => {
                if let Some(k) = Self::key(o.meta()) {
                    st.live.remove(&k);
                }
            }
        }
        Relisted::default()
    }

    /// Records a Secret this replica just wrote (as the API server returned it), ahead of the
    /// watch: the reconcile that the write's own watch events trigger then needs no read even
    /// when the Secret watch lags behind the SealedSecret watch. Later watch events overwrite it.
    pub fn record_written(
        &self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) {
        if let Some((k, v)) = Self::entry(meta) {
            let mut st = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            st.live.insert(k, v);
        }
    }

    /// Whether the first full list of Secrets has been seen.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Whether the index holds an entry for `namespace/name` (a Secret sealant wrote).
    pub fn knows(&self, namespace: &str, name: &str) -> bool {
        let st = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        st.live.contains_key(&fingerprint(&[namespace, name]))
    }

    /// Waits until the first full list of Secrets has been seen.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Whether the Secret `namespace/name` is known to carry `digest` and be controlled by `uid`.
    pub fn in_sync(&self, namespace: &str, name: &str, digest: &str, uid: &str) -> bool {
        let key = fingerprint(&[namespace, name]);
        let want = IndexEntry {
            digest: fingerprint(&[digest]),
            controller: Some(fingerprint(&[uid])),
        };
        let st = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        st.live.get(&key) == Some(&want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn secret(data: &[(&str, &str)], annotations: &[(&str, &str)], owner: Option<&str>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                namespace: Some("ns".into()),
                annotations: some_if_any(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        api_version: "bitnami.com/v1alpha1".into(),
                        kind: "SealedSecret".into(),
                        name: "s".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        block_owner_deletion: None,
                    }]
                }),
                ..Default::default()
            },
            data: some_if_any(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            type_: Some("Opaque".into()),
            ..Default::default()
        }
    }

    #[test]
    fn create_when_missing() {
        assert!(matches!(
            plan(None, secret(&[("a", "1")], &[], Some("u")), "u"),
            Plan::Create(_)
        ));
    }

    #[test]
    fn unmanaged_is_conflict() {
        let existing = secret(&[("a", "x")], &[], None);
        assert!(matches!(
            plan(Some(&existing), secret(&[("a", "1")], &[], Some("u")), "u"),
            Plan::Conflict
        ));
        let other_owner = secret(&[("a", "x")], &[], Some("other"));
        assert!(matches!(
            plan(
                Some(&other_owner),
                secret(&[("a", "1")], &[], Some("u")),
                "u"
            ),
            Plan::Conflict
        ));
    }

    #[test]
    fn replace_and_unchanged() {
        let existing = secret(&[("a", "x"), ("old", "y")], &[], Some("u"));
        let desired = secret(&[("a", "1")], &[], Some("u"));
        let Plan::Update(s) = plan(Some(&existing), desired.clone(), "u") else {
            panic!("expected update")
        };
        assert_eq!(s.data.as_ref().unwrap().len(), 1);
        assert!(matches!(plan(Some(&s), desired, "u"), Plan::Unchanged));
    }

    #[test]
    fn patch_merges_and_keeps_owner_unless_managed() {
        let existing = secret(
            &[("keep", "k"), ("a", "x")],
            &[(ANNOTATION_PATCH, "true")],
            None,
        );
        let desired = secret(&[("a", "1")], &[], Some("u"));
        let Plan::Update(s) = plan(Some(&existing), desired.clone(), "u") else {
            panic!("expected update")
        };
        let data = s.data.unwrap();
        assert_eq!(data["keep"].0, b"k");
        assert_eq!(data["a"].0, b"1");
        assert!(s.metadata.owner_references.is_none());

        let managed = secret(
            &[("a", "x")],
            &[(ANNOTATION_PATCH, "true"), (ANNOTATION_MANAGED, "true")],
            None,
        );
        let Plan::Update(s) = plan(Some(&managed), desired, "u") else {
            panic!("expected update")
        };
        assert_eq!(s.metadata.owner_references.unwrap()[0].uid, "u");
    }

    #[test]
    fn managed_replace_keeps_managed_annotation() {
        let existing = secret(&[("a", "x")], &[(ANNOTATION_MANAGED, "true")], None);
        let Plan::Update(s) = plan(Some(&existing), secret(&[("a", "1")], &[], Some("u")), "u")
        else {
            panic!("expected update")
        };
        assert!(annotated(&s, ANNOTATION_MANAGED));
    }

    #[test]
    fn immutable_data_change_is_refused() {
        let mut existing = secret(&[("a", "x")], &[], Some("u"));
        existing.immutable = Some(true);
        assert!(matches!(
            plan(Some(&existing), secret(&[("a", "1")], &[], Some("u")), "u"),
            Plan::Immutable
        ));
    }

    #[test]
    fn index_follows_watch_events() {
        use kube::runtime::watcher::Event;
        let idx = SecretIndex::default();
        let mut s = secret(
            &[("a", "1")],
            &[(ANNOTATION_UNSEALED_FROM, "d1")],
            Some("u"),
        );
        idx.observe(&Event::<Secret>::Init);
        idx.observe(&Event::InitApply(s.clone()));
        assert!(!idx.in_sync("ns", "s", "d1", "u"), "not before InitDone");
        idx.observe(&Event::<Secret>::InitDone);
        assert!(idx.in_sync("ns", "s", "d1", "u"));
        assert!(!idx.in_sync("ns", "s", "d2", "u"));
        assert!(!idx.in_sync("ns", "s", "d1", "other"));
        s.metadata.owner_references = None;
        idx.observe(&Event::Apply(s.clone()));
        assert!(!idx.in_sync("ns", "s", "d1", "u"));
        // Written by sealant without an owner (skip-set-owner-references): never in sync, but
        // known, so a SealedSecret without status reads it instead of creating blindly.
        assert!(idx.knows("ns", "s"));
        idx.observe(&Event::Delete(s));
        assert!(!idx.in_sync("ns", "s", "d1", "u"));
        assert!(!idx.knows("ns", "s"));
    }

    #[test]
    fn a_recorded_write_is_in_sync_until_the_watch_says_otherwise() {
        use kube::runtime::watcher::Event;
        let idx = SecretIndex::default();
        let s = secret(
            &[("a", "1")],
            &[(ANNOTATION_UNSEALED_FROM, "d1")],
            Some("u"),
        );
        assert!(!idx.in_sync("ns", "s", "d1", "u"));
        idx.record_written(&s.metadata);
        assert!(idx.in_sync("ns", "s", "d1", "u"));
        // A Secret without the digest (not sealant's) is not recorded.
        let mut plain = secret(&[("a", "1")], &[], Some("u"));
        plain.metadata.name = Some("plain".into());
        idx.record_written(&plain.metadata);
        assert!(!idx.knows("ns", "plain"));
        // Someone deletes it: the watch wins.
        idx.observe(&Event::Delete(s));
        assert!(!idx.in_sync("ns", "s", "d1", "u"));
    }
}
