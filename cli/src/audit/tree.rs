//! The audit of files (a git checkout): which SealedSecrets are sealed with which key id (the
//! `sealant.dev/key-ids` annotation), and the plaintext Secrets `sealant guard` finds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::report::{Level, Report};
use crate::io::{self, Source};
use crate::manifest;

pub fn audit(paths: &[PathBuf]) -> Result<Report> {
    let mut report = Report {
        source: paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        ..Report::default()
    };
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for source in manifest::collect_files(paths)? {
        let text = match io::read_source_text(&source) {
            Ok(text) => text,
            Err(e) => {
                report.add(
                    Level::Warning,
                    "unreadable",
                    source.to_string(),
                    format!("{e:#}"),
                );
                continue;
            }
        };
        // Templates and other non-manifests are the guard's business, not an audit error.
        let Ok(docs) = sealant_api::parse_stream(&text) else {
            continue;
        };
        for doc in docs.iter().filter(|d| manifest::is_sealed_secret(&d.value)) {
            report.sealed_secrets += 1;
            let annotations: BTreeMap<String, String> = doc
                .value
                .pointer("/metadata/annotations")
                .and_then(serde_json::Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            let key = sealant_api::key_ids_from_annotations(&annotations)
                .first()
                .map_or_else(|| "unknown".to_owned(), |id| id.as_str().to_owned());
            by_key
                .entry(key)
                .or_default()
                .push(located(&source, &doc.value));
        }
    }
    let known = by_key.keys().filter(|k| *k != "unknown").count();
    if known > 1 {
        report.add(
            Level::Info,
            "keys",
            String::new(),
            format!(
                "{known} key ids in use: once the controller has renewed its key, the older ones are re-seal candidates (sealant reseal)"
            ),
        );
    }
    report.set_key_usage(by_key, "sealant verify --cert");
    for finding in crate::guard::plaintext(paths)? {
        report.add(
            Level::Error,
            "plaintext",
            finding.location,
            if finding.what.starts_with("secretGenerator") {
                format!("plaintext in git: {}", finding.what)
            } else {
                format!("plaintext Secret {}", finding.what)
            },
        );
    }
    report.sort();
    Ok(report)
}

fn located(source: &Source, value: &serde_json::Value) -> String {
    let s = |p: &str| value.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
    let ns = match s("/metadata/namespace") {
        "" => "(no namespace)",
        ns => ns,
    };
    format!("{source}: {ns}/{}", s("/metadata/name"))
}
