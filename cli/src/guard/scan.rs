//! Finding plaintext Secrets, and the files kustomize secretGenerators read, in manifest text.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::yamledit::split_yaml;

/// A plaintext Secret found.
#[derive(Debug, PartialEq)]
pub(super) struct Finding {
    pub(super) line: usize,
    pub(super) what: String,
    pub(super) keys: Vec<String>,
}

/// A file a kustomize `secretGenerator` reads its values from (`files:`, `envs:` or the older
/// `env:`): plaintext on disk, so a finding when a commit would carry it.
#[derive(Debug, PartialEq)]
pub(super) struct Source {
    pub(super) line: usize,
    pub(super) generator: String,
    /// As written in the kustomization, relative to its directory.
    pub(super) path: String,
    /// The key of a `files:` entry; `None` for env files, whose keys are their lines'.
    pub(super) key: Option<String>,
}

/// What one file holds.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) findings: Vec<Finding>,
    pub(super) sources: Vec<Source>,
    /// Lines of documents that mention `kind: Secret` but could not be parsed.
    pub(super) unreadable: Vec<usize>,
}

/// The scan of a file's bytes; `None` for binary files (a NUL byte, or not UTF-8), which are not
/// manifests.
pub(super) fn scan_bytes(bytes: &[u8]) -> Option<Scan> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok().map(scan_text)
}

pub(super) fn scan_text(text: &str) -> Scan {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut scan = Scan::default();
    if text.trim_start().starts_with(['{', '['])
        && let Some(found) = scan_json(text)
    {
        return found;
    }
    for chunk in split_yaml(text) {
        let chunk_text = &text[chunk.range.clone()];
        match sealant_api::parse_stream(chunk_text) {
            Ok(docs) => {
                let values: Vec<Value> = docs.into_iter().map(|d| d.value).collect();
                check_values(&values, chunk_text, chunk.first_line, &mut scan);
            }
            Err(_) => {
                if let Some(line) = kind_secret_lines(chunk_text).first() {
                    scan.unreadable.push(chunk.first_line + line);
                }
            }
        }
    }
    scan
}

/// Concatenated JSON values (objects, or arrays of objects); `None` if it is not JSON.
pub(super) fn scan_json(text: &str) -> Option<Scan> {
    let mut scan = Scan::default();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    while let Some(item) = stream.next() {
        let value = item.ok()?;
        let end = stream.byte_offset();
        let skipped = text[start..end].len() - text[start..end].trim_start().len();
        let begin = start + skipped;
        let first_line = text[..begin].matches('\n').count() + 1;
        let values = match value {
            Value::Array(items) => items,
            Value::Object(map) => expand_list(Value::Object(map)),
            _ => Vec::new(),
        };
        check_values(&values, &text[begin..end], first_line, &mut scan);
        start = end;
    }
    Some(scan)
}

/// A `*List` object's items, else the object itself.
pub(super) fn expand_list(value: Value) -> Vec<Value> {
    let is_list = value["kind"].as_str().is_some_and(|k| k.ends_with("List"));
    match value {
        Value::Object(mut map) if is_list && map.get("items").is_some_and(Value::is_array) => {
            match map.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        other => vec![other],
    }
}

pub(super) fn is_secret(value: &Value) -> bool {
    value["kind"].as_str() == Some("Secret")
        && value
            .get("apiVersion")
            .is_none_or(|v| v.as_str() == Some("v1"))
}

/// Adds to `scan` what the objects of one document (or JSON value) whose text starts at
/// `first_line` hold.
pub(super) fn check_values(values: &[Value], text: &str, first_line: usize, scan: &mut Scan) {
    let kind_lines = kind_secret_lines(text);
    let secret_count = values.iter().filter(|v| is_secret(v)).count();
    let fallback = first_content_line(text);
    let mut secret_index = 0;
    for value in values {
        if is_secret(value) {
            let line = if kind_lines.len() == secret_count {
                kind_lines[secret_index]
            } else {
                fallback
            };
            secret_index += 1;
            let keys: BTreeSet<String> = ["data", "stringData"]
                .iter()
                .filter_map(|f| value[*f].as_object())
                .flat_map(|m| m.keys().cloned())
                .collect();
            if !keys.is_empty() {
                scan.findings.push(Finding {
                    line: first_line + line,
                    what: object_name(value),
                    keys: keys.into_iter().collect(),
                });
            }
        }
        secret_generators(value, text, first_line, scan);
    }
}

/// kustomize `secretGenerator` entries: those with `literals` (values written in the file
/// itself) are findings; the files they read (`files:`, `envs:`, `env:`) are sources.
pub(super) fn secret_generators(value: &Value, text: &str, first_line: usize, scan: &mut Scan) {
    let Some(generators) = value["secretGenerator"].as_array() else {
        return;
    };
    let header = text
        .lines()
        .position(|l| l.trim_start().starts_with("secretGenerator:"))
        .unwrap_or_else(|| first_content_line(text));
    for generator in generators {
        let name = generator["name"].as_str().unwrap_or_default();
        let line = first_line
            + text
                .lines()
                .enumerate()
                .skip(header)
                .find(|(_, l)| {
                    let t = l.trim_start().trim_start_matches("- ").trim();
                    t.strip_prefix("name:")
                        .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
                })
                .map_or(header, |(i, _)| i);
        let what = match generator["namespace"].as_str() {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        let entries = |field: &str| -> Vec<&str> {
            match &generator[field] {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(one) => vec![one.as_str()],
                _ => Vec::new(),
            }
        };
        let literals = entries("literals");
        if !literals.is_empty() {
            scan.findings.push(Finding {
                line,
                what: format!("secretGenerator {what}"),
                keys: key_names(literals.into_iter()),
            });
        }
        for entry in entries("files") {
            // `[key=]path`; the key defaults to the file name.
            let (key, path) = entry.split_once('=').unwrap_or(("", entry));
            let path = path.trim();
            let key = match key.trim() {
                "" => Path::new(path)
                    .file_name()
                    .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned()),
                k => k.to_owned(),
            };
            scan.sources.push(Source {
                line,
                generator: what.clone(),
                path: path.to_owned(),
                key: Some(key),
            });
        }
        for path in entries("envs").into_iter().chain(entries("env")) {
            scan.sources.push(Source {
                line,
                generator: what.clone(),
                path: path.trim().to_owned(),
                key: None,
            });
        }
    }
}

/// The key names of `KEY=value` lines, sorted, never a value: a line without a plausible name
/// before its `=` (a stray value, say) is only counted.
pub(super) fn key_names<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut keys = BTreeSet::new();
    let mut unnamed = 0;
    for line in lines {
        let name = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
        match name {
            Some(k) => {
                keys.insert(k.to_owned());
            }
            None => unnamed += 1,
        }
    }
    let mut out: Vec<String> = keys.into_iter().collect();
    if unnamed > 0 {
        out.push(format!("({unnamed} without a key name)"));
    }
    out
}

