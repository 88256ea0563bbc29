//! `sealant set` and `sealant unset`: add, replace or remove one item of a SealedSecret file in
//! place.
//!
//! Only the changed item's line (and the key-id annotation when sealing with a new key) changes:
//! the edit is made on the text and then checked by parsing the result and comparing it with
//! the intended object. When a document's layout does not allow such an edit (flow style,
//! multi-line values, JSON), that one document is re-rendered in the canonical layout instead.
//! Other documents of the stream are never touched.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{Document, MAX_VALUE_BYTES, SealOptions};
use serde_json::Value;

use crate::certsrc::resolve_cert;
use crate::io::{self, Source, WriteOptions};
use crate::kubecfg::ClusterArgs;

pub const SET_EXAMPLES: &str = "\
Examples:
  # Add or replace the item `password`, reading the value from a file
  sealant set --cert cert.pem sealed-secret.yaml password --from-file ./password.txt

  # The value from stdin (taken byte for byte: a trailing newline is kept)
  printf %s 'hunter2' | sealant set --cert cert.pem sealed-secret.yaml password --value-stdin

  # A file with several SealedSecrets: pick one
  sealant set --cert cert.pem secrets.yaml token --name api -n prod --from-file token.txt

The value is sealed for the object's own name, namespace and scope. Other items keep their
ciphertext byte for byte, so the git diff shows only the changed line. The value is never
printed.";

pub const UNSET_EXAMPLES: &str = "\
Examples:
  # Remove the item `password`
  sealant unset sealed-secret.yaml password

  # From one of several SealedSecrets in a stream
  sealant unset secrets.yaml token --name api -n prod";

/// Which SealedSecret of the file to edit.
#[derive(Debug, Args)]
pub struct Select {
    /// Edit the SealedSecret with this metadata.name (needed when the file holds several).
    #[arg(long)]
    pub name: Option<String>,

    /// Edit the SealedSecret in this namespace (with several in the file).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// Arguments of `sealant set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The SealedSecret file to edit in place (YAML, possibly several documents, or JSON).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The item to add or replace.
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Read the value from this file.
    #[arg(
        long,
        value_name = "F",
        required_unless_present = "value_stdin",
        conflicts_with = "value_stdin"
    )]
    pub from_file: Option<PathBuf>,

    /// Read the value from stdin (all of it, trailing newline included).
    #[arg(long)]
    pub value_stdin: bool,

    /// Certificate to seal with (file or http(s) URL), as for `sealant seal`; without it, the
    /// controller's (kubeconfig, or the cached copy).
    #[arg(
        long,
        env = "SEALANT_CERT",
        value_name = "PATH|URL",
        hide_env_values = true
    )]
    pub cert: Option<String>,

    #[command(flatten)]
    pub select: Select,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Allow an empty value.
    #[arg(long)]
    pub allow_empty_data: bool,
}

/// Arguments of `sealant unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The SealedSecret file to edit in place.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The item to remove.
    #[arg(value_name = "KEY")]
    pub key: String,

    #[command(flatten)]
    pub select: Select,
}

/// What to do to the selected object.
enum Change {
    /// Put this sealed value under the key; set these top-level annotations (the key ids, and
    /// any other annotation sealing changed).
    Set {
        sealed: String,
        annotations: Vec<(String, String)>,
    },
    /// Remove the key.
    Unset,
}

pub fn run_set(args: &SetArgs) -> Result<()> {
    check_key(&args.key)?;
    let target = Target::load(&args.file, &args.select)?;
    let value = read_value(args)?;
    if value.is_empty() && !args.allow_empty_data {
        bail!(
            "{}: the value for {:?} is empty; pass --allow-empty-data to store an empty value",
            value_source(args),
            args.key
        );
    }
    let cert = resolve_cert(args.cert.as_deref(), &args.cluster)?;
    let ss = target.sealed_secret()?;
    let mut sealed = ss.clone();
    let secret = Secret {
        data: Some([(args.key.clone(), ByteString(value))].into()),
        ..Secret::default()
    };
    let opts = SealOptions {
        allow_empty_data: true,
        ..SealOptions::default()
    };
    sealant_api::merge_into(&mut sealed, &secret, &cert, &opts)
        .map_err(|e| anyhow!("{}: {e}", target.name()))?;
    let change = Change::Set {
        sealed: sealed
            .spec
            .encrypted_data
            .get(&args.key)
            .cloned()
            .ok_or_else(|| anyhow!("{}: sealing gave no value", target.name()))?,
        annotations: changed_annotations(&ss, &sealed),
    };
    let existed = ss.spec.encrypted_data.contains_key(&args.key);
    target.apply(&args.key, &change)?;
    io::note(&format!(
        "{}: {} item {:?}",
        target.name(),
        if existed { "replaced" } else { "added" },
        args.key
    ));
    Ok(())
}

