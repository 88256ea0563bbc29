//! The RBAC authorizer, evaluated from the stored Roles, ClusterRoles and their bindings the
//! way the real API server's authorizer chain (privileged groups, then RBAC) does: decisions
//! with the real reasons (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group
//! "z"`), rule listings for `SelfSubjectRulesReview`, and the bootstrap policy a new cluster
//! starts with.
//!
//! Not evaluated: `aggregationRule` (the rules stored in a ClusterRole are used as they are),
//! the Node authorizer, webhooks, escalation checks on RBAC writes.

use serde_json::{Value, json};

use crate::auth::{AUTHENTICATED, MASTERS, UNAUTHENTICATED, UserInfo};
use crate::resources::ResKey;
use crate::store::State;

/// The API group of RBAC.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// What a request asks to do: a resource request, or a non-resource one (`path`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `create`, ... (non-resource: the lower-case HTTP method).
    pub verb: String,
    /// Namespace (empty: cluster scope or all namespaces).
    pub namespace: String,
    /// API group (`""` for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`, `proxy`), or empty.
    pub subresource: String,
    /// Object name, or empty.
    pub name: String,
    /// The URL path of a non-resource request; `None` for a resource request.
    pub path: Option<String>,
}

impl Attributes {
    /// A resource request.
    pub fn resource(verb: &str, namespace: &str, group: &str, resource: &str, name: &str) -> Self {
        Attributes {
            verb: verb.into(),
            namespace: namespace.into(),
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    /// A non-resource request.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Attributes {
            verb: verb.into(),
            path: Some(path.into()),
            ..Default::default()
        }
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Why (empty when no authorizer gave a reason).
    pub reason: String,
}

/// What [`rules_for`] found: one rule per stored policy rule that has resources
/// (`resourceRules`) or URLs (`nonResourceRules`), and the errors met on the way.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `ResourceRule` objects.
    pub resource: Vec<Value>,
    /// `NonResourceRule` objects.
    pub non_resource: Vec<Value>,
    /// Errors (a binding to a missing role), joined as the real server does.
    pub error: String,
}

fn key(plural: &str) -> ResKey {
    ResKey {
        group: GROUP.into(),
        plural: plural.into(),
    }
}

fn strs(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// How the real server describes a subject in a reason.
fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let kind = s(subject, "/kind");
    let name = s(subject, "/name");
    if kind == "ServiceAccount" {
        let ns = match s(subject, "/namespace") {
            "" => binding_namespace,
            n => n,
        };
        return format!("{kind} \"{name}/{ns}\"");
    }
    format!("{kind} \"{name}\"")
}

