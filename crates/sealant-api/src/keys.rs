//! Key Secrets: reading private keys for offline unsealing, writing the controller's shape.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealant_crypto::{
    Certificate, KeyEntry, Keyring, PrivateKey, Zeroizing, decode_value, parse_key_pair,
};
use serde_json::Value;

use crate::stream::parse_stream;
use crate::{Error, LABEL_SEALED_SECRETS_KEY};

const TLS_KEY: &str = "tls.key";
const TLS_CRT: &str = "tls.crt";

/// Reads private keys for `sealant unseal --key FILE`.
///
/// The input may hold PEM private keys (PKCS#1 or PKCS#8, one or several blocks, optionally
/// with their certificates), key Secrets (`data` or `stringData` with `tls.key` and optional
/// `tls.crt`), `List`s of them, or a multi-document YAML/JSON stream of any of these. Errors
/// name the PEM block or document.
pub fn keyring_from_documents(input: &str) -> Result<Keyring, Error> {
    let mut keyring = Keyring::new();
    if input.trim_start().starts_with("-----BEGIN ") {
        read_pem(input, &mut keyring)?;
    } else {
        for doc in parse_stream(input)? {
            let (key, cert) = key_pair_from_secret(&doc.value).map_err(|e| doc.locate(e))?;
            keyring.insert(KeyEntry::new(key, cert));
        }
    }
    if keyring.is_empty() {
        return Err(Error::Document {
            document: None,
            path: None,
            message: "no private keys found: expected PEM private keys or key Secrets with tls.key"
                .to_owned(),
        });
    }
    Ok(keyring)
}

/// PEM blocks: every private key, each paired with the certificate of the same key if present.
fn read_pem(input: &str, keyring: &mut Keyring) -> Result<(), Error> {
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for (i, (tag, block)) in pem_blocks(input).into_iter().enumerate() {
        let locate = |e: sealant_crypto::Error| Error::Document {
            document: None,
            path: Some(format!("PEM block {}", i + 1)),
            message: e.to_string(),
        };
        match tag {
            "CERTIFICATE" => certs.push(Certificate::from_pem(block.as_bytes()).map_err(locate)?),
            t if t.ends_with("PRIVATE KEY") => {
                keys.push(PrivateKey::from_pem(block.as_bytes()).map_err(locate)?);
            }
            _ => {}
        }
    }
    for key in keys {
        let cert = certs.iter().find(|c| c.key_id() == key.key_id()).cloned();
        keyring.insert(KeyEntry::new(key, cert));
    }
    Ok(())
}

/// `(tag, text)` of every `-----BEGIN tag-----` … `-----END tag-----` block.
fn pem_blocks(input: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut base = 0;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + 11..];
        let Some(tag_end) = after.find("-----") else {
            break;
        };
        let tag = &after[..tag_end];
        let end_marker = format!("-----END {tag}-----");
        let Some(end) = rest[begin..].find(&end_marker) else {
            break;
        };
        let stop = begin + end + end_marker.len();
        out.push((tag, &input[base + begin..base + stop]));
        base += stop;
        rest = &rest[stop..];
    }
    out
}

/// A key Secret's `tls.key` (required) and `tls.crt` (optional), from `data` or `stringData`.
fn key_pair_from_secret(value: &Value) -> Result<(PrivateKey, Option<Certificate>), Error> {
    let located = |path: &str, message: String| Error::Document {
        document: None,
        path: Some(path.to_owned()),
        message,
    };
    if let Some(kind) = value.get("kind").and_then(Value::as_str)
        && kind != "Secret"
    {
        return Err(located(
            "kind",
            format!("expected a key Secret, found kind {kind:?}"),
        ));
    }
    let field = |name: &str| -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if let Some(s) = value
            .pointer(&format!("/data/{name}"))
            .and_then(Value::as_str)
        {
            let bytes =
                decode_value(s).map_err(|e| located(&format!("data.{name}"), e.to_string()))?;
            return Ok(Some(Zeroizing::new(bytes)));
        }
        Ok(value
            .pointer(&format!("/stringData/{name}"))
            .and_then(Value::as_str)
            .map(|s| Zeroizing::new(s.as_bytes().to_vec())))
    };
    let key = field(TLS_KEY)?.ok_or_else(|| {
        located(
            "data",
            "secret must contain a 'tls.key' key (upstream's message says 'tls.data')".to_owned(),
        )
    })?;
    let cert = field(TLS_CRT)?;
    parse_key_pair(&key, cert.as_deref().map(Vec::as_slice))
        .map_err(|e| located(&format!("data.{TLS_KEY}"), e.to_string()))
}

/// A key Secret as the controller writes it: `kubernetes.io/tls`, PKCS#1 `tls.key`, `tls.crt`,
/// label `sealedsecrets.bitnami.com/sealed-secrets-key: active`, `generateName` = the prefix
/// (no dash added), in `namespace`.
pub fn key_secret(
    key: &PrivateKey,
    cert: &Certificate,
    namespace: &str,
    generate_name_prefix: &str,
) -> Secret {
    let mut data = BTreeMap::new();
    data.insert(
        TLS_KEY.to_owned(),
        ByteString(key.to_pkcs1_pem().as_bytes().to_vec()),
    );
    data.insert(TLS_CRT.to_owned(), ByteString(cert.to_pem().into_bytes()));
    Secret {
        metadata: ObjectMeta {
            generate_name: Some(generate_name_prefix.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                LABEL_SEALED_SECRETS_KEY.to_owned(),
                "active".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}
