//! OpenAPI documents as the real server publishes them: `/openapi/v3` (an index of one document
//! per group-version), `/openapi/v3/{api/v1|apis/G/V}` and `/openapi/v2`, for the built-in
//! resources (schemas generated from `k8s-openapi`'s types) and every served CRD version (from
//! its `openAPIV3Schema`). kubectl reads them to decide whether the server validates fields
//! (`fieldValidation` on each PATCH operation), for `explain`, and to build apply patches.
//!
//! The built-in schemas also drive unknown-field pruning of built-in kinds ([`builtin_schema`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceType};
use crate::schema::Schema;

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// The generated definitions of the built-in kinds, in both reference styles.
struct Builtin {
    /// `#/components/schemas/...` references, described references wrapped in `allOf`.
    v3: Map<String, Value>,
    /// `#/definitions/...` references with sibling descriptions, as Swagger 2.0 has them.
    v2: Map<String, Value>,
    /// Definition name of each built-in kind and its list, by `(group, kind)`.
    names: HashMap<(String, String), String>,
    /// Compiled for pruning, by `(group, kind)`.
    schemas: HashMap<(String, String), Arc<Schema>>,
    object_meta: Arc<Schema>,
}

fn generator(v2: bool) -> SchemaGenerator {
    SchemaSettings::openapi3()
        .with(|s| {
            s.meta_schema = None;
            if v2 {
                s.definitions_path = "/definitions".into();
                s.transforms.clear();
            }
        })
        .into_generator()
}

/// `(group, version, kind, definition name)` of the built-in kinds, generated into `g`.
fn generate(g: &mut SchemaGenerator) -> Vec<(&'static str, &'static str, &'static str, String)> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    use k8s_openapi::api::authorization::v1::{
        LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview,
        SubjectAccessReview,
    };
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{
        ConfigMap, Event, Namespace, Secret, Service, ServiceAccount,
    };
    use k8s_openapi::api::events::v1::Event as EventsEvent;
    use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        DeleteOptions, ListMeta, ObjectMeta, Patch, Status,
    };
    fn add<T: JsonSchema>(g: &mut SchemaGenerator) -> String {
        let _ = g.subschema_for::<T>();
        T::schema_name().into_owned()
    }
    for f in [
        add::<ObjectMeta> as fn(&mut SchemaGenerator) -> String,
        add::<ListMeta>,
        add::<DeleteOptions>,
        add::<Status>,
        add::<Patch>,
    ] {
        f(g);
    }
    vec![
        ("", "v1", "Namespace", add::<Namespace>(g)),
        ("", "v1", "Secret", add::<Secret>(g)),
        ("", "v1", "ConfigMap", add::<ConfigMap>(g)),
        ("", "v1", "Service", add::<Service>(g)),
        ("", "v1", "ServiceAccount", add::<ServiceAccount>(g)),
        ("", "v1", "Event", add::<Event>(g)),
        ("events.k8s.io", "v1", "Event", add::<EventsEvent>(g)),
        ("coordination.k8s.io", "v1", "Lease", add::<Lease>(g)),
        ("apps", "v1", "Deployment", add::<Deployment>(g)),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            add::<PodDisruptionBudget>(g),
        ),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            add::<NetworkPolicy>(g),
        ),
        ("networking.k8s.io", "v1", "Ingress", add::<Ingress>(g)),
        ("rbac.authorization.k8s.io", "v1", "Role", add::<Role>(g)),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            add::<ClusterRole>(g),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            add::<RoleBinding>(g),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            add::<ClusterRoleBinding>(g),
        ),
        (
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            add::<SelfSubjectAccessReview>(g),
        ),
        (
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            add::<SelfSubjectRulesReview>(g),
        ),
        (
            "authorization.k8s.io",
            "v1",
            "SubjectAccessReview",
            add::<SubjectAccessReview>(g),
        ),
        (
            "authorization.k8s.io",
            "v1",
            "LocalSubjectAccessReview",
            add::<LocalSubjectAccessReview>(g),
        ),
        (
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            add::<SelfSubjectReview>(g),
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            add::<CustomResourceDefinition>(g),
        ),
    ]
}

