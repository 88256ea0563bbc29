//! A SealedSecret nobody has reconciled yet must read as in progress to Flux (kstatus), while
//! upstream's objects, kubeseal's output and Argo CD's health check keep working.
//!
//! [`kstatus`] implements the rules of `sigs.k8s.io/cli-utils/pkg/kstatus/status` for a kind
//! without type-specific rules (SealedSecret is one): a deletion timestamp is Terminating; a
//! `status.observedGeneration` that differs from `metadata.generation` is InProgress; a
//! `Reconciling` condition True is InProgress and a `Stalled` one True is Failed; else a `Ready`
//! condition decides (True: Current, False or Unknown: InProgress); else Current.
//! [`argocd_health`] is Argo CD's health check for `bitnami.com/SealedSecret` (the `Synced`
//! condition decides; anything else is Progressing).

use serde_json::{Value, json};

use crate::cli::{Cluster, table};

#[derive(Debug, PartialEq, Eq)]
enum KStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
}

/// kstatus' generic rules; `Err` where kstatus fails to read the object.
fn kstatus(obj: &Value) -> Result<(KStatus, String), String> {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return Ok((
            KStatus::Terminating,
            "Resource scheduled for deletion".into(),
        ));
    }
    let int = |p: &str| -> Result<Option<i64>, String> {
        match obj.pointer(p) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("{p} is not an integer")),
        }
    };
    if let (Some(generation), Some(observed)) = (
        int("/metadata/generation")?,
        int("/status/observedGeneration")?,
    ) && generation != observed
    {
        let kind = obj["kind"].as_str().unwrap_or("");
        return Ok((
            KStatus::InProgress,
            format!(
                "{kind} generation is {generation}, but latest observed generation is {observed}"
            ),
        ));
    }
    let conditions: Vec<&Value> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let is = |c: &Value, t: &str, s: &str| c["type"] == t && c["status"] == s;
    let message = |c: &Value| c["message"].as_str().unwrap_or("").to_string();
    for c in &conditions {
        if is(c, "Reconciling", "True") {
            return Ok((KStatus::InProgress, message(c)));
        }
        if is(c, "Stalled", "True") {
            return Ok((KStatus::Failed, message(c)));
        }
    }
    for c in &conditions {
        if c["type"] != "Ready" {
            continue;
        }
        match c["status"].as_str() {
            Some("True") => return Ok((KStatus::Current, "Resource is Ready".into())),
            Some("False" | "Unknown") => return Ok((KStatus::InProgress, message(c))),
            _ => {}
        }
    }
    Ok((KStatus::Current, "Resource is current".into()))
}

/// Argo CD's `bitnami.com/SealedSecret` health check.
fn argocd_health(obj: &Value) -> &'static str {
    for c in obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Synced"), Some("False")) => return "Degraded",
            (Some("Synced"), Some("True")) => return "Healthy",
            _ => {}
        }
    }
    "Progressing"
}

#[test]
fn kstatus_rules_as_implemented_here() {
    let g = |generation: i64, status: Value| json!({"kind": "SealedSecret", "metadata": {"generation": generation}, "status": status});
    assert_eq!(
        kstatus(&json!({"kind": "X", "metadata": {"generation": 1}}))
            .unwrap()
            .0,
        KStatus::Current
    );
    assert_eq!(
        kstatus(&g(2, json!({"observedGeneration": 1}))).unwrap().0,
        KStatus::InProgress
    );
    assert_eq!(
        kstatus(&g(
            1,
            json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False"}]})
        ))
        .unwrap()
        .0,
        KStatus::InProgress
    );
    assert_eq!(
        kstatus(&g(1, json!({"conditions": [{"type": "Stalled", "status": "True"}, {"type": "Ready", "status": "True"}]}))).unwrap().0,
        KStatus::Failed
    );
    assert!(kstatus(&g(1, json!({"observedGeneration": "1"}))).is_err());
    assert_eq!(
        kstatus(&json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}))
            .unwrap()
            .0,
        KStatus::Terminating
    );
}

/// What `kubeseal` prints: no status, no sealant annotations.
const KUBESEAL_OUTPUT: &str = r#"{
  "kind": "SealedSecret",
  "apiVersion": "bitnami.com/v1alpha1",
  "metadata": {"name": "db", "namespace": "default", "creationTimestamp": null},
  "spec": {
    "template": {"metadata": {"name": "db", "namespace": "default", "creationTimestamp": null}},
    "encryptedData": {"password": "AgBy8hCi"}
  }
}"#;

