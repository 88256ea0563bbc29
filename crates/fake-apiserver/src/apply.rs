//! Server-side apply (`application/apply-patch+yaml`).
//!
//! Field ownership is tracked per manager as leaf paths (see [`crate::fields`]): a manager
//! owns what it applied; applying a value for a field another manager owns with a different
//! value is a conflict unless `force`; fields the same manager stops applying are removed
//! unless another manager still owns them. Lists are atomic.

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult};
use crate::fields::{self, Entry, FieldSet};

/// Parses an apply body (YAML or JSON).
pub fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("apply body is not valid UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            strip_nulls(x);
        }
    }
}

fn deep_merge(target: &mut Value, src: &Value) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, s) => *t = s.clone(),
    }
}

/// What the caller of [`apply`] asks for.
pub struct ApplyReq<'a> {
    /// Field manager (required).
    pub manager: &'a str,
    /// Take ownership of conflicting fields.
    pub force: bool,
    /// Applying to the `status` subresource.
    pub status: bool,
    /// The resource has a status subresource (main applies then ignore `status`).
    pub has_status: bool,
    /// apiVersion recorded in managedFields.
    pub api_version: &'a str,
    /// Timestamp for changed entries.
    pub now: &'a str,
}

/// Computes the applied object and its managedFields.
pub fn apply(
    live: Option<&Value>,
    mut applied: Value,
    req: &ApplyReq,
) -> ApiResult<(Value, Vec<Entry>)> {
    if !applied.is_object() {
        return Err(ApiError::bad_request("apply body must be an object"));
    }
    strip_nulls(&mut applied);
    // The part of the applied config that is merged and owned.
    let mut config = Map::new();
    if let Some(m) = applied.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    let mut meta = Map::new();
                    if !req.status
                        && let Some(mm) = v.as_object()
                    {
                        for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                            if let Some(x) = mm.get(f) {
                                meta.insert(f.into(), x.clone());
                            }
                        }
                    }
                    config.insert("metadata".into(), Value::Object(meta));
                }
                "status" if req.has_status && !req.status => {}
                _ if req.status && k != "status" => {}
                _ => {
                    config.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let config = Value::Object(config);
    let new_set = fields::leaves(&config);
    let sub = req.status.then_some("status");
    let mut entries = live.map(fields::read_entries).unwrap_or_default();
    let empty = json!({});
    let live_v = live.unwrap_or(&empty);

    // Conflicts with other managers.
    let mut conflicts: Vec<(String, fields::Path)> = Vec::new();
    for e in &entries {
        if e.manager == req.manager {
            continue;
        }
        for p in e.fields.iter() {
            let overlaps = new_set.contains(p) || fields::under_any(p, &new_set);
            if overlaps && fields::value_at(live_v, p) != fields::value_at(&config, p) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            return Err(conflict_error(&conflicts, req.api_version));
        }
        for e in &mut entries {
            if e.manager != req.manager {
                e.fields
                    .retain(|p| !conflicts.iter().any(|(m, q)| *m == e.manager && q == p));
            }
        }
    }

    // Fields this manager stopped applying.
    let old_set: FieldSet = entries
        .iter()
        .find(|e| e.is(req.manager, "Apply", sub))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut result = live_v.clone();
    for p in old_set.difference(&new_set) {
        let still_owned = entries
            .iter()
            .filter(|e| !e.is(req.manager, "Apply", sub))
            .any(|e| e.fields.contains(p));
        if !still_owned {
            fields::remove_at(&mut result, p);
        }
    }
    deep_merge(&mut result, &config);
    if let Some(meta) = result.get_mut("metadata").and_then(Value::as_object_mut)
        && let Some(am) = applied.get("metadata").and_then(Value::as_object)
    {
        for f in ["name", "namespace", "generateName"] {
            if live.is_none()
                && let Some(v) = am.get(f)
            {
                meta.insert(f.into(), v.clone());
            }
        }
        if let Some(rv) = am.get("resourceVersion") {
            meta.insert("resourceVersion".into(), rv.clone());
        }
    }

    // This manager's entry.
    let changed = live.is_none_or(|l| {
        let mut a = l.clone();
        let mut b = result.clone();
        for x in [&mut a, &mut b] {
            if let Some(m) = x.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
        }
        a != b
    });
    match entries.iter_mut().find(|e| e.is(req.manager, "Apply", sub)) {
        Some(e) => {
            if e.fields != new_set || changed {
                e.time = req.now.to_string();
                e.api_version = req.api_version.to_string();
            }
            e.fields = new_set;
        }
        None => entries.push(Entry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: req.now.to_string(),
            subresource: sub.map(str::to_string),
            fields: new_set,
        }),
    }
    entries.retain(|e| !e.fields.is_empty());
    Ok((result, entries))
}

fn conflict_error(conflicts: &[(String, fields::Path)], api_version: &str) -> ApiError {
    let msg = if let [(m, p)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with \"{m}\" using {api_version}: {}",
            fields::display(p)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| {
                format!(
                    "conflict with \"{m}\" using {api_version}: {}",
                    fields::display(p)
                )
            })
            .collect();
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::new(409, "Conflict", msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(m: &str, force: bool) -> ApplyReq<'_> {
        ApplyReq {
            manager: m,
            force,
            status: false,
            has_status: false,
            api_version: "v1",
            now: "t",
        }
    }

    #[test]
    fn apply_semantics() {
        let (o, e) = apply(
            None,
            json!({"metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}}),
            &req("m1", false),
        )
        .unwrap();
        let mut o = o;
        fields::write_entries(&mut o, &e);
        assert_eq!(o["data"], json!({"a": "1", "b": "2"}));
        // m1 drops b.
        let (o2, e2) = apply(Some(&o), json!({"data": {"a": "1"}}), &req("m1", false)).unwrap();
        assert_eq!(o2["data"], json!({"a": "1"}));
        assert_eq!(e2.len(), 1);
        // m2 conflicts on a.
        let err = apply(Some(&o), json!({"data": {"a": "9"}}), &req("m2", false)).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("conflict with \"m1\""),
            "{}",
            err.message
        );
        assert!(err.message.contains(".data.a"));
        // Same value: shared, no conflict.
        assert!(apply(Some(&o), json!({"data": {"a": "1"}}), &req("m2", false)).is_ok());
        // Force takes it.
        let (o3, e3) = apply(Some(&o), json!({"data": {"a": "9"}}), &req("m2", true)).unwrap();
        assert_eq!(o3["data"]["a"], "9");
        assert!(e3.iter().any(|e| e.manager == "m2"));
        let m1 = e3.iter().find(|e| e.manager == "m1").unwrap();
        assert!(
            !m1.fields
                .contains(&vec!["f:data".to_string(), "f:a".to_string()])
        );
    }

    #[test]
    fn yaml_body() {
        let v = parse_body(b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n").unwrap();
        assert_eq!(v["metadata"]["name"], "x");
        assert!(parse_body(b"{{{").is_err());
    }
}
