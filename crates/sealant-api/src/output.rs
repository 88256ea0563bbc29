//! Printing objects in `kubeseal`'s layout.

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::{Error, SealedSecret};

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON, 2-space indent, kubeseal's key order (kubeseal's default).
    #[default]
    Json,
    /// YAML, `---`-prefixed, keys sorted.
    Yaml,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "yaml" => Ok(Format::Yaml),
            _ => Err(Error::UnsupportedFormat(s.to_owned())),
        }
    }
}

/// A SealedSecret as YAML.
pub fn to_yaml(ss: &SealedSecret) -> Result<String, Error> {
    let _ = ss;
    todo!()
}

/// A SealedSecret as JSON.
pub fn to_json(ss: &SealedSecret) -> Result<String, Error> {
    let _ = ss;
    todo!()
}

/// A Secret as YAML.
pub fn secret_to_yaml(secret: &Secret) -> Result<String, Error> {
    let _ = secret;
    todo!()
}

/// A Secret as JSON.
pub fn secret_to_json(secret: &Secret) -> Result<String, Error> {
    let _ = secret;
    todo!()
}

/// A SealedSecret in the given format.
pub fn render(ss: &SealedSecret, format: Format) -> Result<String, Error> {
    match format {
        Format::Json => to_json(ss),
        Format::Yaml => to_yaml(ss),
    }
}

/// A Secret in the given format.
pub fn render_secret(secret: &Secret, format: Format) -> Result<String, Error> {
    match format {
        Format::Json => secret_to_json(secret),
        Format::Yaml => secret_to_yaml(secret),
    }
}

pub(crate) fn value_to_yaml(value: &Value) -> Result<String, Error> {
    let _ = value;
    todo!()
}