fn put_status(c: &Cluster, obj: &Value, status: Value) -> Value {
    let mut o = obj.clone();
    o["status"] = status;
    let (code, _, body) = c.json(
        "PUT",
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets/db/status",
        "application/json",
        &o.to_string(),
    );
    assert_eq!(code, 200, "{body}");
    body
}

fn ready_status(generation: i64) -> Value {
    let cond = |t: &str| json!({"type": t, "status": "True", "reason": "Unsealed", "observedGeneration": generation, "lastTransitionTime": "2024-01-01T00:00:00Z"});
    json!({"observedGeneration": generation, "conditions": [cond("Ready"), cond("Synced")]})
}

#[test]
fn a_new_sealedsecret_is_in_progress_until_a_controller_reports() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", "-"], Some(&sealant_api::crd_yaml()));
    // kubeseal's output, applied as Flux or a user would.
    assert_eq!(
        c.ok(&["apply", "-f", "-"], Some(KUBESEAL_OUTPUT)).trim(),
        "sealedsecret.bitnami.com/db created"
    );
    let fresh = c.get_json(&["sealedsecret", "db"]);
    assert_eq!(fresh["status"], json!({"observedGeneration": -1}));
    assert_eq!(
        kstatus(&fresh).unwrap(),
        (
            KStatus::InProgress,
            "SealedSecret generation is 1, but latest observed generation is -1".into()
        )
    );
    assert_eq!(argocd_health(&fresh), "Progressing");
    // `kubectl wait` on the condition does not pass either.
    let o = c.kubectl(
        &[
            "wait",
            "sealedsecret/db",
            "--for=condition=Ready",
            "--timeout=1s",
        ],
        None,
    );
    assert!(!o.status.success());

    // sealant's controller reports Ready and Synced for generation 1.
    let written = put_status(&c, &fresh, ready_status(1));
    assert_eq!(kstatus(&written).unwrap().0, KStatus::Current);
    assert_eq!(argocd_health(&written), "Healthy");
    c.ok(
        &[
            "wait",
            "sealedsecret/db",
            "--for=condition=Ready",
            "--timeout=5s",
        ],
        None,
    );
    let rows = table(&c.ok(&["get", "sealedsecrets", "-A"], None));
    assert_eq!(rows[0], ["NAMESPACE", "NAME", "STATUS", "SYNCED", "AGE"]);
    // Synced has no message on success: the STATUS cell is empty (null), as on a real cluster.
    assert_eq!(rows[1][..3], ["default", "db", "True"], "{rows:?}");

    // A spec change is in progress again until the controller observes it.
    let changed = KUBESEAL_OUTPUT.replace("AgBy8hCi", "AgBy8hCj");
    c.ok(&["apply", "-f", "-"], Some(&changed));
    let edited = c.get_json(&["sealedsecret", "db"]);
    assert_eq!(edited["metadata"]["generation"], 2);
    assert_eq!(kstatus(&edited).unwrap().0, KStatus::InProgress);

    // A failure the controller cannot retry is Failed (Stalled) and Degraded for Argo CD.
    let failed = put_status(
        &c,
        &edited,
        json!({"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "False", "reason": "NoKey", "message": "no key could decrypt it"},
            {"type": "Synced", "status": "False", "reason": "NoKey", "message": "no key could decrypt it"},
            {"type": "Stalled", "status": "True", "reason": "NoKey", "message": "no key could decrypt it"},
        ]}),
    );
    assert_eq!(
        kstatus(&failed).unwrap(),
        (KStatus::Failed, "no key could decrypt it".into())
    );
    assert_eq!(argocd_health(&failed), "Degraded");
    let rows = table(&c.ok(&["get", "sealedsecrets"], None));
    assert_eq!(
        rows[1][..3],
        ["db", "no key could decrypt it", "False"],
        "{rows:?}"
    );

    // Upstream's controller writes only Synced and observedGeneration: Current and Healthy.
    let upstream = put_status(
        &c,
        &failed,
        json!({"observedGeneration": 2, "conditions": [{"type": "Synced", "status": "True", "lastUpdateTime": "2024-01-01T00:00:00Z"}]}),
    );
    assert_eq!(kstatus(&upstream).unwrap().0, KStatus::Current);
    assert_eq!(argocd_health(&upstream), "Healthy");

    // Deleting with a finalizer: Terminating.
    c.ok(
        &[
            "patch",
            "sealedsecret",
            "db",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
        None,
    );
    c.ok(&["delete", "sealedsecret", "db", "--wait=false"], None);
    let going = c.get_json(&["sealedsecret", "db"]);
    assert_eq!(kstatus(&going).unwrap().0, KStatus::Terminating);
}

