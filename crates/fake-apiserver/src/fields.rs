//! Managed fields: field sets in the `fieldsV1` (`f:`) format and per-manager bookkeeping.
//!
//! A field set is the set of *leaf* paths a manager owns. Objects are walked as maps; every
//! list is treated as atomic (one leaf), so `k:`/`v:` list-item keys are never produced.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A path of `f:`-prefixed field names.
pub type Path = Vec<String>;
/// The leaves a manager owns.
pub type FieldSet = BTreeSet<Path>;

/// Metadata fields that managers may own; everything else in `metadata` is system-owned.
const OWNED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

fn walk(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if child.is_null() {
                    continue;
                }
                prefix.push(format!("f:{k}"));
                walk(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Null => {}
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The subtrees managers can own, with their paths: every top-level field but `apiVersion`,
/// `kind` and `metadata`, plus the owned fields of `metadata`.
fn roots(obj: &Value) -> Vec<(Path, &Value)> {
    let mut out = Vec::new();
    let Some(m) = obj.as_object() else {
        return out;
    };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for f in OWNED_METADATA {
                    if let Some(x) = v.get(*f) {
                        out.push((vec!["f:metadata".to_string(), format!("f:{f}")], x));
                    }
                }
            }
            _ => out.push((vec![format!("f:{k}")], v)),
        }
    }
    out
}

/// The owned leaves of an object (identity and system metadata excluded).
pub fn leaves(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    for (mut p, v) in roots(obj) {
        walk(v, &mut p, &mut out);
    }
    out
}

/// The leaves of `new` whose value differs from `old` (`set`) and the leaves of `old` that
/// `new` lacks (`removed`). Subtrees equal in both are skipped without walking them.
fn changes(old: &Value, new: &Value) -> (FieldSet, FieldSet) {
    let (mut set, mut removed) = (FieldSet::new(), FieldSet::new());
    let old_roots = roots(old);
    let new_roots = roots(new);
    fn find<'v>(rs: &[(Path, &'v Value)], p: &Path) -> Option<&'v Value> {
        rs.iter().find(|(q, _)| q == p).map(|(_, v)| *v)
    }
    for (p, n) in &new_roots {
        let o = find(&old_roots, p);
        if o == Some(*n) {
            continue;
        }
        let mut new_leaves = FieldSet::new();
        walk(n, &mut p.clone(), &mut new_leaves);
        let mut old_leaves = FieldSet::new();
        if let Some(o) = o {
            walk(o, &mut p.clone(), &mut old_leaves);
        }
        set.extend(
            new_leaves
                .iter()
                .filter(|l| value_at(old, l) != value_at(new, l))
                .cloned(),
        );
        removed.extend(old_leaves.difference(&new_leaves).cloned());
    }
    for (p, o) in &old_roots {
        if find(&new_roots, p).is_none() {
            walk(o, &mut p.clone(), &mut removed);
        }
    }
    (set, removed)
}

/// The value at a field path.
pub fn value_at<'a>(obj: &'a Value, path: &Path) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        let name = seg.strip_prefix("f:")?;
        cur = cur.get(name)?;
    }
    Some(cur)
}

/// Removes the field at `path`, then removes parents left empty (never `metadata` itself).
pub fn remove_at(obj: &mut Value, path: &Path) {
    fn rec(cur: &mut Value, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let Some(name) = first.strip_prefix("f:") else {
            return false;
        };
        let Some(m) = cur.as_object_mut() else {
            return false;
        };
        if rest.is_empty() {
            m.remove(name);
        } else if let Some(child) = m.get_mut(name) {
            rec(child, rest);
            if child.as_object().is_some_and(Map::is_empty) && name != "metadata" {
                m.remove(name);
            }
        }
        m.is_empty()
    }
    rec(obj, path);
}

/// `.data.key` style rendering used in conflict messages.
pub fn display(path: &Path) -> String {
    path.iter()
        .map(|s| format!(".{}", s.strip_prefix("f:").unwrap_or(s)))
        .collect()
}

/// Serialises a field set as `fieldsV1`.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            let entry = cur.entry(seg.clone()).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            match entry {
                Value::Object(m) => cur = m,
                _ => break,
            }
        }
    }
    Value::Object(root)
}

/// Parses `fieldsV1` into leaves (`.` markers are ignored).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn rec(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
        let children: Vec<(&String, &Value)> = v
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            return;
        }
        for (k, c) in children {
            prefix.push(k.clone());
            rec(c, prefix, out);
            prefix.pop();
        }
    }
    let mut out = FieldSet::new();
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// Last time this entry's fields changed.
    pub time: String,
    /// `status` for status-subresource writes.
    pub subresource: Option<String>,
    /// Owned leaves.
    pub fields: FieldSet,
}

