//! What an upstream install left in a cluster, from a read-only snapshot (no I/O here): the
//! objects to keep, the leftovers to delete (with what makes some dangerous) and the exact
//! commands that delete them.
//!
//! Upstream's objects are recognised by the labels its two install methods put on them: its Helm
//! chart labels everything `app.kubernetes.io/part-of: sealed-secrets` (and
//! `app.kubernetes.io/name: sealed-secrets`), and Helm records the release in the
//! `meta.helm.sh/release-name`/`-namespace` annotations; `controller.yaml` labels every object
//! `name: <its own name>` with upstream's fixed names. Any binding to one of upstream's roles is
//! a leftover too, whoever made it. sealant's own objects (`app.kubernetes.io/part-of: sealant`)
//! are never listed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The SealedSecret CRD's name.
pub const CRD_NAME: &str = "sealedsecrets.bitnami.com";
/// Label of the key Secrets (kept).
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Where sealant's chart keeps its CRD, relative to a sealant checkout (or the unpacked chart).
pub const CHART_CRD_PATH: &str = "charts/sealant/crds/sealedsecrets.bitnami.com.yaml";

const HELM_RELEASE: &str = "meta.helm.sh/release-name";
const HELM_RELEASE_NS: &str = "meta.helm.sh/release-namespace";
const HELM_KEEP: &str = "helm.sh/resource-policy";

/// Label selectors that find upstream's objects (one list request per selector and kind).
pub const UPSTREAM_SELECTORS: &[&str] = &[
    "app.kubernetes.io/part-of=sealed-secrets",
    "app.kubernetes.io/name=sealed-secrets",
    "name in (sealed-secrets-controller,sealed-secrets-controller-metrics,secrets-unsealer,sealed-secrets-key-admin,sealed-secrets-service-proxier)",
];
/// Selector of sealant's own Deployments (to see which ServiceAccount and namespace it uses).
pub const SEALANT_SELECTOR: &str = "app.kubernetes.io/part-of=sealant";

/// Object names `controller.yaml` creates (each labelled `name: <its name>`).
const CONTROLLER_YAML_NAMES: &[&str] = &[
    "sealed-secrets-controller",
    "sealed-secrets-controller-metrics",
    "secrets-unsealer",
    "sealed-secrets-key-admin",
    "sealed-secrets-service-proxier",
];

/// One kind of object an upstream install creates.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name, also what `kubectl delete` takes.
    pub plural: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Read metadata only (Secrets, ConfigMaps: their contents are never fetched).
    pub metadata_only: bool,
    /// Every object is listed, not only upstream-labelled ones (bindings: a binding anyone made
    /// to upstream's roles is a leftover too).
    pub list_all: bool,
    /// The API may not serve it (a CRD of another project): a 404 means none.
    pub optional: bool,
    /// Order of deletion (lower first): the controller stops before its rights go.
    pub delete_order: u8,
}

const fn kind(
    kind: &'static str,
    group: &'static str,
    plural: &'static str,
    namespaced: bool,
    delete_order: u8,
) -> Kind {
    Kind {
        kind,
        group,
        version: "v1",
        plural,
        namespaced,
        metadata_only: false,
        list_all: false,
        optional: false,
        delete_order,
    }
}

/// Everything upstream's chart or `controller.yaml` can create (the CRD and key Secrets aside).
pub const KINDS: &[Kind] = &[
    kind("Deployment", "apps", "deployments", true, 0),
    Kind {
        list_all: true,
        ..kind(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            false,
            1,
        )
    },
    Kind {
        list_all: true,
        ..kind(
            "RoleBinding",
            "rbac.authorization.k8s.io",
            "rolebindings",
            true,
            1,
        )
    },
    kind(
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "clusterroles",
        false,
        2,
    ),
    kind("Role", "rbac.authorization.k8s.io", "roles", true, 2),
    kind("Service", "", "services", true, 3),
    kind("Ingress", "networking.k8s.io", "ingresses", true, 3),
    kind(
        "NetworkPolicy",
        "networking.k8s.io",
        "networkpolicies",
        true,
        3,
    ),
    kind(
        "PodDisruptionBudget",
        "policy",
        "poddisruptionbudgets",
        true,
        3,
    ),
    Kind {
        version: "v1",
        optional: true,
        ..kind(
            "ServiceMonitor",
            "monitoring.coreos.com",
            "servicemonitors",
            true,
            3,
        )
    },
    Kind {
        metadata_only: true,
        ..kind("ConfigMap", "", "configmaps", true, 3)
    },
    Kind {
        metadata_only: true,
        ..kind("Secret", "", "secrets", true, 3)
    },
    kind("ServiceAccount", "", "serviceaccounts", true, 4),
];

