//! Reading YAML and JSON streams of Kubernetes objects, with errors that name the document.
//!
//! A stream is multi-document YAML (`---`) or one or more concatenated JSON objects. Empty
//! documents are skipped; a `List` (or any `*List` kind with `items`) is expanded. Errors say
//! which document (1-based, counting every `---`-separated document including empty ones) and
//! which field is wrong, never the values.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Map, Value};

use crate::limits::MAX_STRING_BYTES;
use crate::{Error, SealedSecret};

/// Inputs larger than this (16 MiB) are refused.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// One object read from a stream, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// 1-based number of the document in the stream.
    pub number: usize,
    /// Index in the document's `items` when it came from a `List`.
    pub list_item: Option<usize>,
    /// The object.
    pub value: Value,
}

impl Document {
    /// Reads the object as a `Secret`; errors name the document and field.
    pub fn to_secret(&self) -> Result<Secret, Error> {
        secret_from_value(&self.value).map_err(|e| self.locate(e))
    }

    /// Reads the object as a `SealedSecret`; errors name the document and field.
    pub fn to_sealed_secret(&self) -> Result<SealedSecret, Error> {
        sealed_secret_from_value(&self.value).map_err(|e| self.locate(e))
    }

    /// Adds this document's number (and list position) to an error from the `*_from_value`
    /// functions.
    pub fn locate(&self, err: Error) -> Error {
        match err {
            Error::Document { path, message, .. } => {
                let path = match (self.list_item, path) {
                    (Some(i), Some(p)) => Some(format!("items[{i}].{p}")),
                    (Some(i), None) => Some(format!("items[{i}]")),
                    (None, p) => p,
                };
                Error::Document {
                    document: Some(self.number),
                    path,
                    message,
                }
            }
            other => other,
        }
    }
}

/// Splits a YAML (multi-document) or JSON (concatenated objects) stream into objects.
///
/// Same as [`parse_stream`] without the positions.
pub fn parse_documents(input: &str) -> Result<Vec<Value>, Error> {
    Ok(parse_stream(input)?.into_iter().map(|d| d.value).collect())
}

/// Splits a YAML (multi-document) or JSON (concatenated objects) stream into objects, keeping
/// each one's position for error messages.
pub fn parse_stream(input: &str) -> Result<Vec<Document>, Error> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(Error::InputTooLarge {
            size: input.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let raw = parse_values(input)?;
    let mut out = Vec::new();
    for (number, value) in raw {
        match value {
            Value::Null => {}
            Value::Object(map) => expand(number, map, &mut out)?,
            other => {
                return Err(Error::doc(
                    number,
                    format!(
                        "expected a Kubernetes object (a mapping with apiVersion, kind, metadata…), found {}",
                        type_name(&other)
                    ),
                ));
            }
        }
    }
    for doc in &out {
        check_sizes(&doc.value, &mut String::new()).map_err(|e| doc.locate(e))?;
    }
    Ok(out)
}

/// The stream's documents as values, numbered, with no `List` expanded and no size check.
pub(crate) fn parse_values(input: &str) -> Result<Vec<(usize, Value)>, Error> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    if !looks_like_json(input) {
        return parse_yaml_stream(input);
    }
    match parse_json_stream(input) {
        Ok(docs) => Ok(docs),
        // A YAML flow mapping also starts with `{`: fall back to YAML when the very first
        // document is not JSON, but report the JSON error if YAML fails too.
        Err((1, json_err)) => parse_yaml_stream(input).map_err(|_| json_err),
        Err((_, json_err)) => Err(json_err),
    }
}

fn expand(number: usize, map: Map<String, Value>, out: &mut Vec<Document>) -> Result<(), Error> {
    let is_list = map
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && map.get("items").is_some_and(Value::is_array);
    if !is_list {
        out.push(Document {
            number,
            list_item: None,
            value: Value::Object(map),
        });
        return Ok(());
    }
    let items = match map.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(_) => out.push(Document {
                number,
                list_item: Some(i),
                value: item,
            }),
            Value::Null => {}
            other => {
                return Err(Error::field(
                    number,
                    format!("items[{i}]"),
                    format!("expected an object, found {}", type_name(&other)),
                ));
            }
        }
    }
    Ok(())
}

fn looks_like_json(input: &str) -> bool {
    input.trim_start().starts_with(['{', '['])
}