fn applies_to(user: &UserInfo, subject: &Value, namespace: &str) -> bool {
    let name = s(subject, "/name");
    match s(subject, "/kind") {
        "User" => user.name == name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = match s(subject, "/namespace") {
                "" => namespace,
                n => n,
            };
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// The rules a binding's `roleRef` names, or the error the real resolver gives.
fn role_rules(st: &State, role_ref: &Value, namespace: &str) -> Result<Vec<Value>, String> {
    let name = s(role_ref, "/name");
    let found = match s(role_ref, "/kind") {
        "Role" => st
            .objects(&key("roles"), Some(namespace))
            .into_iter()
            .find(|r| s(r, "/metadata/name") == name)
            .ok_or_else(|| format!("role.{GROUP} \"{name}\" not found")),
        "ClusterRole" => st
            .objects(&key("clusterroles"), None)
            .into_iter()
            .find(|r| s(r, "/metadata/name") == name)
            .ok_or_else(|| format!("clusterrole.{GROUP} \"{name}\" not found")),
        other => Err(format!("unsupported role reference kind: \"{other}\"")),
    }?;
    Ok(found
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Visits every rule that applies to `user` in `namespace` (cluster bindings first, then the
/// namespace's bindings), with a description of where it came from, until `visit` says stop;
/// errors (missing roles) go to `error`.
fn visit_rules(
    st: &State,
    user: &UserInfo,
    namespace: &str,
    mut visit: impl FnMut(&str, &Value) -> bool,
    mut error: impl FnMut(String),
) {
    for binding in st.objects(&key("clusterrolebindings"), None) {
        let subjects = binding.get("subjects").and_then(Value::as_array);
        let Some(subject) = subjects.and_then(|ss| ss.iter().find(|x| applies_to(user, x, "")))
        else {
            continue;
        };
        let role_ref = binding.get("roleRef").cloned().unwrap_or(json!({}));
        match role_rules(st, &role_ref, "") {
            Ok(rules) => {
                let source = format!(
                    "ClusterRoleBinding \"{}\" of {} \"{}\" to {}",
                    s(&binding, "/metadata/name"),
                    s(&role_ref, "/kind"),
                    s(&role_ref, "/name"),
                    describe_subject(subject, "")
                );
                for rule in &rules {
                    if !visit(&source, rule) {
                        return;
                    }
                }
            }
            Err(e) => error(e),
        }
    }
    if namespace.is_empty() {
        return;
    }
    for binding in st.objects(&key("rolebindings"), Some(namespace)) {
        let subjects = binding.get("subjects").and_then(Value::as_array);
        let Some(subject) =
            subjects.and_then(|ss| ss.iter().find(|x| applies_to(user, x, namespace)))
        else {
            continue;
        };
        let role_ref = binding.get("roleRef").cloned().unwrap_or(json!({}));
        match role_rules(st, &role_ref, namespace) {
            Ok(rules) => {
                let source = format!(
                    "RoleBinding \"{}/{namespace}\" of {} \"{}\" to {}",
                    s(&binding, "/metadata/name"),
                    s(&role_ref, "/kind"),
                    s(&role_ref, "/name"),
                    describe_subject(subject, namespace)
                );
                for rule in &rules {
                    if !visit(&source, rule) {
                        return;
                    }
                }
            }
            Err(e) => error(e),
        }
    }
}

fn matches(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether one policy rule allows the request (the real `RuleAllows`).
pub fn rule_allows(attrs: &Attributes, rule: &Value) -> bool {
    if !matches(&strs(rule, "verbs"), &attrs.verb) {
        return false;
    }
    if let Some(path) = &attrs.path {
        return strs(rule, "nonResourceURLs").iter().any(|u| {
            u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
        });
    }
    if !matches(&strs(rule, "apiGroups"), &attrs.group) {
        return false;
    }
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let resource_ok = strs(rule, "resources").iter().any(|r| {
        r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.len() == attrs.subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(&attrs.subresource))
    });
    if !resource_ok {
        return false;
    }
    let names = strs(rule, "resourceNames");
    names.is_empty() || names.contains(&attrs.name)
}

/// The decision of the authorizer chain: members of `system:masters` may do anything (reason
/// empty, as the privileged-group authorizer answers); everyone else gets what RBAC allows.
pub fn authorize(st: &State, user: &UserInfo, attrs: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let namespace = if attrs.path.is_some() {
        ""
    } else {
        attrs.namespace.as_str()
    };
    let mut allowed_by = None;
    let mut errors = Vec::new();
    visit_rules(
        st,
        user,
        namespace,
        |source, rule| {
            if rule_allows(attrs, rule) {
                allowed_by = Some(source.to_string());
                return false;
            }
            true
        },
        |e| errors.push(e),
    );
    match allowed_by {
        Some(source) => Decision {
            allowed: true,
            reason: format!("RBAC: allowed by {source}"),
        },
        None if errors.is_empty() => Decision::default(),
        None => Decision {
            allowed: false,
            reason: format!("RBAC: {}", aggregate(&errors)),
        },
    }
}

/// Errors joined as Go's `utilerrors.NewAggregate` prints them.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// The rules `user` has in `namespace` (privileged groups' catch-all rules first), as
/// `SelfSubjectRulesReview` reports them.
pub fn rules_for(st: &State, user: &UserInfo, namespace: &str) -> Rules {
    let mut out = Rules::default();
    if user.groups.iter().any(|g| g == MASTERS) {
        out.resource
            .push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        out.non_resource
            .push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    let mut errors = Vec::new();
    visit_rules(
        st,
        user,
        namespace,
        |_, rule| {
            let verbs = strs(rule, "verbs");
            if rule
                .get("resources")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty())
            {
                let mut r = json!({"verbs": verbs});
                for field in ["apiGroups", "resources", "resourceNames"] {
                    let v = strs(rule, field);
                    if !v.is_empty() {
                        r[field] = json!(v);
                    }
                }
                out.resource.push(r);
            }
            let urls = strs(rule, "nonResourceURLs");
            if !urls.is_empty() {
                out.non_resource
                    .push(json!({"verbs": verbs, "nonResourceURLs": urls}));
            }
            true
        },
        |e| errors.push(e),
    );
    if !errors.is_empty() {
        out.error = aggregate(&errors);
    }
    out
}

/// The default ClusterRoles and ClusterRoleBindings a cluster starts with (the part of the
/// real bootstrap policy that concerns every user): `cluster-admin` for `system:masters`,
/// discovery, public info and self-reviews for everyone authenticated.
pub fn bootstrap_policy() -> Vec<(&'static str, Value)> {
    let meta = |name: &str| {
        json!({
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        })
    };
    let role = |name: &str, rules: Value| {
        (
            "clusterroles",
            json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRole", "metadata": meta(name), "rules": rules}),
        )
    };
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g}))
            .collect();
        (
            "clusterrolebindings",
            json!({
                "apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRoleBinding", "metadata": meta(name),
                "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
                "subjects": subjects,
            }),
        )
    };
    vec![
        role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": [
                "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                "/openapi/*", "/readyz", "/version", "/version/"
            ], "verbs": ["get"]}]),
        ),
        role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        binding("cluster-admin", &[MASTERS]),
        binding("system:discovery", &[AUTHENTICATED]),
        binding("system:basic-user", &[AUTHENTICATED]),
        binding(
            "system:public-info-viewer",
            &[AUTHENTICATED, UNAUTHENTICATED],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> Value {
        v
    }

    #[test]
    fn rules_match_like_the_real_authorizer() {
        let get_secret = Attributes::resource("get", "ns", "", "secrets", "a");
        let list_secrets = Attributes::resource("list", "ns", "", "secrets", "");
        let by_name = rule(
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get", "list"]}),
        );
        assert!(rule_allows(&get_secret, &by_name));
        // A rule with resourceNames never allows a request without a name (list).
        assert!(!rule_allows(&list_secrets, &by_name));
        let all = rule(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
        assert!(rule_allows(&list_secrets, &all));
        let other_group =
            rule(json!({"apiGroups": ["apps"], "resources": ["secrets"], "verbs": ["*"]}));
        assert!(!rule_allows(&list_secrets, &other_group));
        let mut status = Attributes::resource("update", "ns", "bitnami.com", "sealedsecrets", "x");
        status.subresource = "status".into();
        let any_status =
            rule(json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["update"]}));
        assert!(rule_allows(&status, &any_status));
        let main_only =
            rule(json!({"apiGroups": ["*"], "resources": ["sealedsecrets"], "verbs": ["update"]}));
        assert!(!rule_allows(&status, &main_only));
        let urls = rule(json!({"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]}));
        assert!(rule_allows(
            &Attributes::non_resource("get", "/apis/apps/v1"),
            &urls
        ));
        assert!(rule_allows(
            &Attributes::non_resource("get", "/version"),
            &urls
        ));
        assert!(!rule_allows(
            &Attributes::non_resource("get", "/versions"),
            &urls
        ));
        assert!(!rule_allows(
            &Attributes::non_resource("post", "/version"),
            &urls
        ));
        // A resource rule never matches a non-resource request and the other way round.
        assert!(!rule_allows(&Attributes::non_resource("get", "/api"), &all));
        assert!(!rule_allows(&get_secret, &urls));
    }

    #[test]
    fn subjects() {
        let sa = UserInfo {
            name: "system:serviceaccount:ns:robot".into(),
            groups: vec!["system:serviceaccounts".into()],
            ..Default::default()
        };
        let subject = json!({"kind": "ServiceAccount", "name": "robot"});
        assert!(applies_to(&sa, &subject, "ns"));
        // In a ClusterRoleBinding a service account needs its namespace.
        assert!(!applies_to(&sa, &subject, ""));
        assert!(applies_to(
            &sa,
            &json!({"kind": "ServiceAccount", "name": "robot", "namespace": "ns"}),
            ""
        ));
        assert!(applies_to(
            &sa,
            &json!({"kind": "Group", "name": "system:serviceaccounts"}),
            ""
        ));
        assert!(!applies_to(
            &sa,
            &json!({"kind": "User", "name": "robot"}),
            ""
        ));
        assert_eq!(
            describe_subject(&subject, "ns"),
            "ServiceAccount \"robot/ns\""
        );
        assert_eq!(aggregate(&["a".into(), "b".into()]), "[a, b]");
    }
}
