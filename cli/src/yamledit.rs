//! Rewriting one SealedSecret of a manifest file in place, keeping everything else byte for byte.
//!
//! `set`, `unset`, `seal --merge-into` and `reseal` change a few entries of a SealedSecret's
//! string maps (`spec.encryptedData`, the top-level annotations, the template's labels and
//! annotations). In a YAML document such a change is made on the text, line by line, so
//! comments, blank lines, key order and every untouched item's ciphertext stay as they were and
//! git diffs show only what changed. Each text edit is checked by parsing the result and
//! comparing it with the intended object. When the change touches anything else, or the layout
//! is not the simple block style handled here (flow style, multi-line values), or the file is
//! JSON, the document is re-rendered in the canonical layout instead, still keeping the `---`
//! line and the comments before and after it. Other documents of the file are never touched.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use sealant_api::{Document, Format, SealedSecret};
use serde_json::{Map, Value};

use crate::io::{self, Source};
use crate::manifest::{detect_format, is_sealed_secret};

/// One `---`-separated YAML document of a file.
pub struct Chunk {
    /// Byte range in the file (starting at its `---` line, if any).
    pub range: Range<usize>,
    /// 1-based line number of the chunk's first line.
    pub first_line: usize,
}

/// `---` (optionally followed by a space, tab or content) at column 0 starts a document.
pub fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

/// Splits YAML text at document markers; the first chunk may hold only comments. The chunks
/// cover every byte of the text.
pub fn split_yaml(text: &str) -> Vec<Chunk> {
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

/// Which SealedSecret of a file: by name and/or namespace (`None`: any).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
}

impl Filter {
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

/// A file and the one SealedSecret in it that is being edited.
pub struct Target {
    path: PathBuf,
    text: String,
    format: Format,
    /// Byte range of the selected document's chunk in `text`.
    range: Range<usize>,
    doc: Document,
    /// `file: namespace/name`.
    label: String,
}

impl Target {
    /// Reads `path` and selects its SealedSecret with the first of `filters` that matches
    /// exactly one (errors are the last filter's).
    pub fn load(path: &Path, filters: &[Filter]) -> Result<Target> {
        if path.as_os_str() == "-" {
            bail!("-: a file is edited in place; stdin is not possible");
        }
        let source = Source::File(path.to_path_buf());
        let text = io::read_source_text(&source)?;
        let format = detect_format(&text);
        let chunks: Vec<Range<usize>> = match format {
            Format::Json => std::iter::once(0..text.len()).collect(),
            Format::Yaml => split_yaml(&text).into_iter().map(|c| c.range).collect(),
        };
        let mut all: Vec<(Range<usize>, Document)> = Vec::new();
        for (index, range) in chunks.iter().enumerate() {
            let docs = sealant_api::parse_stream(&text[range.clone()]).map_err(|e| {
                if chunks.len() > 1 {
                    anyhow!("{source}: document {}: {e}", index + 1)
                } else {
                    anyhow!("{source}: {e}")
                }
            })?;
            if format == Format::Json && docs.len() > 1 {
                bail!(
                    "{source}: a stream of several JSON objects cannot be edited in place; split it or use YAML"
                );
            }
            for doc in docs {
                if is_sealed_secret(&doc.value) {
                    all.push((range.clone(), doc));
                }
            }
        }
        let mut last_error = anyhow!("{source}: no SealedSecret found");
        for filter in filters {
            let (in_list, mut found): (Vec<_>, Vec<_>) = all
                .iter()
                .filter(|(_, doc)| filter.matches(&doc.value))
                .partition(|(_, doc)| doc.list_item.is_some());
            let what = filter.describe();
            last_error = match found.len() {
                1 => {
                    let (range, doc) = found.remove(0).clone();
                    let meta = &doc.value["metadata"];
                    let ns = meta["namespace"].as_str().unwrap_or_default();
                    let name = meta["name"].as_str().unwrap_or_default();
                    let label = if ns.is_empty() {
                        format!("{source}: {name}")
                    } else {
                        format!("{source}: {ns}/{name}")
                    };
                    return Ok(Target {
                        path: path.to_path_buf(),
                        text,
                        format,
                        range,
                        doc,
                        label,
                    });
                }
                0 if !in_list.is_empty() => anyhow!(
                    "{source}: the SealedSecret{what} is inside a List, which cannot be edited in place"
                ),
                0 => anyhow!("{source}: no SealedSecret{what} found"),
                n => anyhow!(
                    "{source}: {n} SealedSecrets{what}: choose one with --name (and -n/--namespace)"
                ),
            };
        }
        Err(last_error)
    }

