//! git and the two trees `guard` looks files up in: the working tree and the index.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, anyhow, bail};

use crate::io::{self, MAX_INPUT_BYTES, human_size, read_bounded};

/// Runs git with `args` in `dir`; stdout on success, else an error naming the command.
pub(super) fn git(dir: Option<&Path>, args: &[&str]) -> Result<Vec<u8>> {
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

pub(super) fn git_text(dir: Option<&Path>, args: &[&str]) -> Result<String> {
    let out = git(dir, args)?;
    Ok(String::from_utf8_lossy(&out)
        .trim_end_matches('\n')
        .to_owned())
}

/// The staged contents of `name` (relative to the top of the work tree), unless too large.
pub(super) fn staged_blob(top: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    match index_blob(top, name)? {
        Contents::Bytes(bytes) => Ok(Some(bytes)),
        Contents::TooLarge => {
            io::note(&format!(
                "warning: {name}: larger than {}: not checked",
                human_size(MAX_INPUT_BYTES)
            ));
            Ok(None)
        }
    }
}

/// The index's copy of `name`; an error when the index has none.
fn index_blob(top: &Path, name: &str) -> Result<Contents> {
    let spec = format!(":{name}");
    let size: u64 = git_text(Some(top), &["cat-file", "-s", &spec])?
        .trim()
        .parse()
        .map_err(|_| anyhow!("{name}: git cat-file -s gave no size"))?;
    if size > MAX_INPUT_BYTES {
        return Ok(Contents::TooLarge);
    }
    git(Some(top), &["cat-file", "blob", &spec]).map(Contents::Bytes)
}

/// Where the files a secretGenerator reads are looked up: the working tree (`guard PATH`) or
/// the git index (`guard --staged`).
pub(super) enum Tree {
    Work,
    Index { top: PathBuf },
}

/// A file's contents, unless over [`MAX_INPUT_BYTES`].
pub(super) enum Contents {
    Bytes(Vec<u8>),
    TooLarge,
}

impl Tree {
    /// The path of `source` (as written in a kustomization in `dir`) as this tree names it;
    /// `None` for an index path that leaves the work tree.
    pub(super) fn resolve(&self, dir: &Path, source: &str) -> Option<String> {
        let joined = dir.join(source);
        match self {
            Tree::Work => Some(display_path(&joined)),
            Tree::Index { .. } => {
                let mut out = PathBuf::new();
                for c in joined.components() {
                    match c {
                        std::path::Component::CurDir => {}
                        std::path::Component::ParentDir => {
                            if !out.pop() {
                                return None;
                            }
                        }
                        std::path::Component::Normal(part) => out.push(part),
                        _ => return None,
                    }
                }
                Some(out.to_string_lossy().into_owned())
            }
        }
    }

    /// Whether a commit would carry `path`: a file in the working tree that git does not ignore
    /// (any file, outside a git work tree), or a file in the index.
    pub(super) fn carries(&self, path: &Path) -> bool {
        match self {
            Tree::Work => fs::metadata(path).is_ok_and(|m| m.is_file()) && !git_ignores(path),
            Tree::Index { top } => {
                let spec = format!(":{}", path.to_string_lossy());
                git(Some(top), &["cat-file", "-e", &spec]).is_ok()
            }
        }
    }

    /// The contents of `path` in this tree; `None` if it cannot be read.
    pub(super) fn read(&self, path: &Path) -> Option<Contents> {
        match self {
            Tree::Work => {
                let file = fs::File::open(path).ok()?;
                if file.metadata().ok()?.len() > MAX_INPUT_BYTES {
                    return Some(Contents::TooLarge);
                }
                read_bounded(file, MAX_INPUT_BYTES, &path.display())
                    .ok()
                    .map(Contents::Bytes)
            }
            Tree::Index { top } => index_blob(top, &path.to_string_lossy()).ok(),
        }
    }
}

/// Whether git ignores `path` (an untracked file matched by a .gitignore rule): a commit would
/// not carry it. Tracked files are never ignored; outside a work tree nothing is.
fn git_ignores(path: &Path) -> bool {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["check-ignore", "-q", "--"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `path` as reports name it (without a leading `./`).
pub(super) fn display_path(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_stay_inside_the_work_tree() {
        let tree = Tree::Index {
            top: PathBuf::from("/r"),
        };
        let dir = Path::new("overlays/prod");
        assert_eq!(
            tree.resolve(dir, "../base/./db.env").as_deref(),
            Some("overlays/base/db.env")
        );
        assert_eq!(tree.resolve(dir, "../../../x.env"), None);
        assert_eq!(tree.resolve(dir, "/etc/passwd"), None);
    }
}
