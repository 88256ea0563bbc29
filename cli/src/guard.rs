//! `sealant guard`: find plaintext Kubernetes Secrets before they are committed.
//!
//! Looks at YAML and JSON files (multi-document streams, `kind: List`, concatenated JSON, the
//! output of `kustomize build`) and at kustomization files' `secretGenerator` literals. Reports
//! `file:line: namespace/name (keys: …)` and never a value.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::edit::split_yaml;
use crate::io::{self, MAX_INPUT_BYTES, WriteOptions, human_size, read_bounded};

pub const EXAMPLES: &str = "\
Examples:
  # Check the working tree (YAML and JSON files; .git, target and node_modules are skipped)
  sealant guard

  # Check some files and directories
  sealant guard deploy/ overlays/prod/kustomization.yaml

  # Check what is staged for the next commit (the git index, not the working tree)
  sealant guard --staged

  # Run that before every commit
  sealant guard install

Exit code 1 when a plaintext Secret (kind Secret with data or stringData items, or a
kustomize secretGenerator with literals) is found; each is listed as
`file:line: namespace/name (keys: a, b)`. Values are never printed.";

/// Arguments of `sealant guard`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GuardArgs {
    #[command(subcommand)]
    pub command: Option<GuardCommand>,

    /// Files and directories to check [default: .]. With --staged: git pathspecs limiting the
    /// check. (A directory named `install` must be written `./install`.)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Check the staged contents (the git index) of changed files, as a pre-commit hook does.
    #[arg(long)]
    pub staged: bool,
}

/// `sealant guard` subcommands.
#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Install a git pre-commit hook that runs `sealant guard --staged`.
    Install(InstallArgs),
}

/// Arguments of `sealant guard install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Replace an existing pre-commit hook that sealant did not write.
    #[arg(long)]
    pub force: bool,
}

/// A plaintext Secret found.
#[derive(Debug, PartialEq)]
struct Finding {
    line: usize,
    what: String,
    keys: Vec<String>,
}

/// Directory names never descended into.
const SKIP_DIRS: [&str; 3] = [".git", "target", "node_modules"];

/// Marker line of the hook this command writes.
const HOOK_MARKER: &str = "# installed by `sealant guard install`";

pub fn run(args: &GuardArgs) -> Result<()> {
    if let Some(GuardCommand::Install(install)) = &args.command {
        return run_install(install);
    }
    let mut report = Report::default();
    if args.staged {
        scan_staged(&args.paths, &mut report)?;
    } else {
        let paths = if args.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            args.paths.clone()
        };
        for path in &paths {
            scan_path(path, true, &mut report)?;
        }
    }
    report.finish()
}

#[derive(Default)]
struct Report {
    files: usize,
    found: usize,
    out: String,
}