    /// `file: namespace/name`, for messages.
    pub fn name(&self) -> &str {
        &self.label
    }

    /// The file's format (JSON when it starts with `{`).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The selected object.
    pub fn sealed_secret(&self) -> Result<SealedSecret> {
        self.doc
            .to_sealed_secret()
            .map_err(|e| anyhow!("{}: {e}", self.label))
    }

    /// The whole file with the selected document rewritten to hold `after`.
    pub fn rewritten(&self, after: &SealedSecret) -> Result<String> {
        let chunk = &self.text[self.range.clone()];
        let replacement = rewrite(chunk, self.format, &self.doc.value, after)
            .map_err(|e| anyhow!("{}: {e}", self.label))?;
        let mut out = String::with_capacity(self.text.len() + 1024);
        out.push_str(&self.text[..self.range.start]);
        out.push_str(&replacement);
        out.push_str(&self.text[self.range.end..]);
        Ok(out)
    }

    /// Rewrites the file atomically with the selected document holding `after`.
    pub fn write(&self, after: &SealedSecret) -> Result<()> {
        let out = self.rewritten(after)?;
        io::write_atomic(&self.path, out.as_bytes(), io::WriteOptions::REPLACE)
    }
}

/// The new text of one document (`chunk`, in `format`) whose object was `original` and must
/// now be `after`: a line edit when possible, else `after` rendered in the canonical layout
/// between the document's surrounding comments.
pub fn rewrite(
    chunk: &str,
    format: Format,
    original: &Value,
    after: &SealedSecret,
) -> Result<String, sealant_api::Error> {
    if format == Format::Yaml
        && let Some(text) = line_edit(chunk, original, after)
    {
        return Ok(text);
    }
    let rendered = sealant_api::render(after, format)?;
    Ok(match format {
        Format::Json => replace_json(chunk, &rendered),
        Format::Yaml => replace_yaml(chunk, &rendered),
    })
}

/// The line edit of a YAML document, `None` when the change or the layout does not allow one.
fn line_edit(chunk: &str, original: &Value, after: &SealedSecret) -> Option<String> {
    let before =
        serde_json::to_value(sealant_api::sealed_secret_from_value(original).ok()?).ok()?;
    let after = serde_json::to_value(after).ok()?;
    let ops = diff(&before, &after)?;
    let mut expected = original.clone();
    for op in &ops {
        op.apply_to(&mut expected);
    }
    let text = edit_lines(chunk, &ops)?;
    let parsed = sealant_api::parse_stream(&text).ok()?;
    matches!(parsed.as_slice(), [doc] if doc.list_item.is_none() && doc.value == expected)
        .then_some(text)
}

/// The string maps a line edit may change.
const EDITABLE: [&[&str]; 4] = [
    &["spec", "encryptedData"],
    &["metadata", "annotations"],
    &["spec", "template", "metadata", "labels"],
    &["spec", "template", "metadata", "annotations"],
];

/// Sets (`Some`) or removes (`None`) one entry of an editable map.
#[derive(Clone, Debug, PartialEq)]
struct Op {
    path: &'static [&'static str],
    key: String,
    value: Option<String>,
}

