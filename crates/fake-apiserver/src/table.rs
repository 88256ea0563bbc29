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

fn col(name: &str, ty: &str, format: &str, desc: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

const NAME_DESC: &str = "Name must be unique within a namespace.";
const AGE_DESC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

/// Column definitions: the built-in printers' for the built-in kinds, a CRD's
/// `additionalPrinterColumns` (or `Age` when it has none) for custom resources.
fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = col("Name", "string", "name", NAME_DESC, 0);
    let age = col("Age", "string", "", AGE_DESC, 0);
    let c = |n: &str, desc: &str| col(n, "string", "", desc, 0);
    let wide = |n: &str, desc: &str| col(n, "string", "", desc, 1);
    if rt.custom {
        let mut cols = vec![name];
        for p in printer_columns(rt) {
            let desc = p
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "Custom resource definition column (in JSONPath format): {}",
                        p.get("jsonPath").and_then(Value::as_str).unwrap_or("")
                    )
                });
            let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            cols.push(col(
                &s("name"),
                &s("type"),
                &s("format"),
                &desc,
                p.get("priority").and_then(Value::as_i64).unwrap_or(0),
            ));
        }
        return cols;
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "secrets") => vec![
            name,
            c("Type", "The type of secret"),
            c("Data", "The number of data items"),
            age,
        ],
        ("", "namespaces") => vec![name, c("Status", "The status of the namespace"), age],
        ("", "configmaps") => vec![name, c("Data", "The number of data items"), age],
        ("", "serviceaccounts") => vec![name, c("Secrets", "The number of secrets"), age],
        ("", "services") => vec![
            name,
            c("Type", "The type of the service"),
            c("Cluster-IP", "The cluster IP of the service"),
            c("External-IP", "The external IPs of the service"),
            c("Port(s)", "The ports of the service"),
            age,
            wide("Selector", "The selector of the service"),
        ],
        ("coordination.k8s.io", "leases") => {
            vec![name, c("Holder", "The holder of the lease"), age]
        }
        (_, "events") => vec![
            c("Last Seen", "When the event was last seen"),
            c("Type", "Type of this event (Normal, Warning)"),
            c("Reason", "Why the action was taken"),
            c("Object", "The object this event is about"),
            wide("Subobject", "The field of the object"),
            wide("Source", "The component reporting this event"),
            c(
                "Message",
                "A human-readable description of the status of this operation",
            ),
            wide("First Seen", "When the event was first seen"),
            wide("Count", "The number of times this event has occurred"),
            col("Name", "string", "name", NAME_DESC, 1),
        ],
        ("apiextensions.k8s.io", _) => vec![name, col("Created At", "date", "", AGE_DESC, 0)],
        _ => vec![name, age],
    }
}

/// A CRD version's printer columns, or the `Age` column the server adds when it has none.
fn printer_columns(rt: &ResourceType) -> Vec<Value> {
    if rt.columns.is_empty() {
        return vec![
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        ];
    }
    rt.columns.to_vec()
}

