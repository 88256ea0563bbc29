//! Unsealing: the `Secret` the controller would create from a [`SealedSecret`].

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sealant_crypto::{Error as CryptoError, KeyEntry, KeyId, Keyring, Scope, decode_value};

use crate::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_NAMESPACE_WIDE, ANNOTATION_SKIP_SET_OWNER_REFERENCES,
    SealedSecret, key_ids_from_annotations, scope_from_annotations,
};

/// How to unseal.
#[derive(Clone, Debug, Default)]
pub struct UnsealOptions {
    /// Accept the deprecated v1 `spec.data` blob (the controller's default is to accept it;
    /// offline recovery rejects it unless asked).
    pub accept_v1_data: bool,
    /// Refuse `spec.template.data` instead of rendering it (the controller's
    /// `--disable-templates`): such objects fail with [`FailureCause::TemplatesDisabled`] before
    /// anything is decrypted.
    pub templates_disabled: bool,
}

/// A successfully unsealed object.
pub struct UnsealOutput {
    /// The Secret to create (holds plaintext: never log it).
    pub secret: Secret,
    /// Private-key operations spent, including failed attempts.
    pub rsa_ops: usize,
    /// The keys that opened the values, in order of first use.
    pub key_ids: Vec<KeyId>,
}

impl fmt::Debug for UnsealOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<&String> = self
            .secret
            .data
            .as_ref()
            .map(|d| d.keys().collect())
            .unwrap_or_default();
        f.debug_struct("UnsealOutput")
            .field("namespace", &self.secret.metadata.namespace)
            .field("name", &self.secret.metadata.name)
            .field("items", &items)
            .field("rsa_ops", &self.rsa_ops)
            .field("key_ids", &self.key_ids)
            .finish_non_exhaustive()
    }
}

/// Why one item (or the object as a whole) could not be unsealed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// The value opens under another scope's label than the one the SealedSecret declares.
    ScopeMismatch {
        /// The scope the value was sealed for.
        sealed_as: Scope,
        /// The scope the SealedSecret's top-level annotations declare.
        declared: Scope,
    },
    /// A recorded key is present but the label does not match: sealed for another name or
    /// namespace than the SealedSecret has now.
    NameOrNamespaceMismatch {
        /// The scope the SealedSecret's top-level annotations declare.
        declared: Scope,
    },
    /// Sealed with a key (recorded in the key-ids annotation) this keyring does not have.
    UnknownKey(KeyId),
    /// No key could decrypt it and nothing more specific is known.
    NoKeyMatches,
    /// The keyring is empty.
    NoKeys,
    /// The value decrypted but failed its integrity check: edited or damaged.
    Corrupt,
    /// The value is too short to be a sealed value.
    TooShort,
    /// The value is not standard padded base64.
    InvalidBase64,
    /// The values would add up to more than Kubernetes allows in a Secret
    /// ([`crate::MAX_SECRET_DATA_BYTES`]).
    TooLarge(String),
    /// The legacy v1 `spec.data` is present but not accepted.
    LegacyDataRejected,
    /// Both `spec.data` and `spec.encryptedData` are present.
    LegacyDataConflict,
    /// The legacy v1 `spec.data` decrypted but is not a JSON Secret.
    LegacyDataInvalid,
    /// A `spec.template.data` template was refused before rendering (unsupported construct,
    /// wrong arity or kind, a limit its bounds exceed); the message says which. It never
    /// depends on the values' content: only on the templates, item names and value lengths.
    Template(String),
    /// `spec.template.data` is set but templates are switched off on this controller.
    TemplatesDisabled,
    /// Any other cryptographic failure.
    Other(String),
}