pub fn run_unset(args: &UnsetArgs) -> Result<()> {
    check_key(&args.key)?;
    let target = Target::load(&args.file, &args.select)?;
    let ss = target.sealed_secret()?;
    if !ss.spec.encrypted_data.contains_key(&args.key) {
        let mut keys: Vec<&str> = ss.spec.encrypted_data.keys().map(String::as_str).collect();
        keys.truncate(20);
        bail!(
            "{}: no item {:?} in spec.encryptedData (items: {})",
            target.name(),
            args.key,
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        );
    }
    target.apply(&args.key, &Change::Unset)?;
    io::note(&format!("{}: removed item {:?}", target.name(), args.key));
    Ok(())
}

/// Top-level annotations that sealing added or changed.
fn changed_annotations(
    before: &sealant_api::SealedSecret,
    after: &sealant_api::SealedSecret,
) -> Vec<(String, String)> {
    let old = before.metadata.annotations.clone().unwrap_or_default();
    after
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn value_source(args: &SetArgs) -> String {
    match &args.from_file {
        Some(p) => p.display().to_string(),
        None => "<stdin>".to_owned(),
    }
}

fn read_value(args: &SetArgs) -> Result<Vec<u8>> {
    let limit = MAX_VALUE_BYTES as u64;
    match &args.from_file {
        Some(path) => {
            if path.as_os_str() == "-" {
                bail!("--from-file -: use --value-stdin to read the value from stdin");
            }
            let name = path.display();
            let file =
                std::fs::File::open(path).map_err(|e| anyhow!("{name}: cannot open: {e}"))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                bail!("{name}: is a directory, not a file");
            }
            io::read_bounded(file, limit, &name)
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                io::note("(tty detected: reading the value from stdin until end of input, Ctrl-D)");
            }
            io::read_bounded(std::io::stdin().lock(), limit, &"<stdin>")
        }
    }
}

/// Kubernetes Secret keys: letters, digits, `-`, `_`, `.`; at most 253 characters.
fn check_key(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        bail!(
            "KEY {key:?} is not a valid Secret item name (1-253 letters, digits, '-', '_' or '.')"
        );
    }
    Ok(())
}

/// The file, its documents, and the selected SealedSecret.
struct Target {
    path: PathBuf,
    text: String,
    json: bool,
    /// Byte range of the selected document's chunk in `text`.
    range: Range<usize>,
    doc: Document,
    /// `file: namespace/name`.
    label: String,
}

impl Target {
    fn load(path: &Path, select: &Select) -> Result<Target> {
        if path.as_os_str() == "-" {
            bail!("FILE -: set and unset edit a file in place; stdin is not possible");
        }
        let source = Source::File(path.to_path_buf());
        let text = io::read_source_text(&source)?;
        let json = text.trim_start().starts_with('{');
        let chunks: Vec<Range<usize>> = if json {
            std::iter::once(0..text.len()).collect()
        } else {
            split_yaml(&text).into_iter().map(|c| c.range).collect()
        };
        let mut found: Vec<(Range<usize>, Document)> = Vec::new();
        let mut in_list = false;
        for (index, range) in chunks.iter().enumerate() {
            let docs = sealant_api::parse_stream(&text[range.clone()]).map_err(|e| {
                if chunks.len() > 1 {
                    anyhow!("{source}: document {}: {e}", index + 1)
                } else {
                    anyhow!("{source}: {e}")
                }
            })?;
            if json && docs.len() > 1 {
                bail!(
                    "{source}: a stream of several JSON objects cannot be edited in place; split it or use YAML"
                );
            }
            for doc in docs {
                if !is_sealed_secret(&doc.value) || !select.matches(&doc.value) {
                    continue;
                }
                if doc.list_item.is_some() {
                    in_list = true;
                    continue;
                }
                found.push((range.clone(), doc));
            }
        }
        let what = select.describe();
        let (range, doc) = match found.len() {
            1 => found.remove(0),
            0 if in_list => bail!(
                "{source}: the SealedSecret{what} is inside a List, which cannot be edited in place"
            ),
            0 => bail!("{source}: no SealedSecret{what} found"),
            n => bail!(
                "{source}: {n} SealedSecrets{what}: choose one with --name (and -n/--namespace)"
            ),
        };
        let meta = &doc.value["metadata"];
        let ns = meta["namespace"].as_str().unwrap_or_default();
        let name = meta["name"].as_str().unwrap_or_default();
        let label = if ns.is_empty() {
            format!("{source}: {name}")
        } else {
            format!("{source}: {ns}/{name}")
        };
        Ok(Target {
            path: path.to_path_buf(),
            text,
            json,
            range,
            doc,
            label,
        })
    }

