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
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
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

/// One SealedSecret as the controller caches it (see the module documentation).
///
/// Cloning it (kube-runtime's store clones every object it is given) copies the four-field
/// metadata and shares the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedSealedSecret {
    /// Name, namespace, generation and deletionTimestamp; nothing else. The uid and
    /// resourceVersion are in [`Body`]: kube-runtime copies both into every reference it makes
    /// of the object (its store key among them), as two more allocations each.
    pub metadata: ObjectMeta,
    body: Arc<Body>,
}

/// What a reconcile reads besides the metadata, in as few allocations as it takes: the text
/// and bytes of variable length are the parts of one [`Packed`] buffer.
#[derive(Debug, PartialEq)]
struct Body {
    /// uid, resourceVersion, then the [`LABEL_INSTANCE`] label's value if set, the
    /// [`UNSEAL_ANNOTATIONS`] present (key, value; sorted), the digest, `spec.template` as JSON,
    /// each `spec.encryptedData` item (name, sealed value; sorted), `spec.data` if set.
    parts: Packed,
    has_instance: bool,
    annotations: u8,
    has_data: bool,
    items: u32,
    /// Whether `spec.template.data` has any entry.
    templated: bool,
    status: Option<CachedStatus>,
    /// [`SealedSecret::status_written`] of the object.
    status_written: bool,
}

/// Byte strings in one allocation: the end offset of each (`u32`, little-endian), then the
/// strings one after another.
#[derive(Debug, PartialEq)]
struct Packed(Box<[u8]>);

impl Packed {
    fn new(parts: &[&[u8]]) -> Self {
        let head = parts.len() * 4;
        let total = head + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut buf = Vec::with_capacity(total);
        let mut end = 0usize;
        for p in parts {
            end += p.len();
            // The API server caps an object at a few MiB, far below u32::MAX.
            buf.extend_from_slice(&u32::try_from(end).unwrap_or(u32::MAX).to_le_bytes());
        }
        for p in parts {
            buf.extend_from_slice(p);
        }
        Packed(buf.into_boxed_slice())
    }