/// What the cluster holds, as read.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Objects found by [`UPSTREAM_SELECTORS`] and every binding, with their kind (possibly the
    /// same object more than once).
    pub objects: Vec<(&'static Kind, Value)>,
    /// sealant's own Deployments.
    pub sealant_deployments: Vec<Value>,
    /// The SealedSecret CRD, if installed.
    pub crd: Option<Value>,
    /// Key Secrets `(namespace, name)`: labelled ones and legacy `sealed-secrets-key` ones.
    pub key_secrets: Vec<(String, String)>,
    /// Number of SealedSecrets in the cluster.
    pub sealed_secrets: usize,
}

/// How an object was installed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// Part of a Helm release: `helm uninstall` removes it.
    Helm {
        /// Release name.
        release: String,
        /// Release namespace.
        namespace: String,
    },
    /// Applied from a manifest (`controller.yaml`) or made by hand.
    Manifest,
}

/// One object to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// Its kind.
    pub kind: &'static Kind,
    /// Namespace (`None`: cluster-scoped).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// How it was installed.
    pub origin: Origin,
    /// Why it matters, or `None` for a plain leftover.
    pub danger: Option<String>,
    /// What it is.
    pub what: String,
}

impl Leftover {
    /// `Kind namespace/name`.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind.kind, self.name),
            None => format!("{} {}", self.kind.kind, self.name),
        }
    }
}

/// One line of what to keep, possibly with a danger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep {
    /// What it is and what to know.
    pub text: String,
    /// Set when something about it needs action before anything is deleted.
    pub danger: bool,
}

/// The outcome of the check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects to keep and what to know about them.
    pub keep: Vec<Keep>,
    /// Objects to delete, in deletion order.
    pub leftovers: Vec<Leftover>,
    /// The exact commands, in order (empty: nothing to do).
    pub commands: Vec<String>,
    /// Hints about how to install sealant in place of upstream.
    pub hints: Vec<String>,
}

impl Report {
    /// Whether nothing is left to do.
    pub fn clean(&self) -> bool {
        self.commands.is_empty() && !self.keep.iter().any(|k| k.danger)
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    str_at(v, &["metadata", "labels", key])
}

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    str_at(v, &["metadata", "annotations", key])
}

fn name_of(v: &Value) -> String {
    str_at(v, &["metadata", "name"]).unwrap_or("").to_owned()
}

fn namespace_of(v: &Value) -> Option<String> {
    str_at(v, &["metadata", "namespace"]).map(str::to_owned)
}

fn is_sealant(v: &Value) -> bool {
    label(v, "app.kubernetes.io/part-of") == Some("sealant")
}

/// Whether the labels say upstream's chart or `controller.yaml` made it.
fn labelled_upstream(v: &Value) -> bool {
    if is_sealant(v) || label(v, KEY_LABEL).is_some() {
        return false;
    }
    let name = name_of(v);
    label(v, "app.kubernetes.io/part-of") == Some("sealed-secrets")
        || label(v, "app.kubernetes.io/name") == Some("sealed-secrets")
        || (label(v, "name") == Some(name.as_str())
            && CONTROLLER_YAML_NAMES.contains(&name.as_str()))
}

fn origin(v: &Value) -> Origin {
    match annotation(v, HELM_RELEASE) {
        Some(release) if !release.is_empty() => Origin::Helm {
            release: release.to_owned(),
            namespace: annotation(v, HELM_RELEASE_NS)
                .map(str::to_owned)
                .or_else(|| namespace_of(v))
                .unwrap_or_else(|| "default".to_owned()),
        },
        _ => Origin::Manifest,
    }
}

/// `resource: verbs` of a role's rules, compact.
fn rules_summary(role: &Value) -> String {
    let mut parts = Vec::new();
    for rule in role
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let list = |k: &str| -> Vec<String> {
            rule.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let verbs = list("verbs").join(",");
        for res in list("resources") {
            parts.push(format!("{res}: {verbs}"));
        }
    }
    parts.join("; ")
}