impl FailureCause {
    /// A CamelCase reason for status conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            FailureCause::ScopeMismatch { .. } => "ScopeMismatch",
            FailureCause::NameOrNamespaceMismatch { .. } => "NameOrNamespaceMismatch",
            FailureCause::UnknownKey(_) => "UnknownKey",
            FailureCause::NoKeyMatches => "NoKeyMatches",
            FailureCause::NoKeys => "NoKeys",
            FailureCause::Corrupt => "Corrupt",
            FailureCause::TooShort => "TooShort",
            FailureCause::InvalidBase64 => "InvalidBase64",
            FailureCause::TooLarge(_) => "TooLarge",
            FailureCause::LegacyDataRejected => "LegacyDataRejected",
            FailureCause::LegacyDataConflict => "LegacyDataConflict",
            FailureCause::LegacyDataInvalid => "LegacyDataInvalid",
            FailureCause::Template(_) => "TemplateError",
            FailureCause::TemplatesDisabled => "TemplatesDisabled",
            FailureCause::Other(_) => "UnsealFailed",
        }
    }

    /// Whether retrying with the same SealedSecret cannot help unless keys change.
    ///
    /// `UnknownKey`, `NoKeyMatches` and `NoKeys` are permanent for this object too, but a key
    /// may be added later (restored backup), so a controller may re-check them when its
    /// keyring changes.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, FailureCause::Other(_))
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::ScopeMismatch { sealed_as, declared } => {
                write!(
                    f,
                    "sealed for scope {sealed_as}, but the SealedSecret is {declared} ({} or re-seal)",
                    scope_fix(*sealed_as, *declared)
                )
            }
            FailureCause::NameOrNamespaceMismatch { declared } => {
                f.write_str(name_or_namespace_mismatch(*declared))
            }
            FailureCause::UnknownKey(id) => write!(
                f,
                "sealed with key {id}, which is not among the loaded keys: sealed for another \
                 cluster, or the key was removed"
            ),
            FailureCause::NoKeyMatches => f.write_str(
                "no key could decrypt it: sealed with another cluster's key, or for a different \
                 name/namespace/scope",
            ),
            FailureCause::NoKeys => f.write_str("no key could decrypt it: no private keys are loaded"),
            FailureCause::Corrupt => f.write_str(
                "sealed value is corrupt: its authentication tag does not match (was it edited?)",
            ),
            FailureCause::TooShort => {
                f.write_str("sealed value is too short: it is truncated or not a sealed value")
            }
            FailureCause::InvalidBase64 => f.write_str(
                "sealed value is not valid base64 (sealed values are standard base64 with '=' padding)",
            ),
            FailureCause::TooLarge(message) => f.write_str(message),
            FailureCause::LegacyDataRejected => f.write_str(
                "using deprecated 'data' field, use 'encryptedData' or flip the feature flag",
            ),
            FailureCause::LegacyDataConflict => f.write_str(
                "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time",
            ),
            FailureCause::LegacyDataInvalid => {
                f.write_str("the deprecated 'data' field decrypted, but does not hold a JSON Secret")
            }
            FailureCause::Template(message) => write!(f, "template: {message}"),
            FailureCause::TemplatesDisabled => f.write_str(
                "spec.template.data is set, but templates are disabled on this controller \
                 (--disable-templates): remove spec.template.data or enable templates",
            ),
            FailureCause::Other(message) => f.write_str(message),
        }
    }
}

/// What a label mismatch under the hinted key means for the scope the object declares.
fn name_or_namespace_mismatch(declared: Scope) -> &'static str {
    match declared {
        Scope::Strict => {
            "sealed for a different name or namespace: the key matches but the label does not; a \
             strict SealedSecret cannot be renamed or moved (seal it namespace-wide to allow \
             renames, cluster-wide to allow moves)"
        }
        Scope::NamespaceWide => {
            "sealed for a different namespace: the key matches but the label does not; a \
             namespace-wide SealedSecret can be renamed within its namespace but not moved to \
             another one (seal it for this namespace, or cluster-wide)"
        }
        Scope::ClusterWide => {
            "sealed for a particular name or namespace, not cluster-wide: the key matches but the \
             label does not (it was sealed strict or namespace-wide elsewhere; re-seal it \
             cluster-wide)"
        }
    }
}

