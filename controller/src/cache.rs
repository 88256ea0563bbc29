//! What the controller keeps of each SealedSecret between reconciles: [`CachedSealedSecret`].
//!
//! The cache holds every SealedSecret in the watched scope, so its entry is most of what the
//! controller's memory grows with. A `SealedSecret` as parsed costs about 4 KiB with one sealed
//! value (a B-tree node of 11 slots for each small map, two full `ObjectMeta`s, conditions with
//! their strings); this entry keeps only what a reconcile reads, in flat form: identity and
//! version, the two annotations that decide how values open (scope, key ids), the digest of what
//! the Secret is derived from (computed once per version instead of on every pass), the status
//! as its JSON, and the spec with the ciphertexts as exact-size strings and the template as its
//! JSON. [`CachedSealedSecret::to_sealed_secret`] gives back an object that unseals exactly as
//! the original (same spec, same digest), for the passes that decrypt.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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
    /// Name, namespace, uid, resourceVersion, generation, deletionTimestamp, and the
    /// [`LABEL_INSTANCE`] label if set; nothing else.
    pub metadata: ObjectMeta,
    /// [`UNSEAL_ANNOTATIONS`] present on the object, sorted.
    annotations: Pairs,
    /// `sha256:<32 hex>` of everything the Secret is derived from ([`crate::reconcile::digest`]).
    digest: Box<str>,
    /// Whether `spec.template.data` has any entry.
    templated: bool,
    /// `spec.template` as JSON.
    template: Box<str>,
    /// `spec.encryptedData`, sorted by item name.
    encrypted_data: Pairs,
    /// `spec.data` (deprecated v1 format).
    data: Option<Box<str>>,
    /// `status` as JSON.
    status: Option<Box<str>>,
    /// [`SealedSecret::status_written`] of the object.
    status_written: bool,
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
        let labels = m
            .labels
            .as_ref()
            .and_then(|l| l.get_key_value(LABEL_INSTANCE))
            .map(|(k, v)| BTreeMap::from([(k.clone(), v.clone())]));
        let metadata = ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            generation: m.generation,
            deletion_timestamp: m.deletion_timestamp.clone(),
            labels,
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
            annotations,
            digest: crate::reconcile::digest(ss, accept_v1_data).into(),
            templated: spec.template.data.as_ref().is_some_and(|d| !d.is_empty()),
            template: serde_json::to_string(&spec.template)
                .unwrap_or_default()
                .into(),
            encrypted_data: pairs(spec.encrypted_data.iter()),
            data: spec.data.as_deref().map(Into::into),
            status: ss
                .status
                .as_ref()
                .and_then(|s| serde_json::to_string(s).ok())
                .map(Into::into),
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
        self.status
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }

    /// Whether `spec.template.data` has any entry.
    pub fn templated(&self) -> bool {
        self.templated
    }

    /// The value of the [`LABEL_INSTANCE`] label, or `""`.
    pub fn instance(&self) -> &str {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_INSTANCE))
            .map_or("", String::as_str)
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
                encrypted_data: map(&self.encrypted_data),
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
