//! `sealant verify`: check that SealedSecrets in files will unseal, online (the controller's
//! `/v1/verify`), offline with certificates (key ids and the sealed-for fingerprint, no private
//! key), or offline with private keys (full decryption). Never prints a secret value.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use sealant_api::{
    Document, SealedForCheck, SealedSecret, UnsealOptions, check_sealed_for,
    key_ids_from_annotations, scope_from_annotations, unseal_values_only,
};
use sealant_crypto::{KeyId, Keyring, Scope};

use crate::certsrc::resolve;
use crate::io::{self, Source};
use crate::kubecfg::{Cluster, ClusterArgs, status_message};

pub const EXAMPLES: &str = "\
Examples:
  # Ask the controller (kubeconfig's current context) whether it can unseal everything
  sealant verify k8s/

  # Offline, without any private key: right cluster key, not renamed/moved/re-scoped
  sealant verify --cert cert.pem k8s/ secrets.yaml

  # Offline, decrypting with backed-up keys (values are never printed)
  sealant verify --key keys.yaml k8s/

  # CI or pre-commit: also fail objects that cannot be checked offline (sealed by kubeseal)
  sealant verify --cert cert.pem --strict $(git diff --cached --name-only -- '*.yaml')

One line per SealedSecret (file, document, namespace/name, result) and a summary. Directories
are searched for .yaml, .yml and .json files; other kinds of objects are skipped. Exit code 0:
all OK; 1: any failure (or, with --strict, any object that could not be checked); 2: usage.";

/// Arguments of `sealant verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files or directories holding SealedSecrets (YAML streams or JSON); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Check offline against these certificates (PEM files or URLs; repeat the flag to accept
    /// older keys of the same cluster): key ids and the sealed-for fingerprint, no private key.
    #[arg(long, value_name = "PATH|URL", conflicts_with = "keys")]
    pub cert: Vec<String>,

    /// Check offline by decrypting with these private keys (as `sealant unseal --key`).
    #[arg(long = "key", value_name = "FILE", value_delimiter = ',')]
    pub keys: Vec<PathBuf>,

    /// Treat objects that cannot be checked offline (no sealant annotations) as failures.
    #[arg(long)]
    pub strict: bool,

    /// With --key: also accept the deprecated v1 `spec.data` format.
    #[arg(long)]
    pub accept_deprecated_v1_data: bool,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The result for one SealedSecret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It will unseal (or every offline check passed).
    Ok(String),
    /// It will not unseal, or is inconsistent with what it was sealed for.
    Failed(String),
    /// Nothing (or not everything) could be checked offline.
    Unchecked(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(m) => write!(f, "ok: {m}"),
            Outcome::Failed(m) => write!(f, "FAILED: {m}"),
            Outcome::Unchecked(m) => write!(f, "not checked: {m}"),
        }
    }
}

/// How objects are checked.
pub enum Checker {
    /// `POST /v1/verify` through the API server.
    Online(Box<Cluster>),
    /// Key ids and the sealed-for fingerprint against these accepted key ids.
    Certs(Vec<KeyId>),
    /// Full decryption.
    Keys(Keyring, UnsealOptions),
}