/// The ServiceAccounts a binding grants to, `(namespace, name)`.
fn service_account_subjects(binding: &Value) -> Vec<(String, String)> {
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
        .filter_map(|s| {
            Some((
                s.get("namespace")?.as_str()?.to_owned(),
                s.get("name")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Upstream's CRD: its status conditions have no `observedGeneration` (sealant's have).
pub fn crd_is_upstreams(crd: &Value) -> bool {
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    !versions.iter().any(|v| {
        v.pointer(
            "/schema/openAPIV3Schema/properties/status/properties/conditions/items/properties/observedGeneration",
        )
        .is_some()
    })
}

/// Classifies a snapshot.
pub fn assess(snap: &Snapshot) -> Report {
    let mut report = Report::default();

    // Deduplicate (several selectors can find one object) and keep upstream's.
    let mut seen = BTreeSet::new();
    let mut upstream: Vec<(&'static Kind, &Value)> = Vec::new();
    let mut bindings: Vec<(&'static Kind, &Value)> = Vec::new();
    for (kind, obj) in &snap.objects {
        if !seen.insert((kind.kind, namespace_of(obj), name_of(obj))) {
            continue;
        }
        if labelled_upstream(obj) {
            upstream.push((kind, obj));
        } else if kind.list_all && !is_sealant(obj) {
            bindings.push((kind, obj));
        }
    }
    // Roles of upstream's, by (kind, namespace, name), for bindings made to them by hand.
    let roles: BTreeMap<(String, Option<String>, String), &Value> = upstream
        .iter()
        .filter(|(k, _)| k.kind == "ClusterRole" || k.kind == "Role")
        .map(|(k, o)| ((k.kind.to_owned(), namespace_of(o), name_of(o)), *o))
        .collect();
    let role_of = |binding: &Value, binding_ns: Option<String>| {
        let kind = str_at(binding, &["roleRef", "kind"]).unwrap_or("");
        let name = str_at(binding, &["roleRef", "name"]).unwrap_or("");
        let ns = if kind == "Role" { binding_ns } else { None };
        roles
            .get(&(kind.to_owned(), ns, name.to_owned()))
            .map(|r| (kind.to_owned(), name.to_owned(), *r))
    };
    for (kind, obj) in bindings {
        if role_of(obj, namespace_of(obj)).is_some() {
            upstream.push((kind, obj));
        }
    }

    // Where sealant runs (if installed): namespace and ServiceAccount of its Deployments.
    let sealant_runs_as: BTreeMap<(String, String), String> = snap
        .sealant_deployments
        .iter()
        .filter_map(|d| {
            let ns = namespace_of(d)?;
            let sa = str_at(d, &["spec", "template", "spec", "serviceAccountName"])
                .unwrap_or("default")
                .to_owned();
            Some(((ns.clone(), sa), format!("{ns}/{}", name_of(d))))
        })
        .collect();

    for (kind, obj) in &upstream {
        let ns = namespace_of(obj);
        let (what, danger) = match kind.kind {
            "Deployment" => (
                "upstream's controller".to_owned(),
                Some(
                    "while it runs, it and sealant both unseal every SealedSecret and overwrite \
                     each other's status; delete it first"
                        .to_owned(),
                ),
            ),
            "ClusterRoleBinding" | "RoleBinding" => {
                let role = role_of(obj, ns.clone());
                let (role_text, rules) = match &role {
                    Some((k, n, r)) => (format!("{k} {n}"), rules_summary(r)),
                    None => (
                        format!(
                            "{} {}",
                            str_at(obj, &["roleRef", "kind"]).unwrap_or("?"),
                            str_at(obj, &["roleRef", "name"]).unwrap_or("?")
                        ),
                        String::new(),
                    ),
                };
                let sas = service_account_subjects(obj);
                let what = if rules.is_empty() {
                    format!("binds {role_text}")
                } else {
                    format!("binds {role_text} ({rules})")
                };
                let danger = sas.iter().map(|(sns, sname)| {
                    match sealant_runs_as.get(&(sns.clone(), sname.clone())) {
                        Some(dep) => format!(
                            "grants these rights to ServiceAccount {sns}/{sname}, which sealant's Deployment {dep} runs as: sealant has upstream's wider rights until it is deleted"
                        ),
                        None => format!(
                            "grants these rights to ServiceAccount {sns}/{sname}: a pod running as that name (sealant, if it reuses it) would get them"
                        ),
                    }
                });
                let danger: Vec<String> = danger.collect();
                (what, (!danger.is_empty()).then(|| danger.join("; ")))
            }
            "ClusterRole" | "Role" => (format!("rules: {}", rules_summary(obj)), None),
            "Service" => (
                "upstream's Service (sealant's chart creates its own; same names block helm install)"
                    .to_owned(),
                None,
            ),
            "ServiceAccount" => ("upstream's ServiceAccount".to_owned(), None),
            _ => ("part of upstream's install".to_owned(), None),
        };
        report.leftovers.push(Leftover {
            kind,
            namespace: ns,
            name: name_of(obj),
            origin: origin(obj),
            danger,
            what,
        });
    }
    report.leftovers.sort_by(|a, b| {
        (
            &a.origin,
            a.kind.delete_order,
            a.kind.kind,
            &a.namespace,
            &a.name,
        )
            .cmp(&(
                &b.origin,
                b.kind.delete_order,
                b.kind.kind,
                &b.namespace,
                &b.name,
            ))
    });

    // Keep: the CRD.
    let mut crd_keep_first = None;
    match &snap.crd {
        None => report.keep.push(Keep {
            text: format!(
                "CustomResourceDefinition {CRD_NAME}: not installed (no SealedSecrets to keep)"
            ),
            danger: false,
        }),
        Some(crd) => {
            if let Origin::Helm { release, namespace } = origin(crd)
                && annotation(crd, HELM_KEEP) != Some("keep")
            {
                report.keep.push(Keep {
                    text: format!(
                        "CustomResourceDefinition {CRD_NAME} belongs to Helm release {namespace}/{release}: `helm uninstall {release}` would delete it, and with it every SealedSecret and (through their owner references) every Secret they made; annotate it {HELM_KEEP}=keep first (the first command below)"
                    ),
                    danger: true,
                });
                crd_keep_first = Some(format!("kubectl annotate crd {CRD_NAME} {HELM_KEEP}=keep"));
            }
            if crd_is_upstreams(crd) {
                report.keep.push(Keep {
                    text: format!(
                        "CustomResourceDefinition {CRD_NAME} ({} SealedSecrets): upstream's schema, which drops the observedGeneration of sealant's status conditions; helm install does not update an existing CRD, so replace it with sealant's (the last command below; SealedSecrets are kept)",
                        snap.sealed_secrets
                    ),
                    danger: false,
                });
            } else {
                report.keep.push(Keep {
                    text: format!(
                        "CustomResourceDefinition {CRD_NAME} ({} SealedSecrets): sealant's schema",
                        snap.sealed_secrets
                    ),
                    danger: false,
                });
            }
        }
    }

    // Keep: the key Secrets, and where sealant must run to find them.
    let mut key_namespaces: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (ns, name) in &snap.key_secrets {
        key_namespaces.entry(ns).or_default().push(name);
    }
    if key_namespaces.is_empty() {
        report.keep.push(Keep {
            text: if snap.sealed_secrets > 0 {
                format!(
                    "no key Secrets found (label {KEY_LABEL}), but {} SealedSecrets exist: without the keys they cannot be unsealed; restore the key backup before going on",
                    snap.sealed_secrets
                )
            } else {
                format!("no key Secrets found (label {KEY_LABEL})")
            },
            danger: snap.sealed_secrets > 0,
        });
    }
    for (ns, names) in &key_namespaces {
        report.keep.push(Keep {
            text: format!(
                "key Secrets in {ns}: {} (back them up: `kubectl -n {ns} get secret -l {KEY_LABEL} -o yaml`)",
                names.join(", ")
            ),
            danger: false,
        });
    }
    let sealant_namespaces: BTreeSet<&str> =
        sealant_runs_as.keys().map(|(ns, _)| ns.as_str()).collect();
    if !key_namespaces.is_empty() {
        for ns in &sealant_namespaces {
            if !key_namespaces.contains_key(ns) {
                report.keep.push(Keep {
                    text: format!(
                        "sealant runs in {ns}, but the key Secrets are in {}: it loads keys from its own namespace only, so it cannot unseal what upstream sealed; install it in the keys' namespace (or copy the key Secrets to {ns})",
                        key_namespaces.keys().copied().collect::<Vec<_>>().join(", ")
                    ),
                    danger: true,
                });
            }
        }
        if sealant_namespaces.is_empty() {
            report.hints.push(format!(
                "install sealant in the keys' namespace ({}): it loads keys from its own namespace",
                key_namespaces
                    .keys()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    // The name kubeseal users reach the controller by.
    for l in &report.leftovers {
        if l.kind.kind == "Service"
            && !l.name.ends_with("-metrics")
            && let Some(ns) = &l.namespace
        {
            report.hints.push(format!(
                "kubeseal reaches upstream's controller as --controller-namespace {ns} --controller-name {}: install sealant in {ns} with fullnameOverride: {} to keep that working",
                l.name, l.name
            ));
        }
    }

    // Commands, in order: keep the CRD, stop and remove upstream, update the CRD.
    report.commands.extend(crd_keep_first);
    let releases: BTreeSet<(String, String)> = report
        .leftovers
        .iter()
        .filter_map(|l| match &l.origin {
            Origin::Helm { release, namespace } => Some((release.clone(), namespace.clone())),
            Origin::Manifest => None,
        })
        .collect();
    for (release, ns) in &releases {
        report
            .commands
            .push(format!("helm uninstall {release} -n {ns}"));
    }
    let manual: Vec<&Leftover> = report
        .leftovers
        .iter()
        .filter(|l| l.origin == Origin::Manifest)
        .collect();
    // One `kubectl delete` per namespace and deletion stage, so the controller stops first.
    let mut groups: BTreeMap<(u8, Option<&str>), Vec<String>> = BTreeMap::new();
    for l in &manual {
        let stage = u8::from(l.kind.kind != "Deployment");
        groups
            .entry((stage, l.namespace.as_deref()))
            .or_default()
            .push(format!("{}/{}", kubectl_resource(l.kind), l.name));
    }
    for ((_, ns), objects) in groups {
        let scope = ns.map(|n| format!(" -n {n}")).unwrap_or_default();
        report
            .commands
            .push(format!("kubectl delete{scope} {}", objects.join(" ")));
    }
    if snap.crd.as_ref().is_some_and(crd_is_upstreams) {
        report
            .commands
            .push(format!("kubectl replace -f {CHART_CRD_PATH}"));
    }
    report
}

/// What `kubectl delete` calls the kind (`deployment.apps`-style when the plural is ambiguous).
fn kubectl_resource(kind: &Kind) -> String {
    if kind.group.is_empty() || kind.group == "apps" || kind.group.starts_with("rbac.") {
        kind.plural.trim_end_matches('s').to_owned()
    } else {
        format!("{}.{}", kind.plural, kind.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(kind: &str) -> &'static Kind {
        KINDS.iter().find(|k| k.kind == kind).unwrap()
    }

    fn obj(name: &str, ns: Option<&str>, labels: Value) -> Value {
        let mut v = json!({"metadata": {"name": name, "labels": labels}});
        if let Some(ns) = ns {
            v["metadata"]["namespace"] = json!(ns);
        }
        v
    }

    #[test]
    fn kubectl_names() {
        assert_eq!(kubectl_resource(find("Deployment")), "deployment");
        assert_eq!(
            kubectl_resource(find("ClusterRoleBinding")),
            "clusterrolebinding"
        );
        assert_eq!(kubectl_resource(find("ServiceAccount")), "serviceaccount");
        assert_eq!(
            kubectl_resource(find("NetworkPolicy")),
            "networkpolicies.networking.k8s.io"
        );
        assert_eq!(
            kubectl_resource(find("ServiceMonitor")),
            "servicemonitors.monitoring.coreos.com"
        );
    }

    #[test]
    fn sealant_objects_and_key_secrets_are_never_leftovers() {
        let snap = Snapshot {
            objects: vec![
                (
                    find("Service"),
                    obj(
                        "sealed-secrets-controller",
                        Some("kube-system"),
                        json!({"name": "sealed-secrets-controller", "app.kubernetes.io/part-of": "sealant"}),
                    ),
                ),
                (
                    find("Secret"),
                    obj(
                        "k",
                        Some("kube-system"),
                        json!({KEY_LABEL: "active", "app.kubernetes.io/part-of": "sealed-secrets"}),
                    ),
                ),
                // An unrelated binding by the same label scheme's name but another role.
                (
                    find("ClusterRoleBinding"),
                    json!({"metadata": {"name": "x"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
                           "subjects": [{"kind": "ServiceAccount", "name": "a", "namespace": "b"}]}),
                ),
            ],
            ..Default::default()
        };
        let r = assess(&snap);
        assert!(r.leftovers.is_empty(), "{:?}", r.leftovers);
        assert!(r.commands.is_empty());
        assert!(r.clean());
    }

    #[test]
    fn hand_made_binding_to_upstreams_role_and_reused_service_account() {
        let role = obj(
            "secrets-unsealer",
            None,
            json!({"name": "secrets-unsealer"}),
        );
        let mut role = role;
        role["rules"] =
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "delete"]}]);
        let binding = json!({"metadata": {"name": "mine"},
            "roleRef": {"kind": "ClusterRole", "name": "secrets-unsealer"},
            "subjects": [{"kind": "ServiceAccount", "name": "sealant", "namespace": "kube-system"}]});
        let sealant = json!({"metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"serviceAccountName": "sealant"}}}});
        let snap = Snapshot {
            objects: vec![
                (find("ClusterRole"), role),
                (find("ClusterRoleBinding"), binding),
            ],
            sealant_deployments: vec![sealant],
            ..Default::default()
        };
        let r = assess(&snap);
        assert_eq!(r.leftovers.len(), 2);
        let b = &r.leftovers[0];
        assert_eq!(b.kind.kind, "ClusterRoleBinding");
        assert!(b.what.contains("secrets: get,delete"), "{}", b.what);
        let danger = b.danger.as_deref().unwrap();
        assert!(
            danger.contains("sealant's Deployment kube-system/sealed-secrets-controller runs as"),
            "{danger}"
        );
        assert_eq!(
            r.commands,
            ["kubectl delete clusterrolebinding/mine clusterrole/secrets-unsealer"]
        );
    }

    #[test]
    fn helm_owned_crd_is_annotated_before_uninstall() {
        let crd = json!({"metadata": {"name": CRD_NAME, "annotations": {HELM_RELEASE: "ss", HELM_RELEASE_NS: "kube-system"}},
            "spec": {"versions": [{"name": "v1alpha1", "schema": {"openAPIV3Schema": {"properties": {"status": {"properties": {
                "conditions": {"items": {"properties": {"observedGeneration": {"type": "integer"}}}}}}}}}}]}});
        let dep = json!({"metadata": {"name": "ss", "namespace": "kube-system",
            "labels": {"app.kubernetes.io/part-of": "sealed-secrets"},
            "annotations": {HELM_RELEASE: "ss", HELM_RELEASE_NS: "kube-system"}}});
        let snap = Snapshot {
            objects: vec![(find("Deployment"), dep)],
            crd: Some(crd),
            key_secrets: vec![("kube-system".into(), "k1".into())],
            sealed_secrets: 3,
            ..Default::default()
        };
        let r = assess(&snap);
        assert_eq!(
            r.commands,
            [
                format!("kubectl annotate crd {CRD_NAME} {HELM_KEEP}=keep"),
                "helm uninstall ss -n kube-system".to_owned()
            ]
        );
        assert!(
            r.keep
                .iter()
                .any(|k| k.danger && k.text.contains("would delete it"))
        );
        assert!(!r.clean());
    }

    #[test]
    fn keys_in_another_namespace_than_sealant_is_dangerous() {
        let sealant = json!({"metadata": {"name": "sealant", "namespace": "sealant"},
            "spec": {"template": {"spec": {"serviceAccountName": "sealant"}}}});
        let snap = Snapshot {
            sealant_deployments: vec![sealant],
            key_secrets: vec![("kube-system".into(), "k1".into())],
            sealed_secrets: 1,
            ..Default::default()
        };
        let r = assess(&snap);
        assert!(r.keep.iter().any(|k| {
            k.danger
                && k.text
                    .contains("sealant runs in sealant, but the key Secrets are in kube-system")
        }));
        assert!(!r.clean());
        // No keys at all while SealedSecrets exist.
        let r = assess(&Snapshot {
            sealed_secrets: 2,
            ..Default::default()
        });
        assert!(
            r.keep
                .iter()
                .any(|k| k.danger && k.text.contains("restore the key backup"))
        );
    }
}
