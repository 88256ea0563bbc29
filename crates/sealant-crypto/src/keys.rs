use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use zeroize::Zeroizing;

use crate::{Certificate, Error, KeyId, der};

/// An RSA public key that values are sealed to, with its [`KeyId`].
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) oaep: Arc<OaepPublicEncryptingKey>,
    pub(crate) spki: Vec<u8>,
    pub(crate) key_id: KeyId,
}

impl PublicKey {
    /// Reads a DER `SubjectPublicKeyInfo` holding an RSA key.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, Error> {
        let key = PublicEncryptingKey::from_der(spki)
            .map_err(|e| Error::InvalidCert(format!("unusable RSA public key ({e})")))?;
        let oaep = OaepPublicEncryptingKey::new(key)
            .map_err(|_| Error::InvalidCert("unusable RSA public key".into()))?;
        Ok(PublicKey {
            oaep: Arc::new(oaep),
            spki: spki.to_vec(),
            key_id: KeyId::from_spki_der(spki),
        })
    }

    /// The key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.oaep.key_size_bits()
    }

    /// Modulus size in bytes, which is also the size of every RSA ciphertext made with it.
    pub fn modulus_len(&self) -> usize {
        self.oaep.key_size_bytes()
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id)
            .field("bits", &self.bits())
            .finish()
    }
}

/// An RSA private key that unseals values; `Debug` never shows key material.
#[derive(Clone)]
pub struct PrivateKey {
    pub(crate) oaep: Arc<OaepPrivateDecryptingKey>,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a fresh RSA key of `bits` (2048, 3072, 4096 or 8192).
    pub fn generate(bits: usize) -> Result<Self, Error> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => return Err(Error::UnsupportedKeySize(other)),
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| Error::Internal("RSA key generation failed"))?;
        let pkcs8 = key
            .as_der()
            .map_err(|_| Error::Internal("cannot encode generated key"))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Reads a DER PKCS#8 `PrivateKeyInfo` holding an RSA key.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, Error> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .map_err(|e| Error::InvalidKey(format!("not a usable RSA private key ({e})")))?;
        // The signing view of the same key is only used to derive the public key's DER form.
        let spki = rsa::KeyPair::from_pkcs8(pkcs8)
            .ok()
            .and_then(|pair| {
                use aws_lc_rs::signature::KeyPair as _;
                pair.public_key().as_der().ok()
            })
            .ok_or_else(|| Error::InvalidKey("cannot derive the public key".into()))?;
        let public = PublicKey::from_spki_der(spki.as_ref())?;
        // Keep aws-lc's own canonical PKCS#8 (plain rsaEncryption), whatever form came in.
        let canonical = key
            .as_der()
            .map_err(|_| Error::InvalidKey("cannot re-encode the key".into()))?;
        let pkcs8 = Zeroizing::new(canonical.as_ref().to_vec());
        let oaep = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| Error::InvalidKey("not usable for RSA-OAEP".into()))?;
        Ok(PrivateKey {
            oaep: Arc::new(oaep),
            pkcs8,
            public,
        })
    }

    /// Reads a DER PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(pkcs1: &[u8]) -> Result<Self, Error> {
        let pkcs8 = Zeroizing::new(der::pkcs1_to_pkcs8(pkcs1));
        Self::from_pkcs8_der(&pkcs8)
    }

    /// Reads the first private key in PEM text: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(text: &[u8]) -> Result<Self, Error> {
        let blocks =
            pem::parse_many(text).map_err(|e| Error::InvalidKey(format!("not PEM ({e})")))?;
        let mut seen = Vec::new();
        for block in &blocks {
            match block.tag() {
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(block.contents()),
                "PRIVATE KEY" => return Self::from_pkcs8_der(block.contents()),
                other => seen.push(other.to_owned()),
            }
        }
        Err(Error::InvalidKey(match seen.first().map(String::as_str) {
            None => "no PEM block found; expected an RSA private key".into(),
            Some("CERTIFICATE") => {
                "found a certificate where a private key was expected (pass tls.key, not tls.crt)"
                    .into()
            }
            Some("EC PRIVATE KEY") => "the key is an EC key; only RSA keys are supported".into(),
            Some("ENCRYPTED PRIVATE KEY") => {
                "the key is password-protected; decrypt it first (openssl pkcs8)".into()
            }
            Some(other) => format!("found a PEM {other:?} block; expected an RSA private key"),
        }))
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.public.key_id
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.bits()
    }

    /// The DER PKCS#8 encoding.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// PEM `RSA PRIVATE KEY` (PKCS#1), the form upstream writes into key Secrets.
    pub fn to_pkcs1_pem(&self) -> Zeroizing<String> {
        let pkcs1 = der::pkcs8_to_pkcs1(&self.pkcs8)
            .expect("aws-lc-rs always encodes RSA keys as rsaEncryption PKCS#8");
        Zeroizing::new(crate::pem_lf(&pem::Pem::new(
            "RSA PRIVATE KEY",
            pkcs1.to_vec(),
        )))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_id", self.key_id())
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

/// Reads a key Secret's `tls.key` and optional `tls.crt` and checks that they belong together.
pub fn parse_key_pair(
    tls_key: &[u8],
    tls_crt: Option<&[u8]>,
) -> Result<(PrivateKey, Option<Certificate>), Error> {
    let key = PrivateKey::from_pem(tls_key)?;
    let cert = match tls_crt {
        Some(pem) => {
            let cert = Certificate::from_pem(pem)?;
            if cert.key_id() != key.key_id() {
                return Err(Error::KeyCertMismatch {
                    cert: cert.key_id().clone(),
                    key: key.key_id().clone(),
                });
            }
            Some(cert)
        }
        None => None,
    };
    Ok((key, cert))
}