fn gvk_ext(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

fn reference(name: &str, v2: bool) -> Value {
    if v2 {
        json!({"$ref": format!("#/definitions/{name}")})
    } else {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

fn described_ref(name: &str, description: &str, v2: bool) -> Value {
    if v2 {
        let mut r = reference(name, true);
        r["description"] = json!(description);
        r
    } else {
        json!({"allOf": [reference(name, false)], "description": description})
    }
}

/// The schema of `<Kind>List` for items of definition `item`.
fn list_schema(list_kind: &str, kind: &str, item: &str, gvk: Value, v2: bool) -> Value {
    json!({
        "description": format!("{list_kind} is a list of {kind}"),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "items": {"type": "array", "description": format!("List of {}.", kind.to_ascii_lowercase()), "items": reference(item, v2)},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": described_ref(&format!("{META}.ListMeta"), "Standard list metadata.", v2),
        },
        "x-kubernetes-group-version-kind": gvk,
    })
}

fn builtin() -> &'static Builtin {
    static B: OnceLock<Builtin> = OnceLock::new();
    B.get_or_init(|| {
        let mut names = HashMap::new();
        let mut docs = [Map::new(), Map::new()];
        for (i, v2) in [false, true].into_iter().enumerate() {
            let mut g = generator(v2);
            let kinds = generate(&mut g);
            let mut defs: Map<String, Value> = g.take_definitions(true).into_iter().collect();
            for (group, version, kind, name) in kinds {
                if let Some(d) = defs.get_mut(&name) {
                    d["x-kubernetes-group-version-kind"] = gvk_ext(group, version, kind);
                    // k8s-openapi's Rust field is not optional, but the published schema never
                    // requires `metadata` (kubectl's validation would refuse a review without it).
                    if let Some(required) = d.get_mut("required").and_then(Value::as_array_mut) {
                        required.retain(|f| f != "metadata");
                    }
                }
                let list = format!("{name}List");
                defs.insert(
                    list.clone(),
                    list_schema(
                        &format!("{kind}List"),
                        kind,
                        &name,
                        gvk_ext(group, version, &format!("{kind}List")),
                        v2,
                    ),
                );
                names.insert((group.to_string(), kind.to_string()), name);
                names.insert((group.to_string(), format!("{kind}List")), list);
            }
            docs[i] = defs;
        }
        let [v3, v2] = docs;
        let mut schemas = HashMap::new();
        for ((group, kind), name) in &names {
            if let Some(def) = v3.get(name) {
                schemas.insert(
                    (group.clone(), kind.clone()),
                    Arc::new(Schema::builtin(def, &v3)),
                );
            }
        }
        let object_meta = Arc::new(Schema::builtin(
            &reference(&format!("{META}.ObjectMeta"), false),
            &v3,
        ));
        Builtin {
            v3,
            v2,
            names,
            schemas,
            object_meta,
        }
    })
}

/// The compiled schema of a built-in kind (for unknown-field pruning).
pub fn builtin_schema(group: &str, kind: &str) -> Option<Arc<Schema>> {
    builtin()
        .schemas
        .get(&(group.to_string(), kind.to_string()))
        .cloned()
}

/// ObjectMeta's schema (custom resources' `metadata` is pruned with it).
pub fn object_meta_schema() -> Arc<Schema> {
    builtin().object_meta.clone()
}

/// Definition name of a CRD kind: the group reversed, then version and kind
/// (`bitnami.com`, `v1alpha1`, `SealedSecret` → `com.bitnami.v1alpha1.SealedSecret`).
fn crd_definition_name(group: &str, version: &str, kind: &str) -> String {
    let g: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", g.join("."))
}

/// Removes what Swagger 2.0 cannot say (as the real server does for its v2 document).
fn to_v2(s: &mut Value) {
    match s {
        Value::Object(m) => {
            for k in [
                "nullable",
                "x-kubernetes-validations",
                "oneOf",
                "anyOf",
                "not",
            ] {
                m.remove(k);
            }
            for v in m.values_mut() {
                to_v2(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(to_v2),
        _ => {}
    }
}

/// The published schema of one CRD version (and of its list).
fn crd_definitions(rt: &ResourceType, v2: bool) -> Vec<(String, Value)> {
    let name = crd_definition_name(&rt.group, &rt.version, &rt.kind);
    let gvk = gvk_ext(&rt.group, &rt.version, &rt.kind);
    let raw = rt.schema.as_deref();
    let preserve_root =
        raw.and_then(|s| s.get("x-kubernetes-preserve-unknown-fields")) == Some(&Value::Bool(true));
    let mut s = match raw {
        Some(s) if !(v2 && preserve_root) => {
            let mut s = s.clone();
            if v2 {
                to_v2(&mut s);
            }
            if let Some(props) = s
                .as_object_mut()
                .map(|m| m.entry("properties").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
            {
                props.insert(
                    "apiVersion".into(),
                    json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
                );
                props.insert(
                    "kind".into(),
                    json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
                );
                props.insert(
                    "metadata".into(),
                    described_ref(
                        &format!("{META}.ObjectMeta"),
                        "Standard object's metadata.",
                        v2,
                    ),
                );
            }
            s
        }
        _ => json!({"type": "object"}),
    };
    s["x-kubernetes-group-version-kind"] = gvk;
    let list = list_schema(
        &rt.list_kind,
        &rt.kind,
        &name,
        gvk_ext(&rt.group, &rt.version, &rt.list_kind),
        v2,
    );
    vec![(format!("{name}List"), list), (name, s)]
}

/// Definition name of a served resource's kind (and of its list).
fn definition_names(rt: &ResourceType) -> (String, String) {
    if rt.custom {
        let n = crd_definition_name(&rt.group, &rt.version, &rt.kind);
        return (n.clone(), format!("{n}List"));
    }
    let b = builtin();
    let get = |k: &str| {
        b.names
            .get(&(rt.group.clone(), k.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    (get(&rt.kind), get(&format!("{}List", rt.kind)))
}

/// Adds every definition reachable from `roots` in `defs` to `out`.
fn reachable(defs: &Map<String, Value>, roots: Vec<String>, out: &mut Map<String, Value>) {
    fn refs(v: &Value, acc: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str)
                    && let Some(n) = r.rsplit('/').next()
                {
                    acc.push(n.to_string());
                }
                m.values().for_each(|x| refs(x, acc));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, acc)),
            _ => {}
        }
    }
    let mut todo = roots;
    while let Some(n) = todo.pop() {
        if out.contains_key(&n) {
            continue;
        }
        if let Some(d) = defs.get(&n) {
            refs(d, &mut todo);
            out.insert(n, d.clone());
        }
    }
}

fn query_param(name: &str, description: &str, v2: bool, typ: &str) -> Value {
    if v2 {
        json!({"name": name, "in": "query", "description": description, "type": typ, "uniqueItems": true})
    } else {
        json!({"name": name, "in": "query", "description": description, "schema": {"type": typ, "uniqueItems": true}})
    }
}

fn path_param(name: &str, description: &str, v2: bool) -> Value {
    if v2 {
        json!({"name": name, "in": "path", "required": true, "description": description, "type": "string", "uniqueItems": true})
    } else {
        json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
    }
}

const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";

fn write_params(v2: bool, patch: bool) -> Vec<Value> {
    let mut p = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
            v2,
            "string",
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            v2,
            "string",
        ),
        query_param("fieldValidation", FIELD_VALIDATION, v2, "string"),
    ];
    if patch {
        p.push(query_param(
            "force",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
            v2,
            "boolean",
        ));
    }
    p
}

/// One operation object.
fn operation(
    rt: &ResourceType,
    action: &str,
    id: String,
    body: Option<(&str, Vec<&str>)>,
    response: &str,
    params: Vec<Value>,
    v2: bool,
) -> Value {
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let mut op = json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    });
    let mut params = params;
    let produces = ["application/json", "application/yaml"];
    if v2 {
        op["consumes"] = json!(["*/*"]);
        op["produces"] = json!(produces);
        op["schemes"] = json!(["https"]);
        op["responses"] = json!({"200": {"description": "OK", "schema": reference(response, true)}, "401": {"description": "Unauthorized"}});
        if let Some((def, types)) = body {
            op["consumes"] = json!(types);
            params.insert(
                0,
                json!({"name": "body", "in": "body", "required": true, "schema": reference(def, true)}),
            );
        }
    } else {
        let content: Map<String, Value> = produces
            .iter()
            .map(|t| (t.to_string(), json!({"schema": reference(response, false)})))
            .collect();
        op["responses"] = json!({"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}});
        if let Some((def, types)) = body {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": reference(def, false)})))
                .collect();
            op["requestBody"] = json!({"content": content, "required": true});
        }
    }
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    op
}

fn op_id(verb: &str, rt: &ResourceType, namespaced: bool, suffix: &str) -> String {
    let group: String = rt
        .group
        .split('.')
        .next()
        .map(|g| {
            let mut c = g.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let group = if rt.group.is_empty() { "Core" } else { &group };
    let mut v = rt.version.chars();
    let version = v
        .next()
        .map(|f| f.to_ascii_uppercase().to_string() + v.as_str())
        .unwrap_or_default();
    let ns = if namespaced { "Namespaced" } else { "" };
    format!("{verb}{group}{version}{ns}{}{suffix}", rt.kind)
}

/// The paths of one resource.
fn resource_paths(rt: &ResourceType, v2: bool, paths: &mut BTreeMap<String, Value>) {
    let prefix = if rt.group.is_empty() {
        format!("/api/{}", rt.version)
    } else {
        format!("/apis/{}/{}", rt.group, rt.version)
    };
    let (def, list_def) = definition_names(rt);
    let base = if rt.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{prefix}/{}", rt.plural)
    };
    let mut common = vec![];
    if rt.namespaced {
        common.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
            v2,
        ));
    }
    let json_types = vec!["application/json", "application/yaml"];
    let mut patch_types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if !rt.custom {
        patch_types.push("application/strategic-merge-patch+json");
    }
    let n = rt.namespaced;
    if rt.review {
        let mut collection = json!({
            "post": operation(rt, "post", op_id("create", rt, n, ""), Some((&def, json_types.clone())), &def, write_params(v2, false), v2),
        });
        if !common.is_empty() {
            collection["parameters"] = Value::Array(common);
        }
        paths.insert(base, collection);
        return;
    }
    let mut collection = json!({
        "get": operation(rt, "list", op_id("list", rt, n, ""), None, &list_def, vec![], v2),
        "post": operation(rt, "post", op_id("create", rt, n, ""), Some((&def, json_types.clone())), &def, write_params(v2, false), v2),
        "delete": operation(rt, "deletecollection", op_id("deleteCollection", rt, n, ""), None, &format!("{META}.Status"), vec![], v2),
    });
    if !common.is_empty() {
        collection["parameters"] = Value::Array(common.clone());
    }
    paths.insert(base.clone(), collection);
    let mut item_common = common.clone();
    item_common.insert(
        0,
        path_param("name", &format!("name of the {}", rt.kind), v2),
    );
    let mut item = json!({
        "get": operation(rt, "get", op_id("read", rt, n, ""), None, &def, vec![], v2),
        "put": operation(rt, "put", op_id("replace", rt, n, ""), Some((&def, json_types.clone())), &def, write_params(v2, false), v2),
        "patch": operation(rt, "patch", op_id("patch", rt, n, ""), Some((&format!("{META}.Patch"), patch_types.clone())), &def, write_params(v2, true), v2),
        "delete": operation(rt, "delete", op_id("delete", rt, n, ""), Some((&format!("{META}.DeleteOptions"), json_types.clone())), &format!("{META}.Status"), vec![], v2),
    });
    item["parameters"] = Value::Array(item_common.clone());
    paths.insert(format!("{base}/{{name}}"), item);
    if rt.status {
        let mut status = json!({
            "get": operation(rt, "get", op_id("read", rt, n, "Status"), None, &def, vec![], v2),
            "put": operation(rt, "put", op_id("replace", rt, n, "Status"), Some((&def, json_types.clone())), &def, write_params(v2, false), v2),
            "patch": operation(rt, "patch", op_id("patch", rt, n, "Status"), Some((&format!("{META}.Patch"), patch_types)), &def, write_params(v2, true), v2),
        });
        status["parameters"] = Value::Array(item_common);
        paths.insert(format!("{base}/{{name}}/status"), status);
    }
    if rt.namespaced {
        paths.insert(
            format!("{prefix}/{}", rt.plural),
            json!({"get": operation(rt, "list", op_id("list", rt, false, "ForAllNamespaces"), None, &list_def, vec![], v2)}),
        );
    }
}

/// Definitions and paths of the resources selected by `pick`.
fn assemble(
    registry: &Registry,
    v2: bool,
    pick: impl Fn(&ResourceType) -> bool,
) -> (Map<String, Value>, BTreeMap<String, Value>) {
    let b = builtin();
    let defs = if v2 { &b.v2 } else { &b.v3 };
    let mut out = Map::new();
    let mut paths = BTreeMap::new();
    let mut roots = vec![
        format!("{META}.Status"),
        format!("{META}.DeleteOptions"),
        format!("{META}.Patch"),
    ];
    for rt in registry.all().filter(|rt| pick(rt)) {
        resource_paths(rt, v2, &mut paths);
        if rt.custom {
            roots.push(format!("{META}.ObjectMeta"));
            roots.push(format!("{META}.ListMeta"));
            for (n, d) in crd_definitions(rt, v2) {
                out.insert(n, d);
            }
        } else {
            let (d, l) = definition_names(rt);
            roots.push(d);
            if !rt.review {
                roots.push(l);
            }
        }
    }
    reachable(defs, roots, &mut out);
    (out, paths)
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": "v1.33.0"})
}

fn security() -> (Value, Value) {
    (
        json!({"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}}),
        json!([{"BearerToken": []}]),
    )
}

/// `/openapi/v3/{api/v1|apis/G/V}`; `None` when the group-version is not served.
pub fn v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if !registry.serves(group, version) {
        return None;
    }
    let (schemas, paths) = assemble(registry, false, |rt| {
        rt.group == group && rt.version == version
    });
    let (schemes, sec) = security();
    Some(json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": schemes},
        "security": sec,
    }))
}

