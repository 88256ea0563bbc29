//! CRD structural pruning and defaulting, with the examples of the Kubernetes documentation
//! ("Extend the Kubernetes API with CustomResourceDefinitions": pruning, defaulting, defaulting
//! and nullable), on create, update and read, and printer columns in `kubectl get`.

use serde_json::{Value, json};

use crate::cli::{Cluster, table};

fn crontab_crd(spec_schema: Value, columns: Value) -> String {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}},
                "additionalPrinterColumns": columns,
            }],
        },
    })
    .to_string()
}

fn documented_spec() -> Value {
    json!({
        "type": "object",
        "properties": {
            "cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$", "default": "5 0 * * *"},
            "image": {"type": "string"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
        },
    })
}

#[test]
fn pruning_and_defaulting_follow_the_documentation() {
    let c = Cluster::start();
    let columns = json!([
        {"name": "Spec", "type": "string", "description": "The cron spec defining the interval a CronJob is run", "jsonPath": ".spec.cronSpec"},
        {"name": "Replicas", "type": "integer", "description": "The number of jobs launched by the CronJob", "jsonPath": ".spec.replicas"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]);
    c.ok(
        &["apply", "-f", "-"],
        Some(&crontab_crd(documented_spec(), columns)),
    );
    // Pruning: the documentation creates this with validation off to show the server drop it.
    let with_unknown = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: my-new-cron-object\nspec:\n  cronSpec: \"* * * * */5\"\n  image: my-awesome-cron-image\n  someRandomField: 42\n";
    let err = c.fails(&["create", "-f", "-"], Some(with_unknown));
    assert!(
        err.contains("unknown field \"spec.someRandomField\""),
        "{err}"
    );
    c.ok(
        &["create", "--validate=false", "-f", "-"],
        Some(with_unknown),
    );
    let got = c.get_json(&["crontab", "my-new-cron-object"]);
    assert_eq!(
        got["spec"],
        json!({"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "replicas": 1})
    );
    // Defaulting: fields left out get the schema's defaults.
    let only_image = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: defaulted\nspec:\n  image: my-awesome-cron-image\n";
    c.ok(&["apply", "-f", "-"], Some(only_image));
    let got = c.get_json(&["ct", "defaulted"]);
    assert_eq!(got["spec"]["cronSpec"], "5 0 * * *");
    assert_eq!(got["spec"]["replicas"], 1);
    // An update that removes a defaulted field gets it back.
    let mut obj = got.clone();
    obj["spec"].as_object_mut().unwrap().remove("replicas");
    c.ok(&["replace", "-f", "-"], Some(&obj.to_string()));
    assert_eq!(c.get_json(&["ct", "defaulted"])["spec"]["replicas"], 1);
    // Printer columns, JSONPath per row.
    let rows = table(&c.ok(&["get", "crontabs"], None));
    assert_eq!(rows[0], ["NAME", "SPEC", "REPLICAS", "AGE"]);
    assert_eq!(rows[1][..3], ["defaulted", "5 0 * * *", "1"]);
    assert_eq!(rows[2][..3], ["my-new-cron-object", "* * * * */5", "1"]);
}

#[test]
fn defaulting_and_nullable_follow_the_documentation() {
    let c = Cluster::start();
    let spec = json!({
        "type": "object",
        "properties": {
            "foo": {"type": "string", "nullable": false, "default": "default"},
            "bar": {"type": "string", "nullable": true},
            "baz": {"type": "string"},
        },
    });
    c.ok(&["apply", "-f", "-"], Some(&crontab_crd(spec, json!([]))));
    let obj = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"n"},"spec":{"foo":null,"bar":null,"baz":null}}"#;
    c.ok(&["create", "-f", "-"], Some(obj));
    let got = c.get_json(&["crontab", "n"]);
    assert_eq!(got["spec"], json!({"foo": "default", "bar": null}));
    // Without printer columns the server shows Age.
    let rows = table(&c.ok(&["get", "crontabs"], None));
    assert_eq!(rows[0], ["NAME", "AGE"]);
}

#[test]
fn a_schema_change_shows_on_read_without_a_write() {
    let c = Cluster::start();
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    c.ok(&["apply", "-f", "-"], Some(&crontab_crd(open, json!([]))));
    c.ok(
        &["create", "-f", "-"],
        Some(r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"old"},"spec":{"image":"i","legacy":true}}"#),
    );
    let before = c.get_json(&["crontab", "old"]);
    assert_eq!(before["spec"]["legacy"], true);
    // The new schema drops `legacy` and defaults `replicas`: reads show it at once, while the
    // stored object's resourceVersion stays (the real server defaults and prunes on read).
    c.ok(
        &["apply", "-f", "-"],
        Some(&crontab_crd(documented_spec(), json!([]))),
    );
    let after = c.get_json(&["crontab", "old"]);
    assert_eq!(
        after["spec"],
        json!({"image": "i", "cronSpec": "5 0 * * *", "replicas": 1})
    );
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}
