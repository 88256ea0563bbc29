//! Structural schemas and the three things the API server does with them on every write and
//! read of a custom resource: pruning unknown fields (reporting their paths for
//! `fieldValidation`), dropping `null`s the schema does not allow, and defaulting. The same
//! pruning with the built-in types' OpenAPI schemas stands in for Go's strict JSON decoding of
//! built-in kinds (an unknown field is reported and dropped).
//!
//! The rules follow `k8s.io/apiextensions-apiserver/pkg/apiserver/schema/{pruning,defaulting}`:
//! `x-kubernetes-preserve-unknown-fields` keeps unknown fields (while the specified ones are
//! still pruned inside), `x-kubernetes-embedded-resource` keeps `apiVersion`, `kind` and
//! `metadata`, defaults fill missing fields (and `null`s where `nullable` is false) from the
//! outside in, and a `null` that is neither nullable nor defaulted is dropped.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::strict::child;

/// Index of a node in a [`Schema`].
type NodeId = usize;

#[derive(Debug, Clone, Default)]
struct Node {
    properties: HashMap<String, NodeId>,
    /// `additionalProperties`: `Some(None)` is `true` (any value, pruned as unspecified).
    additional: Option<Option<NodeId>>,
    items: Option<NodeId>,
    preserve_unknown: bool,
    embedded_resource: bool,
    nullable: bool,
    default: Option<Value>,
}

/// A compiled schema: nodes in an arena (built-in definitions are recursive).
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    root: NodeId,
}

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// How the JSON schema is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// A CRD's structural schema: an object with neither `properties` nor
    /// `additionalProperties` keeps nothing unless it preserves unknown fields.
    Structural,
    /// Generated from Go types: such an object is free-form JSON (`RawExtension`, `FieldsV1`).
    Builtin,
}

struct Compiler<'a> {
    nodes: Vec<Node>,
    flavor: Flavor,
    definitions: Option<&'a Map<String, Value>>,
    by_ref: HashMap<String, NodeId>,
}

impl Compiler<'_> {
    fn compile(&mut self, s: &Value) -> NodeId {
        if let Some(name) = s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
        {
            return self.reference(name);
        }
        // `allOf: [{$ref}]` is how OpenAPI v3 documents wrap a described reference.
        if let Some([only]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice)
            && only.get("$ref").is_some()
            && s.get("properties").is_none()
        {
            return self.compile(only);
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        let mut node = Node {
            preserve_unknown: s
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true),
            embedded_resource: s
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true),
            nullable: s.get("nullable").and_then(Value::as_bool) == Some(true),
            default: s.get("default").cloned(),
            ..Node::default()
        };
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                let c = self.compile(p);
                node.properties.insert(k.clone(), c);
            }
        }
        node.additional = match s.get("additionalProperties") {
            Some(Value::Bool(true)) => Some(None),
            Some(a @ Value::Object(_)) => Some(Some(self.compile(a))),
            _ => None,
        };
        node.items = s.get("items").map(|i| self.compile(i));
        if self.flavor == Flavor::Builtin
            && node.properties.is_empty()
            && node.additional.is_none()
            && node.items.is_none()
            && matches!(s.get("type").and_then(Value::as_str), None | Some("object"))
        {
            node.preserve_unknown = true;
        }
        self.nodes[id] = node;
        id
    }

    fn reference(&mut self, name: &str) -> NodeId {
        if let Some(id) = self.by_ref.get(name) {
            return *id;
        }
        let Some(def) = self.definitions.and_then(|d| d.get(name)) else {
            // An unresolvable reference keeps whatever is there.
            let id = self.nodes.len();
            self.nodes.push(Node {
                preserve_unknown: true,
                ..Node::default()
            });
            return id;
        };
        // Reserve the id first: definitions refer to themselves (JSONSchemaProps).
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.by_ref.insert(name.to_string(), id);
        let inner = self.compile(def);
        self.nodes[id] = self.nodes[inner].clone();
        id
    }
}

impl Schema {
    /// A CRD version's `openAPIV3Schema`.
    pub fn structural(schema: &Value) -> Self {
        Self::build(schema, Flavor::Structural, None)
    }

    /// A built-in type: `schema` may `$ref` into `definitions` (by the name after the last `/`).
    pub fn builtin(schema: &Value, definitions: &Map<String, Value>) -> Self {
        Self::build(schema, Flavor::Builtin, Some(definitions))
    }

    fn build(schema: &Value, flavor: Flavor, definitions: Option<&Map<String, Value>>) -> Self {
        let mut c = Compiler {
            nodes: Vec::new(),
            flavor,
            definitions,
            by_ref: HashMap::new(),
        };
        let root = c.compile(schema);
        Schema {
            nodes: c.nodes,
            root,
        }
    }

    fn node(&self, id: Option<NodeId>) -> Option<&Node> {
        id.and_then(|i| self.nodes.get(i))
    }