fn scope_annotation(scope: Scope) -> &'static str {
    match scope {
        Scope::ClusterWide => ANNOTATION_CLUSTER_WIDE,
        _ => ANNOTATION_NAMESPACE_WIDE,
    }
}

fn scope_fix(sealed_as: Scope, declared: Scope) -> String {
    match (sealed_as, declared) {
        (Scope::Strict, d) => format!("remove annotation {}", scope_annotation(d)),
        (s, Scope::Strict) => format!("add annotation {}: \"true\"", scope_annotation(s)),
        (s, d) => format!(
            "replace annotation {} with {}: \"true\"",
            scope_annotation(d),
            scope_annotation(s)
        ),
    }
}

const MAX_LISTED_ITEMS: usize = 10;

fn quoted_list(items: &[String]) -> String {
    let mut out = items
        .iter()
        .take(MAX_LISTED_ITEMS)
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED_ITEMS {
        out.push_str(&format!(" and {} more", items.len() - MAX_LISTED_ITEMS));
    }
    out
}

/// One failure: the item (an `encryptedData` key, or a field path such as `spec.data` for
/// whole-object failures) and its cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFailure {
    /// The `encryptedData` item name, or the field path for object-level failures.
    pub item: String,
    /// Why it failed.
    pub cause: FailureCause,
}

/// A SealedSecret could not be unsealed; lists every failing item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsealError {
    /// Namespace of the SealedSecret.
    pub namespace: String,
    /// Name of the SealedSecret.
    pub name: String,
    /// Every failure, in item order.
    pub failures: Vec<ItemFailure>,
}

impl UnsealError {
    /// The condition reason for the whole object: the first failure's.
    pub fn reason(&self) -> &'static str {
        self.failures
            .first()
            .map_or("UnsealFailed", |f| f.cause.reason())
    }

    /// Whether every failure is permanent (see [`FailureCause::is_permanent`]).
    pub fn is_permanent(&self) -> bool {
        self.failures.iter().all(|f| f.cause.is_permanent())
    }
}

impl std::error::Error for UnsealError {}

impl fmt::Display for UnsealError {
    /// One line: `cannot unseal ns/name: item "a": cause; items "b", "c": other cause`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot unseal {}/{}: ", self.namespace, self.name)?;
        // Group items by cause, in order of first appearance.
        let mut groups: Vec<(&FailureCause, Vec<String>, bool)> = Vec::new();
        for failure in &self.failures {
            let object_level = failure.cause.is_object_level();
            match groups
                .iter_mut()
                .find(|(c, _, o)| *c == &failure.cause && *o == object_level)
            {
                Some((_, items, _)) => items.push(failure.item.clone()),
                None => groups.push((&failure.cause, vec![failure.item.clone()], object_level)),
            }
        }
        if groups.is_empty() {
            return f.write_str("unknown error");
        }
        for (i, (cause, items, object_level)) in groups.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if *object_level {
                write!(f, "{}: {cause}", items.join(", "))?;
            } else if items.len() == 1 {
                write!(f, "item {}: {cause}", quoted_list(items))?;
            } else {
                write!(f, "items {}: {cause}", quoted_list(items))?;
            }
        }
        Ok(())
    }
}

impl FailureCause {
    /// Whether this failure concerns the object as a whole rather than one item.
    fn is_object_level(&self) -> bool {
        matches!(
            self,
            FailureCause::LegacyDataRejected
                | FailureCause::LegacyDataConflict
                | FailureCause::Template(_)
                | FailureCause::TooLarge(_)
                | FailureCause::TemplatesDisabled
        )
    }
}