    fn name(&self) -> &str {
        &self.label
    }

    fn sealed_secret(&self) -> Result<sealant_api::SealedSecret> {
        let ss = self
            .doc
            .to_sealed_secret()
            .map_err(|e| anyhow!("{}: {e}", self.label))?;
        if ss.spec.data.is_some() {
            bail!(
                "{}: uses the deprecated v1 spec.data format; re-seal it before editing items",
                self.label
            );
        }
        Ok(ss)
    }

    /// Applies the change to the selected document and rewrites the file atomically.
    fn apply(&self, key: &str, change: &Change) -> Result<()> {
        let expected = expected_value(&self.doc.value, key, change);
        let chunk = &self.text[self.range.clone()];
        let edited = if self.json {
            None
        } else {
            edit_text(chunk, key, change).filter(|new| parses_to(new, &expected))
        };
        let replacement = match edited {
            Some(text) => text,
            None => self.rerender(chunk, &expected)?,
        };
        let mut out = String::with_capacity(self.text.len() + 1024);
        out.push_str(&self.text[..self.range.start]);
        out.push_str(&replacement);
        out.push_str(&self.text[self.range.end..]);
        io::write_atomic(&self.path, out.as_bytes(), WriteOptions::REPLACE)
    }

    /// The document in the canonical layout, keeping a leading `---` line of the original.
    fn rerender(&self, chunk: &str, expected: &Value) -> Result<String> {
        let ss = sealant_api::sealed_secret_from_value(expected)
            .map_err(|e| anyhow!("{}: {e}", self.label))?;
        if self.json {
            return sealant_api::render(&ss, sealant_api::Format::Json)
                .map_err(|e| anyhow!("{}: {e}", self.label));
        }
        let rendered = sealant_api::render(&ss, sealant_api::Format::Yaml)
            .map_err(|e| anyhow!("{}: {e}", self.label))?;
        let body = rendered.strip_prefix("---\n").unwrap_or(&rendered);
        let first = chunk.split_inclusive('\n').next().unwrap_or_default();
        if is_document_start(first.trim_end_matches(['\n', '\r'])) {
            let first = if first.ends_with('\n') {
                first.to_owned()
            } else {
                format!("{first}\n")
            };
            Ok(format!("{first}{body}"))
        } else {
            Ok(body.to_owned())
        }
    }
}

impl Select {
    fn matches(&self, value: &Value) -> bool {
        let meta = &value["metadata"];
        let name_ok = self
            .name
            .as_deref()
            .is_none_or(|n| meta["name"].as_str() == Some(n));
        let ns_ok = self
            .namespace
            .as_deref()
            .is_none_or(|n| meta["namespace"].as_str().unwrap_or_default() == n);
        name_ok && ns_ok
    }

    fn describe(&self) -> String {
        match (&self.name, &self.namespace) {
            (None, None) => String::new(),
            (Some(n), None) => format!(" named {n:?}"),
            (None, Some(ns)) => format!(" in namespace {ns:?}"),
            (Some(n), Some(ns)) => format!(" named {n:?} in namespace {ns:?}"),
        }
    }
}

fn is_sealed_secret(value: &Value) -> bool {
    value["kind"].as_str() == Some(sealant_api::KIND)
}