    /// Removes the fields the schema does not specify from a whole object and returns their
    /// paths, sorted. At a resource root `apiVersion`, `kind` and `metadata` are left alone
    /// (`metadata` is ObjectMeta's business, see [`Self::prune`]).
    pub fn prune_resource(&self, obj: &mut Value) -> Vec<String> {
        let mut root = self.nodes.get(self.root).cloned().unwrap_or_default();
        root.embedded_resource = true;
        let mut out = Vec::new();
        self.prune_with(obj, Some(&root), "", &mut out);
        out.sort();
        out
    }

    /// Removes unspecified fields below `path` (as a Go struct decoder drops them) and returns
    /// their paths.
    pub fn prune(&self, x: &mut Value, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.prune_with(x, self.nodes.get(self.root), path, &mut out);
        out
    }

    fn prune_with(&self, x: &mut Value, s: Option<&Node>, path: &str, out: &mut Vec<String>) {
        if let Some(s) = s
            && s.preserve_unknown
        {
            return self.skip_prune(x, s, path, out);
        }
        match x {
            Value::Object(m) => {
                let Some(s) = s else {
                    out.extend(m.keys().map(|k| child(path, k)));
                    m.clear();
                    return;
                };
                m.retain(|k, v| {
                    if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                        return true;
                    }
                    let sub = match (s.properties.get(k), &s.additional) {
                        (Some(p), _) => self.nodes.get(*p),
                        (None, Some(a)) => self.node(*a),
                        (None, None) => {
                            if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                                out.push(child(path, k));
                            }
                            return false;
                        }
                    };
                    self.prune_with(v, sub, &child(path, k), out);
                    true
                });
            }
            Value::Array(a) => {
                let items = s.and_then(|s| self.node(s.items));
                for (i, v) in a.iter_mut().enumerate() {
                    self.prune_with(v, items, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    fn skip_prune(&self, x: &mut Value, s: &Node, path: &str, out: &mut Vec<String>) {
        match x {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                        continue;
                    }
                    let sub = match (s.properties.get(k), &s.additional) {
                        (Some(p), _) => self.nodes.get(*p),
                        (None, Some(a)) => self.node(*a),
                        (None, None) => continue,
                    };
                    self.prune_with(v, sub, &child(path, k), out);
                }
            }
            Value::Array(a) => {
                if let Some(items) = self.node(s.items) {
                    for (i, v) in a.iter_mut().enumerate() {
                        self.skip_prune(v, items, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn field_schema(&self, s: Option<&Node>, k: &str) -> Option<&Node> {
        let s = s?;
        match (s.properties.get(k), &s.additional) {
            (Some(p), _) => self.nodes.get(*p),
            (None, Some(a)) => self.node(*a),
            (None, None) => None,
        }
    }

    /// Drops `null` values whose schema is neither nullable nor defaulted.
    pub fn prune_nulls(&self, x: &mut Value) {
        self.prune_nulls_with(x, self.nodes.get(self.root));
    }

    fn prune_nulls_with(&self, x: &mut Value, s: Option<&Node>) {
        match x {
            Value::Object(m) => m.retain(|k, v| {
                let sub = self.field_schema(s, k);
                if v.is_null() && sub.is_some_and(|n| !n.nullable && n.default.is_none()) {
                    return false;
                }
                self.prune_nulls_with(v, sub);
                true
            }),
            Value::Array(a) => {
                let items = s.and_then(|s| self.node(s.items));
                for v in a {
                    self.prune_nulls_with(v, items);
                }
            }
            _ => {}
        }
    }

    /// Fills missing fields (and non-nullable `null`s) with their schema defaults.
    pub fn default(&self, x: &mut Value) {
        self.default_with(x, self.nodes.get(self.root));
    }

    fn default_with(&self, x: &mut Value, s: Option<&Node>) {
        let Some(s) = s else { return };
        let non_nullable_null = |v: &Value, n: &Node| v.is_null() && !n.nullable;
        match x {
            Value::Object(m) => {
                for (k, p) in &s.properties {
                    let Some(prop) = self.nodes.get(*p) else {
                        continue;
                    };
                    let Some(d) = &prop.default else { continue };
                    if m.get(k).is_none_or(|v| non_nullable_null(v, prop)) {
                        m.insert(k.clone(), d.clone());
                    }
                }
                for (k, v) in m.iter_mut() {
                    if let Some(p) = s.properties.get(k) {
                        self.default_with(v, self.nodes.get(*p));
                    } else if let Some(a) = &s.additional {
                        let add = self.node(*a);
                        if let Some(n) = add
                            && non_nullable_null(v, n)
                        {
                            *v = n.default.clone().unwrap_or(Value::Null);
                        }
                        self.default_with(v, add);
                    }
                }
            }
            Value::Array(a) => {
                let items = self.node(s.items);
                for v in a {
                    if let Some(n) = items
                        && non_nullable_null(v, n)
                    {
                        *v = n.default.clone().unwrap_or(Value::Null);
                    }
                    self.default_with(v, items);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crontab() -> Schema {
        // The CronTab schema of the Kubernetes documentation's CRD pages.
        Schema::structural(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "cronSpec": {"type": "string", "default": "5 0 * * *"},
                        "image": {"type": "string"},
                        "replicas": {"type": "integer", "default": 1},
                    },
                },
            },
        }))
    }

    #[test]
    fn pruning_removes_unspecified_fields_and_reports_them() {
        let s = crontab();
        let mut o = json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-new-cron-object", "finalizers": ["x"]},
            "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "someRandomField": 42},
            "other": {"a": 1},
        });
        let pruned = s.prune_resource(&mut o);
        assert_eq!(pruned, ["other", "spec.someRandomField"]);
        assert_eq!(
            o,
            json!({
                "apiVersion": "stable.example.com/v1", "kind": "CronTab",
                "metadata": {"name": "my-new-cron-object", "finalizers": ["x"]},
                "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"},
            })
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknown_but_prunes_specified_subtrees() {
        let s = Schema::structural(&json!({
            "type": "object",
            "properties": {
                "json": {"x-kubernetes-preserve-unknown-fields": true},
                "typed": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}},
                },
                "embedded": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": true,
                    "x-kubernetes-preserve-unknown-fields": true,
                },
                "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            },
        }));
        let mut o = json!({
            "json": {"anything": [1, {"x": 2}]},
            "typed": {"free": true, "inner": {"a": "x", "b": "dropped"}},
            "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
            "list": [{"k": "v", "z": 1}],
        });
        let pruned = s.prune_resource(&mut o);
        assert_eq!(pruned, ["list[0].z", "typed.inner.b"]);
        assert_eq!(o["json"], json!({"anything": [1, {"x": 2}]}));
        assert_eq!(o["typed"], json!({"free": true, "inner": {"a": "x"}}));
        assert_eq!(o["embedded"]["metadata"]["name"], "p");
        assert_eq!(o["list"], json!([{"k": "v"}]));
    }

    #[test]
    fn an_object_without_properties_keeps_nothing_unless_it_preserves() {
        let s = Schema::structural(&json!({
            "type": "object",
            "properties": {"empty": {"type": "object"}, "map": {"type": "object", "additionalProperties": {"type": "string"}}},
        }));
        let mut o = json!({"empty": {"a": 1}, "map": {"b": "c"}});
        assert_eq!(s.prune_resource(&mut o), ["empty.a"]);
        assert_eq!(o, json!({"empty": {}, "map": {"b": "c"}}));
        // Built-in (Go) schemas read the same shape as free-form JSON.
        let b = Schema::builtin(
            &json!({"type": "object", "properties": {"raw": {"type": "object"}}}),
            &Map::new(),
        );
        let mut o = json!({"raw": {"a": 1}, "nope": 1});
        assert_eq!(b.prune(&mut o, ""), ["nope"]);
        assert_eq!(o, json!({"raw": {"a": 1}}));
    }

    #[test]
    fn defaulting_follows_the_documented_example() {
        let s = crontab();
        let mut o = json!({"spec": {"image": "my-awesome-cron-image"}});
        s.default(&mut o);
        assert_eq!(
            o["spec"],
            json!({"cronSpec": "5 0 * * *", "image": "my-awesome-cron-image", "replicas": 1})
        );
        // An explicit value is kept.
        let mut o = json!({"spec": {"replicas": 3}});
        s.default(&mut o);
        assert_eq!(o["spec"]["replicas"], 3);
    }

    #[test]
    fn nulls_follow_the_documented_defaulting_and_nullable_example() {
        let s = Schema::structural(&json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "foo": {"type": "string", "nullable": false, "default": "default"},
                "bar": {"type": "string", "nullable": true},
                "baz": {"type": "string"},
            }}},
        }));
        let mut o = json!({"spec": {"foo": null, "bar": null, "baz": null}});
        s.prune_nulls(&mut o);
        s.default(&mut o);
        assert_eq!(o["spec"], json!({"foo": "default", "bar": null}));
    }

    #[test]
    fn defaults_apply_outside_in_and_to_a_missing_status() {
        let s = Schema::structural(&json!({
            "type": "object",
            "properties": {"status": {
                "type": "object",
                "default": {"observedGeneration": -1},
                "properties": {"observedGeneration": {"type": "integer"}, "phase": {"type": "string", "default": "New"}},
            }},
        }));
        let mut o = json!({"metadata": {"name": "x"}});
        s.default(&mut o);
        assert_eq!(
            o["status"],
            json!({"observedGeneration": -1, "phase": "New"})
        );
        let mut o = json!({"status": {"observedGeneration": 3}});
        s.default(&mut o);
        assert_eq!(
            o["status"],
            json!({"observedGeneration": 3, "phase": "New"})
        );
    }

    #[test]
    fn recursive_definitions_compile() {
        let defs = json!({
            "Props": {"type": "object", "properties": {
                "properties": {"type": "object", "additionalProperties": {"$ref": "#/definitions/Props"}},
                "type": {"type": "string"},
            }},
        });
        let s = Schema::builtin(
            &json!({"$ref": "#/definitions/Props"}),
            defs.as_object().unwrap(),
        );
        let mut o = json!({"properties": {"a": {"type": "string", "bogus": 1, "properties": {"b": {"x": 1}}}}});
        assert_eq!(
            s.prune(&mut o, "spec"),
            [
                "spec.properties.a.bogus",
                "spec.properties.a.properties.b.x"
            ]
        );
    }
}
