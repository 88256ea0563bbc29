//! Sealing: `Secret` manifests into [`SealedSecret`]s, as `kubeseal` does.

use k8s_openapi::api::core::v1::Secret;
use sealant_crypto::{Certificate, Scope};

use crate::{Error, SealedSecret};

/// How to seal a Secret (the relevant `kubeseal` flags).
#[derive(Clone, Debug, Default)]
pub struct SealOptions {
    /// `None` keeps the input's scope annotations. `Some` non-strict rewrites them.
    /// `Some(Strict)` does NOT override a scope annotation already on the input (upstream
    /// quirk: strict is the default of `--scope`).
    pub scope: Option<Scope>,
    /// Overrides `metadata.name` of the input.
    pub name: Option<String>,
    /// An explicitly given namespace (`-n`): an input in another namespace is an error.
    pub namespace: Option<String>,
    /// The namespace used when the input has none and `namespace` is not given.
    pub default_namespace: String,
    /// Allow a Secret with neither `data` nor `stringData` items.
    pub allow_empty_data: bool,
}

/// Seals a Secret manifest for the holder of `cert`'s private key.
///
/// The caller checks that `cert` has not expired (this function has no clock).
pub fn seal_secret(
    secret: &Secret,
    cert: &Certificate,
    opts: &SealOptions,
) -> Result<SealedSecret, Error> {
    let _ = (secret, cert, opts);
    todo!()
}

/// Seals `secret`'s items into `existing`, with the existing object's name, namespace and scope.
pub fn merge_into(
    existing: &mut SealedSecret,
    secret: &Secret,
    cert: &Certificate,
    opts: &SealOptions,
) -> Result<(), Error> {
    let _ = (existing, secret, cert, opts);
    todo!()
}

/// Seals one value (`kubeseal --raw`), returning standard base64 with no newline.
pub fn seal_raw(
    value: &[u8],
    cert: &Certificate,
    scope: Scope,
    namespace: &str,
    name: &str,
) -> Result<String, Error> {
    let _ = (value, cert, scope, namespace, name);
    todo!()
}
