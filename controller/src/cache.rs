//! What the controller keeps of each SealedSecret between reconciles: [`CachedSealedSecret`].
//!
//! The cache holds every SealedSecret in the watched scope, so its entry is most of what the
//! controller's memory grows with. A `SealedSecret` as parsed costs about 4 KiB with one sealed
//! value (a B-tree node of 11 slots for each small map, two full `ObjectMeta`s, conditions with
//! their strings); this entry keeps only what a reconcile reads, in flat form: identity and
//! version, the two annotations that decide how values open (scope, key ids), the digest of what
//! the Secret is derived from (computed once per version instead of on every pass), the status
//! (by its timestamps when it is the one a success writes, as JSON otherwise), and the spec with
//! the ciphertexts as exact-size bytes (base64 is a third larger) and the template as its JSON.
//! [`CachedSealedSecret::to_sealed_secret`] gives back an object that unseals exactly as the
//! original (same spec, same digest), for the passes that decrypt; each compact form is used
//! only when it gives back exactly what it was made from.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Resource;
use sealant_api::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_KEY_IDS, ANNOTATION_NAMESPACE_WIDE, SealedSecret,
    SealedSecretSpec, SealedSecretStatus, SecretTemplateSpec,
};

/// The label whose value the `condition_info` metric carries (upstream's).
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";

/// The top-level annotations that change how a value opens: scope and key-id hints.
const UNSEAL_ANNOTATIONS: [&str; 3] = [
    ANNOTATION_CLUSTER_WIDE,
    ANNOTATION_NAMESPACE_WIDE,
    ANNOTATION_KEY_IDS,
];

type Pairs = Box<[(Box<str>, Box<str>)]>;

/// One SealedSecret as the controller caches it (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct CachedSealedSecret {
    /// Name, namespace, uid, resourceVersion, generation and deletionTimestamp; nothing else.
    pub metadata: ObjectMeta,
    /// The value of the [`LABEL_INSTANCE`] label, if set (kept here rather than in
    /// `metadata.labels`, whose map would cost a B-tree node of 11 slots for one label).
    instance: Option<Box<str>>,
    /// [`UNSEAL_ANNOTATIONS`] present on the object, sorted.
    annotations: Pairs,
    /// `sha256:<32 hex>` of everything the Secret is derived from ([`crate::reconcile::digest`]).
    digest: Box<str>,
    /// Whether `spec.template.data` has any entry.
    templated: bool,
    /// `spec.template` as JSON.
    template: Box<str>,
    /// `spec.encryptedData`, sorted by item name.
    encrypted_data: Box<[(Box<str>, Sealed)]>,
    /// `spec.data` (deprecated v1 format).
    data: Option<Box<str>>,
    status: Option<CachedStatus>,
    /// [`SealedSecret::status_written`] of the object.
    status_written: bool,
}

/// A sealed value: its bytes when the text is their standard base64 encoding, as it is for
/// every value a sealing tool writes, and the text as is otherwise (so that a malformed value
/// fails to open exactly as it would).
#[derive(Clone, Debug, PartialEq)]
enum Sealed {
    Bytes(Box<[u8]>),
    Text(Box<str>),
}

impl Sealed {
    fn new(text: &str) -> Self {
        match STANDARD.decode(text) {
            Ok(bytes) if STANDARD.encode(&bytes) == text => Sealed::Bytes(bytes.into()),
            _ => Sealed::Text(text.into()),
        }
    }

    fn text(&self) -> String {
        match self {
            Sealed::Bytes(b) => STANDARD.encode(b),
            Sealed::Text(t) => t.to_string(),
        }
    }
}

/// A status: the one a success writes ([`Outcome::Ready`](crate::status::Outcome::Ready)) by
/// what varies in it, any other as JSON.
#[derive(Clone, Debug, PartialEq)]
enum CachedStatus {
    /// `observedGeneration`; per condition (`Ready`, `Synced`) its last update and last
    /// transition times; whether the conditions carry `observedGeneration` (upstream's CRD has
    /// no such field, so the API server prunes it while that CRD is installed).
    Ready(Option<i64>, [Time; 4], bool),
    Json(Box<str>),
}

impl CachedStatus {
    fn new(status: &SealedSecretStatus) -> Option<Self> {
        let times = |c: &sealant_api::Condition| {
            Some([c.last_update_time.clone()?, c.last_transition_time.clone()?])
        };
        if let [ready, synced] = status.conditions.as_slice()
            && let (Some([u0, t0]), Some([u1, t1])) = (times(ready), times(synced))
        {
            let with_generation = ready.observed_generation.is_some();
            let compact = CachedStatus::Ready(
                status.observed_generation,
                [u0, t0, u1, t1],
                with_generation,
            );
            if compact.status() == *status {
                return Some(compact);
            }
        }
        serde_json::to_string(status)
            .ok()
            .map(|j| CachedStatus::Json(j.into()))
    }

