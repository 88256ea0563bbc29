//! The Helm chart ships the SealedSecret CRD generated from the Rust type; this test fails when
//! the two drift apart (regenerate the chart's copy with the command in the failure message).

use std::path::PathBuf;

const REGENERATE: &str = "cargo run -q -p sealant-api --example print_crd > charts/sealant/crds/sealedsecrets.bitnami.com.yaml";

fn chart_crd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts/sealant/crds/sealedsecrets.bitnami.com.yaml")
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let path = chart_crd_path();
    let in_chart = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = sealant_api::crd_yaml();
    assert!(
        !generated.is_empty(),
        "crd_yaml() returned nothing: the CRD failed to serialize"
    );
    if in_chart != generated {
        let line = in_chart
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || in_chart.lines().count().min(generated.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} differs from sealant_api::crd_yaml() (first difference at line {line}); \
             regenerate it from the workspace root with:\n  {REGENERATE}",
            path.display()
        );
    }
}

#[test]
fn chart_crd_parses_to_the_crd_object() {
    // The file is also semantically the CRD (not just equal text): same JSON value once parsed.
    let path = chart_crd_path();
    let in_chart = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let docs = sealant_api::parse_documents(&in_chart)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    assert_eq!(
        docs.len(),
        1,
        "{} must hold exactly one document",
        path.display()
    );
    let expected = serde_json::to_value(sealant_api::crd()).expect("CRD serializes to JSON");
    assert_eq!(docs[0], expected);
    assert_eq!(
        docs[0]["metadata"]["name"], "sealedsecrets.bitnami.com",
        "the chart must install the upstream CRD name so existing SealedSecrets keep working"
    );
}
