//! The per-value wire format: `u16be(len(rsa_ct)) || rsa_ct || aes_gcm_ct || tag`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use zeroize::Zeroizing;

use crate::{Error, PrivateKey, PublicKey, SESSION_KEY_LEN};

/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// Seals `plaintext` to `key` under the OAEP `label` (see [`crate::Scope::label`]).
pub fn seal(key: &PublicKey, plaintext: &[u8], label: &[u8]) -> Result<Vec<u8>, Error> {
    let mut session = Zeroizing::new([0u8; SESSION_KEY_LEN]);
    aws_lc_rs::rand::fill(&mut session[..]).map_err(|_| Error::Internal("RNG failure"))?;

    let rsa_len = key.modulus_len();
    let prefix = u16::try_from(rsa_len).map_err(|_| Error::UnsupportedKeySize(key.bits()))?;
    let mut out = Vec::with_capacity(2 + rsa_len + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&prefix.to_be_bytes());
    out.resize(2 + rsa_len, 0);
    let written = key
        .oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &session[..],
            &mut out[2..],
            Some(label),
        )
        .map_err(|_| Error::Internal("RSA-OAEP encryption failed"))?
        .len();
    if written != rsa_len {
        return Err(Error::Internal("RSA-OAEP produced an unexpected length"));
    }

    let aes = aes_key(&session[..])?;
    let mut body = plaintext.to_vec();
    aes.seal_in_place_append_tag(zero_nonce(), Aad::empty(), &mut body)
        .map_err(|_| Error::Internal("AES-GCM encryption failed"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Unseals a value with one private key under the OAEP `label`.
pub fn unseal(key: &PrivateKey, sealed: &[u8], label: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (rsa_ct, aes_ct) = split(sealed)?;
    unseal_parts(key, rsa_ct, aes_ct, label)
}

/// The lengths a sealed value's bytes declare, read without any key (see [`layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Length of the RSA part, from the 2-byte prefix: the modulus size of the key it was
    /// sealed with (512 for RSA-4096).
    pub rsa_len: usize,
    /// Length of the plaintext: what is left after the prefix, the RSA part and the tag.
    pub plaintext_len: usize,
}

/// Reads the structure of a sealed value without any key: the length prefix, and that the
/// value is long enough for `2 + rsa_len + 16` bytes. Says nothing about whether it decrypts.
pub fn layout(sealed: &[u8]) -> Result<Layout, Error> {
    let (rsa_ct, aes_ct) = split(sealed)?;
    Ok(Layout {
        rsa_len: rsa_ct.len(),
        plaintext_len: aes_ct.len() - TAG_LEN,
    })
}

/// Splits a sealed value into its RSA and AES-GCM parts, checking only lengths.
pub(crate) fn split(sealed: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let too_short = Error::TooShort { len: sealed.len() };
    let Some((prefix, rest)) = sealed.split_first_chunk::<2>() else {
        return Err(too_short);
    };
    let rsa_len = usize::from(u16::from_be_bytes(*prefix));
    if rest.len() < rsa_len + TAG_LEN {
        return Err(too_short);
    }
    Ok(rest.split_at(rsa_len))
}

pub(crate) fn unseal_parts(
    key: &PrivateKey,
    rsa_ct: &[u8],
    aes_ct: &[u8],
    label: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let modulus_len = key.public_key().modulus_len();
    if rsa_ct.len() != modulus_len {
        return Err(Error::KeySizeMismatch {
            found_bits: rsa_ct.len() * 8,
            key_bits: key.bits(),
        });
    }
    let mut session = Zeroizing::new(vec![0u8; key.oaep.min_output_size()]);
    let session_len = key
        .oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa_ct, &mut session, Some(label))
        .map_err(|_| Error::WrongKeyOrLabel)?
        .len();
    // Every known producer wraps a 32-byte key; anything else was crafted.
    if session_len != SESSION_KEY_LEN {
        return Err(Error::Corrupt);
    }
    let aes = aes_key(&session[..SESSION_KEY_LEN])?;
    let mut buf = Zeroizing::new(aes_ct.to_vec());
    let plain_len = aes
        .open_in_place(zero_nonce(), Aad::empty(), &mut buf)
        .map_err(|_| Error::Corrupt)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

fn aes_key(session: &[u8]) -> Result<LessSafeKey, Error> {
    UnboundKey::new(&AES_256_GCM, session)
        .map(LessSafeKey::new)
        .map_err(|_| Error::Internal("bad AES key length"))
}

/// The all-zero nonce is safe only because every session key encrypts exactly one value.
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; NONCE_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_reads_lengths_without_a_key() {
        let key = PrivateKey::generate(2048).unwrap();
        let sealed = seal(key.public_key(), b"hunter2", b"ns/name").unwrap();
        assert_eq!(
            layout(&sealed).unwrap(),
            Layout {
                rsa_len: 256,
                plaintext_len: 7
            }
        );
        assert!(matches!(
            layout(&sealed[..100]),
            Err(Error::TooShort { len: 100 })
        ));
        assert!(matches!(layout(&[1]), Err(Error::TooShort { .. })));
    }
}