impl Op {
    fn apply_to(&self, value: &mut Value) {
        let mut node = value;
        for part in self.path {
            node = ensure_object(node)
                .entry((*part).to_owned())
                .or_insert(Value::Null);
        }
        let map = ensure_object(node);
        match &self.value {
            Some(v) => {
                map.insert(self.key.clone(), Value::String(v.clone()));
            }
            None => {
                map.remove(&self.key);
            }
        }
    }
}

fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, part| node.get(*part))
}

fn remove_at(value: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = value;
    for part in parents {
        match node.get_mut(*part) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(*last);
    }
}

/// The entry changes that turn `before` into `after`, if they differ in the editable maps only
/// (and those hold strings).
fn diff(before: &Value, after: &Value) -> Option<Vec<Op>> {
    let mut ops = Vec::new();
    for path in EDITABLE {
        let empty = Map::new();
        let map = |v: &Value| -> Option<Map<String, Value>> {
            match at(v, path) {
                None | Some(Value::Null) => Some(empty.clone()),
                Some(Value::Object(m)) => Some(m.clone()),
                Some(_) => None,
            }
        };
        let (old, new) = (map(before)?, map(after)?);
        for (key, value) in &new {
            if old.get(key) != Some(value) {
                ops.push(Op {
                    path,
                    key: key.clone(),
                    value: Some(value.as_str()?.to_owned()),
                });
            }
        }
        for key in old.keys().filter(|k| !new.contains_key(*k)) {
            ops.push(Op {
                path,
                key: key.clone(),
                value: None,
            });
        }
    }
    let (mut rest_before, mut rest_after) = (before.clone(), after.clone());
    for path in EDITABLE {
        remove_at(&mut rest_before, path);
        remove_at(&mut rest_after, path);
    }
    (rest_before == rest_after).then_some(ops)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key of a `key: value` block-mapping line (plain, or quoted without escapes) and the rest
/// of the line after the colon.
fn entry(line: &str) -> Option<(String, &str)> {
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
    (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])).then_some((key, rest))
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

/// A value written plainly when YAML reads it back as the same string (base64, key ids,
/// `v1:…` fingerprints), else double-quoted.
fn yaml_value(value: &str) -> String {
    let plain = value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b',' | b'.' | b':' | b'-')
        });
    let reserved = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    if plain && !reserved.contains(&value.to_ascii_lowercase().as_str()) {
        value.to_owned()
    } else {
        serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
    }
}

/// A ` # comment` after a plain value on an entry line, kept when the value is replaced.
fn trailing_comment(rest: &str) -> Option<&str> {
    let rest = rest.trim_end_matches(['\n', '\r']);
    let value = rest.trim_start();
    if value.starts_with(['"', '\'']) {
        return None;
    }
    value.find(" #").map(|i| &value[i..])
}

/// A mapping block: the header line (`None` for the document root), the range of its lines,
/// and the indent of its entries.
#[derive(Clone, Copy, Debug)]
struct Block {
    header: Option<usize>,
    start: usize,
    end: usize,
    indent: usize,
}

/// The document's top-level mapping.
fn root(lines: &[String]) -> Block {
    let start = lines
        .first()
        .filter(|l| is_document_start(l.trim_end_matches(['\n', '\r'])))
        .map_or(0, |_| 1);
    Block {
        header: None,
        start,
        end: lines.len(),
        indent: 0,
    }
}

/// The entries of `block` (line index, key, rest of line); `None` when a line at the entry
/// indent is not a `key:` entry or the indentation is irregular.
fn entries<'a>(lines: &'a [String], block: &Block) -> Option<Vec<(usize, String, &'a str)>> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().take(block.end).skip(block.start) {
        if is_blank_or_comment(line) {
            continue;
        }
        if line.starts_with('\t') {
            return None;
        }
        let indent = indent_of(line);
        if indent < block.indent {
            return None;
        }
        if indent == block.indent {
            let (key, rest) = entry(line)?;
            out.push((i, key, rest));
        }
    }
    Some(out)
}

