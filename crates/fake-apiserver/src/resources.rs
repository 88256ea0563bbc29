//! The resource registry (built-in types plus CRD-defined ones) and discovery documents.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::schema::Schema;

/// Where objects of one resource are stored: `(group, plural)`. All served versions of a
/// resource share one store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResKey {
    /// API group (`""` for core).
    pub group: String,
    /// Plural resource name.
    pub plural: String,
}

/// One served resource (group, version, plural).
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version served.
    pub version: String,
    /// Plural name (URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether a `status` subresource is served (main writes then ignore `.status`).
    pub status: bool,
    /// Short names for discovery.
    pub short_names: Vec<String>,
    /// Whether this resource was defined by a CRD.
    pub custom: bool,
    /// `<Kind>List`.
    pub list_kind: String,
    /// A CRD version's `openAPIV3Schema` as written (for the OpenAPI documents).
    pub schema: Option<Arc<Value>>,
    /// The same, compiled for pruning and defaulting.
    pub structural: Option<Arc<Schema>>,
    /// A CRD version's `additionalPrinterColumns` (`kubectl get` tables).
    pub columns: Arc<Vec<Value>>,
    /// A review (`authorization.k8s.io`, `authentication.k8s.io`): only `create` is served,
    /// nothing is stored, the answer is computed (see [`crate::reviews`]).
    pub review: bool,
}

impl ResourceType {
    /// `group/version` or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key. Both event APIs share one store (see [`crate::events`]).
    pub fn key(&self) -> ResKey {
        if crate::events::is_event(&self.group, &self.plural) {
            return ResKey {
                group: String::new(),
                plural: self.plural.clone(),
            };
        }
        ResKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        status: bool,
        short: &[&str],
    ) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.into(),
            namespaced,
            status,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            custom: false,
            list_kind: format!("{kind}List"),
            schema: None,
            structural: None,
            columns: Arc::default(),
            review: false,
        }
    }

    /// A create-only review resource (cluster-scoped unless `namespaced`).
    pub fn review(group: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            review: true,
            ..Self::builtin(group, "v1", plural, kind, namespaced, false, &[])
        }
    }
}

/// All served resources, keyed by `(group, version, plural)`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: BTreeMap<(String, String, String), ResourceType>,
}