/// The keys of an env file (`KEY=value` lines; blank lines and `#` comments skipped).
pub(super) fn env_keys(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    key_names(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#')),
    )
}

pub(super) fn object_name(value: &Value) -> String {
    let meta = &value["metadata"];
    let name = meta["name"]
        .as_str()
        .or_else(|| meta["generateName"].as_str())
        .unwrap_or("(no name)");
    match meta["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// 0-based indexes of lines saying `kind: Secret` (YAML, also as a sequence item) or
/// `"kind": "Secret"` (JSON).
pub(super) fn kind_secret_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let t = line.trim().trim_start_matches("- ").trim_start();
            let t = t.trim_end_matches(',').trim_end();
            let Some(rest) = t
                .strip_prefix("kind:")
                .or_else(|| t.strip_prefix("\"kind\":"))
                .or_else(|| t.strip_prefix("'kind':"))
            else {
                return false;
            };
            let v = rest.split(" #").next().unwrap_or_default().trim();
            matches!(v, "Secret" | "\"Secret\"" | "'Secret'")
        })
        .map(|(i, _)| i)
        .collect()
}

/// 0-based index of the first line that is not blank, a comment or a `---` marker.
pub(super) fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with("---")
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_with_lines() {
        let text = "# x\napiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\ndata: {k: dg==}\n---\nkind: Secret\nmetadata: {name: empty}\n---\nkind: ConfigMap\ndata: {k: v}\n";
        let scan = scan_text(text);
        assert!(scan.unreadable.is_empty());
        assert_eq!(
            scan.findings,
            vec![Finding {
                line: 3,
                what: "ns/a".into(),
                keys: vec!["k".into()]
            }]
        );
    }

    #[test]
    fn list_items_get_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Secret\n  metadata: {name: a}\n  stringData: {x: y}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n  data: {z: dg==}\n";
        let found = scan_text(text).findings;
        let lines: Vec<usize> = found.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![4, 8]);
    }

    #[test]
    fn generators_and_unparseable() {
        let text = "secretGenerator:\n- name: db\n  literals:\n  - password=hunter2\n  - user=me\n";
        let found = scan_text(text).findings;
        assert_eq!(found[0].line, 2);
        assert_eq!(found[0].keys, vec!["password", "user"]);
        let scan = scan_text("kind: Secret\ndata:\n  x: {{ .Values.x }}\n  : :\n");
        assert!(scan.findings.is_empty());
        assert_eq!(scan.unreadable, vec![1]);
    }

    #[test]
    fn generator_sources_and_key_names() {
        let text = "resources: [a.yaml]\nsecretGenerator:\n- name: web\n  literals: [token=abc]\n- name: db\n  namespace: prod\n  files:\n  - tls.key\n  - ca=certs/ca.pem\n  envs: [db.env]\n- name: old\n  env: old.env\n";
        let scan = scan_text(text);
        assert_eq!(scan.findings.len(), 1);
        let got: Vec<(usize, &str, &str, Option<&str>)> = scan
            .sources
            .iter()
            .map(|s| {
                (
                    s.line,
                    s.generator.as_str(),
                    s.path.as_str(),
                    s.key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (5, "prod/db", "tls.key", Some("tls.key")),
                (5, "prod/db", "certs/ca.pem", Some("ca")),
                (5, "prod/db", "db.env", None),
                (11, "old", "old.env", None),
            ]
        );
        // A line with no name before `=` is counted, never shown: it may be a value.
        assert_eq!(
            env_keys(b"# c\n\nUSER=me\nPASS = x=y\nhunter2\n =v\n"),
            vec!["PASS", "USER", "(2 without a key name)"]
        );
        assert_eq!(
            key_names(["a b=c", "ok=1"].into_iter()),
            vec!["ok", "(1 without a key name)"]
        );
    }
}