/// The first JSONPath result of a printer column, as the real table convertor renders it.
fn custom_cell(p: &Value, obj: &Value) -> Value {
    let path = p.get("jsonPath").and_then(Value::as_str).unwrap_or("");
    // The real server limits printer column paths too; a huge one is no column.
    if path.len() > 1024 {
        return Value::Null;
    }
    let Ok(query) = serde_json_path::JsonPath::parse(&format!("${path}")) else {
        return Value::Null;
    };
    let Some(first) = query.query(obj).all().into_iter().next() else {
        return Value::Null;
    };
    match (p.get("type").and_then(Value::as_str).unwrap_or(""), first) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(s)) => json!(s),
        ("string", v @ (Value::Object(_) | Value::Array(_))) => json!(v.to_string()),
        ("string", v) => json!(v.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::from),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match util::age_seconds(s) {
            Some(secs) => json!(util::human_duration(secs)),
            None => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn count(obj: &Value, ptr: &str) -> usize {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// The cells of a Service (`kubectl get services`).
fn service_cells(obj: &Value) -> Vec<Value> {
    let ty = s(obj, "/spec/type");
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    let list = |ptr: &str| -> Vec<String> {
        obj.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut external = list("/spec/externalIPs");
    let external = match ty {
        "ExternalName" => s(obj, "/spec/externalName").to_string(),
        "LoadBalancer" => {
            let ingress: Vec<String> = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|i| {
                            let ip = s(i, "/ip");
                            if ip.is_empty() {
                                s(i, "/hostname").to_string()
                            } else {
                                ip.to_string()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            external.extend(ingress);
            if external.is_empty() {
                "<pending>".into()
            } else {
                external.join(",")
            }
        }
        _ => or_none(external.join(",")),
    };
    let ports: Vec<String> = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                    let proto = match s(p, "/protocol") {
                        "" => "TCP",
                        x => x,
                    };
                    match p
                        .get("nodePort")
                        .and_then(Value::as_i64)
                        .filter(|n| *n != 0)
                    {
                        Some(n) => format!("{port}:{n}/{proto}"),
                        None => format!("{port}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let selector: Vec<String> = obj
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let cluster_ip = s(obj, "/spec/clusterIP");
    vec![
        json!(ty),
        json!(if cluster_ip.is_empty() {
            "<none>"
        } else {
            cluster_ip
        }),
        json!(external),
        json!(or_none(ports.join(","))),
        json!(util::age(
            obj.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
        )),
        json!(or_none(selector.join(","))),
    ]
}

/// The cells of an event, as the real event printer computes them (core field names).
fn event_cells(obj: &Value, api_group: &str) -> Vec<Value> {
    // Served events.k8s.io objects name some fields differently.
    let f = |core: &str, ev: &str| {
        if api_group.is_empty() {
            core.to_string()
        } else {
            ev.to_string()
        }
    };
    let ts = |p: &str| obj.pointer(p).and_then(Value::as_str);
    let first = ts(&f("/firstTimestamp", "/deprecatedFirstTimestamp")).or_else(|| ts("/eventTime"));
    let first_s = util::age(first);
    let mut last_s = match ts(&f("/lastTimestamp", "/deprecatedLastTimestamp")) {
        Some(t) => util::age(Some(t)),
        None => first_s.clone(),
    };
    let mut n = obj
        .pointer(&f("/count", "/deprecatedCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last_s = util::age(series.get("lastObservedTime").and_then(Value::as_str));
        n = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if n == 0 {
        n = 1;
    }
    let involved = f("/involvedObject", "/regarding");
    let kind = s(obj, &format!("{involved}/kind")).to_ascii_lowercase();
    let name = s(obj, &format!("{involved}/name"));
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let component = [
        s(obj, &f("/source/component", "/deprecatedSource/component")),
        s(obj, &f("/reportingComponent", "/reportingController")),
    ]
    .into_iter()
    .find(|x| !x.is_empty())
    .unwrap_or("");
    let instance = [
        s(obj, &f("/source/host", "/deprecatedSource/host")),
        s(obj, "/reportingInstance"),
    ]
    .into_iter()
    .find(|x| !x.is_empty())
    .unwrap_or("");
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_s),
        json!(s(obj, "/type")),
        json!(s(obj, "/reason")),
        json!(target),
        json!(s(obj, &format!("{involved}/fieldPath"))),
        json!(source),
        json!(s(obj, &f("/message", "/note")).trim()),
        json!(first_s),
        json!(n),
        json!(s(obj, "/metadata/name")),
    ]
}

fn row(rt: &ResourceType, obj: &Value, include: &str) -> Value {
    let name = s(obj, "/metadata/name");
    let created = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str);
    let age = util::age(created);
    let cells: Vec<Value> = if rt.custom {
        std::iter::once(json!(name))
            .chain(printer_columns(rt).iter().map(|p| custom_cell(p, obj)))
            .collect()
    } else {
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "secrets") => {
                let ty = match s(obj, "/type") {
                    "" => "Opaque",
                    t => t,
                };
                vec![
                    json!(name),
                    json!(ty),
                    json!(count(obj, "/data")),
                    json!(age),
                ]
            }
            ("", "namespaces") => {
                let phase = match s(obj, "/status/phase") {
                    "" => "Active",
                    p => p,
                };
                vec![json!(name), json!(phase), json!(age)]
            }
            ("", "configmaps") => vec![
                json!(name),
                json!(count(obj, "/data") + count(obj, "/binaryData")),
                json!(age),
            ],
            ("", "serviceaccounts") => vec![json!(name), json!(count(obj, "/secrets")), json!(age)],
            ("", "services") => std::iter::once(json!(name))
                .chain(service_cells(obj))
                .collect(),
            ("coordination.k8s.io", "leases") => {
                vec![
                    json!(name),
                    json!(s(obj, "/spec/holderIdentity")),
                    json!(age),
                ]
            }
            (g, "events") => event_cells(obj, g),
            ("apiextensions.k8s.io", _) => vec![json!(name), json!(created.unwrap_or(""))],
            _ => vec![json!(name), json!(age)],
        }
    };
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