/// The block under the entry at `header` (its lines up to the next one at its indent or less).
fn child_block(lines: &[String], header: usize) -> Block {
    let header_indent = indent_of(&lines[header]);
    let mut end = header + 1;
    let mut indent = None;
    for (i, line) in lines.iter().enumerate().skip(header + 1) {
        if is_blank_or_comment(line) {
            continue;
        }
        let this = indent_of(line);
        if this <= header_indent {
            break;
        }
        indent.get_or_insert(this);
        end = i + 1;
    }
    Block {
        header: Some(header),
        start: header + 1,
        end,
        indent: indent.unwrap_or(header_indent + 2),
    }
}

/// What a map's header line holds after the colon.
enum Header {
    /// Nothing (or a comment): a block mapping follows.
    Block,
    /// `{}`: an empty flow mapping.
    EmptyFlow,
}

fn header_kind(rest: &str) -> Option<Header> {
    let t = rest.trim();
    let t = t.split(" #").next().unwrap_or_default().trim();
    match t {
        "" => Some(Header::Block),
        "{}" => Some(Header::EmptyFlow),
        _ if t.starts_with('#') => Some(Header::Block),
        _ => None,
    }
}

/// Finds the block of `path`, creating the last map (empty, as the first entry of its parent)
/// when only it is missing. Returns the block and whether its header is `{}`.
fn find_map(lines: &mut Vec<String>, path: &[&str], eol: &str) -> Option<(Block, bool)> {
    let mut block = root(lines);
    for (depth, part) in path.iter().enumerate() {
        let found: Vec<(usize, Header)> = entries(lines, &block)?
            .into_iter()
            .filter(|(_, key, _)| key == part)
            .map(|(i, _, rest)| header_kind(rest).map(|h| (i, h)))
            .collect::<Option<_>>()?;
        let last = depth + 1 == path.len();
        match found.as_slice() {
            [(i, Header::Block)] => {
                let child = child_block(lines, *i);
                // An empty `name:` (null) has no entries; only the map itself may be that.
                if child.start == child.end && !last {
                    return None;
                }
                block = child;
            }
            [(i, Header::EmptyFlow)] if last => {
                let mut child = child_block(lines, *i);
                child.indent = indent_of(&lines[*i]) + indent_step(lines, &block);
                return Some((child, true));
            }
            [] if last => {
                let at = block.header.map_or(block.start, |h| h + 1);
                let pad = " ".repeat(block.indent);
                lines.insert(at, format!("{pad}{}:{eol}", yaml_key(part)));
                let mut child = child_block(lines, at);
                child.indent = block.indent + indent_step(lines, &block);
                return Some((child, false));
            }
            _ => return None,
        }
    }
    Some((block, false))
}

/// How far a block's entries are indented from its header (2 when it has no header).
fn indent_step(lines: &[String], block: &Block) -> usize {
    match block.header {
        Some(h) => block.indent.saturating_sub(indent_of(&lines[h])).max(1),
        None => 2,
    }
}

/// Applies `ops` to the lines of a YAML document; `None` when the layout is not one this
/// handles (the caller checks the result by parsing it).
fn edit_lines(chunk: &str, ops: &[Op]) -> Option<String> {
    let mut lines: Vec<String> = chunk.split_inclusive('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        let last = lines.len() - 1;
        lines[last].push('\n');
    }
    let eol = if chunk.contains("\r\n") { "\r\n" } else { "\n" };
    for path in EDITABLE {
        let ops: Vec<&Op> = ops.iter().filter(|op| op.path == path).collect();
        if ops.is_empty() {
            continue;
        }
        edit_map(&mut lines, path, &ops, eol)?;
    }
    let mut out = lines.concat();
    if !chunk.ends_with('\n') {
        out.truncate(out.trim_end_matches(['\n', '\r']).len());
    }
    Some(out)
}

