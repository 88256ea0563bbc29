//! Unsealing: the `Secret` the controller would create from a [`SealedSecret`].

use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use sealant_crypto::{KeyId, Keyring, Scope};

use crate::SealedSecret;

/// How to unseal.
#[derive(Clone, Debug, Default)]
pub struct UnsealOptions {
    /// Accept the deprecated v1 `spec.data` blob (the controller's default is to accept it;
    /// offline recovery rejects it unless asked).
    pub accept_v1_data: bool,
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
    /// namespace.
    NameOrNamespaceMismatch,
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
    /// The legacy v1 `spec.data` is present but not accepted.
    LegacyDataRejected,
    /// Both `spec.data` and `spec.encryptedData` are present.
    LegacyDataConflict,
    /// The legacy v1 `spec.data` decrypted but is not a JSON Secret.
    LegacyDataInvalid,
    /// `spec.template.data` (Go templates) is not supported yet.
    TemplatesUnsupported {
        /// The template item names.
        keys: Vec<String>,
    },
    /// Any other cryptographic failure.
    Other(String),
}

impl FailureCause {
    /// A CamelCase reason for status conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            FailureCause::ScopeMismatch { .. } => "ScopeMismatch",
            FailureCause::NameOrNamespaceMismatch => "NameOrNamespaceMismatch",
            FailureCause::UnknownKey(_) => "UnknownKey",
            FailureCause::NoKeyMatches => "NoKeyMatches",
            FailureCause::NoKeys => "NoKeys",
            FailureCause::Corrupt => "Corrupt",
            FailureCause::TooShort => "TooShort",
            FailureCause::InvalidBase64 => "InvalidBase64",
            FailureCause::LegacyDataRejected => "LegacyDataRejected",
            FailureCause::LegacyDataConflict => "LegacyDataConflict",
            FailureCause::LegacyDataInvalid => "LegacyDataInvalid",
            FailureCause::TemplatesUnsupported { .. } => "TemplatesUnsupported",
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
        let _ = f;
        todo!()
    }
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

impl std::error::Error for UnsealError {}

impl fmt::Display for UnsealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}

/// Builds the Secret the controller would create from `ss` (compat spec §3.7).
pub fn unseal(
    ss: &SealedSecret,
    keyring: &Keyring,
    opts: &UnsealOptions,
) -> Result<UnsealOutput, UnsealError> {
    let _ = (ss, keyring, opts);
    todo!()
}
