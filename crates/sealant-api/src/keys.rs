//! Key Secrets: reading private keys for offline unsealing, writing the controller's shape.

use k8s_openapi::api::core::v1::Secret;
use sealant_crypto::{Certificate, Keyring, PrivateKey};

use crate::Error;

/// Reads private keys from PEM blocks, key Secrets (`tls.key`, optional `tls.crt`), `List`s of
/// them, or a multi-document stream of any of these.
pub fn keyring_from_documents(input: &str) -> Result<Keyring, Error> {
    let _ = input;
    todo!()
}

/// A key Secret as the controller writes it: `kubernetes.io/tls`, PKCS#1 `tls.key`, `tls.crt`,
/// label `sealedsecrets.bitnami.com/sealed-secrets-key: active`, `generateName` = the prefix
/// (no dash added).
pub fn key_secret(
    key: &PrivateKey,
    cert: &Certificate,
    namespace: &str,
    generate_name_prefix: &str,
) -> Secret {
    let _ = (key, cert, namespace, generate_name_prefix);
    todo!()
}
