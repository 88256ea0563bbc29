//! Sans-IO sealing of single values in the Bitnami sealed-secrets wire format.
//!
//! A sealed value is `u16be(len(rsa_ct)) || rsa_ct || aes_gcm_ct || tag` where `rsa_ct` is
//! RSA-OAEP (SHA-256, MGF1-SHA-256, label) of a fresh 32-byte AES-256-GCM session key and the
//! value is encrypted with that key under an all-zero 12-byte nonce and no AAD. The OAEP label
//! binds the value to where it may be unsealed ([`Scope::label`]).
//!
//! Every RSA and AES operation, and key generation, goes through `aws-lc-rs` (constant-time,
//! blinded RSA). Nothing here performs I/O or reads the clock: callers pass bytes and times in.
//!
//! ```
//! use sealant_crypto::{PrivateKey, Scope};
//! # fn main() -> Result<(), sealant_crypto::Error> {
//! let key = PrivateKey::generate(2048)?;
//! let label = Scope::Strict.label("prod", "db");
//! let sealed = sealant_crypto::seal(key.public_key(), b"hunter2", &label)?;
//! let opened = sealant_crypto::unseal(&key, &sealed, &label)?;
//! assert_eq!(&opened[..], b"hunter2");
//! # Ok(()) }
//! ```

mod b64;
mod cert;
mod der;
mod error;
mod hybrid;
mod keyid;
mod keyring;
mod keys;
mod scope;

pub use b64::{decode_value, encode_value};
pub use cert::{CertOptions, Certificate};
pub use error::Error;
pub use hybrid::{Layout, layout, seal, unseal};
pub use keyid::KeyId;
pub use keyring::{KeyEntry, Keyring, Unsealed};
pub use keys::{PrivateKey, PublicKey, parse_key_pair};
pub use scope::Scope;
pub use zeroize::Zeroizing;

/// PEM text with LF line endings: what Go's `pem.Encode` (upstream) writes, and what a
/// certificate saved to git should contain (the `pem` crate defaults to CRLF).
fn pem_lf(p: &pem::Pem) -> String {
    pem::encode_config(
        p,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// SHA-256 of `data` (for digests that are not key material, e.g. template functions).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

/// Length in bytes of the random AES-256-GCM session key drawn for each value.
pub const SESSION_KEY_LEN: usize = 32;
/// Default RSA modulus size for generated keys, as upstream.
pub const DEFAULT_KEY_BITS: usize = 4096;
