//! `sealant guard`: find plaintext Kubernetes Secrets before they are committed.
//!
//! Looks at YAML and JSON files (multi-document streams, `kind: List`, concatenated JSON, the
//! output of `kustomize build`) and at kustomization files' `secretGenerator`s: their literals,
//! and the files they read when a commit would carry them. Reports
//! `file:line: namespace/name (keys: …)` and never a value.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};

use crate::io::{self, MAX_INPUT_BYTES, WriteOptions, human_size, read_bounded};

mod scan;
mod tree;

use scan::{Finding, Source, env_keys, scan_bytes};
use tree::{Contents, Tree, display_path, git, git_text, staged_blob};

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

Exit code 1 when a plaintext Secret is found: kind Secret with data or stringData items, a
kustomize secretGenerator with literals, or a file a secretGenerator reads (files:, envs:)
that a commit would carry (not ignored by git; with --staged, in the index). Each is listed
as `file:line: namespace/name (keys: a, b)`. Values are never printed.";

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
    #[command(override_usage = "sealant guard install [--force]")]
    Install(InstallArgs),
}

/// Arguments of `sealant guard install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Replace an existing pre-commit hook that sealant did not write.
    #[arg(long)]
    pub force: bool,
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

/// A plaintext Secret found in files, for `sealant audit`: `file:line` and what (never a
/// value).
pub struct PlainFinding {
    pub location: String,
    pub what: String,
}

/// The plaintext findings in files and directories of the working tree, unprinted.
pub fn plaintext(paths: &[PathBuf]) -> Result<Vec<PlainFinding>> {
    let mut report = Report::default();
    for path in paths {
        scan_path(path, true, &mut report)?;
    }
    Ok(report.entries)
}

#[derive(Default)]
struct Report {
    files: usize,
    found: usize,
    sources_found: usize,
    out: String,
    entries: Vec<PlainFinding>,
}

impl Report {
    /// Checks the manifest `name`; the files its secretGenerators read are looked up in `tree`.
    fn check(&mut self, name: &str, bytes: &[u8], tree: &Tree) {
        let Some(scan) = scan_bytes(bytes) else {
            return;
        };
        self.files += 1;
        for line in &scan.unreadable {
            io::note(&format!(
                "warning: {name}:{line}: looks like a Secret but is not valid YAML/JSON (a template?): not checked"
            ));
        }
        for f in &scan.findings {
            self.add(name, f);
        }
        self.check_sources(name, &scan.sources, tree, None);
    }

    /// Reports the sources of `name` that a commit would carry; with `only`, just those among it.
    fn check_sources(
        &mut self,
        name: &str,
        sources: &[Source],
        tree: &Tree,
        only: Option<&BTreeSet<String>>,
    ) {
        let dir = Path::new(name).parent().unwrap_or(Path::new(""));
        for source in sources {
            let Some(path) = tree.resolve(dir, &source.path) else {
                continue;
            };
            if only.is_some_and(|o| !o.contains(&path)) {
                continue;
            }
            let path_ref = Path::new(&path);
            if !tree.carries(path_ref) {
                continue;
            }
            // A `files:` entry is one key; an env file's keys are its lines'.
            let keys = match &source.key {
                Some(key) => vec![key.clone()],
                None => match tree.read(path_ref) {
                    Some(Contents::Bytes(bytes)) => env_keys(&bytes),
                    Some(Contents::TooLarge) => vec!["(too large to list)".into()],
                    None => continue,
                },
            };
            if keys.is_empty() {
                continue;
            }
            self.sources_found += 1;
            self.add(
                name,
                &Finding {
                    line: source.line,
                    what: format!("secretGenerator {} reads {path}", source.generator),
                    keys,
                },
            );
        }
    }

    fn add(&mut self, name: &str, f: &Finding) {
        self.found += 1;
        self.entries.push(PlainFinding {
            location: format!("{name}:{}", f.line),
            what: format!("{} (keys: {})", f.what, f.keys.join(", ")),
        });
        self.out.push_str(&format!(
            "{name}:{}: {} (keys: {})\n",
            f.line,
            f.what,
            f.keys.join(", ")
        ));
    }