fn edit_map(lines: &mut Vec<String>, path: &[&str], ops: &[&Op], eol: &str) -> Option<()> {
    let (block, flow) = find_map(lines, path, eol)?;
    let header = block.header?;
    let name = path.last()?;
    if flow {
        let pad = " ".repeat(indent_of(&lines[header]));
        lines[header] = format!("{pad}{}:{eol}", yaml_key(name));
    }
    let mut block = block;
    for op in ops {
        let items: Vec<(usize, String, String)> = entries(lines, &block)?
            .into_iter()
            .map(|(i, key, rest)| (i, key, rest.to_owned()))
            .collect();
        // Entries must be one line each: nothing more indented inside the map.
        let nested = (block.start..block.end)
            .any(|i| !is_blank_or_comment(&lines[i]) && indent_of(&lines[i]) > block.indent);
        if nested {
            return None;
        }
        let pad = " ".repeat(block.indent);
        let existing = items.iter().find(|(_, key, _)| *key == op.key);
        match (&op.value, existing) {
            (Some(value), Some((i, _, rest))) => {
                let comment = trailing_comment(rest).unwrap_or_default().to_owned();
                lines[*i] = format!(
                    "{pad}{}: {}{comment}{eol}",
                    yaml_key(&op.key),
                    yaml_value(value)
                );
            }
            (Some(value), None) => {
                let next = items
                    .iter()
                    .find(|(_, key, _)| key.as_str() > op.key.as_str())
                    .map(|(i, _, _)| *i);
                let mut at =
                    next.unwrap_or_else(|| items.last().map_or(block.start, |(i, _, _)| i + 1));
                // Comments right above an entry belong to it: insert before them.
                if next.is_some() {
                    while at > block.start && is_blank_or_comment(&lines[at - 1]) {
                        at -= 1;
                    }
                }
                lines.insert(
                    at,
                    format!("{pad}{}: {}{eol}", yaml_key(&op.key), yaml_value(value)),
                );
                block.end += 1;
            }
            (None, Some((i, _, _))) => {
                lines.remove(*i);
                block.end -= 1;
            }
            (None, None) => {}
        }
    }
    if entries(lines, &block)?.is_empty() {
        let pad = " ".repeat(indent_of(&lines[header]));
        lines[header] = format!("{pad}{}: {{}}{eol}", yaml_key(name));
    }
    Some(())
}

/// Replaces the object in a YAML document's text, keeping its `---` line and the comment and
/// blank lines (comments at column 0) before and after it.
pub fn replace_yaml(doc: &str, rendered: &str) -> String {
    let body = rendered.strip_prefix("---\n").unwrap_or(rendered);
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let keep = |l: &&str| {
        let t = l.trim_end_matches(['\n', '\r']);
        t.trim().is_empty() || t.starts_with('#')
    };
    let mut first = 0;
    if lines
        .first()
        .is_some_and(|l| is_document_start(l.trim_end_matches(['\n', '\r'])))
    {
        first = 1;
    }
    while first < lines.len() && keep(&lines[first]) {
        first += 1;
    }
    let mut last = lines.len();
    while last > first && keep(&lines[last - 1]) {
        last -= 1;
    }
    let mut out: String = lines[..first].concat();
    if first > 0 && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(body);
    out.push_str(&lines[last..].concat());
    out
}