impl Checker {
    /// Checks one SealedSecret; `raw` is the object as read (sent as-is to the controller).
    /// An error means the check itself could not run (cluster unreachable).
    pub fn check(&self, ss: &SealedSecret, raw: &serde_json::Value) -> Result<Outcome> {
        match self {
            Checker::Online(cluster) => verify_online(cluster, raw),
            Checker::Certs(accepted) => Ok(check_offline(ss, accepted)),
            Checker::Keys(keyring, opts) => Ok(match unseal_values_only(ss, keyring, opts) {
                Ok(out) => Outcome::Ok(format!(
                    "unseals with key {}",
                    out.key_ids
                        .iter()
                        .map(KeyId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Err(e) => Outcome::Failed(e.to_string()),
            }),
        }
    }
}

/// Asks the controller whether it can unseal `raw` (kubeseal `--validate`).
pub fn verify_online(cluster: &Cluster, raw: &serde_json::Value) -> Result<Outcome> {
    let body = serde_json::to_vec(raw).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
    let answer = cluster.call("POST", "/v1/verify", Some(&body))?;
    Ok(match answer.status {
        200 => Outcome::Ok(format!(
            "the controller {} can unseal it",
            cluster.service()
        )),
        409 if answer.body.is_empty() => {
            Outcome::Failed("the controller cannot unseal it".to_owned())
        }
        409 => Outcome::Failed(status_message(&answer.body)),
        502..=504 => bail!(
            "cannot verify through {} at {}: the controller is unavailable ({}: {})",
            cluster.service(),
            cluster.server,
            answer.status,
            status_message(&answer.body)
        ),
        other => Outcome::Failed(format!(
            "the controller answered {other}: {}",
            status_message(&answer.body)
        )),
    })
}

/// The private-key-free checks: key ids recorded in [`sealant_api::ANNOTATION_KEY_IDS`] among
/// `accepted`, and [`sealant_api::ANNOTATION_SEALED_FOR`] matching the current name, namespace
/// and scope; plus well-formed values.
pub fn check_offline(ss: &SealedSecret, accepted: &[KeyId]) -> Outcome {
    let empty = Default::default();
    let top = ss.metadata.annotations.as_ref().unwrap_or(&empty);
    let namespace = ss.metadata.namespace.as_deref().unwrap_or_default();
    let name = ss.metadata.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        return Outcome::Failed("metadata.name is missing".to_owned());
    }
    if scope_from_annotations(top) != Scope::ClusterWide && namespace.is_empty() {
        return Outcome::Failed(
            "metadata.namespace is missing: the values were sealed for a namespace".to_owned(),
        );
    }
    for (item, value) in &ss.spec.encrypted_data {
        match sealant_crypto::decode_value(value) {
            Ok(bytes) if bytes.len() > 2 + 16 => {}
            Ok(_) => return Outcome::Failed(format!("item {item:?}: too short to be sealed")),
            Err(_) => {
                return Outcome::Failed(format!("item {item:?}: not valid standard base64"));
            }
        }
    }

    let ids = key_ids_from_annotations(top);
    let unknown: Vec<&KeyId> = ids.iter().filter(|id| !accepted.contains(id)).collect();
    if !unknown.is_empty() {
        let list = |v: &mut dyn Iterator<Item = &KeyId>| {
            v.map(KeyId::as_str).collect::<Vec<_>>().join(", ")
        };
        return Outcome::Failed(format!(
            "sealed with key {}, not with the key of the given certificate ({}): sealed for another \
             cluster, or with an older key (pass each certificate with --cert, or run `sealant reseal`)",
            list(&mut unknown.into_iter()),
            list(&mut accepted.iter())
        ));
    }
    let label = check_sealed_for(top, namespace, name);
    match label {
        SealedForCheck::Moved => {
            return Outcome::Failed(format!(
                "sealed for a different name or namespace than {namespace}/{name}: renamed or moved \
                 after sealing (re-seal it from the Secret, or seal namespace-wide/cluster-wide)"
            ));
        }
        SealedForCheck::ScopeChanged {
            sealed_as,
            declared,
        } => {
            return Outcome::Failed(format!(
                "sealed with scope {sealed_as}, but its annotations now declare {declared}: scope \
                 annotations changed after sealing"
            ));
        }
        SealedForCheck::Matches | SealedForCheck::NotRecorded => {}
    }
    match (ids.is_empty(), label == SealedForCheck::Matches) {
        (false, true) => Outcome::Ok(format!(
            "key {}, sealed for this name, namespace and scope",
            ids.iter().map(KeyId::as_str).collect::<Vec<_>>().join(", ")
        )),
        (false, false) => Outcome::Unchecked(format!(
            "key {} matches, but what it was sealed for is not recorded: name/namespace/scope \
             cannot be checked offline",
            ids.iter().map(KeyId::as_str).collect::<Vec<_>>().join(", ")
        )),
        (true, true) => Outcome::Unchecked(
            "sealed for this name, namespace and scope, but the key is not recorded: the cluster \
             cannot be checked offline"
                .to_owned(),
        ),
        (true, false) => Outcome::Unchecked(
            "no sealant annotations (sealed by kubeseal?): cannot check offline; use --key or \
             verify online"
                .to_owned(),
        ),
    }
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

/// `file: document N[: items[i]]`.
pub fn locate(source: &Source, doc: &Document) -> String {
    match doc.list_item {
        None => format!("{source}: document {}", doc.number),
        Some(i) => format!("{source}: document {}: items[{i}]", doc.number),
    }
}

pub fn run(args: &VerifyArgs) -> Result<bool> {
    let files = collect_files(&args.paths)?;
    let checker = if !args.keys.is_empty() {
        let keyring = crate::unseal::load_keyring(&args.keys)?;
        Checker::Keys(
            keyring,
            UnsealOptions {
                accept_v1_data: args.accept_deprecated_v1_data,
            },
        )
    } else if !args.cert.is_empty() {
        let mut accepted = Vec::new();
        for spec in &args.cert {
            let resolved = resolve(Some(spec), &args.cluster, false)?;
            accepted.push(resolved.cert.key_id().clone());
        }
        Checker::Certs(accepted)
    } else {
        Checker::Online(Box::new(Cluster::open(&args.cluster)?))
    };

    let (mut ok, mut failed, mut unchecked, mut skipped) = (0usize, 0usize, 0usize, 0usize);
    let mut out = String::new();
    for source in &files {
        let docs = match io::read_source_text(source)
            .and_then(|text| sealant_api::parse_stream(&text).map_err(|e| anyhow!("{source}: {e}")))
        {
            Ok(docs) => docs,
            Err(e) => {
                failed += 1;
                out.push_str(&format!("FAILED: {}\n", crate::one_line(&format!("{e:#}"))));
                continue;
            }
        };
        for doc in &docs {
            if !is_sealed_secret(&doc.value) {
                skipped += 1;
                continue;
            }
            let place = locate(source, doc);
            let outcome = match sealant_api::sealed_secret_from_value(&doc.value) {
                Ok(ss) => {
                    let object = format!(
                        "{}/{}",
                        ss.metadata.namespace.as_deref().unwrap_or_default(),
                        ss.metadata.name.as_deref().unwrap_or_default()
                    );
                    (object, checker.check(&ss, &doc.value)?)
                }
                Err(e) => ("?".to_owned(), Outcome::Failed(e.to_string())),
            };
            match &outcome.1 {
                Outcome::Ok(_) => ok += 1,
                Outcome::Failed(_) => failed += 1,
                Outcome::Unchecked(_) => unchecked += 1,
            }
            out.push_str(&format!(
                "{place}: {}: {}\n",
                outcome.0,
                crate::one_line(&outcome.1.to_string())
            ));
        }
    }
    let total = ok + failed + unchecked;
    let strict_fail = args.strict && unchecked > 0;
    out.push_str(&format!(
        "verify: {total} SealedSecret{} in {} file{}: {ok} ok, {failed} failed, {unchecked} not checked{}{}\n",
        if total == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if skipped > 0 {
            format!(" ({skipped} other object{} skipped)", if skipped == 1 { "" } else { "s" })
        } else {
            String::new()
        },
        if strict_fail {
            " (--strict: not checked counts as failed)"
        } else {
            ""
        }
    ));
    io::write_stdout(out.as_bytes())?;
    Ok(failed == 0 && !strict_fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use sealant_api::{ANNOTATION_CLUSTER_WIDE, SealOptions, seal_secret};
    use sealant_crypto::{CertOptions, Certificate, PrivateKey};

    fn sealed() -> (SealedSecret, KeyId) {
        let key = PrivateKey::generate(2048).unwrap();
        let cert = Certificate::self_signed(
            &key,
            &CertOptions::default(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let mut s = Secret::default();
        s.metadata.name = Some("db".into());
        s.metadata.namespace = Some("prod".into());
        s.string_data = Some([("password".to_owned(), "x".to_owned())].into());
        let ss = seal_secret(&s, &cert, &SealOptions::default()).unwrap();
        (ss, cert.key_id().clone())
    }

    #[test]
    fn offline_checks() {
        let (ss, id) = sealed();
        let other = KeyId::parse("0123456789abcdef").unwrap();
        assert!(matches!(
            check_offline(&ss, std::slice::from_ref(&id)),
            Outcome::Ok(_)
        ));
        assert!(matches!(
            check_offline(&ss, &[other.clone(), id.clone()]),
            Outcome::Ok(_)
        ));
        let Outcome::Failed(m) = check_offline(&ss, &[other]) else {
            panic!("another cluster's key must fail");
        };
        assert!(m.contains("another cluster"), "{m}");

        // Widened after sealing.
        let mut widened = ss.clone();
        widened
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ANNOTATION_CLUSTER_WIDE.into(), "true".into());
        let Outcome::Failed(m) = check_offline(&widened, std::slice::from_ref(&id)) else {
            panic!("a widened scope must fail");
        };
        assert!(
            m.contains("sealed with scope strict") && m.contains("cluster-wide"),
            "{m}"
        );

        // Moved to another namespace.
        let mut moved = ss.clone();
        moved.metadata.namespace = Some("dev".into());
        assert!(matches!(
            check_offline(&moved, std::slice::from_ref(&id)),
            Outcome::Failed(_)
        ));

        // Damaged value.
        let mut damaged = ss.clone();
        damaged
            .spec
            .encrypted_data
            .insert("password".into(), "not base64!".into());
        assert!(matches!(
            check_offline(&damaged, std::slice::from_ref(&id)),
            Outcome::Failed(_)
        ));

        // Upstream: nothing recorded.
        let mut upstream = ss.clone();
        upstream.metadata.annotations = None;
        assert!(matches!(
            check_offline(&upstream, &[id]),
            Outcome::Unchecked(_)
        ));
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