/// Builds the Secret the controller would create from `ss` (compat spec §3.7).
///
/// The OAEP label comes from the SealedSecret's TOP-LEVEL metadata (namespace, name, scope
/// annotations); key ids in [`crate::ANNOTATION_KEY_IDS`] are tried first. The Secret gets the
/// SealedSecret's name and namespace, the template's labels, annotations, finalizers, type and
/// immutability, the unsealed values, and an ownerReference to the SealedSecret unless the
/// template annotation `skip-set-owner-references` is `"true"`.
///
/// On failure every failing item is listed. The first item that no key could decrypt is
/// diagnosed (at most 2 × keys private-key operations): other scopes' labels are tried to tell a
/// scope mismatch from a rename or move, an unknown key or a foreign key; other such items get
/// the same diagnosis.
pub fn unseal(
    ss: &SealedSecret,
    keyring: &Keyring,
    opts: &UnsealOptions,
) -> Result<UnsealOutput, UnsealError> {
    unseal_with(ss, keyring, opts, true)
}

/// Like [`unseal`], but `spec.template.data` is left out: only the sealed values are opened.
///
/// For checks on behalf of a caller (verify, rotate), where rendering templates over the
/// plaintext would turn the endpoint into an oracle for it.
pub fn unseal_values_only(
    ss: &SealedSecret,
    keyring: &Keyring,
    opts: &UnsealOptions,
) -> Result<UnsealOutput, UnsealError> {
    unseal_with(ss, keyring, opts, false)
}

fn unseal_with(
    ss: &SealedSecret,
    keyring: &Keyring,
    opts: &UnsealOptions,
    render_templates: bool,
) -> Result<UnsealOutput, UnsealError> {
    let namespace = ss.metadata.namespace.clone().unwrap_or_default();
    let name = ss.metadata.name.clone().unwrap_or_default();
    let fail = |failures: Vec<ItemFailure>| UnsealError {
        namespace: namespace.clone(),
        name: name.clone(),
        failures,
    };
    let object_failure = |item: &str, cause: FailureCause| {
        fail(vec![ItemFailure {
            item: item.to_owned(),
            cause,
        }])
    };

    let has_templates = ss
        .spec
        .template
        .data
        .as_ref()
        .is_some_and(|t| !t.is_empty());
    if render_templates && opts.templates_disabled && has_templates {
        return Err(object_failure(
            "spec.template.data",
            FailureCause::TemplatesDisabled,
        ));
    }

    let legacy = ss.spec.data.as_deref().filter(|d| !d.is_empty());
    if legacy.is_some() && !ss.spec.encrypted_data.is_empty() {
        return Err(object_failure(
            "spec.data",
            FailureCause::LegacyDataConflict,
        ));
    }
    if legacy.is_some() && !opts.accept_v1_data {
        return Err(object_failure(
            "spec.data",
            FailureCause::LegacyDataRejected,
        ));
    }

    if let Err(e) = crate::check_sealed_data(ss) {
        let message = match e {
            crate::Error::Document { message, .. } => message,
            other => other.to_string(),
        };
        return Err(object_failure(
            "spec.encryptedData",
            FailureCause::TooLarge(message),
        ));
    }

    let empty = BTreeMap::new();
    let top_annotations = ss.metadata.annotations.as_ref().unwrap_or(&empty);
    let target = Target {
        keyring,
        namespace: &namespace,
        name: &name,
        declared: scope_from_annotations(top_annotations),
        hints: key_ids_from_annotations(top_annotations),
    };

    let mut out = UnsealOutput {
        secret: base_secret(ss),
        rsa_ops: 0,
        key_ids: Vec::new(),
    };
    let mut failures: Vec<ItemFailure> = Vec::new();
    let mut diagnosis: Option<FailureCause> = None;
    let mut record =
        |item: &str, err: CryptoError, sealed: &[u8], failures: &mut Vec<ItemFailure>| {
            let cause = match err {
                CryptoError::NoKeyCouldDecrypt { .. } if keyring.is_empty() => FailureCause::NoKeys,
                CryptoError::NoKeyCouldDecrypt { .. } => diagnosis
                    .get_or_insert_with(|| target.diagnose(sealed))
                    .clone(),
                other => cause_of(other),
            };
            failures.push(ItemFailure {
                item: item.to_owned(),
                cause,
            });
        };

    if let Some(blob) = legacy {
        match target.open(blob) {
            Ok(opened) => {
                out.note(&opened);
                match legacy_secret(&opened.plaintext) {
                    Some(inner) => overlay_legacy(&mut out.secret, inner),
                    None => failures.push(ItemFailure {
                        item: "spec.data".to_owned(),
                        cause: FailureCause::LegacyDataInvalid,
                    }),
                }
            }
            Err((err, sealed)) => record("spec.data", err, &sealed, &mut failures),
        }
    } else {
        let mut data = BTreeMap::new();
        for (item, value) in &ss.spec.encrypted_data {
            match target.open(value) {
                Ok(opened) => {
                    out.note(&opened);
                    data.insert(item.clone(), ByteString(opened.plaintext.to_vec()));
                }
                Err((err, sealed)) => record(item, err, &sealed, &mut failures),
            }
        }
        if !data.is_empty() {
            out.secret.data = Some(data);
        }
    }

    if failures.is_empty() && render_templates {
        render_template_data(ss, &mut out.secret, &mut failures);
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(fail(failures))
    }
}