    fn status(&self) -> SealedSecretStatus {
        match self {
            CachedStatus::Ready(generation, times, with_generation) => {
                let [u0, t0, u1, t1] = times;
                let mut s = crate::status::desired(
                    None,
                    *generation,
                    &crate::status::Outcome::Ready,
                    &[],
                    u0,
                );
                for (c, (u, t)) in s.conditions.iter_mut().zip([(u0, t0), (u1, t1)]) {
                    c.last_update_time = Some(u.clone());
                    c.last_transition_time = Some(t.clone());
                    if !with_generation {
                        c.observed_generation = None;
                    }
                }
                s
            }
            CachedStatus::Json(j) => serde_json::from_str(j).unwrap_or_default(),
        }
    }
}

fn pairs<'a>(it: impl Iterator<Item = (&'a String, &'a String)>) -> Pairs {
    it.map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect()
}

fn map(pairs: &Pairs) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl CachedSealedSecret {
    /// The entry for `ss`; `accept_v1_data` as the controller runs (an input of the digest).
    pub fn new(ss: &SealedSecret, accept_v1_data: bool) -> Self {
        let m = &ss.metadata;
        let metadata = ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            generation: m.generation,
            deletion_timestamp: m.deletion_timestamp.clone(),
            ..ObjectMeta::default()
        };
        let annotations = m.annotations.as_ref().map_or_else(Pairs::default, |a| {
            pairs(
                a.iter()
                    .filter(|(k, _)| UNSEAL_ANNOTATIONS.contains(&k.as_str())),
            )
        });
        let spec = &ss.spec;
        CachedSealedSecret {
            metadata,
            instance: m
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_INSTANCE))
                .map(|v| v.as_str().into()),
            annotations,
            digest: crate::reconcile::digest(ss, accept_v1_data).into(),
            templated: spec.template.data.as_ref().is_some_and(|d| !d.is_empty()),
            template: serde_json::to_string(&spec.template)
                .unwrap_or_default()
                .into(),
            encrypted_data: spec
                .encrypted_data
                .iter()
                .map(|(k, v)| (k.as_str().into(), Sealed::new(v)))
                .collect(),
            data: spec.data.as_deref().map(Into::into),
            status: ss.status.as_ref().and_then(CachedStatus::new),
            status_written: ss.status_written(),
        }
    }

    /// The digest of everything the Secret is derived from.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether a controller has written the status ([`SealedSecret::status_written`]).
    pub fn status_written(&self) -> bool {
        self.status_written
    }

    /// The status.
    pub fn status(&self) -> Option<SealedSecretStatus> {
        self.status.as_ref().map(CachedStatus::status)
    }

    /// Whether `spec.template.data` has any entry.
    pub fn templated(&self) -> bool {
        self.templated
    }

    /// The value of the [`LABEL_INSTANCE`] label, or `""`.
    pub fn instance(&self) -> &str {
        self.instance.as_deref().unwrap_or_default()
    }

    /// The object to unseal: the same identity, scope and key-id annotations and spec as the
    /// one this entry was made from, so it opens and digests exactly as that one.
    pub fn to_sealed_secret(&self) -> SealedSecret {
        let mut metadata = self.metadata.clone();
        metadata.annotations = (!self.annotations.is_empty()).then(|| map(&self.annotations));
        let template: SecretTemplateSpec = serde_json::from_str(&self.template).unwrap_or_default();
        SealedSecret {
            metadata,
            spec: SealedSecretSpec {
                template,
                encrypted_data: self
                    .encrypted_data
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.text()))
                    .collect(),
                data: self.data.as_deref().map(str::to_owned),
            },
            status: self.status(),
        }
    }
}

impl Resource for CachedSealedSecret {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        SealedSecret::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        SealedSecret::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        SealedSecret::version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        SealedSecret::plural(&())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// kube-runtime's controller asks its object type to be deserializable, though it never
/// deserializes one when fed from a stream, as here. An entry is made from a parsed
/// [`SealedSecret`] and the controller's options ([`CachedSealedSecret::new`]), never from JSON,
/// so this refuses.
impl<'de> serde::Deserialize<'de> for CachedSealedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a cached SealedSecret is made from a SealedSecret, not deserialized",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Outcome, desired};
    use k8s_openapi::jiff::Timestamp;