    fn finish(self) -> Result<()> {
        io::write_stdout(self.out.as_bytes())?;
        if self.found > 0 {
            let files = if self.sources_found > 0 {
                "; keep files a secretGenerator reads out of git (.gitignore them, `git rm --cached`)"
            } else {
                ""
            };
            bail!(
                "{} plaintext Secret(s) found: seal them with `sealant seal` and commit only the SealedSecrets{files}",
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
    report.check(&name, &bytes, &Tree::Work);
    Ok(())
}

fn scan_staged(pathspecs: &[PathBuf], report: &mut Report) -> Result<()> {
    let top = PathBuf::from(git_text(None, &["rev-parse", "--show-toplevel"])?);
    let tree = Tree::Index { top: top.clone() };
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
    let mut staged = BTreeSet::new();
    let mut staged_manifests = BTreeSet::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let path = Path::new(&name);
        let skipped_dir = path.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|c| SKIP_DIRS.contains(&c))
        });
        if skipped_dir {
            continue;
        }
        staged.insert(name.clone());
        if !is_manifest_name(path) {
            continue;
        }
        if let Some(blob) = staged_blob(&top, &name)? {
            report.check(&name, &blob, &tree);
        }
        staged_manifests.insert(name);
    }
    // A file staged for a secretGenerator whose kustomization is unchanged, or not in git at
    // all: a generator in the working tree reads it whether or not its kustomization is
    // tracked. Env files, keys and certificates are not manifests by name; only then are the
    // kustomizations (the index's and the working tree's) read.
    if staged.len() > staged_manifests.len() {
        let listed = git(
            Some(&top),
            &[
                "-c",
                "core.quotepath=off",
                "ls-files",
                "-z",
                "--cached",
                "--",
                ":(glob)**/kustomization.yaml",
                ":(glob)**/kustomization.yml",
                ":(glob)**/Kustomization",
            ],
        )?;
        let mut kustomizations: BTreeSet<String> = listed
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        let mut in_work_tree = BTreeSet::new();
        find_kustomizations(&top, Path::new(""), &mut in_work_tree, 0);
        kustomizations.extend(in_work_tree.iter().cloned());
        for name in kustomizations {
            if staged_manifests.contains(&name) {
                continue;
            }
            let mut sources: Vec<scan::Source> = Vec::new();
            let index_copy = staged_blob(&top, &name).ok().flatten();
            let work_copy = in_work_tree
                .contains(&name)
                .then(|| read_bounded_file(&top.join(&name)))
                .flatten();
            for bytes in [index_copy, work_copy].into_iter().flatten() {
                for source in scan_bytes(&bytes).map(|s| s.sources).unwrap_or_default() {
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                }
            }
            report.check_sources(&name, &sources, &tree, Some(&staged));
        }
    }
    Ok(())
}

/// Kustomization files under `top` (relative paths), as a directory walk finds them: `.git`,
/// `target` and `node_modules` skipped, symbolic links not followed.
fn find_kustomizations(top: &Path, rel: &Path, out: &mut BTreeSet<String>, depth: usize) {
    const MAX_DEPTH: usize = 64;
    let Ok(entries) = fs::read_dir(top.join(rel)) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = rel.join(name);
        if kind.is_dir() && !SKIP_DIRS.contains(&name) && depth < MAX_DEPTH {
            find_kustomizations(top, &path, out, depth + 1);
        } else if kind.is_file()
            && matches!(
                name,
                "kustomization.yaml" | "kustomization.yml" | "Kustomization"
            )
        {
            out.insert(path.to_string_lossy().into_owned());
        }
    }
}

/// A file's bytes, unless it cannot be read or is over [`MAX_INPUT_BYTES`].
fn read_bounded_file(path: &Path) -> Option<Vec<u8>> {
    let file = fs::File::open(path).ok()?;
    read_bounded(file, MAX_INPUT_BYTES, &path.display()).ok()
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
