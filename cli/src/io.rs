//! Bounded input, atomic output, and stdout writing that tolerates a closed pipe.

use std::fmt;
use std::fs::{self, File, Permissions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

/// Any input file or stdin larger than this is refused (16 MiB).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Where an input comes from: a file, or standard input (`-` or no `-f`).
#[derive(Clone, Debug)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// `None` and `-` mean stdin.
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Source::Stdin,
            Some(p) if p.as_os_str() == "-" => Source::Stdin,
            Some(p) => Source::File(p.to_path_buf()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => f.write_str("<stdin>"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Reads at most `limit` bytes from `reader`, failing if there is more.
pub fn read_bounded(reader: impl Read, limit: u64, name: &dyn fmt::Display) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| anyhow!("{name}: cannot read: {e}"))?;
    if buf.len() as u64 > limit {
        bail!(
            "{name}: input is larger than the {} limit; refusing to read it",
            human_size(limit)
        );
    }
    Ok(buf)
}

/// Reads a whole input (at most [`MAX_INPUT_BYTES`]).
pub fn read_source(source: &Source) -> Result<Vec<u8>> {
    match source {
        Source::Stdin => {
            if io::stdin().is_terminal() {
                note("(tty detected: reading stdin until end of input, Ctrl-D)");
            }
            read_bounded(io::stdin().lock(), MAX_INPUT_BYTES, source)
        }
        Source::File(path) => {
            let file = File::open(path).map_err(|e| anyhow!("{source}: cannot open: {e}"))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                bail!("{source}: is a directory, not a file");
            }
            read_bounded(file, MAX_INPUT_BYTES, source)
        }
    }
}

/// Reads a whole input as UTF-8 text.
pub fn read_source_text(source: &Source) -> Result<String> {
    let bytes = read_source(source)?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{source}: not UTF-8 text (invalid byte at offset {}): expected a YAML or JSON manifest",
            e.utf8_error().valid_up_to()
        )
    })
}

/// How [`write_atomic`] treats an existing file and what mode the new file gets.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// Fail if the file exists (checked atomically at rename time).
    pub no_clobber: bool,
    /// Unix permission bits for the new file; `None` keeps an existing file's mode, else 0644.
    pub mode: Option<u32>,
}

impl WriteOptions {
    /// Replace any existing file, keeping its permissions.
    pub const REPLACE: WriteOptions = WriteOptions {
        no_clobber: false,
        mode: None,
    };
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. On any error nothing is left behind and `path` is untouched.
pub fn write_atomic(path: &Path, contents: &[u8], opts: WriteOptions) -> Result<()> {
    let name = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() {
        bail!("{name}: is a directory");
    }
    if !dir.is_dir() {
        bail!(
            "{name}: cannot write: directory {} does not exist",
            dir.display()
        );
    }
    if opts.no_clobber && path.exists() {
        bail!("{name}: already exists (use --force to overwrite it)");
    }
    let existing_mode = if opts.mode.is_none() {
        fs::metadata(path).ok().map(|m| m.permissions())
    } else {
        None
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".sealant-").suffix(".tmp");
    if let Some(private) = mode_permissions(0o600) {
        builder.permissions(private);
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| {
        anyhow!(
            "{name}: cannot create a temporary file in {}: {}",
            dir.display(),
            e.kind()
        )
    })?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| anyhow!("{name}: cannot write: {e}"))?;
    let perms = match (opts.mode, existing_mode) {
        (_, Some(existing)) => Some(existing),
        (Some(mode), None) => mode_permissions(mode),
        (None, None) => mode_permissions(0o644),
    };
    if let Some(perms) = perms {
        fs::set_permissions(tmp.path(), perms)
            .map_err(|e| anyhow!("{name}: cannot set permissions: {e}"))?;
    }
    if opts.no_clobber {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                anyhow!("{name}: already exists (use --force to overwrite it)")
            } else {
                anyhow!("{name}: cannot write: {}", e.error)
            }
        })?;
    } else {
        tmp.persist(path)
            .map_err(|e| anyhow!("{name}: cannot write: {}", e.error))?;
    }
    Ok(())
}