    fn t(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap_or_default())
    }

    fn object(values: &[(&str, &str)], status: Option<SealedSecretStatus>) -> SealedSecret {
        let mut ss: SealedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "s", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                         "generation": 3, "labels": {LABEL_INSTANCE: "shop", "other": "x"},
                         "annotations": {ANNOTATION_NAMESPACE_WIDE: "true", "note": "dropped"}},
            "spec": {"template": {"metadata": {"name": "s", "labels": {"a": "b"}}, "type": "Opaque"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        ss.spec.encrypted_data = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ss.status = status;
        ss
    }

    /// The status as a success writes it, with transition and update times that differ, is kept
    /// by its times and given back field for field.
    #[test]
    fn a_ready_status_is_kept_by_its_times_and_given_back_exactly() {
        let first = desired(None, Some(2), &Outcome::Ready, &[], &t(10));
        let status = desired(Some(&first), Some(3), &Outcome::Ready, &[], &t(20));
        let ss = object(&[("k", "AAEC")], Some(status.clone()));
        let c = CachedSealedSecret::new(&ss, true);
        assert!(
            matches!(c.status, Some(CachedStatus::Ready(..))),
            "{:?}",
            c.status
        );
        assert_eq!(c.status(), Some(status.clone()));
        assert!(c.status_written());

        // As stored under upstream's CRD, which prunes the conditions' observedGeneration.
        let mut pruned = status;
        for c in &mut pruned.conditions {
            c.observed_generation = None;
        }
        let ss = object(&[("k", "AAEC")], Some(pruned.clone()));
        let c = CachedSealedSecret::new(&ss, true);
        assert!(
            matches!(c.status, Some(CachedStatus::Ready(.., false))),
            "{:?}",
            c.status
        );
        assert_eq!(c.status(), Some(pruned));
    }

    /// Any other status (a failure, a success written by another controller with other words,
    /// one with a compromised key, the CRD's default) is kept as JSON and given back exactly.
    #[test]
    fn any_other_status_is_given_back_exactly() {
        let stalled = desired(
            None,
            Some(3),
            &Outcome::Stalled {
                reason: "NoKeyMatches".into(),
                message: "m".into(),
            },
            &[],
            &t(5),
        );
        let mut other_words = desired(None, Some(3), &Outcome::Ready, &[], &t(5));
        other_words.conditions[0].message = Some("unsealed by someone else".into());
        let mut no_times = desired(None, Some(3), &Outcome::Ready, &[], &t(5));
        no_times.conditions[1].last_update_time = None;
        let defaulted = SealedSecretStatus {
            conditions: Vec::new(),
            observed_generation: Some(-1),
        };
        // Ready, but a compromised key opened it: the warning is in the messages.
        let compromised = desired(None, Some(3), &Outcome::Ready, &["k1".to_owned()], &t(5));
        for status in [stalled, other_words, no_times, defaulted, compromised] {
            let ss = object(&[("k", "AAEC")], Some(status.clone()));
            let c = CachedSealedSecret::new(&ss, true);
            assert!(
                matches!(c.status, Some(CachedStatus::Json(_))),
                "{:?}",
                c.status
            );
            assert_eq!(c.status(), Some(status));
            assert_eq!(c.status_written(), ss.status_written());
        }
        let none = CachedSealedSecret::new(&object(&[], None), true);
        assert_eq!(none.status(), None);
        assert!(!none.status_written());
    }

    /// Every sealed value comes back as the same text, whether it was kept as bytes (standard
    /// base64) or as text (anything else: unpadded, URL-safe, stray bits, whitespace, not base64
    /// at all), so the object opens, fails and digests exactly as the original.
    #[test]
    fn sealed_values_come_back_verbatim() {
        let values = [
            ("canonical", "AAECAwQ="),
            ("empty", ""),
            ("unpadded", "AAECAwQ"),
            ("url-safe", "-_-_"),
            ("stray-bits", "AAF="),
            ("newline", "AAEC\n"),
            ("garbage", "not base64!"),
        ];
        let ss = object(&values, None);
        let c = CachedSealedSecret::new(&ss, true);
        assert!(matches!(c.encrypted_data[0].1, Sealed::Bytes(_)));
        let back = c.to_sealed_secret();
        assert_eq!(back.spec, ss.spec);
        assert_eq!(
            crate::reconcile::digest(&back, true),
            crate::reconcile::digest(&ss, true)
        );
        assert_eq!(c.digest(), crate::reconcile::digest(&ss, true));
        assert_eq!(c.instance(), "shop");
        // Only the annotations that decide how values open are kept.
        assert_eq!(
            back.metadata.annotations,
            Some(BTreeMap::from([(
                ANNOTATION_NAMESPACE_WIDE.to_owned(),
                "true".to_owned()
            )]))
        );
        assert_eq!(back.metadata.uid.as_deref(), Some("u-1"));
    }
}
