//! Multi-cluster sealing: `sealant seal --cert a.pem --cert b.pem --out-dir DIR`.
//!
//! One input is sealed once per certificate. Every output is computed in memory, then staged as
//! temporary files next to their targets, and only when all are staged are they renamed into
//! place: an error leaves no partial output set (and removes directories this run created).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use sealant_crypto::Certificate;

use crate::certsrc::{cert_spec, load_sealing_certificate};
use crate::io::{self, Source};
use crate::seal::{SealArgs, locate_err, output_format, read_secrets, seal_options};

/// The default `--out-template`.
pub const DEFAULT_TEMPLATE: &str = "{cluster}/{namespace}-{name}.{ext}";

/// What `{namespace}` becomes for a cluster-wide object (it has no namespace).
const NO_NAMESPACE: &str = "_cluster";

/// One certificate of the run.
struct Cluster {
    /// `{cluster}`: the certificate file's stem (or the URL's last path segment's).
    name: String,
    cert: Certificate,
}

pub fn run(args: &SealArgs) -> Result<()> {
    let Some(out_dir) = &args.out_dir else {
        bail!(
            "--cert given {} times: sealing for several clusters needs --out-dir DIR (and optionally --out-template)",
            args.cert.len()
        );
    };
    if args.cert.is_empty() {
        // Same sources and messages as a single-cluster seal.
        cert_spec(None);
    }
    check_template(&args.out_template)?;
    let source = Source::from_arg(args.file.as_deref());
    let text = io::read_source_text(&source)?;
    let secrets = read_secrets(&source, &text)?;

    let mut clusters: Vec<Cluster> = Vec::new();
    for spec in &args.cert {
        let cert = load_sealing_certificate(spec)?;
        let name = cluster_name(spec)?;
        if let Some(other) = clusters.iter().find(|c| c.name == name) {
            if other.cert.key_id() == cert.key_id() {
                bail!("--cert {spec}: the same certificate is given twice");
            }
            if args.out_template.contains("{cluster}") {
                bail!(
                    "--cert {spec}: two certificates are both named {name:?} (the file stem): rename one, or use {{keyid}} in --out-template"
                );
            }
        }
        clusters.push(Cluster { name, cert });
    }
    let ids: std::collections::BTreeSet<_> = clusters.iter().map(|c| c.cert.key_id()).collect();
    if ids.len() != clusters.len() {
        bail!(
            "two --cert values hold the same key (key id): each cluster needs its own certificate"
        );
    }

    let format = output_format(args.format, None);
    let ext = match format {
        sealant_api::Format::Json => "json",
        sealant_api::Format::Yaml => "yaml",
    };
    let opts = seal_options(args);
    // Relative path -> contents (several objects for one path are one stream, in input order).
    let mut outputs: BTreeMap<PathBuf, String> = BTreeMap::new();
    for cluster in &clusters {
        for (doc, secret) in &secrets {
            let ss = sealant_api::seal_secret(secret, &cluster.cert, &opts)
                .map_err(|e| locate_err(&source, doc, secrets.len(), e))?;
            let namespace = ss.metadata.namespace.clone().unwrap_or_default();
            let name = ss.metadata.name.clone().unwrap_or_default();
            let rel = expand(
                &args.out_template,
                &[
                    ("cluster", cluster.name.as_str()),
                    ("keyid", cluster.cert.key_id().as_str()),
                    (
                        "namespace",
                        if namespace.is_empty() {
                            NO_NAMESPACE
                        } else {
                            &namespace
                        },
                    ),
                    ("name", &name),
                    ("ext", ext),
                ],
            )?;
            let rendered =
                sealant_api::render(&ss, format).map_err(|e| anyhow!("{source}: {e}"))?;
            outputs.entry(rel).or_default().push_str(&rendered);
        }
    }
    write_all(out_dir, &outputs)?;
    io::note(&format!(
        "wrote {} file(s) for {} cluster(s) under {}",
        outputs.len(),
        clusters.len(),
        out_dir.display()
    ));
    Ok(())
}

/// `{cluster}`: the file stem of a path or of a URL's last path segment.
fn cluster_name(spec: &str) -> Result<String> {
    let path_part = match spec.split_once("://") {
        Some((_, rest)) => rest
            .split(['?', '#'])
            .next()
            .and_then(|r| r.split_once('/'))
            .map_or("", |(_, path)| path),
        None => spec,
    };
    let last = path_part
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let stem = Path::new(last)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if stem.is_empty() || !safe_component(stem) {
        bail!(
            "--cert {spec}: cannot derive a cluster name from it (use {{keyid}} in --out-template)"
        );
    }
    Ok(stem.to_owned())
}

