use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyUsagePurpose,
    SerialNumber,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{Error, KeyId, PrivateKey, PublicKey};

/// How to make a self-signed sealing certificate (upstream's defaults via [`Default`]).
#[derive(Clone, Debug)]
pub struct CertOptions {
    /// Subject and issuer common name; empty gives an empty DN, like upstream's default `--my-cn`.
    pub common_name: String,
    /// Validity period (upstream: `--key-ttl`, 87600h = 10 × 365 days).
    pub validity: time::Duration,
}

impl Default for CertOptions {
    fn default() -> Self {
        CertOptions {
            common_name: String::new(),
            validity: time::Duration::hours(87_600),
        }
    }
}

/// An X.509 certificate carrying the RSA public key values are sealed to.
///
/// Only the public key and validity matter for sealing: there is no chain and no signature check,
/// as upstream.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    public: PublicKey,
    subject: String,
    serial: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Certificate {
    /// Reads the first `CERTIFICATE` block of PEM text.
    pub fn from_pem(text: &[u8]) -> Result<Self, Error> {
        let blocks =
            pem::parse_many(text).map_err(|e| Error::InvalidCert(format!("not PEM ({e})")))?;
        if let Some(block) = blocks.iter().find(|b| b.tag() == "CERTIFICATE") {
            return Self::from_der(block.contents());
        }
        Err(Error::InvalidCert(match blocks.first().map(|b| b.tag()) {
            None => "no PEM CERTIFICATE block found".into(),
            Some(
                "RSA PRIVATE KEY" | "PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY",
            ) => {
                "this is a private key, not a certificate: seal with the certificate (tls.crt, or \
                 the controller's /v1/cert.pem) and keep the private key out of CI and git"
                    .into()
            }
            Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {
                "a bare public key was given; a certificate (PEM CERTIFICATE) is required".into()
            }
            Some(other) => format!("found a PEM {other:?} block; expected a CERTIFICATE"),
        }))
    }

    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::InvalidCert(format!("malformed X.509 ({e})")))?;
        let spki = &cert.tbs_certificate.subject_pki;
        if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
            return Err(Error::InvalidCert(format!(
                "the certificate's key is not RSA (algorithm {})",
                spki.algorithm.algorithm
            )));
        }
        let public = PublicKey::from_spki_der(spki.raw)?;
        let validity = cert.validity();
        let time = |t: &x509_parser::time::ASN1Time| t.to_datetime();
        Ok(Certificate {
            der: der.to_vec(),
            public,
            subject: cert.subject().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: time(&validity.not_before),
            not_after: time(&validity.not_after),
        })
    }

    /// Makes a self-signed certificate for `key` like upstream's controller does: random 128-bit
    /// serial, CA basic constraints, key usage "encipher only", SHA256-RSA signature.
    pub fn self_signed(
        key: &PrivateKey,
        options: &CertOptions,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(key.pkcs8_der()),
            &rcgen::PKCS_RSA_SHA256,
        )
        .map_err(|e| Error::InvalidKey(format!("cannot sign with this key ({e})")))?;
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| Error::Internal("RNG failure"))?;
        serial[0] &= 0x7f;
        let mut dn = DistinguishedName::new();
        if !options.common_name.is_empty() {
            dn.push(DnType::CommonName, options.common_name.as_str());
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = now;
        params.not_after = now + options.validity;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::EncipherOnly];
        let cert = params
            .self_signed(&signer)
            .map_err(|e| Error::InvalidCert(format!("cannot create certificate ({e})")))?;
        Self::from_der(cert.der())
    }

    /// Fails with [`Error::CertExpired`] if `now` is past notAfter (notBefore is not checked, as upstream).
    pub fn check_not_expired(&self, now: OffsetDateTime) -> Result<(), Error> {
        if now > self.not_after {
            return Err(Error::CertExpired {
                not_after: rfc3339(self.not_after),
            });
        }
        Ok(())
    }

    /// The certified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The public key's id.
    pub fn key_id(&self) -> &KeyId {
        self.public.key_id()
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM `CERTIFICATE` text, LF line endings (as Go's `pem.Encode` writes).
    pub fn to_pem(&self) -> String {
        crate::pem_lf(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }

    /// Subject DN as text (empty for an empty DN).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Serial number, hex with `:` separators.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("key_id", self.key_id())
            .field("subject", &self.subject)
            .field("not_before", &rfc3339(self.not_before))
            .field("not_after", &rfc3339(self.not_after))
            .finish()
    }
}

/// Formats a time as RFC 3339 (UTC, seconds).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