/// A stable hash of a document (the `hash` query parameter clients cache by).
fn doc_hash(doc: &Value) -> String {
    let mut h = std::hash::DefaultHasher::new();
    serde_json::to_string(doc).unwrap_or_default().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `/openapi/v3`: where each group-version's document is.
pub fn v3_index(registry: &Registry) -> Value {
    let gvs: BTreeSet<(String, String)> = registry
        .all()
        .map(|rt| (rt.group.clone(), rt.version.clone()))
        .collect();
    let mut paths = Map::new();
    for (g, v) in gvs {
        let Some(doc) = v3_group_version(registry, &g, &v) else {
            continue;
        };
        let p = if g.is_empty() {
            format!("api/{v}")
        } else {
            format!("apis/{g}/{v}")
        };
        let url = format!("/openapi/v3/{p}?hash={}", doc_hash(&doc));
        paths.insert(p, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `/openapi/v2` as JSON.
pub fn v2(registry: &Registry) -> Value {
    let (definitions, paths) = assemble(registry, true, |_| true);
    let (schemes, sec) = security();
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": schemes,
        "security": sec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_have_schemas_with_their_gvk() {
        let b = builtin();
        let secret = &b.v3["io.k8s.api.core.v1.Secret"];
        assert_eq!(
            secret["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Secret", "version": "v1"}])
        );
        assert_eq!(
            secret["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            b.v2["io.k8s.api.core.v1.Secret"]["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(b.v3.contains_key("io.k8s.api.events.v1.EventList"));
        let s = builtin_schema("", "Secret").unwrap();
        let mut o =
            json!({"data": {"a": "eA=="}, "spec": {}, "metadata": {"name": "x", "nope": 1}});
        assert_eq!(s.prune(&mut o, ""), ["metadata.nope", "spec"]);
    }

    #[test]
    fn crd_definition_names_reverse_the_group() {
        assert_eq!(
            crd_definition_name("bitnami.com", "v1alpha1", "SealedSecret"),
            "com.bitnami.v1alpha1.SealedSecret"
        );
    }
}