/// Renders `spec.template.data` over the unsealed values; each output overrides the
/// same-named item (upstream: Go `text/template` over `map[string]string`). Whether it fails, and
/// how, depends only on the templates, the item names and the value lengths
/// ([`crate::template`]).
fn render_template_data(ss: &SealedSecret, secret: &mut Secret, failures: &mut Vec<ItemFailure>) {
    let Some(templates) = ss.spec.template.data.as_ref().filter(|t| !t.is_empty()) else {
        return;
    };
    let values: BTreeMap<String, Vec<u8>> = secret
        .data
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    match crate::template::render_all(templates, &values) {
        Ok(rendered) => {
            let mut data: BTreeMap<String, ByteString> = values
                .into_iter()
                .map(|(k, v)| (k, ByteString(v)))
                .collect();
            data.extend(rendered.into_iter().map(|(k, v)| (k, ByteString(v))));
            secret.data = (!data.is_empty()).then_some(data);
        }
        Err(errors) => {
            for e in errors {
                failures.push(ItemFailure {
                    item: e.item.map_or_else(
                        || "spec.template.data".to_owned(),
                        |i| format!("spec.template.data.{i}"),
                    ),
                    cause: FailureCause::Template(e.error.to_string()),
                });
            }
        }
    }
}

impl UnsealOutput {
    fn note(&mut self, opened: &sealant_crypto::Unsealed) {
        self.rsa_ops += opened.rsa_ops;
        if !self.key_ids.contains(&opened.key_id) {
            self.key_ids.push(opened.key_id.clone());
        }
    }
}

/// Where values are unsealed: keys, label inputs and hints.
struct Target<'a> {
    keyring: &'a Keyring,
    namespace: &'a str,
    name: &'a str,
    declared: Scope,
    hints: Vec<KeyId>,
}

