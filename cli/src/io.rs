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
    fn sizes() {
        assert_eq!(human_size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_size(64 * 1024), "64 KiB");
    }
}
