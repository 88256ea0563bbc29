//! `meta.k8s.io/v1` Table rendering for `kubectl get` (server-side printing).

use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::util;

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// Whether an `Accept` header asks for `PartialObjectMetadata` (or its list).
pub fn wants_metadata(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=PartialObjectMetadata"))
}

/// The `meta.k8s.io/v1` PartialObjectMetadata view of an object.
pub fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    let col = |name: &str, ty: &str, format: &str, desc: &str| json!({"name": name, "type": ty, "format": format, "description": desc, "priority": 0});
    let mut cols = vec![col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    )];
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "secrets") => {
            cols.push(col("Type", "string", "", "The type of secret"));
            cols.push(col("Data", "integer", "", "The number of data items"));
        }
        ("", "namespaces") => {
            cols.push(col("Status", "string", "", "The status of the namespace"));
        }
        _ => {}
    }
    cols.push(col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    ));
    cols
}

fn row(rt: &ResourceType, obj: &Value, include: &str) -> Value {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let age = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(util::age_seconds)
        .map(util::short_age)
        .unwrap_or_else(|| "<unknown>".into());
    let mut cells = vec![json!(name)];
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "secrets") => {
            cells.push(obj.get("type").cloned().unwrap_or(json!("Opaque")));
            let n = obj
                .get("data")
                .and_then(Value::as_object)
                .map(|m| m.len())
                .unwrap_or(0);
            cells.push(json!(n));
        }
        ("", "namespaces") => {
            cells.push(
                obj.pointer("/status/phase")
                    .cloned()
                    .unwrap_or(json!("Active")),
            );
        }
        _ => {}
    }
    cells.push(json!(age));
    let object = match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => {
            let mut meta = obj.get("metadata").cloned().unwrap_or(json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.remove("managedFields");
            }
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
        }
    };
    let mut r = json!({"cells": cells});
    if !object.is_null() {
        r["object"] = object;
    }
    r
}

/// A Table of `objs`. `with_columns: false` omits column definitions (later watch events).
pub fn table(
    rt: &ResourceType,
    objs: &[Value],
    include: &str,
    with_columns: bool,
    meta: Value,
) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| row(rt, o, include)).collect();
    let cols = if with_columns {
        Value::Array(columns(rt))
    } else {
        Value::Array(Vec::new())
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": cols,
        "rows": rows,
    })
}