/// The object as it must read after the change.
fn expected_value(original: &Value, key: &str, change: &Change) -> Value {
    let mut value = original.clone();
    match change {
        Change::Set {
            sealed,
            annotations,
        } => {
            ensure_object(&mut value["spec"]["encryptedData"])
                .insert(key.to_owned(), Value::String(sealed.clone()));
            for (k, v) in annotations {
                ensure_object(&mut value["metadata"]["annotations"])
                    .insert(k.clone(), Value::String(v.clone()));
            }
        }
        Change::Unset => {
            if let Some(map) = value["spec"]["encryptedData"].as_object_mut() {
                map.remove(key);
            }
        }
    }
    value
}

fn ensure_object(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(serde_json::Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn parses_to(text: &str, expected: &Value) -> bool {
    matches!(sealant_api::parse_stream(text).as_deref(), Ok([doc]) if doc.list_item.is_none() && &doc.value == expected)
}

/// One `---`-separated YAML document of a file.
pub(crate) struct Chunk {
    /// Byte range in the file (starting at its `---` line, if any).
    pub range: Range<usize>,
    /// 1-based line number of the chunk's first line.
    pub first_line: usize,
}

/// `---` (optionally followed by a space, tab or content) at column 0 starts a document.
pub(crate) fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

/// Splits YAML text at document markers; the first chunk may hold only comments.
pub(crate) fn split_yaml(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        if is_document_start(line.trim_end_matches(['\n', '\r'])) && offset > start {
            chunks.push(Chunk {
                range: start..offset,
                first_line,
            });
            start = offset;
            first_line = line_no;
        }
        offset += line.len();
    }
    if offset > start || chunks.is_empty() {
        chunks.push(Chunk {
            range: start..text.len(),
            first_line,
        });
    }
    chunks
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key of a `key: value` block-mapping line (plain, or quoted without escapes).
fn entry_key(line: &str) -> Option<String> {
    let t = line.trim_start_matches(' ');
    let (key, rest) = if let Some(inner) = t.strip_prefix('"') {
        let end = inner.find('"')?;
        if inner[..end].contains('\\') {
            return None;
        }
        (inner[..end].to_owned(), &inner[end + 1..])
    } else if let Some(inner) = t.strip_prefix('\'') {
        let end = inner.find('\'')?;
        (inner[..end].to_owned(), &inner[end + 1..])
    } else {
        let end = t.find(':')?;
        (t[..end].to_owned(), &t[end..])
    };
    let rest = rest.strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])).then_some(key)
}

/// A key written plainly where YAML reads it back as the same string, else double-quoted.
fn yaml_key(key: &str) -> String {
    let reserved = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !reserved.contains(&key.to_ascii_lowercase().as_str());
    if plain {
        key.to_owned()
    } else {
        serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""))
    }
}

/// A block mapping: entry indent, (line index, key) of each entry, index after the last one.
type Block = (usize, Vec<(usize, String)>, usize);

/// The entries of the block mapping under the line `header`: their indent, (line, key) pairs
/// and the index after the last one. `None` for anything but simple one-line entries.
fn block_entries(lines: &[String], header: usize) -> Option<Block> {
    let header_indent = indent_of(&lines[header]);
    let mut entries: Vec<(usize, String)> = Vec::new();
    let mut entry_indent = None;
    let mut end = header + 1;
    for (i, line) in lines.iter().enumerate().skip(header + 1) {
        if is_blank_or_comment(line) {
            continue;
        }
        let indent = indent_of(line);
        if indent <= header_indent {
            break;
        }
        match entry_indent {
            None => entry_indent = Some(indent),
            Some(e) if e != indent => return None,
            Some(_) => {}
        }
        entries.push((i, entry_key(line)?));
        end = i + 1;
    }
    Some((entry_indent.unwrap_or(header_indent + 2), entries, end))
}

/// The index of the one line that reads `name:` at `indent` (after `from`, before `to`).
fn unique_header(
    lines: &[String],
    name: &str,
    indent: Option<usize>,
    from: usize,
    to: usize,
) -> Option<usize> {
    let mut hits = (from..to).filter(|&i| {
        let l = &lines[i];
        l.trim() == name && indent.is_none_or(|n| indent_of(l) == n) && !l.starts_with('\t')
    });
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}