impl Report {
    fn check(&mut self, name: &str, bytes: &[u8]) {
        // Binary files (a NUL byte, or not UTF-8) are not manifests.
        if bytes.contains(&0) {
            return;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        self.files += 1;
        let (findings, unreadable) = scan_text(text);
        for line in unreadable {
            io::note(&format!(
                "warning: {name}:{line}: looks like a Secret but is not valid YAML/JSON (a template?): not checked"
            ));
        }
        for f in findings {
            self.found += 1;
            self.out.push_str(&format!(
                "{name}:{}: {} (keys: {})\n",
                f.line,
                f.what,
                f.keys.join(", ")
            ));
        }
    }

    fn finish(self) -> Result<()> {
        io::write_stdout(self.out.as_bytes())?;
        if self.found > 0 {
            bail!(
                "{} plaintext Secret(s) found: seal them with `sealant seal` and commit only the SealedSecrets",
                self.found
            );
        }
        io::note(&format!(
            "guard: no plaintext Secrets in {} file(s)",
            self.files
        ));
        Ok(())
    }
}

/// Whether a file is looked at when found in a directory walk.
fn is_manifest_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

fn scan_path(path: &Path, explicit: bool, report: &mut Report) -> Result<()> {
    let meta = if explicit {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map_err(|e| anyhow!("{}: cannot list: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let skip = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| SKIP_DIRS.contains(&n));
            if !skip {
                scan_path(&entry, false, report)?;
            }
        }
        return Ok(());
    }
    if !meta.is_file() || (!explicit && !is_manifest_name(path)) {
        return Ok(());
    }
    let name = display_path(path);
    if meta.len() > MAX_INPUT_BYTES {
        io::note(&format!(
            "warning: {name}: larger than {}: not checked",
            human_size(MAX_INPUT_BYTES)
        ));
        return Ok(());
    }
    let file = fs::File::open(path).map_err(|e| anyhow!("{name}: cannot open: {e}"))?;
    let bytes = read_bounded(file, MAX_INPUT_BYTES, &name)?;
    report.check(&name, &bytes);
    Ok(())
}

fn display_path(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

/// Findings, and the lines of documents that mention `kind: Secret` but could not be parsed.
fn scan_text(text: &str) -> (Vec<Finding>, Vec<usize>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut findings = Vec::new();
    let mut unreadable = Vec::new();
    if text.trim_start().starts_with(['{', '['])
        && let Some(found) = scan_json(text)
    {
        return (found, unreadable);
    }
    for chunk in split_yaml(text) {
        let chunk_text = &text[chunk.range.clone()];
        match sealant_api::parse_stream(chunk_text) {
            Ok(docs) => {
                let values: Vec<Value> = docs.into_iter().map(|d| d.value).collect();
                findings.extend(check_values(&values, chunk_text, chunk.first_line));
            }
            Err(_) => {
                if let Some(line) = kind_secret_lines(chunk_text).first() {
                    unreadable.push(chunk.first_line + line);
                }
            }
        }
    }
    (findings, unreadable)
}

/// Concatenated JSON values (objects, or arrays of objects); `None` if it is not JSON.
fn scan_json(text: &str) -> Option<Vec<Finding>> {
    let mut findings = Vec::new();
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
        findings.extend(check_values(&values, &text[begin..end], first_line));
        start = end;
    }
    Some(findings)
}

/// A `*List` object's items, else the object itself.
fn expand_list(value: Value) -> Vec<Value> {
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

fn is_secret(value: &Value) -> bool {
    value["kind"].as_str() == Some("Secret")
        && value
            .get("apiVersion")
            .is_none_or(|v| v.as_str() == Some("v1"))
}

/// Findings among the objects of one document (or JSON value) whose text starts at `first_line`.
fn check_values(values: &[Value], text: &str, first_line: usize) -> Vec<Finding> {
    let kind_lines = kind_secret_lines(text);
    let secret_count = values.iter().filter(|v| is_secret(v)).count();
    let fallback = first_content_line(text);
    let mut out = Vec::new();
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
                out.push(Finding {
                    line: first_line + line,
                    what: object_name(value),
                    keys: keys.into_iter().collect(),
                });
            }
        }
        out.extend(secret_generators(value, text, first_line));
    }
    out
}

/// kustomize `secretGenerator` entries with `literals` (values written in the file itself).
fn secret_generators(value: &Value, text: &str, first_line: usize) -> Vec<Finding> {
    let Some(generators) = value["secretGenerator"].as_array() else {
        return Vec::new();
    };
    let header = text
        .lines()
        .position(|l| l.trim_start().starts_with("secretGenerator:"))
        .unwrap_or_else(|| first_content_line(text));
    let mut out = Vec::new();
    for generator in generators {
        let Some(literals) = generator["literals"].as_array() else {
            continue;
        };
        let keys: BTreeSet<String> = literals
            .iter()
            .filter_map(Value::as_str)
            .map(|l| l.split_once('=').map_or(l, |(k, _)| k).trim().to_owned())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let name = generator["name"].as_str().unwrap_or_default();
        let line = text
            .lines()
            .enumerate()
            .skip(header)
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ").trim();
                t.strip_prefix("name:")
                    .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
            })
            .map_or(header, |(i, _)| i);
        let mut what = format!("secretGenerator {name}");
        if let Some(ns) = generator["namespace"].as_str() {
            what = format!("secretGenerator {ns}/{name}");
        }
        out.push(Finding {
            line: first_line + line,
            what,
            keys: keys.into_iter().collect(),
        });
    }
    out
}

fn object_name(value: &Value) -> String {
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
fn kind_secret_lines(text: &str) -> Vec<usize> {
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
fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with("---")
        })
        .unwrap_or(0)
}