impl Entry {
    /// Whether this entry is for the given manager, operation and subresource.
    pub fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

/// Reads `metadata.managedFields`.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(arr) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    arr.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            }
        })
        .collect()
}

/// Writes `metadata.managedFields` (entries with no fields are dropped).
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let arr: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if arr.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// Ownership bookkeeping for a non-apply write (create/update/patch): the writer takes the
/// leaves it changed; other managers lose them.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
) -> Vec<Entry> {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let (set, removed) = match old {
        None => (leaves(new), FieldSet::new()),
        Some(old) => changes(old, new),
    };
    if set.is_empty() && removed.is_empty() {
        return entries;
    }
    // Ownership moves to the writer; other managers keep their timestamps (as the real
    // server does).
    for e in &mut entries {
        e.fields
            .retain(|p| !set.contains(p) && !removed.contains(p) && !under_any(p, &set));
    }
    if !set.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.is(manager, "Update", subresource))
        {
            Some(e) => {
                e.fields.extend(set);
                e.time = now.to_string();
                e.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: subresource.map(str::to_string),
                fields: set,
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    entries
}

/// Whether `p` lies strictly under one of the paths in `set`, or one of them lies under `p`
/// (a field changed shape between leaf and map).
pub fn under_any(p: &Path, set: &FieldSet) -> bool {
    set.iter()
        .any(|q| (q.len() < p.len() && p.starts_with(q)) || (p.len() < q.len() && q.starts_with(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition `changes` shortcuts: every leaf of both objects, compared one by one.
    fn changes_by_full_walk(old: &Value, new: &Value) -> (FieldSet, FieldSet) {
        let (old_leaves, new_leaves) = (leaves(old), leaves(new));
        let set = new_leaves
            .iter()
            .filter(|p| value_at(old, p) != value_at(new, p))
            .cloned()
            .collect();
        (set, old_leaves.difference(&new_leaves).cloned().collect())
    }

    #[test]
    fn changes_skip_equal_subtrees_but_find_every_change() {
        let base = json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "n", "uid": "u", "labels": {"a": "1", "b": "2"}},
            "spec": {"m": {"k": "v", "l": [1, 2]}, "e": {}}, "status": {"c": [{"t": "R"}]}});
        let variants = [
            json!({"apiVersion": "v1", "kind": "X",
                "metadata": {"name": "n", "uid": "u2", "labels": {"a": "1", "b": "2"}},
                "spec": {"m": {"k": "v", "l": [1, 2]}, "e": {}}, "status": {"c": [{"t": "R"}]}}),
            json!({"metadata": {"labels": {"a": "9"}, "annotations": {"x": "y"}},
                "spec": {"m": {"k": "w", "l": [2]}, "e": {"f": 1}}}),
            json!({"metadata": {"name": "n"}, "spec": null, "status": {"c": []}, "data": {"d": "x"}}),
            json!({"spec": {"m": "flat"}}),
            base.clone(),
        ];
        for new in &variants {
            for (a, b) in [(&base, new), (new, &base)] {
                let got = changes(a, b);
                assert_eq!(got, changes_by_full_walk(a, b), "{a} -> {b}");
            }
        }
        // A metadata change outside the owned fields is no change; a label change is.
        assert_eq!(
            changes(&base, &variants[0]),
            (FieldSet::new(), FieldSet::new())
        );
        let (set, removed) = changes(&base, &variants[1]);
        assert!(set.contains(&vec!["f:metadata".into(), "f:labels".into(), "f:a".into()]));
        assert!(removed.contains(&vec!["f:status".into(), "f:c".into()]));
    }

    #[test]
    fn roundtrip() {
        let o = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "x", "labels": {"a": "1"}, "uid": "u"},
            "data": {"k": "dg=="}, "type": "Opaque", "l": [1]});
        let l = leaves(&o);
        let v1 = to_fields_v1(&l);
        assert_eq!(
            v1,
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:data": {"f:k": {}}, "f:type": {}, "f:l": {}})
        );
        assert_eq!(from_fields_v1(&v1), l);
        let mut o2 = o.clone();
        remove_at(
            &mut o2,
            &vec!["f:metadata".into(), "f:labels".into(), "f:a".into()],
        );
        assert!(o2["metadata"].get("labels").is_none());
        assert_eq!(display(&vec!["f:data".into(), "f:k".into()]), ".data.k");
    }
}
