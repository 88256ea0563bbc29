use crate::KeyId;

/// Everything that can go wrong while sealing, unsealing or reading key material.
///
/// Messages never contain secret material; they say what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sealed bytes cannot even hold the length prefix and RSA part.
    #[error("sealed value is too short ({len} bytes): it is truncated or not a sealed value")]
    TooShort {
        /// Length of the input in bytes.
        len: usize,
    },
    /// The RSA part of the value does not have the size of the key's modulus.
    #[error(
        "sealed value was made for a {found_bits}-bit key, but the key is {key_bits}-bit: it was sealed with another key"
    )]
    KeySizeMismatch {
        /// Modulus size implied by the value's length prefix, in bits.
        found_bits: usize,
        /// Modulus size of the key tried, in bits.
        key_bits: usize,
    },
    /// RSA-OAEP decryption failed: wrong private key, or the label (name/namespace/scope) differs.
    #[error(
        "cannot decrypt the session key: the value was sealed with another key, or for a different name, namespace or scope"
    )]
    WrongKeyOrLabel,
    /// The session key decrypted but the AES-GCM tag did not verify.
    #[error("sealed value is corrupt: its authentication tag does not match (was it edited?)")]
    Corrupt,
    /// No key in a keyring could decrypt the value.
    #[error("{}", no_key_message(*.keys_tried, .hint_missing.as_ref()))]
    NoKeyCouldDecrypt {
        /// Number of keys tried.
        keys_tried: usize,
        /// A key id recorded at sealing time that is not in the keyring.
        hint_missing: Option<KeyId>,
    },
    /// Base64 that is not standard padded base64.
    #[error("invalid base64: {0} (sealed values are standard base64 with '=' padding)")]
    Base64(String),
    /// A private key could not be read.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A certificate could not be read or is unusable.
    #[error("invalid certificate: {0}")]
    InvalidCert(String),
    /// The certificate is past its validity period.
    #[error(
        "certificate expired on {not_after}: fetch the controller's current certificate (sealing with an expired one is refused)"
    )]
    CertExpired {
        /// The certificate's notAfter, RFC 3339.
        not_after: String,
    },
    /// A private key and certificate in one key Secret do not belong together.
    #[error(
        "the certificate's public key (key id {cert}) does not match the private key (key id {key})"
    )]
    KeyCertMismatch {
        /// Key id from the certificate.
        cert: KeyId,
        /// Key id from the private key.
        key: KeyId,
    },
    /// An unsupported RSA size was asked for.
    #[error("unsupported RSA key size {0}: use 2048, 3072, 4096 or 8192")]
    UnsupportedKeySize(usize),
    /// The crypto library failed where it should not (e.g. RNG failure).
    #[error("cryptographic operation failed: {0}")]
    Internal(&'static str),
}

fn no_key_message(tried: usize, hint_missing: Option<&KeyId>) -> String {
    match hint_missing {
        Some(id) => format!(
            "no key could decrypt it: it was sealed with key {id}, which this keyring does not have \
             (sealed for another cluster, or that key was removed); {tried} other key(s) tried"
        ),
        None if tried == 0 => "no key could decrypt it: the keyring is empty".to_owned(),
        None => format!(
            "no key could decrypt it ({tried} key(s) tried): it was sealed with another cluster's key, \
             or for a different name, namespace or scope"
        ),
    }
}