/// Runs git with `args` in `dir`; stdout on success, else an error naming the command.
fn git(dir: Option<&Path>, args: &[&str]) -> Result<Vec<u8>> {
    let mut cmd = Command::new("git");
    cmd.args(args).stdin(Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd
        .output()
        .map_err(|e| anyhow!("cannot run git: {e} (is git installed?)"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "git {}: {}",
            args.first().copied().unwrap_or_default(),
            crate::one_line(&err)
        );
    }
    Ok(out.stdout)
}

fn git_text(dir: Option<&Path>, args: &[&str]) -> Result<String> {
    let out = git(dir, args)?;
    Ok(String::from_utf8_lossy(&out)
        .trim_end_matches('\n')
        .to_owned())
}

fn scan_staged(pathspecs: &[PathBuf], report: &mut Report) -> Result<()> {
    let top = PathBuf::from(git_text(None, &["rev-parse", "--show-toplevel"])?);
    let mut args: Vec<String> = [
        "-c",
        "core.quotepath=off",
        "diff",
        "--cached",
        "--name-only",
        "-z",
        "--diff-filter=ACMR",
        "--",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for p in pathspecs {
        args.push(p.to_string_lossy().into_owned());
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let names = git(None, &arg_refs)?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let path = Path::new(&name);
        let skipped_dir = path.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|c| SKIP_DIRS.contains(&c))
        });
        if skipped_dir || !is_manifest_name(path) {
            continue;
        }
        let spec = format!(":{name}");
        let size: u64 = git_text(Some(&top), &["cat-file", "-s", &spec])?
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name}: git cat-file -s gave no size"))?;
        if size > MAX_INPUT_BYTES {
            io::note(&format!(
                "warning: {name}: larger than {}: not checked",
                human_size(MAX_INPUT_BYTES)
            ));
            continue;
        }
        let blob = git(Some(&top), &["cat-file", "blob", &spec])?;
        report.check(&name, &blob);
    }
    Ok(())
}

fn run_install(args: &InstallArgs) -> Result<()> {
    let hooks = PathBuf::from(git_text(None, &["rev-parse", "--git-path", "hooks"])?);
    let hook = hooks.join("pre-commit");
    let name = hook.display();
    if let Ok(existing) = fs::read(&hook) {
        let ours = String::from_utf8_lossy(&existing).contains(HOOK_MARKER);
        if !ours && !args.force {
            bail!(
                "{name}: a pre-commit hook that sealant did not write exists; pass --force to replace it, or add `sealant guard --staged` to it"
            );
        }
    }
    fs::create_dir_all(&hooks).map_err(|e| anyhow!("{}: cannot create: {e}", hooks.display()))?;
    let exe = std::env::current_exe()
        .map_err(|e| anyhow!("cannot find the sealant executable's path: {e}"))?;
    let exe = exe.to_string_lossy().replace('\'', r"'\''");
    let script = format!(
        "#!/bin/sh\n{HOOK_MARKER}: refuse commits that add plaintext Kubernetes Secrets.\nexec '{exe}' guard --staged\n"
    );
    io::write_atomic(
        &hook,
        script.as_bytes(),
        WriteOptions {
            no_clobber: false,
            mode: Some(0o755),
        },
    )?;
    io::note(&format!("installed {name}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_with_lines() {
        let text = "# x\napiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\ndata: {k: dg==}\n---\nkind: Secret\nmetadata: {name: empty}\n---\nkind: ConfigMap\ndata: {k: v}\n";
        let (found, bad) = scan_text(text);
        assert!(bad.is_empty());
        assert_eq!(
            found,
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
        let (found, _) = scan_text(text);
        let lines: Vec<usize> = found.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![4, 8]);
    }

    #[test]
    fn generators_and_unparseable() {
        let text = "secretGenerator:\n- name: db\n  literals:\n  - password=hunter2\n  - user=me\n";
        let (found, _) = scan_text(text);
        assert_eq!(found[0].line, 2);
        assert_eq!(found[0].keys, vec!["password", "user"]);
        let (found, bad) = scan_text("kind: Secret\ndata:\n  x: {{ .Values.x }}\n  : :\n");
        assert!(found.is_empty());
        assert_eq!(bad, vec![1]);
    }
}