/// Puts `key: value` into the block mapping under `header` (replacing or inserting in key order).
fn upsert(lines: &mut Vec<String>, header: usize, key: &str, value: &str, eol: &str) -> Option<()> {
    let (indent, entries, end) = block_entries(lines, header)?;
    let new_line = format!("{}{}: {value}{eol}", " ".repeat(indent), yaml_key(key));
    if let Some((i, _)) = entries.iter().find(|(_, k)| k == key) {
        lines[*i] = new_line;
    } else {
        let mut at = entries
            .iter()
            .find(|(_, k)| k.as_str() > key)
            .map_or(end, |(i, _)| *i);
        // Comments right above an entry belong to it: insert before them.
        while at > header + 1 && at < end && is_blank_or_comment(&lines[at - 1]) {
            at -= 1;
        }
        lines.insert(at, new_line);
    }
    Some(())
}

/// The text edit: `None` when the layout is not the simple block style this handles.
fn edit_text(chunk: &str, key: &str, change: &Change) -> Option<String> {
    let mut lines: Vec<String> = chunk.split_inclusive('\n').map(str::to_owned).collect();
    let eol = if chunk.contains("\r\n") { "\r\n" } else { "\n" };
    let header = unique_header(&lines, "encryptedData:", None, 0, lines.len())?;
    if indent_of(&lines[header]) == 0 {
        return None;
    }
    match change {
        Change::Set {
            sealed,
            annotations,
        } => {
            upsert(&mut lines, header, key, sealed, eol)?;
            for (k, v) in annotations {
                set_annotation(&mut lines, k, v, eol)?;
            }
        }
        Change::Unset => {
            let (_, entries, _) = block_entries(&lines, header)?;
            let (i, _) = entries.iter().find(|(_, k)| k == key)?;
            lines.remove(*i);
            if entries.len() == 1 {
                let head = &lines[header];
                let head_eol = if head.ends_with('\n') { eol } else { "" };
                lines[header] = format!(
                    "{}encryptedData: {{}}{head_eol}",
                    " ".repeat(indent_of(head))
                );
            }
        }
    }
    Some(lines.concat())
}

/// Sets an annotation in the top-level metadata: the existing line is rewritten, or a line is
/// added to `annotations:` (created right under `metadata:` if needed).
fn set_annotation(lines: &mut Vec<String>, name: &str, value: &str, eol: &str) -> Option<()> {
    let value = if value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b',' | b':' | b'.' | b'-'))
    {
        value.to_owned()
    } else {
        serde_json::to_string(value).ok()?
    };
    let meta = unique_header(lines, "metadata:", Some(0), 0, lines.len())?;
    let meta_end = (meta + 1..lines.len())
        .find(|&i| !is_blank_or_comment(&lines[i]) && indent_of(&lines[i]) == 0)
        .unwrap_or(lines.len());
    let child_indent = (meta + 1..meta_end)
        .map(|i| &lines[i])
        .find(|l| !is_blank_or_comment(l))
        .map(|l| indent_of(l))?;
    match unique_header(
        lines,
        "annotations:",
        Some(child_indent),
        meta + 1,
        meta_end,
    ) {
        Some(annotations) => upsert(lines, annotations, name, &value, eol),
        None => {
            let pad = " ".repeat(child_indent);
            lines.insert(
                meta + 1,
                format!(
                    "{pad}annotations:{eol}{pad}  {}: {value}{eol}",
                    yaml_key(name)
                ),
            );
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("tls.crt").is_ok());
        assert!(check_key("a_b-c").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ключ"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn split_keeps_every_byte() {
        let text = "# c\n---\na: 1\n--- # x\nb: 2\n";
        let chunks = split_yaml(text);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].first_line, 2);
        assert_eq!(&text[chunks[2].range.clone()], "--- # x\nb: 2\n");
        let joined: String = chunks.iter().map(|c| &text[c.range.clone()]).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn entry_keys() {
        assert_eq!(entry_key("  a.b: xyz").as_deref(), Some("a.b"));
        assert_eq!(entry_key("  \"1\": xyz").as_deref(), Some("1"));
        assert_eq!(entry_key("  a:b"), None);
        assert_eq!(yaml_key("true"), "\"true\"");
        assert_eq!(yaml_key("1x"), "\"1x\"");
        assert_eq!(yaml_key("user"), "user");
    }
}
