use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::hybrid::{split, unseal_parts};
use crate::{Certificate, Error, KeyId, PrivateKey};

/// One private key of a [`Keyring`], with its certificate when known.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The private key.
    pub key: PrivateKey,
    /// Its certificate (absent for a bare key file).
    pub cert: Option<Certificate>,
    /// The time that orders keys: newer keys seal, and are tried first when there is no hint.
    pub ordering_time: OffsetDateTime,
}

impl KeyEntry {
    /// An entry ordered by its certificate's notBefore, as upstream's default `CertNotBefore`
    /// ordering; without a certificate the key sorts as oldest.
    pub fn new(key: PrivateKey, cert: Option<Certificate>) -> Self {
        let ordering_time = cert
            .as_ref()
            .map_or(OffsetDateTime::UNIX_EPOCH, Certificate::not_before);
        KeyEntry {
            key,
            cert,
            ordering_time,
        }
    }

    /// The key's id.
    pub fn key_id(&self) -> &KeyId {
        self.key.key_id()
    }
}

/// A successfully unsealed value.
#[derive(Debug)]
pub struct Unsealed {
    /// The plaintext, wiped from memory on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key that opened it.
    pub key_id: KeyId,
    /// Private-key operations spent, including failed attempts with other keys.
    pub rsa_ops: usize,
}

/// Many private keys, newest first, with hint-directed unsealing.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    entries: Vec<KeyEntry>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key, keeping newest-first order (ties keep insertion order). A key already present
    /// (same key id) is not added twice; it gains the certificate if it had none. Returns whether
    /// the key was new.
    pub fn insert(&mut self, entry: KeyEntry) -> bool {
        if let Some(existing) = self
            .entries
            .iter_mut()
            .find(|e| e.key_id() == entry.key_id())
        {
            if existing.cert.is_none() && entry.cert.is_some() {
                existing.cert = entry.cert;
                existing.ordering_time = entry.ordering_time;
                self.sort();
            }
            return false;
        }
        self.entries.push(entry);
        self.sort();
        true
    }

    fn sort(&mut self) {
        self.entries
            .sort_by_key(|e| std::cmp::Reverse(e.ordering_time));
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter()
    }

    /// The newest key: the one new values are sealed with.
    pub fn newest(&self) -> Option<&KeyEntry> {
        self.entries.first()
    }

    /// The key with this id.
    pub fn get(&self, id: &KeyId) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| e.key_id() == id)
    }

    /// Unseals a value, trying the keys named in `hints` first and then every other key newest
    /// first. A key whose modulus size does not match the value costs no private-key operation.
    ///
    /// A value made for a known key and label but failing its integrity check is reported as
    /// [`Error::Corrupt`] at once.
    pub fn unseal(&self, sealed: &[u8], label: &[u8], hints: &[KeyId]) -> Result<Unsealed, Error> {
        let (rsa_ct, aes_ct) = split(sealed)?;
        let hinted = hints.iter().filter_map(|id| self.get(id));
        let rest = self.entries.iter().filter(|e| !hints.contains(e.key_id()));
        let mut rsa_ops = 0;
        for entry in hinted.chain(rest) {
            if entry.key.public_key().modulus_len() != rsa_ct.len() {
                continue;
            }
            rsa_ops += 1;
            match unseal_parts(&entry.key, rsa_ct, aes_ct, label) {
                Ok(plaintext) => {
                    return Ok(Unsealed {
                        plaintext,
                        key_id: entry.key_id().clone(),
                        rsa_ops,
                    });
                }
                Err(Error::WrongKeyOrLabel) => {}
                Err(other) => return Err(other),
            }
        }
        Err(Error::NoKeyCouldDecrypt {
            keys_tried: rsa_ops,
            hint_missing: hints.iter().find(|id| self.get(id).is_none()).cloned(),
        })
    }
}