/// Concatenated JSON values. On error, the failing document's number and the error.
fn parse_json_stream(input: &str) -> Result<Vec<(usize, Value)>, (usize, Error)> {
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_str(input).into_iter::<Value>();
    for (i, item) in stream.enumerate() {
        let number = i + 1;
        match item {
            Ok(v) => out.push((number, v)),
            Err(e) => {
                return Err((number, Error::doc(number, format!("not valid JSON: {e}"))));
            }
        }
    }
    Ok(out)
}

/// Splits at document markers (`---` at column 0, which YAML forbids inside content) and
/// parses each document, so errors can name the document.
fn parse_yaml_stream(input: &str) -> Result<Vec<(usize, Value)>, Error> {
    let mut out = Vec::new();
    for (index, chunk) in split_yaml_documents(input).into_iter().enumerate() {
        let number = index + 1;
        let opts = serde_saphyr::options! { with_snippet: false };
        let parsed: Result<Option<Value>, _> =
            serde_saphyr::from_str_with_options(chunk.text, opts);
        match parsed {
            Ok(Some(v)) => out.push((number, v)),
            Ok(None) => {}
            Err(e) => {
                let message = yaml_error_message(&e, chunk.first_line);
                return Err(Error::doc(number, format!("not valid YAML: {message}")));
            }
        }
    }
    Ok(out)
}

struct Chunk<'a> {
    text: &'a str,
    /// 1-based line number of the chunk's first line in the whole input.
    first_line: u64,
}

fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

fn split_yaml_documents(input: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1u64;
    // Whether the current chunk has content (other than directives, comments, blank lines).
    let mut has_content = false;
    let mut has_directive_only = false;
    let mut offset = 0;
    for (line_no, line) in (1u64..).zip(input.split_inclusive('\n')) {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if is_document_start(trimmed) {
            let only_directives = has_directive_only && !has_content;
            if offset > start && !only_directives {
                chunks.push(Chunk {
                    text: &input[start..offset],
                    first_line: start_line,
                });
                start = offset;
                start_line = line_no;
            } else if offset == start {
                start_line = line_no;
            }
            has_content = true;
            has_directive_only = false;
        } else if trimmed.starts_with('%') && !has_content {
            has_directive_only = true;
        } else if !trimmed.trim().is_empty() && !trimmed.trim_start().starts_with('#') {
            has_content = true;
        }
        offset += line.len();
    }
    if offset > start && has_content {
        chunks.push(Chunk {
            text: &input[start..],
            first_line: start_line,
        });
    }
    // Leading comments or blank lines before the first `---` are not a document.
    if chunks.len() > 1 && chunks.first().is_some_and(|c| !has_yaml_content(c.text)) {
        chunks.remove(0);
    }
    chunks
}

fn has_yaml_content(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
    })
}

