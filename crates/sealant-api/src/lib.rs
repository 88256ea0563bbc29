//! The Kubernetes side of sealant, still sans-IO.
//!
//! This crate holds the `bitnami.com/v1alpha1` [`SealedSecret`] custom resource type and the
//! conversions around it, compatible with Bitnami sealed-secrets:
//!
//! - [`seal_secret`], [`merge_into`] and [`seal_raw`]: turn a `Secret` manifest (or one value)
//!   into sealed form, as `kubeseal` does;
//! - [`unseal`]: build the `Secret` the controller would create from a [`SealedSecret`], with
//!   per-item diagnosis of failures ([`UnsealError`]);
//! - [`parse_documents`], [`secret_from_value`], [`sealed_secret_from_value`]: read YAML/JSON
//!   streams with errors that name the document and field;
//! - [`to_yaml`], [`to_json`] and friends: print objects in `kubeseal`'s layout;
//! - [`keyring_from_documents`] and [`key_secret`]: read and write key Secrets.
//!
//! Nothing here performs file or network I/O or reads the clock: callers pass bytes, strings and
//! times in. Values are sealed and unsealed with [`sealant_crypto`].
//!
//! ```
//! use sealant_api::{SealOptions, UnsealOptions, parse_stream, seal_secret, to_yaml, unseal};
//! use sealant_crypto::{CertOptions, Certificate, KeyEntry, Keyring, PrivateKey};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = PrivateKey::generate(2048)?;
//! let cert = Certificate::self_signed(&key, &CertOptions::default(), time::OffsetDateTime::now_utc())?;
//!
//! let input = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\nstringData: {password: hunter2}\n";
//! let secret = parse_stream(input)?[0].to_secret()?;
//! let sealed = seal_secret(&secret, &cert, &SealOptions::default())?;
//! assert!(to_yaml(&sealed)?.contains("encryptedData:"));
//!
//! let mut keyring = Keyring::new();
//! keyring.insert(KeyEntry::new(key, Some(cert)));
//! let out = unseal(&sealed, &keyring, &UnsealOptions::default())?;
//! assert_eq!(out.secret.data.unwrap()["password"].0, b"hunter2");
//! assert_eq!(out.rsa_ops, 1);
//! # Ok(()) }
//! ```

mod annotations;
mod error;
mod keys;
mod lenient;
mod limits;
pub mod names;
mod output;
mod seal;
mod sealed_secret;
mod stream;
pub mod template;
mod unseal;

pub use annotations::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_KEY_IDS, ANNOTATION_KUBECFG_LAST_APPLIED,
    ANNOTATION_KUBECTL_LAST_APPLIED, ANNOTATION_MANAGED, ANNOTATION_NAMESPACE_WIDE,
    ANNOTATION_PATCH, ANNOTATION_SEALED_FOR, ANNOTATION_SKIP_SET_OWNER_REFERENCES,
    LABEL_SEALED_SECRETS_KEY, MAX_KEY_ID_HINTS, SealedForCheck, check_sealed_for,
    key_ids_from_annotations, scope_from_annotations, sealed_for,
};
pub use error::Error;
pub use keys::{key_secret, keyring_from_documents};
pub use limits::{MAX_SECRET_DATA_BYTES, MAX_STRING_BYTES, check_sealed_data, check_secret_data};
pub use output::{
    Format, render, render_list, render_secret, secret_to_json, secret_to_yaml, to_json, to_yaml,
};
pub use seal::{SealOptions, merge_into, seal_raw, seal_secret};
pub use sealed_secret::{
    API_VERSION, Condition, GROUP, KIND, SealedSecret, SealedSecretSpec, SealedSecretStatus,
    SecretTemplateSpec, UNOBSERVED_GENERATION, VERSION, crd, crd_yaml,
};
pub use stream::{
    Document, MAX_INPUT_BYTES, parse_documents, parse_stream, sealed_secret_from_value,
    secret_from_value,
};
pub use unseal::{
    FailureCause, ItemFailure, UnsealError, UnsealOptions, UnsealOutput, unseal, unseal_values_only,
};

pub use sealant_crypto::{Certificate, KeyId, Keyring, PrivateKey, Scope};
