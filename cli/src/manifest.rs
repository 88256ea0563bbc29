//! Reading manifests: YAML/JSON streams into documents, Secrets and SealedSecrets, with errors
//! that name the file, document and field; and finding manifest files under directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{Document, Format};

use crate::OutputFormat;
use crate::io::Source;

/// Where an object came from, for messages: `file`, or `file: document N` (plus the `List`
/// item) when the input held more than one object.
pub fn doc_name(source: &Source, doc: &Document, count: usize) -> String {
    match count {
        0 | 1 => source.to_string(),
        _ => locate(source, doc),
    }
}

/// `file: document N[: items[i]]`.
pub fn locate(source: &Source, doc: &Document) -> String {
    match doc.list_item {
        None => format!("{source}: document {}", doc.number),
        Some(i) => format!("{source}: document {}: items[{i}]", doc.number),
    }
}

/// `file: <error>`; errors that already name their document are not located twice.
pub fn locate_err(
    source: &Source,
    doc: &Document,
    count: usize,
    err: sealant_api::Error,
) -> anyhow::Error {
    match err {
        err @ sealant_api::Error::Document { .. } => anyhow!("{source}: {}", doc.locate(err)),
        other => anyhow!("{}: {other}", doc_name(source, doc, count)),
    }
}

/// Parses the input stream; errors name the file. An input without objects is an error.
pub fn read_stream(source: &Source, text: &str, what: &str) -> Result<Vec<Document>> {
    let docs = sealant_api::parse_stream(text).map_err(|e| anyhow!("{source}: {e}"))?;
    if docs.is_empty() {
        bail!("{source}: no {what} found: the input holds no YAML or JSON object");
    }
    Ok(docs)
}

/// Parses the input stream into Secrets; errors name the file and document.
pub fn read_secrets(source: &Source, text: &str) -> Result<Vec<(Document, Secret)>> {
    read_stream(source, text, "Secrets")?
        .into_iter()
        .map(|doc| {
            let secret = doc.to_secret().map_err(|e| anyhow!("{source}: {e}"))?;
            Ok((doc, secret))
        })
        .collect()
}

/// JSON when the text starts with `{` (after a byte-order mark and whitespace), else YAML.
pub fn detect_format(text: &str) -> Format {
    if text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// `-o` if given; else JSON for a `-w` file named `*.json`; else YAML.
pub fn output_format(explicit: Option<OutputFormat>, out: Option<&Path>) -> Format {
    let by_extension = out
        .and_then(Path::extension)
        .filter(|e| e.eq_ignore_ascii_case("json"))
        .map(|_| OutputFormat::Json);
    explicit
        .or(by_extension)
        .unwrap_or(OutputFormat::Yaml)
        .into()
}

/// Whether a parsed document is a SealedSecret (by `kind`; `apiVersion` group checked when
/// present).
pub fn is_sealed_secret(value: &serde_json::Value) -> bool {
    let kind = value.get("kind").and_then(|k| k.as_str());
    let group_ok = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .is_none_or(|v| v.starts_with("bitnami.com/"));
    kind == Some(sealant_api::KIND) && group_ok
}

/// Files to read: explicit files as given (`-` is stdin), directories searched recursively
/// (sorted; hidden entries and symbolic links to directories skipped) for `.yaml`, `.yml` and
/// `.json` files.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            out.push(Source::Stdin);
            continue;
        }
        let meta =
            std::fs::metadata(path).map_err(|e| anyhow!("{}: cannot open: {e}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut out, 0)?;
        } else {
            out.push(Source::File(path.clone()));
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|s| match s {
        Source::File(p) => seen.insert(p.clone()),
        Source::Stdin => true,
    });
    Ok(out)
}

const MAX_DEPTH: usize = 64;

fn walk(dir: &Path, out: &mut Vec<Source>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        bail!("{}: directories nested too deeply", dir.display());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow!("{}: cannot read directory: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, out, depth + 1)?;
        } else if is_manifest(&path) && (kind.is_file() || path.is_file()) {
            out.push(Source::File(path));
        }
    }
    Ok(())
}

/// `.yaml`, `.yml` or `.json` (any case).
pub fn is_manifest(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_defaults() {
        assert_eq!(output_format(None, None), Format::Yaml);
        assert_eq!(output_format(None, Some(Path::new("x.json"))), Format::Json);
        assert_eq!(output_format(None, Some(Path::new("x.yml"))), Format::Yaml);
        assert_eq!(
            output_format(Some(OutputFormat::Yaml), Some(Path::new("x.JSON"))),
            Format::Yaml
        );
        assert_eq!(detect_format("\u{feff}  {\"a\": 1}"), Format::Json);
        assert_eq!(detect_format("# c\n{a: 1}"), Format::Yaml);
    }

    #[test]
    fn manifests_and_kinds() {
        assert!(is_manifest(Path::new("a/b.YML")));
        assert!(is_manifest(Path::new("b.json")));
        assert!(!is_manifest(Path::new("b.txt")));
        assert!(is_sealed_secret(
            &serde_json::json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret"})
        ));
        assert!(!is_sealed_secret(
            &serde_json::json!({"apiVersion": "other.io/v1", "kind": "SealedSecret"})
        ));
        assert!(!is_sealed_secret(&serde_json::json!({"kind": "Secret"})));
    }
}