/// serde-saphyr's message with the chunk-relative line made absolute.
fn yaml_error_message(err: &serde_saphyr::Error, first_line: u64) -> String {
    let text = err.to_string();
    match err.location() {
        Some(loc) => {
            let bare = text
                .rfind(" at line ")
                .map_or(text.as_str(), |i| &text[..i]);
            format!(
                "{bare} (line {}, column {})",
                loc.line() + first_line - 1,
                loc.column()
            )
        }
        None => text,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A field path segment: `.key`, or `["key"]` when the key is not a plain identifier.
fn segment(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        segment(key)
    } else {
        format!("{path}.{}", segment(key))
    }
}

/// Refuses any string over [`MAX_STRING_BYTES`] (longer than any valid value's text); the
/// limits on decoded bytes are in [`crate::limits`].
fn check_sizes(v: &Value, path: &mut String) -> Result<(), Error> {
    match v {
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(Error::Document {
            document: None,
            path: Some(if path.is_empty() {
                "(value)".into()
            } else {
                path.clone()
            }),
            message: format!(
                "value is {} bytes, more than the {MAX_STRING_BYTES}-byte limit (a Secret's data holds at most 1 MiB)",
                s.len()
            ),
        }),
        Value::Object(map) => {
            for (k, v) in map {
                let mut child = join(path, k);
                check_sizes(v, &mut child)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut child = format!("{path}[{i}]");
                check_sizes(v, &mut child)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn field_error(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Document {
        document: None,
        path: Some(path.into()),
        message: message.into(),
    }
}

fn plain_error(message: impl Into<String>) -> Error {
    Error::Document {
        document: None,
        path: None,
        message: message.into(),
    }
}

/// A string map field (`data`, `stringData`): absent or `null` is `None`.
fn string_map(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                match v {
                    Value::String(s) => {
                        out.insert(k, s);
                    }
                    other => {
                        return Err(field_error(
                            join(field, &k),
                            format!(
                                "expected a string, found {} (quote the value in YAML)",
                                type_name(&other)
                            ),
                        ));
                    }
                }
            }
            Ok(Some(out))
        }
        Some(other) => Err(field_error(
            field,
            format!("expected a mapping, found {}", type_name(&other)),
        )),
    }
}

/// Reads a `Secret` from a parsed document.
///
/// `kind`, if present, must be `Secret` (upstream does not check; sealing a SealedSecret or a
/// ConfigMap by mistake is refused here). `data` values must be standard base64 (Go rules:
/// line breaks ignored); `stringData` is kept. Errors carry the field path but no document
/// number: use [`Document::to_secret`] to get it.
pub fn secret_from_value(value: &Value) -> Result<Secret, Error> {
    let Value::Object(obj) = value else {
        return Err(plain_error(format!(
            "expected a Secret (a mapping), found {}",
            type_name(value)
        )));
    };
    match obj.get("kind") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "Secret" => {}
        Some(Value::String(kind)) if kind == crate::KIND => {
            return Err(field_error(
                "kind",
                "this is a SealedSecret, which is already sealed: seal the Secret it was made from",
            ));
        }
        Some(Value::String(kind)) => {
            return Err(field_error(
                "kind",
                format!("expected kind Secret, found {kind:?}: only Secrets can be sealed"),
            ));
        }
        Some(other) => {
            return Err(field_error(
                "kind",
                format!("expected a string, found {}", type_name(other)),
            ));
        }
    }
    check_sizes(value, &mut String::new())?;

    let mut obj = obj.clone();
    let data = string_map(&mut obj, "data")?;
    let string_data = string_map(&mut obj, "stringData")?;
    // creationTimestamp is cleared when sealing: accept anything there (null, absent, a time).
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("creationTimestamp");
    }
    let mut secret: Secret = serde_json::from_value(Value::Object(obj))
        .map_err(|e| plain_error(format!("not a valid Secret: {e}")))?;

    if let Some(data) = data {
        let mut decoded = BTreeMap::new();
        for (k, v) in data {
            let bytes = sealant_crypto::decode_value(&v).map_err(|e| {
                field_error(
                    join("data", &k),
                    format!("{e}; use stringData for values that are not base64"),
                )
            })?;
            decoded.insert(k, ByteString(bytes));
        }
        secret.data = Some(decoded);
    }
    secret.string_data = string_data;
    Ok(secret)
}

/// Reads a `SealedSecret` from a parsed document: `apiVersion: bitnami.com/v1alpha1` and
/// `kind: SealedSecret` are required (as upstream's universal decoder).
pub fn sealed_secret_from_value(value: &Value) -> Result<SealedSecret, Error> {
    let Value::Object(obj) = value else {
        return Err(plain_error(format!(
            "expected a SealedSecret (a mapping), found {}",
            type_name(value)
        )));
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    let kind = obj.get("kind").and_then(Value::as_str);
    match (api_version, kind) {
        (Some(crate::API_VERSION), Some(crate::KIND)) => {}
        (_, Some("Secret")) => {
            return Err(field_error(
                "kind",
                "this is a plain Secret, not a SealedSecret: seal it first",
            ));
        }
        (None, _) | (_, None) => {
            return Err(plain_error(format!(
                "not a SealedSecret: apiVersion {} and kind {} are required",
                crate::API_VERSION,
                crate::KIND
            )));
        }
        (Some(a), Some(k)) => {
            return Err(plain_error(format!(
                "not a SealedSecret: found apiVersion {a:?}, kind {k:?}; expected {}, {}",
                crate::API_VERSION,
                crate::KIND
            )));
        }
    }
    match obj.get("spec") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(field_error("spec", "missing (it is required)")),
        Some(other) => {
            return Err(field_error(
                "spec",
                format!("expected a mapping, found {}", type_name(other)),
            ));
        }
    }
    check_sizes(value, &mut String::new())?;
    serde_json::from_value::<SealedSecret>(value.clone())
        .map_err(|e| plain_error(format!("not a valid SealedSecret: {e}")))
}
