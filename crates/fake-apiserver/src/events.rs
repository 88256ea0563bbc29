//! Events: one store, two views. Core `v1` Events and `events.k8s.io/v1` Events are the same
//! objects (as in the real server, which converts both to one internal type); the store keeps
//! the core form and each request converts with the field mapping of Kubernetes' events
//! conversion: `regarding`↔`involvedObject`, `note`↔`message`,
//! `reportingController`↔`reportingComponent`, `deprecatedSource`↔`source`,
//! `deprecatedFirstTimestamp`↔`firstTimestamp`, `deprecatedLastTimestamp`↔`lastTimestamp`,
//! `deprecatedCount`↔`count`; `eventTime`, `series`, `action`, `reason`, `related`,
//! `reportingInstance` and `type` keep their names.
//!
//! Served objects also carry the fields Go's JSON encoding writes for zero values
//! (`"firstTimestamp": null`, `"source": {}`, `"reportingComponent": ""`, ...).

use serde_json::{Map, Value, json};

/// The `events.k8s.io` group.
pub const GROUP: &str = "events.k8s.io";

/// `(events.k8s.io name, core name)`.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Whether `(group, plural)` is one of the two event views.
pub fn is_event(group: &str, plural: &str) -> bool {
    plural == "events" && (group.is_empty() || group == GROUP)
}

fn rename(obj: &mut Value, from_events: bool) {
    let Some(m) = obj.as_object_mut() else { return };
    for (ev, core) in RENAMED {
        let (from, to) = if from_events { (ev, core) } else { (core, ev) };
        if let Some(v) = m.remove(from) {
            m.insert(to.to_string(), v);
        }
    }
}

/// An `events.k8s.io/v1` object written by a client, in the stored (core) form.
pub fn to_core(mut obj: Value) -> Value {
    rename(&mut obj, true);
    obj
}

/// A stored event as served in `group` (`""` or `events.k8s.io`).
pub fn present(stored: &Value, group: &str) -> Value {
    let mut v = stored.clone();
    let events = group == GROUP;
    if events {
        rename(&mut v, false);
    }
    if let Some(m) = v.as_object_mut() {
        let defaults: &[(&str, Value)] = if events {
            &[
                ("regarding", json!({})),
                ("deprecatedSource", json!({})),
                ("eventTime", Value::Null),
                ("deprecatedFirstTimestamp", Value::Null),
                ("deprecatedLastTimestamp", Value::Null),
            ]
        } else {
            &[
                ("involvedObject", json!({})),
                ("source", json!({})),
                ("firstTimestamp", Value::Null),
                ("lastTimestamp", Value::Null),
                ("eventTime", Value::Null),
                ("reportingComponent", json!("")),
                ("reportingInstance", json!("")),
            ]
        };
        for (k, d) in defaults {
            m.entry(k.to_string()).or_insert_with(|| d.clone());
        }
    }
    v
}

/// A field-selector path of the `events.k8s.io` view, as a path of the stored form.
pub fn core_path(path: &str) -> String {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    match RENAMED.iter().find(|(ev, _)| *ev == head) {
        Some((_, core)) if rest.is_empty() => core.to_string(),
        Some((_, core)) => format!("{core}.{rest}"),
        None => path.to_string(),
    }
}

/// Drops the zero-value placeholders [`present`] adds, so a client writing back what it read
/// (a patch or an update of the served form) stores what it meant.
pub fn strip_placeholders(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    let empty = |v: &Value| {
        v.is_null() || v.as_str() == Some("") || v.as_object().is_some_and(Map::is_empty)
    };
    for k in [
        "involvedObject",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "eventTime",
        "reportingComponent",
        "reportingInstance",
    ] {
        if m.get(k).is_some_and(empty) {
            m.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_views_of_one_event() {
        let written = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "x.1", "namespace": "ns"},
            "eventTime": "2024-01-02T03:04:05.000000Z",
            "regarding": {"kind": "SealedSecret", "name": "x", "namespace": "ns"},
            "note": "unsealed", "reason": "Unsealed", "type": "Normal", "action": "Unseal",
            "reportingController": "sealant", "reportingInstance": "sealant-0",
            "deprecatedCount": 2,
        });
        let stored = to_core(written.clone());
        assert_eq!(stored["involvedObject"]["name"], "x");
        assert_eq!(stored["message"], "unsealed");
        assert_eq!(stored["reportingComponent"], "sealant");
        assert_eq!(stored["count"], 2);
        let core = present(&stored, "");
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert_eq!(core["source"], json!({}));
        assert_eq!(core["reportingInstance"], "sealant-0");
        let ev = present(&stored, GROUP);
        for k in [
            "regarding",
            "note",
            "reportingController",
            "eventTime",
            "action",
            "deprecatedCount",
        ] {
            assert_eq!(ev[k], written[k], "{k}");
        }
        assert_eq!(ev["deprecatedSource"], json!({}));
        assert!(ev.get("involvedObject").is_none() && ev.get("message").is_none());
        let mut back = to_core(ev);
        strip_placeholders(&mut back);
        assert_eq!(back, stored);
        assert_eq!(core_path("regarding.name"), "involvedObject.name");
        assert_eq!(core_path("reportingController"), "reportingComponent");
        assert_eq!(core_path("reason"), "reason");
        assert!(is_event("", "events") && is_event(GROUP, "events") && !is_event("x", "events"));
    }
}