impl Target<'_> {
    /// Decodes and unseals one value; on failure returns the error and the decoded bytes
    /// (empty if they were not base64) for diagnosis.
    fn open(&self, value: &str) -> Result<sealant_crypto::Unsealed, (CryptoError, Vec<u8>)> {
        let sealed = decode_value(value).map_err(|e| (e, Vec::new()))?;
        let label = self.declared.label(self.namespace, self.name);
        self.keyring
            .unseal(&sealed, &label, &self.hints)
            .map_err(|e| (e, sealed))
    }

    /// Why no key could decrypt `sealed`: bounded to 2 labels × candidate keys.
    fn diagnose(&self, sealed: &[u8]) -> FailureCause {
        let hinted: Vec<&KeyEntry> = self
            .hints
            .iter()
            .filter_map(|id| self.keyring.get(id))
            .collect();
        let candidates: Vec<&KeyEntry> = if hinted.is_empty() {
            self.keyring.iter().collect()
        } else {
            hinted.clone()
        };
        for scope in Scope::ALL.into_iter().filter(|s| *s != self.declared) {
            let label = scope.label(self.namespace, self.name);
            for entry in &candidates {
                // Corrupt means the session key opened under this label: the scope is right.
                match sealant_crypto::unseal(&entry.key, sealed, &label) {
                    Ok(_) | Err(CryptoError::Corrupt) => {
                        return FailureCause::ScopeMismatch {
                            sealed_as: scope,
                            declared: self.declared,
                        };
                    }
                    Err(_) => {}
                }
            }
        }
        if !hinted.is_empty() {
            FailureCause::NameOrNamespaceMismatch {
                declared: self.declared,
            }
        } else if let Some(missing) = self.hints.first() {
            FailureCause::UnknownKey(missing.clone())
        } else {
            FailureCause::NoKeyMatches
        }
    }
}

fn cause_of(err: CryptoError) -> FailureCause {
    match err {
        CryptoError::Base64(_) => FailureCause::InvalidBase64,
        CryptoError::TooShort { .. } => FailureCause::TooShort,
        CryptoError::Corrupt => FailureCause::Corrupt,
        CryptoError::NoKeyCouldDecrypt { .. } => FailureCause::NoKeyMatches,
        other => FailureCause::Other(other.to_string()),
    }
}

/// The Secret before values are added: metadata from the template, identity and owner from
/// the SealedSecret.
fn base_secret(ss: &SealedSecret) -> Secret {
    let template = &ss.spec.template;
    let tmeta = &template.metadata;
    let skip_owner = tmeta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_SKIP_SET_OWNER_REFERENCES))
        .is_some_and(|v| v == "true");
    let owner_references = if skip_owner {
        tmeta.owner_references.clone()
    } else {
        Some(vec![OwnerReference {
            api_version: crate::API_VERSION.to_owned(),
            kind: crate::KIND.to_owned(),
            name: ss.metadata.name.clone().unwrap_or_default(),
            uid: ss.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }])
    };
    Secret {
        metadata: ObjectMeta {
            name: ss.metadata.name.clone(),
            namespace: ss.metadata.namespace.clone(),
            labels: tmeta.labels.clone().filter(|m| !m.is_empty()),
            annotations: tmeta.annotations.clone().filter(|m| !m.is_empty()),
            finalizers: tmeta.finalizers.clone().filter(|m| !m.is_empty()),
            owner_references,
            ..ObjectMeta::default()
        },
        type_: template.type_.clone(),
        immutable: template.immutable,
        data: None,
        string_data: None,
    }
}

/// The v1 Secret inside a legacy `spec.data` blob.
fn legacy_secret(plaintext: &[u8]) -> Option<Secret> {
    serde_json::from_slice::<Secret>(plaintext).ok()
}

/// Applies a legacy v1 Secret over the template-derived one (Go decodes into the same struct:
/// its data, type and metadata maps win; name, namespace and owner stay the SealedSecret's).
fn overlay_legacy(secret: &mut Secret, inner: Secret) {
    let mut data = inner.data.unwrap_or_default();
    for (k, v) in inner.string_data.unwrap_or_default() {
        data.insert(k, ByteString(v.into_bytes()));
    }
    if !data.is_empty() {
        secret.data = Some(data);
    }
    if inner.type_.is_some() {
        secret.type_ = inner.type_;
    }
    if inner.immutable.is_some() {
        secret.immutable = inner.immutable;
    }
    for (mine, theirs) in [
        (&mut secret.metadata.labels, inner.metadata.labels),
        (&mut secret.metadata.annotations, inner.metadata.annotations),
    ] {
        if let Some(theirs) = theirs.filter(|m| !m.is_empty()) {
            mine.get_or_insert_with(BTreeMap::new).extend(theirs);
        }
    }
}