/// Upstream's CRD (controller-gen v0.15.0 in sealed-secrets' Helm chart): no status default,
/// no `observedGeneration` in conditions, printer columns on `conditions[0]`.
fn upstream_crd() -> String {
    let str_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let template = json!({"type": "object", "properties": {
        "data": {"type": "object", "additionalProperties": {"type": "string"}, "nullable": true},
        "immutable": {"type": "boolean"},
        "metadata": {"type": "object", "nullable": true, "x-kubernetes-preserve-unknown-fields": true, "properties": {
            "annotations": str_map, "labels": str_map, "name": {"type": "string"}, "namespace": {"type": "string"},
            "finalizers": {"type": "array", "items": {"type": "string"}},
        }},
        "type": {"type": "string"},
    }});
    let spec = json!({"type": "object", "required": ["encryptedData"], "properties": {
        "data": {"type": "string", "format": "byte"},
        "encryptedData": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-preserve-unknown-fields": true},
        "template": template,
    }});
    let condition = json!({"type": "object", "required": ["status", "type"], "properties": {
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "lastUpdateTime": {"type": "string", "format": "date-time"},
        "message": {"type": "string"}, "reason": {"type": "string"},
        "status": {"type": "string"}, "type": {"type": "string"},
    }});
    let status = json!({"type": "object", "properties": {
        "observedGeneration": {"type": "integer", "format": "int64"},
        "conditions": {"type": "array", "items": condition},
    }});
    let schema = json!({
        "type": "object", "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": spec, "status": status,
        },
    });
    let columns = json!([
        {"jsonPath": ".status.conditions[0].message", "name": "Status", "type": "string"},
        {"jsonPath": ".status.conditions[0].status", "name": "Synced", "type": "string"},
        {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
    ]);
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "sealedsecrets.bitnami.com"},
        "spec": {
            "group": "bitnami.com", "scope": "Namespaced",
            "names": {"kind": "SealedSecret", "listKind": "SealedSecretList", "plural": "sealedsecrets", "singular": "sealedsecret"},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    })
    .to_string()
}

#[test]
fn under_upstreams_crd_status_is_pruned_as_a_real_server_prunes_it() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", "-"], Some(&upstream_crd()));
    c.ok(&["apply", "-f", "-"], Some(KUBESEAL_OUTPUT));
    let fresh = c.get_json(&["sealedsecret", "db"]);
    // The gap sealant's CRD closes: with upstream's, a new object reads Current.
    assert!(fresh.get("status").is_none());
    assert_eq!(kstatus(&fresh).unwrap().0, KStatus::Current);
    // sealant's controller status: conditions[].observedGeneration is not in this schema.
    let written = put_status(&c, &fresh, ready_status(1));
    let conditions = written["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .all(|c| c.get("observedGeneration").is_none()),
        "{written}"
    );
    assert_eq!(written["status"]["observedGeneration"], 1);
    assert_eq!(conditions[0]["reason"], "Unsealed");
    // Writing the same status again changes nothing: no new resourceVersion.
    let again = put_status(&c, &written, ready_status(1));
    assert_eq!(
        again["metadata"]["resourceVersion"],
        written["metadata"]["resourceVersion"]
    );
    // And a client that reads and writes back what it read is a no-op too.
    let same = put_status(&c, &again, again["status"].clone());
    assert_eq!(
        same["metadata"]["resourceVersion"],
        written["metadata"]["resourceVersion"]
    );
    // Upstream's printer columns read conditions[0] (Ready here).
    let rows = table(&c.ok(&["get", "sealedsecrets"], None));
    assert_eq!(rows[0], ["NAME", "STATUS", "SYNCED", "AGE"]);
    assert_eq!(rows[1][..2], ["db", "True"], "{rows:?}");
    // Replacing upstream's CRD with sealant's: objects read with the status they have.
    c.ok(&["apply", "-f", "-"], Some(&sealant_api::crd_yaml()));
    let after = c.get_json(&["sealedsecret", "db"]);
    assert_eq!(after["status"]["observedGeneration"], 1);
    assert_eq!(kstatus(&after).unwrap().0, KStatus::Current);
}