impl Registry {
    /// The built-in resources.
    pub fn builtin() -> Self {
        let mut r = Registry::default();
        for t in crate::reviews::resource_types() {
            r.insert(t);
        }
        for t in [
            ResourceType::builtin("", "v1", "namespaces", "Namespace", false, true, &["ns"]),
            ResourceType::builtin("", "v1", "secrets", "Secret", true, false, &[]),
            ResourceType::builtin("", "v1", "configmaps", "ConfigMap", true, false, &["cm"]),
            ResourceType::builtin("", "v1", "services", "Service", true, true, &["svc"]),
            ResourceType::builtin(
                "",
                "v1",
                "serviceaccounts",
                "ServiceAccount",
                true,
                false,
                &["sa"],
            ),
            ResourceType::builtin("", "v1", "events", "Event", true, false, &["ev"]),
            ResourceType::builtin(
                "events.k8s.io",
                "v1",
                "events",
                "Event",
                true,
                false,
                &["ev"],
            ),
            ResourceType::builtin(
                "coordination.k8s.io",
                "v1",
                "leases",
                "Lease",
                true,
                false,
                &[],
            ),
            ResourceType::builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                true,
                &["crd", "crds"],
            ),
            // What an install of a controller consists of (stored, not acted on: no pods).
            ResourceType::builtin(
                "apps",
                "v1",
                "deployments",
                "Deployment",
                true,
                true,
                &["deploy"],
            ),
            ResourceType::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "roles",
                "Role",
                true,
                false,
                &[],
            ),
            ResourceType::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "rolebindings",
                "RoleBinding",
                true,
                false,
                &[],
            ),
            ResourceType::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "ClusterRole",
                false,
                false,
                &[],
            ),
            ResourceType::builtin(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
                false,
                false,
                &[],
            ),
            ResourceType::builtin(
                "policy",
                "v1",
                "poddisruptionbudgets",
                "PodDisruptionBudget",
                true,
                true,
                &["pdb"],
            ),
            ResourceType::builtin(
                "networking.k8s.io",
                "v1",
                "networkpolicies",
                "NetworkPolicy",
                true,
                false,
                &["netpol"],
            ),
            ResourceType::builtin(
                "networking.k8s.io",
                "v1",
                "ingresses",
                "Ingress",
                true,
                true,
                &["ing"],
            ),
        ] {
            r.insert(t);
        }
        r
    }

    /// Adds or replaces a resource.
    pub fn insert(&mut self, t: ResourceType) {
        self.types
            .insert((t.group.clone(), t.version.clone(), t.plural.clone()), t);
    }

    /// Removes every version of a CRD-defined resource.
    pub fn remove_custom(&mut self, key: &ResKey) {
        self.types
            .retain(|(g, _, p), t| !(t.custom && *g == key.group && *p == key.plural));
    }

    /// Looks up a served resource.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
    }

    /// Every served resource version.
    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.values()
    }

    /// Whether `group/version` is served.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.types
            .keys()
            .any(|(g, v, _)| g == group && v == version)
    }

    /// Served versions of a group, in registration order of names (sorted).
    fn versions(&self, group: &str) -> Vec<String> {
        let mut vs: Vec<String> = self
            .types
            .keys()
            .filter(|(g, _, _)| g == group)
            .map(|(_, v, _)| v.clone())
            .collect();
        vs.dedup();
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        vs
    }

    /// `/apis` (APIGroupList, non-core groups).
    pub fn api_group_list(&self) -> Value {
        let mut groups: Vec<String> = self
            .types
            .keys()
            .map(|(g, _, _)| g.clone())
            .filter(|g| !g.is_empty())
            .collect();
        groups.dedup();
        let groups: Vec<Value> = groups.iter().filter_map(|g| self.api_group(g)).collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/{group}` (APIGroup).
    pub fn api_group(&self, group: &str) -> Option<Value> {
        let vs = self.versions(group);
        let first = vs.first()?;
        let versions: Vec<Value> = vs
            .iter()
            .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        Some(json!({
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": versions,
            "preferredVersion": {"groupVersion": format!("{group}/{first}"), "version": first},
        }))
    }

    /// `/api/v1` or `/apis/{group}/{version}` (APIResourceList).
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        if !self.serves(group, version) {
            return None;
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let mut resources = Vec::new();
        for ((g, v, _), t) in &self.types {
            if g != group || v != version {
                continue;
            }
            let verbs = if t.review {
                json!(["create"])
            } else {
                json!([
                    "create",
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "update",
                    "watch"
                ])
            };
            resources.push(json!({
                "name": t.plural,
                "singularName": t.singular,
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": verbs,
                "shortNames": t.short_names,
            }));
            if t.status {
                resources.push(json!({
                    "name": format!("{}/status", t.plural),
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
            if group.is_empty() && t.plural == "services" {
                resources.push(json!({
                    "name": "services/proxy",
                    "singularName": "",
                    "namespaced": true,
                    "kind": "ServiceProxyOptions",
                    "verbs": ["create", "delete", "get", "patch", "update"],
                }));
            }
        }
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }))
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        (0, "0")
    };
    (level, major, num.parse().unwrap_or(0))
}

/// Builds the served resources described by a CRD object (served versions only).
pub fn crd_resources(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .ok_or("spec.group: Required value")?;
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = names
        .get("plural")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .ok_or("spec.names.plural: Required value")?;
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .ok_or("spec.names.kind: Required value")?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let short_names: Vec<String> = names
        .get("shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let list_kind = names
        .get("listKind")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        Some(other) => {
            return Err(format!(
                "spec.scope: Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ));
        }
        None => return Err("spec.scope: Required value".into()),
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or("spec.versions: Invalid value: null: must have exactly one version marked as storage version")?;
    let mut out = Vec::new();
    for v in versions {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or("spec.versions[].name: Required value")?;
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let status = v
            .get("subresources")
            .and_then(|s| s.get("status"))
            .is_some_and(|s| !s.is_null());
        let schema = v.pointer("/schema/openAPIV3Schema").cloned();
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        out.push(ResourceType {
            group: group.into(),
            version: name.into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            namespaced,
            status,
            short_names: short_names.clone(),
            custom: true,
            list_kind: list_kind.clone(),
            structural: schema.as_ref().map(|s| Arc::new(Schema::structural(s))),
            schema: schema.map(Arc::new),
            columns: Arc::new(columns),
            review: false,
        });
    }
    Ok(out)
}