/// A value that may be put into a path: no separators, not `.`/`..`, no control characters.
fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.contains(['/', '\\'])
        && !s.chars().any(char::is_control)
}

const PLACEHOLDERS: [&str; 5] = ["cluster", "keyid", "namespace", "name", "ext"];

/// The template must be relative, stay inside the directory, and use known placeholders only.
fn check_template(template: &str) -> Result<()> {
    if template.is_empty() {
        bail!("--out-template is empty");
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            bail!("--out-template {template:?}: unclosed '{{'");
        };
        let name = &rest[open + 1..open + close];
        if !PLACEHOLDERS.contains(&name) {
            bail!(
                "--out-template {template:?}: unknown placeholder {{{name}}} (known: {{cluster}}, {{keyid}}, {{namespace}}, {{name}}, {{ext}})"
            );
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') || template.ends_with('/') {
        bail!("--out-template {template:?}: malformed");
    }
    let path = Path::new(template);
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        bail!(
            "--out-template {template:?}: must be a relative path inside --out-dir (no '..', no leading '/')"
        );
    }
    Ok(())
}

fn expand(template: &str, values: &[(&str, &str)]) -> Result<PathBuf> {
    let mut out = template.to_owned();
    for (key, value) in values {
        let placeholder = format!("{{{key}}}");
        if out.contains(&placeholder) {
            if !safe_component(value) {
                bail!("--out-template: {{{key}}} would be {value:?}, which is not a file name");
            }
            out = out.replace(&placeholder, value);
        }
    }
    Ok(PathBuf::from(out))
}

/// Stages every output as a temporary file beside its target, then renames them all into place.
fn write_all(out_dir: &Path, outputs: &BTreeMap<PathBuf, String>) -> Result<()> {
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let staged = stage(out_dir, outputs, &mut created_dirs);
    let staged = match staged {
        Ok(staged) => staged,
        Err(e) => {
            // Deepest first; only directories this run created (and left empty).
            for dir in created_dirs.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
    };
    for (tmp, target) in staged {
        tmp.persist(&target)
            .map_err(|e| anyhow!("{}: cannot write: {}", target.display(), e.error))?;
    }
    Ok(())
}

fn stage(
    out_dir: &Path,
    outputs: &BTreeMap<PathBuf, String>,
    created_dirs: &mut Vec<PathBuf>,
) -> Result<Vec<(tempfile::NamedTempFile, PathBuf)>> {
    let mut staged = Vec::new();
    for (rel, contents) in outputs {
        let target = out_dir.join(rel);
        let name = target.display();
        if target.is_dir() {
            bail!("{name}: is a directory");
        }
        let dir = target.parent().unwrap_or(out_dir);
        create_dirs(dir, created_dirs).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".sealant-").suffix(".tmp");
        let mut tmp = builder
            .tempfile_in(dir)
            .map_err(|e| anyhow!("{name}: cannot create a temporary file: {}", e.kind()))?;
        tmp.write_all(contents.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| anyhow!("{name}: cannot write: {e}"))?;
        set_mode(&tmp, &target).map_err(|e| anyhow!("{name}: cannot set permissions: {e}"))?;
        staged.push((tmp, target));
    }
    Ok(staged)
}

/// Like `create_dir_all`, remembering each directory it made.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> std::io::Result<()> {
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// An existing target keeps its mode; a new one gets 0644.
fn set_mode(tmp: &tempfile::NamedTempFile, target: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = fs::metadata(target)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| fs::Permissions::from_mode(0o644));
        fs::set_permissions(tmp.path(), perms)?;
    }
    #[cfg(not(unix))]
    let _ = (tmp, target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        assert_eq!(cluster_name("certs/prod.pem").unwrap(), "prod");
        assert_eq!(
            cluster_name("https://h/v1/staging.pem?x=1").unwrap(),
            "staging"
        );
        assert!(cluster_name("https://h/").is_err());
    }

    #[test]
    fn templates() {
        check_template(DEFAULT_TEMPLATE).unwrap();
        assert!(check_template("../{name}.yaml").is_err());
        assert!(check_template("/abs/{name}.yaml").is_err());
        assert!(check_template("{nope}.yaml").is_err());
        assert!(check_template("{name.yaml").is_err());
        let p = expand(
            "{cluster}/{name}.{ext}",
            &[("cluster", "a"), ("name", "db"), ("ext", "yaml")],
        )
        .unwrap();
        assert_eq!(p, PathBuf::from("a/db.yaml"));
        assert!(expand("{name}", &[("name", "..")]).is_err());
    }
}
