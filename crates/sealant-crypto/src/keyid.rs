use std::fmt;

use aws_lc_rs::digest;

/// A short, stable identifier of an RSA public key.
///
/// It is the first 8 bytes of SHA-256 over the key's DER `SubjectPublicKeyInfo`, in lower-case
/// hex (16 characters), so anyone can recompute it:
/// `openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-16`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Length of a key id in hex characters.
    pub const LEN: usize = 16;

    /// Computes the id of the public key with this DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(spki: &[u8]) -> Self {
        let hash = digest::digest(&digest::SHA256, spki);
        KeyId(hex::encode(&hash.as_ref()[..Self::LEN / 2]))
    }

    /// Parses a key id as written by [`KeyId`]'s `Display` (16 lower-case hex characters).
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == Self::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| KeyId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_canonical_ids() {
        let id = KeyId::from_spki_der(b"x");
        assert_eq!(id.as_str().len(), 16);
        assert_eq!(KeyId::parse(id.as_str()), Some(id));
        assert_eq!(KeyId::parse("ABCDEF0123456789"), None);
        assert_eq!(KeyId::parse("abc"), None);
        assert_eq!(KeyId::parse("abcdef0123456789a"), None);
    }
}
