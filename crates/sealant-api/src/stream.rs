//! Reading YAML and JSON streams of Kubernetes objects.

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::{Error, SealedSecret};

/// Inputs larger than this (16 MiB) are refused.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Any single string value larger than this (1 MiB, the Secret size limit) is refused.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Splits a YAML (multi-document) or JSON (concatenated objects) stream into documents.
pub fn parse_documents(input: &str) -> Result<Vec<Value>, Error> {
    let _ = input;
    todo!()
}

/// Reads a `Secret` from a parsed document.
pub fn secret_from_value(value: &Value) -> Result<Secret, Error> {
    let _ = value;
    todo!()
}

/// Reads a `SealedSecret` from a parsed document.
pub fn sealed_secret_from_value(value: &Value) -> Result<SealedSecret, Error> {
    let _ = value;
    todo!()
}