    /// Part `i` of `n`.
    fn get(&self, i: usize, n: usize) -> &[u8] {
        let end = |j: usize| -> usize {
            let b = &self.0[j * 4..j * 4 + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        };
        let start = if i == 0 { 0 } else { end(i - 1) };
        &self.0[n * 4 + start..n * 4 + end(i)]
    }
}

/// How a sealed value is kept: its bytes when the text is their standard base64 encoding, as it
/// is for every value a sealing tool writes, and the text as is otherwise (so that a malformed
/// value fails to open exactly as it would). The first byte of the part says which.
const SEALED_BYTES: u8 = 0;
const SEALED_TEXT: u8 = 1;

fn sealed_part(text: &str) -> Vec<u8> {
    match STANDARD.decode(text) {
        Ok(bytes) if STANDARD.encode(&bytes) == text => {
            let mut p = Vec::with_capacity(1 + bytes.len());
            p.push(SEALED_BYTES);
            p.extend_from_slice(&bytes);
            p
        }
        _ => {
            let mut p = Vec::with_capacity(1 + text.len());
            p.push(SEALED_TEXT);
            p.extend_from_slice(text.as_bytes());
            p
        }
    }
}

fn sealed_text(part: &[u8]) -> String {
    match part.split_first() {
        Some((&SEALED_BYTES, bytes)) => STANDARD.encode(bytes),
        Some((_, text)) => String::from_utf8_lossy(text).into_owned(),
        None => String::new(),
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

fn text(bytes: &[u8]) -> &str {
    // Every text part was a `str` when packed.
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl CachedSealedSecret {
    /// The entry for `ss`; `accept_v1_data` as the controller runs (an input of the digest).
    pub fn new(ss: &SealedSecret, accept_v1_data: bool) -> Self {
        let m = &ss.metadata;
        let metadata = ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            generation: m.generation,
            deletion_timestamp: m.deletion_timestamp.clone(),
            ..ObjectMeta::default()
        };
        let spec = &ss.spec;
        let digest = crate::reconcile::digest(ss, accept_v1_data);
        let template = serde_json::to_string(&spec.template).unwrap_or_default();
        let instance = m.labels.as_ref().and_then(|l| l.get(LABEL_INSTANCE));
        let annotations: Vec<(&String, &String)> = m
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| UNSEAL_ANNOTATIONS.contains(&k.as_str()))
            .collect();
        let sealed: Vec<Vec<u8>> = spec
            .encrypted_data
            .values()
            .map(|v| sealed_part(v))
            .collect();
        let mut parts: Vec<&[u8]> = vec![
            m.uid.as_deref().unwrap_or_default().as_bytes(),
            m.resource_version.as_deref().unwrap_or_default().as_bytes(),
        ];
        parts.extend(instance.map(|v| v.as_bytes()));
        for (k, v) in &annotations {
            parts.push(k.as_bytes());
            parts.push(v.as_bytes());
        }
        parts.push(digest.as_bytes());
        parts.push(template.as_bytes());
        for (k, v) in spec.encrypted_data.keys().zip(&sealed) {
            parts.push(k.as_bytes());
            parts.push(v);
        }
        parts.extend(spec.data.as_deref().map(str::as_bytes));
        CachedSealedSecret {
            metadata,
            body: Arc::new(Body {
                parts: Packed::new(&parts),
                has_instance: instance.is_some(),
                annotations: u8::try_from(annotations.len()).unwrap_or(u8::MAX),
                has_data: spec.data.is_some(),
                items: u32::try_from(sealed.len()).unwrap_or(u32::MAX),
                templated: spec.template.data.as_ref().is_some_and(|d| !d.is_empty()),
                status: ss.status.as_ref().and_then(CachedStatus::new),
                status_written: ss.status_written(),
            }),
        }
    }
    /// The digest of everything the Secret is derived from.
    pub fn digest(&self) -> &str {
        text(self.body.part(self.body.digest_at()))
    }

    /// The object's uid (`""` if it had none).
    pub fn uid(&self) -> &str {
        text(self.body.part(0))
    }

    /// The object's resourceVersion (`None` if it had none).
    pub fn resource_version(&self) -> Option<&str> {
        Some(text(self.body.part(1))).filter(|v| !v.is_empty())
    }

    /// Whether a controller has written the status ([`SealedSecret::status_written`]).
    pub fn status_written(&self) -> bool {
        self.body.status_written
    }

    /// The status.
    pub fn status(&self) -> Option<SealedSecretStatus> {
        self.body.status.as_ref().map(CachedStatus::status)
    }

    /// Whether `spec.template.data` has any entry.
    pub fn templated(&self) -> bool {
        self.body.templated
    }

    /// The value of the [`LABEL_INSTANCE`] label, or `""`.
    pub fn instance(&self) -> &str {
        if self.body.has_instance {
            text(self.body.part(2))
        } else {
            ""
        }
    }

    /// A reference to the object for events: kind, name, namespace, uid and resourceVersion.
    pub fn reference(&self) -> ObjectReference {
        let mut r = self.object_ref(&());
        r.uid = Some(self.uid().to_owned()).filter(|u| !u.is_empty());
        r.resource_version = self.resource_version().map(str::to_owned);
        r
    }

    /// The object to unseal: the same identity, scope and key-id annotations and spec as the
    /// one this entry was made from, so it opens and digests exactly as that one.
    pub fn to_sealed_secret(&self) -> SealedSecret {
        let b = &*self.body;
        let mut metadata = self.metadata.clone();
        metadata.uid = Some(self.uid().to_owned()).filter(|u| !u.is_empty());
        metadata.resource_version = self.resource_version().map(str::to_owned);
        let annotations: BTreeMap<String, String> = (0..usize::from(b.annotations))
            .map(|i| {
                let at = b.head() + 2 * i;
                (text(b.part(at)).to_owned(), text(b.part(at + 1)).to_owned())
            })
            .collect();
        metadata.annotations = (!annotations.is_empty()).then_some(annotations);
        let template: SecretTemplateSpec =
            serde_json::from_str(text(b.part(b.digest_at() + 1))).unwrap_or_default();
        SealedSecret {
            metadata,
            spec: SealedSecretSpec {
                template,
                encrypted_data: b
                    .items()
                    .map(|(k, v)| (k.to_owned(), sealed_text(v)))
                    .collect(),
                data: b.has_data.then(|| text(b.part(b.len() - 1)).to_owned()),
            },
            status: self.status(),
        }
    }
}

impl Body {
    /// Parts before the annotations: uid, resourceVersion, the instance label if set.
    fn head(&self) -> usize {
        2 + usize::from(self.has_instance)
    }

    /// Index of the digest part.
    fn digest_at(&self) -> usize {
        self.head() + 2 * usize::from(self.annotations)
    }

    /// Number of parts.
    fn len(&self) -> usize {
        self.digest_at() + 2 + 2 * self.items as usize + usize::from(self.has_data)
    }

    fn part(&self, i: usize) -> &[u8] {
        self.parts.get(i, self.len())
    }

    /// `(name, sealed value part)` of each `spec.encryptedData` item.
    fn items(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let first = self.digest_at() + 2;
        (0..self.items as usize)
            .map(move |i| (text(self.part(first + 2 * i)), self.part(first + 2 * i + 1)))
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
    use kube::runtime::reflector::ObjectRef;

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
            matches!(c.body.status, Some(CachedStatus::Ready(..))),
            "{:?}",
            c.body.status
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
            matches!(c.body.status, Some(CachedStatus::Ready(.., false))),
            "{:?}",
            c.body.status
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
                matches!(c.body.status, Some(CachedStatus::Json(_))),
                "{:?}",
                c.body.status
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
        let mut ss = object(&values, None);
        ss.spec.data = Some("djEgZm9ybWF0".into());
        let c = CachedSealedSecret::new(&ss, true);
        assert_eq!(
            c.body.items().next().map(|(k, v)| (k, v[0])),
            Some(("canonical", SEALED_BYTES))
        );
        assert_eq!(c.body.items().count(), values.len());
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
        assert_eq!(back.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!((c.uid(), c.resource_version()), ("u-1", Some("7")));
        // kube-runtime's references (store key, scheduler) carry no uid or resourceVersion.
        let r = ObjectRef::from_obj(&c);
        assert_eq!((r.extra.uid, r.extra.resource_version), (None, None));
        let r = c.reference();
        assert_eq!(
            (r.uid.as_deref(), r.resource_version.as_deref()),
            (Some("u-1"), Some("7"))
        );
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref()),
            (Some("SealedSecret"), Some("s"))
        );
        // A clone shares everything but the metadata.
        assert!(Arc::ptr_eq(&c.clone().body, &c.body));
    }
}