/// Writes every `(path, contents)` all or nothing: each is staged as a flushed temporary file
/// beside its target (in parallel, so the disk flushes overlap), and only when all are staged
/// are they renamed into place. Missing parent directories are created; on an error the
/// directories this call created are removed again and no target is touched. An existing
/// target keeps its permissions; a new one gets 0644.
pub fn write_all(outputs: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    use rayon::prelude::*;

    let mut created: Vec<PathBuf> = Vec::new();
    let staged = outputs
        .iter()
        .try_for_each(|(target, _)| {
            let name = target.display();
            if target.is_dir() {
                bail!("{name}: is a directory");
            }
            let dir = parent_dir(target);
            create_dirs(dir, &mut created).map_err(|e| anyhow!("{}: {e}", dir.display()))
        })
        .and_then(|()| {
            outputs
                .par_iter()
                .map(|(target, contents)| stage(target, contents))
                .collect::<Result<Vec<_>>>()
        });
    let staged = match staged {
        Ok(staged) => staged,
        Err(e) => {
            // Deepest first; only directories this call created (and left empty).
            for dir in created.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
    };
    for (tmp, (target, _)) in staged.into_iter().zip(outputs) {
        tmp.persist(target)
            .map_err(|e| anyhow!("{}: cannot write: {}", target.display(), e.error))?;
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A flushed temporary file beside `target` holding `contents`, with the mode `target` will get.
fn stage(target: &Path, contents: &[u8]) -> Result<tempfile::NamedTempFile> {
    let name = target.display();
    let mut builder = tempfile::Builder::new();
    builder.prefix(".sealant-").suffix(".tmp");
    let mut tmp = builder
        .tempfile_in(parent_dir(target))
        .map_err(|e| anyhow!("{name}: cannot create a temporary file: {}", e.kind()))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| anyhow!("{name}: cannot write: {e}"))?;
    let perms = fs::metadata(target)
        .map(|m| m.permissions())
        .ok()
        .or_else(|| mode_permissions(0o644));
    if let Some(perms) = perms {
        fs::set_permissions(tmp.path(), perms)
            .map_err(|e| anyhow!("{name}: cannot set permissions: {e}"))?;
    }
    Ok(tmp)
}

/// Like `create_dir_all`, remembering each directory it made.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, created)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn mode_permissions(mode: u32) -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(Permissions::from_mode(mode))
}

/// Windows has no mode bits: the new file keeps the temporary file's (owner-writable) ACLs.
#[cfg(not(unix))]
fn mode_permissions(_mode: u32) -> Option<Permissions> {
    None
}

/// Prints a line on stderr; a closed or failing stderr is ignored (never a panic).
pub fn note(message: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{message}");
}

/// Writes everything to stdout. A closed pipe (e.g. `| head`) is not an error.
pub fn write_stdout(contents: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(contents).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Sends output to `-w FILE` (atomically, only now that everything succeeded) or stdout.
pub fn emit(out_file: Option<&Path>, contents: &[u8]) -> Result<()> {
    match out_file {
        Some(path) if path.as_os_str() != "-" => {
            write_atomic(path, contents, WriteOptions::REPLACE)
        }
        _ => write_stdout(contents),
    }
}

/// `16 MiB`, `64 KiB`, or bytes.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes}-byte")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_read_refuses_one_byte_more() {
        let data = [b'a'; 10];
        assert_eq!(read_bounded(&data[..], 10, &"x").unwrap().len(), 10);
        let err = read_bounded(&data[..], 9, &"x").unwrap_err().to_string();
        assert!(err.starts_with("x: input is larger"), "{err}");
    }

    #[test]
    fn atomic_write_no_clobber_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        let opts = WriteOptions {
            no_clobber: true,
            mode: Some(0o600),
        };
        write_atomic(&p, b"one", opts).unwrap();
        assert!(write_atomic(&p, b"two", opts).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        write_atomic(&p, b"three", WriteOptions::REPLACE).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn write_all_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("new/a.yaml");
        let b = dir.path().join("b.yaml");
        fs::write(&b, "old").unwrap();
        write_all(&[(a.clone(), b"A".to_vec()), (b.clone(), b"B".to_vec())]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"A");
        assert_eq!(fs::read(&b).unwrap(), b"B");

        // A target that is a directory fails the whole set: nothing written, nothing created.
        let c = dir.path().join("other/c.yaml");
        let err = write_all(&[
            (c.clone(), b"C".to_vec()),
            (b.clone(), b"new".to_vec()),
            (dir.path().join("new"), b"x".to_vec()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(!c.exists() && !dir.path().join("other").exists());
        assert_eq!(fs::read(&b).unwrap(), b"B");
        assert_eq!(
            fs::read_dir(dir.path().join("new")).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_size(64 * 1024), "64 KiB");
    }
}
