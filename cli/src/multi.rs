//! Multi-cluster sealing: `sealant seal --cert a.pem --cert b.pem --out-dir DIR`.
//!
//! One input is sealed once per certificate. Every output is computed in memory, then staged as
//! temporary files next to their targets, and only when all are staged are they renamed into
//! place: an error leaves no partial output set (and removes directories this run created).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{Document, Format, SealOptions};
use sealant_crypto::Certificate;

use crate::bulk;
use crate::certsrc::{cert_spec, load_sealing_certificate};
use crate::io::{self, Source};
use crate::manifest::locate_err;

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

/// Where and for which clusters a multi-cluster run writes.
pub struct OutDir {
    dir: PathBuf,
    template: String,
    format: Format,
    clusters: Vec<Cluster>,
}

impl OutDir {
    /// Loads the certificates (`--cert` values; kubeseal's variable when none) and checks the
    /// template and that every cluster has its own name and key.
    pub fn new(specs: &[String], dir: &Path, template: &str, format: Format) -> Result<Self> {
        check_template(template)?;
        let specs = if specs.is_empty() {
            vec![cert_spec(None)?]
        } else {
            specs.to_vec()
        };
        let mut clusters: Vec<Cluster> = Vec::new();
        for spec in &specs {
            let cert = load_sealing_certificate(spec)?;
            let name = cluster_name(spec)?;
            if let Some(other) = clusters.iter().find(|c| c.name == name) {
                if other.cert.key_id() == cert.key_id() {
                    bail!("--cert {spec}: the same certificate is given twice");
                }
                if template.contains("{cluster}") {
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
        Ok(OutDir {
            dir: dir.to_path_buf(),
            template: template.to_owned(),
            format,
            clusters,
        })
    }

    /// Seals every Secret for every cluster (on all cores) and writes the files, all or nothing.
    pub fn seal(
        &self,
        source: &Source,
        secrets: &[(Document, Secret)],
        opts: &SealOptions,
    ) -> Result<()> {
        let ext = match self.format {
            Format::Json => "json",
            Format::Yaml => "yaml",
        };
        let jobs: Vec<(&Cluster, &(Document, Secret))> = self
            .clusters
            .iter()
            .flat_map(|c| secrets.iter().map(move |s| (c, s)))
            .collect();
        let sealed = bulk::try_map("seal", &jobs, |(cluster, (doc, secret))| {
            let ss = sealant_api::seal_secret(secret, &cluster.cert, opts)
                .map_err(|e| locate_err(source, doc, secrets.len(), e))?;
            let namespace = ss.metadata.namespace.clone().unwrap_or_default();
            let name = ss.metadata.name.clone().unwrap_or_default();
            let rel = expand(
                &self.template,
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
                sealant_api::render(&ss, self.format).map_err(|e| anyhow!("{source}: {e}"))?;
            Ok((rel, rendered))
        })?;
        // Relative path -> contents (several objects for one path are one stream, in order).
        let mut outputs: BTreeMap<PathBuf, String> = BTreeMap::new();
        for (rel, rendered) in sealed {
            outputs.entry(rel).or_default().push_str(&rendered);
        }
        let files: Vec<(PathBuf, Vec<u8>)> = outputs
            .into_iter()
            .map(|(rel, text)| (self.dir.join(rel), text.into_bytes()))
            .collect();
        io::write_all(&files)?;
        io::note(&format!(
            "wrote {} file(s) for {} cluster(s) under {}",
            files.len(),
            self.clusters.len(),
            self.dir.display()
        ));
        Ok(())
    }
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
