//! Lenient deserializers and hand-written schema fragments matching upstream's CRD.

use std::collections::BTreeMap;

use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// Deserializes `null` as the type's default (Go leaves a struct at its zero value).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string map where non-string values are dropped silently, as upstream's custom
/// `UnmarshalJSON` for `encryptedData`. `null` gives an empty map.
pub(crate) fn string_map_dropping_others<'de, D>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}

/// Schema of `spec.encryptedData`: string map that preserves unknown fields.
pub(crate) fn encrypted_data_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string" },
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Schema of `spec.data` (Go `[]byte`).
pub(crate) fn byte_string_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "byte",
        "nullable": true
    })
}

/// Schema of `spec.template.data`.
pub(crate) fn nullable_string_map_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string" },
        "nullable": true
    })
}

/// Schema of `spec.template.metadata`, as upstream's controller-gen output.
pub(crate) fn template_metadata_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "annotations": { "type": "object", "additionalProperties": { "type": "string" } },
            "finalizers": { "type": "array", "items": { "type": "string" } },
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
            "name": { "type": "string" },
            "namespace": { "type": "string" }
        }
    })
}

/// Marks `encryptedData` required in the spec schema (it has a serde default for leniency).
pub(crate) fn require_encrypted_data(schema: &mut Schema) {
    if let Some(obj) = schema.as_object_mut() {
        let required = obj
            .entry("required")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(list) = required.as_array_mut()
            && !list.iter().any(|v| v == "encryptedData")
        {
            list.push("encryptedData".into());
        }
    }
}

/// Removes `default` from the properties of a schema: serde defaults make reading lenient, but
/// must not become API-server defaults (upstream's CRD has none, and `encryptedData` is
/// required).
pub(crate) fn strip_defaults(schema: &mut Schema) {
    if let Some(props) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("properties"))
        .and_then(serde_json::Value::as_object_mut)
    {
        for prop in props.values_mut() {
            if let Some(p) = prop.as_object_mut() {
                p.remove("default");
            }
        }
    }
}