/// Replaces the object in a JSON span, keeping the whitespace around it.
pub fn replace_json(doc: &str, rendered: &str) -> String {
    let lead = doc.len() - doc.trim_start().len();
    let trail = doc.trim_end().len();
    format!(
        "{}{}{}",
        &doc[..lead],
        rendered.trim_end(),
        &doc[trail.max(lead)..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn entry_keys_and_values() {
        assert_eq!(entry("  a.b: xyz").map(|e| e.0).as_deref(), Some("a.b"));
        assert_eq!(entry("  \"1\": xyz").map(|e| e.0).as_deref(), Some("1"));
        assert!(entry("  a:b").is_none());
        assert_eq!(yaml_key("true"), "\"true\"");
        assert_eq!(yaml_key("1x"), "\"1x\"");
        assert_eq!(yaml_key("user"), "user");
        assert_eq!(yaml_value("AgB+/x=="), "AgB+/x==");
        assert_eq!(yaml_value("v1:0a1b"), "v1:0a1b");
        assert_eq!(yaml_value("0123456789abcdef"), "\"0123456789abcdef\"");
        assert_eq!(yaml_value("true"), "\"true\"");
        assert_eq!(yaml_value("a b"), "\"a b\"");
        assert_eq!(trailing_comment(" AgB== # rotated\n"), Some(" # rotated"));
        assert_eq!(trailing_comment(" \"a # b\"\n"), None);
    }

    fn op(path: &'static [&'static str], key: &str, value: Option<&str>) -> Op {
        Op {
            path,
            key: key.to_owned(),
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn line_edits_keep_comments_and_order() {
        let doc = "\
# head
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db # the database
  namespace: prod
spec:
  encryptedData:
    # the admin
    b: BBB # rotated
    d: DDD
  template:
    metadata:
      name: db
";
        let ops = [
            op(EDITABLE[0], "b", Some("B2")),
            op(EDITABLE[0], "c", Some("CCC")),
            op(EDITABLE[0], "a", Some("AAA")),
            op(EDITABLE[0], "d", None),
            op(EDITABLE[1], "sealant.dev/key-ids", Some("0123456789abcdef")),
            op(EDITABLE[2], "app", Some("db")),
        ];
        let out = edit_lines(doc, &ops).unwrap();
        assert_eq!(
            out,
            "\
# head
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  annotations:
    sealant.dev/key-ids: \"0123456789abcdef\"
  name: db # the database
  namespace: prod
spec:
  encryptedData:
    a: AAA
    # the admin
    b: B2 # rotated
    c: CCC
  template:
    metadata:
      labels:
        app: db
      name: db
"
        );
        // Removing the last item leaves an empty map; adding to `{}` opens it again.
        let emptied = edit_lines(
            &out,
            &[
                op(EDITABLE[0], "a", None),
                op(EDITABLE[0], "b", None),
                op(EDITABLE[0], "c", None),
            ],
        )
        .unwrap();
        assert!(emptied.contains("  encryptedData: {}\n"), "{emptied}");
        let refilled = edit_lines(&emptied, &[op(EDITABLE[0], "x", Some("XXX"))]).unwrap();
        assert!(
            refilled.contains("  encryptedData:\n    x: XXX\n"),
            "{refilled}"
        );
    }

    #[test]
    fn flow_style_is_not_line_edited() {
        let doc = "kind: SealedSecret\nspec:\n  encryptedData: {a: AAA}\n";
        assert!(edit_lines(doc, &[op(EDITABLE[0], "b", Some("B"))]).is_none());
        let doc = "kind: SealedSecret\nspec:\n  encryptedData:\n    a: |\n      multi\n";
        assert!(edit_lines(doc, &[op(EDITABLE[0], "b", Some("B"))]).is_none());
    }

    #[test]
    fn diff_only_in_editable_maps() {
        let before =
            serde_json::json!({"metadata": {"name": "a"}, "spec": {"encryptedData": {"x": "1"}}});
        let mut after = before.clone();
        after["spec"]["encryptedData"]["y"] = "2".into();
        after["metadata"]["annotations"] = serde_json::json!({"k": "v"});
        assert_eq!(
            diff(&before, &after).unwrap(),
            vec![
                op(EDITABLE[0], "y", Some("2")),
                op(EDITABLE[1], "k", Some("v"))
            ]
        );
        after["metadata"]["name"] = "b".into();
        assert!(diff(&before, &after).is_none());
    }

    #[test]
    fn replacement_keeps_surrounding_comments() {
        let doc = "---\n# about db\nkind: SealedSecret\nx: 1\n# trailing\n";
        assert_eq!(
            replace_yaml(doc, "---\nkind: SealedSecret\nx: 2\n"),
            "---\n# about db\nkind: SealedSecret\nx: 2\n# trailing\n"
        );
        assert_eq!(
            replace_json("\n  {\"b\": 2}", "{\n  \"b\": 3\n}\n"),
            "\n  {\n  \"b\": 3\n}"
        );
    }
}
