//! `sealant verify`: check that SealedSecrets in files will unseal, online (the controller's
//! `/v1/verify`), offline with certificates (key ids and the sealed-for fingerprint, no private
//! key), or offline with private keys (full decryption). Never prints a secret value.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use sealant_api::{
    SealedForCheck, SealedSecret, UnsealOptions, check_sealed_data, check_sealed_for,
    key_ids_from_annotations, scope_from_annotations, unseal_values_only,
};
use sealant_crypto::{KeyId, Keyring, Scope};

use crate::bulk;
use crate::certsrc::resolve;
use crate::io::{self, Source};
use crate::kubecfg::{Cluster, ClusterArgs, status_message};
use crate::manifest::{collect_files, is_sealed_secret, locate};
use crate::progress::Progress;

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
are searched for .yaml, .yml and .json files; other kinds of objects are skipped. The command
fails when any object failed (with --strict, also when any could not be checked).";

/// Arguments of `sealant verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Files or directories holding SealedSecrets (YAML streams or JSON); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Check offline against these certificates (PEM files or URLs; repeat the flag to accept
    /// older keys of the same cluster): key ids, the sealed-for fingerprint and each value's
    /// structure, no private key.
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

/// A certificate accepted by an offline check: its key id and modulus size in bytes.
#[derive(Clone, Debug)]
pub struct AcceptedKey {
    /// The key id.
    pub id: KeyId,
    /// RSA modulus size in bytes (the length of a sealed value's RSA part).
    pub modulus_len: usize,
}

/// How objects are checked.
pub enum Checker {
    /// `POST /v1/verify` through the API server.
    Online(Box<Cluster>),
    /// Key ids, the sealed-for fingerprint and the values' structure, against these keys.
    Certs(Vec<AcceptedKey>),
    /// Full decryption.
    Keys(Keyring, UnsealOptions),
}

/// Decrypts with the keys (values are never kept or printed).
fn check_with_keys(ss: &SealedSecret, keyring: &Keyring, opts: &UnsealOptions) -> Outcome {
    match unseal_values_only(ss, keyring, opts) {
        Ok(out) => Outcome::Ok(format!(
            "unseals with key {}",
            out.key_ids
                .iter()
                .map(KeyId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => Outcome::Failed(e.to_string()),
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
/// `accepted`; every value well-formed for the key that sealed it (base64, a length prefix equal
/// to the certificate's modulus size, at least `2 + k + 16` bytes) and all of them within a
/// Secret's size limit; and [`sealant_api::ANNOTATION_SEALED_FOR`] matching the current name,
/// namespace and scope.
pub fn check_offline(ss: &SealedSecret, accepted: &[AcceptedKey]) -> Outcome {
    let empty = Default::default();
    let top = ss.metadata.annotations.as_ref().unwrap_or(&empty);
    let namespace = ss.metadata.namespace.as_deref().unwrap_or_default();
    let name = ss.metadata.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        return Outcome::Failed("metadata.name is missing".to_owned());
    }
    let declared = scope_from_annotations(top);
    if declared != Scope::ClusterWide && namespace.is_empty() {
        return Outcome::Failed(
            "metadata.namespace is missing: the values were sealed for a namespace".to_owned(),
        );
    }

    let ids = key_ids_from_annotations(top);
    let unknown: Vec<&KeyId> = ids
        .iter()
        .filter(|id| !accepted.iter().any(|a| &a.id == *id))
        .collect();
    if !unknown.is_empty() {
        let list = |v: &mut dyn Iterator<Item = &KeyId>| {
            v.map(KeyId::as_str).collect::<Vec<_>>().join(", ")
        };
        return Outcome::Failed(format!(
            "sealed with key {}, not with the key of the given certificate ({}): sealed for another \
             cluster, or with an older key (pass each certificate with --cert, or run `sealant reseal`)",
            list(&mut unknown.into_iter()),
            list(&mut accepted.iter().map(|a| &a.id))
        ));
    }
    // The modulus sizes a value may have: those of the recorded keys, else of any given one.
    let sizes: Vec<usize> = accepted
        .iter()
        .filter(|a| ids.is_empty() || ids.contains(&a.id))
        .map(|a| a.modulus_len)
        .collect();
    for (item, value) in &ss.spec.encrypted_data {
        if let Err(why) = check_structure(value, &sizes) {
            return Outcome::Failed(format!("item {item:?}: {why}"));
        }
    }
    if let Err(e) = check_sealed_data(ss) {
        return Outcome::Failed(e.to_string());
    }

    let label = check_sealed_for(top, namespace, name);
    match label {
        SealedForCheck::Moved => {
            return Outcome::Failed(moved_message(declared, namespace, name));
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

/// What a sealed-for mismatch means for the scope the object declares.
fn moved_message(declared: Scope, namespace: &str, name: &str) -> String {
    match declared {
        Scope::Strict => format!(
            "sealed for a different name or namespace than {namespace}/{name}: renamed or moved \
             after sealing, which a strict SealedSecret cannot be (re-seal it from the Secret; \
             namespace-wide allows renames, cluster-wide also moves)"
        ),
        Scope::NamespaceWide => format!(
            "sealed for a different namespace than {namespace}: moved to another namespace after \
             sealing, which a namespace-wide SealedSecret cannot be (it may only be renamed; \
             re-seal it for {namespace}, or cluster-wide)"
        ),
        Scope::ClusterWide => "sealed for a particular name or namespace, but its annotations \
             now declare cluster-wide and its names changed: re-seal it cluster-wide"
            .to_owned(),
    }
}

/// The structure of one sealed value, without a key: standard base64, a 2-byte length prefix
/// equal to the modulus size `k` of one of `sizes`, and at least `2 + k + 16` bytes.
fn check_structure(value: &str, sizes: &[usize]) -> std::result::Result<(), String> {
    let bytes = sealant_crypto::decode_value(value).map_err(|_| {
        "not valid standard base64 (sealed values are padded standard base64)".to_owned()
    })?;
    let Some(prefix) = bytes
        .first_chunk::<2>()
        .map(|p| usize::from(u16::from_be_bytes(*p)))
    else {
        return Err(format!(
            "{} bytes: too short to be a sealed value",
            bytes.len()
        ));
    };
    let describe = |k: usize| format!("{}-bit", k * 8);
    let Some(&k) = sizes.iter().find(|k| **k == prefix) else {
        let want: Vec<String> = sizes
            .iter()
            .map(|k| format!("{k} ({})", describe(*k)))
            .collect();
        return Err(format!(
            "its length prefix says the RSA part is {prefix} bytes, but the certificate's key makes \
             it {}: damaged, or sealed with another key",
            want.join(" or ")
        ));
    };
    let min = 2 + k + 16;
    if bytes.len() < min {
        return Err(format!(
            "{} bytes, shorter than the {min} bytes (2 + {k} + 16) of any value sealed with a {} key: truncated",
            bytes.len(),
            describe(k)
        ));
    }
    Ok(())
}

/// What a `verify` run does: the files found and how objects are checked.
pub struct VerifyPlan {
    /// The files (and stdin) to read.
    pub files: Vec<Source>,
    /// How each SealedSecret is checked.
    pub checker: Checker,
    /// Objects that cannot be checked count as failures.
    pub strict: bool,
}

impl VerifyArgs {
    /// Finds the files and loads keys or certificates (or prepares the cluster client).
    pub fn plan(&self) -> Result<VerifyPlan> {
        let files = collect_files(&self.paths)?;
        let checker = if !self.keys.is_empty() {
            let keyring = crate::unseal::load_keyring(&self.keys)?;
            Checker::Keys(
                keyring,
                UnsealOptions {
                    accept_v1_data: self.accept_deprecated_v1_data,
                    ..UnsealOptions::default()
                },
            )
        } else if !self.cert.is_empty() {
            let mut accepted = Vec::new();
            for spec in &self.cert {
                let cert = resolve(Some(spec), &self.cluster, false)?.cert;
                accepted.push(AcceptedKey {
                    id: cert.key_id().clone(),
                    modulus_len: cert.public_key().modulus_len(),
                });
            }
            Checker::Certs(accepted)
        } else {
            Checker::Online(Box::new(Cluster::open(&self.cluster)?))
        };
        Ok(VerifyPlan {
            files,
            checker,
            strict: self.strict,
        })
    }
}

/// One line of the report, before checking.
enum Entry {
    /// A file that could not be read or parsed.
    Unreadable(String),
    /// A SealedSecret at `place`; `Err` when it is not a valid one.
    Object {
        place: String,
        parsed: std::result::Result<Box<(SealedSecret, serde_json::Value)>, String>,
    },
}

/// Checks every SealedSecret (offline: on all cores) and prints one line each and a summary;
/// `Ok(false)` when anything failed.
pub fn run(plan: &VerifyPlan) -> Result<bool> {
    let files = &plan.files;
    let mut entries = Vec::new();
    let mut skipped = 0usize;
    for source in files {
        let docs = match io::read_source_text(source)
            .and_then(|text| sealant_api::parse_stream(&text).map_err(|e| anyhow!("{source}: {e}")))
        {
            Ok(docs) => docs,
            Err(e) => {
                entries.push(Entry::Unreadable(crate::one_line(&format!("{e:#}"))));
                continue;
            }
        };
        for doc in docs {
            if !is_sealed_secret(&doc.value) {
                skipped += 1;
                continue;
            }
            let place = locate(source, &doc);
            let parsed = sealant_api::sealed_secret_from_value(&doc.value)
                .map(|ss| Box::new((ss, doc.value)))
                .map_err(|e| e.to_string());
            entries.push(Entry::Object { place, parsed });
        }
    }
    let objects: Vec<&(SealedSecret, serde_json::Value)> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Object { parsed: Ok(p), .. } => Some(&**p),
            _ => None,
        })
        .collect();
    let outcomes: Vec<Outcome> = match &plan.checker {
        Checker::Online(cluster) => {
            let progress = Progress::new("verify", objects.len());
            let mut out = Vec::with_capacity(objects.len());
            for (_, raw) in &objects {
                out.push(verify_online(cluster, raw)?);
                progress.inc();
            }
            out
        }
        Checker::Certs(accepted) => {
            bulk::map("verify", &objects, |(ss, _)| check_offline(ss, accepted))
        }
        Checker::Keys(keyring, opts) => bulk::map("verify", &objects, |(ss, _)| {
            check_with_keys(ss, keyring, opts)
        }),
    };

    let (mut ok, mut failed, mut unchecked) = (0usize, 0usize, 0usize);
    let mut outcomes = outcomes.into_iter();
    let mut out = String::new();
    for entry in entries {
        let (place, object, outcome) = match entry {
            Entry::Unreadable(message) => {
                failed += 1;
                out.push_str(&format!("FAILED: {message}\n"));
                continue;
            }
            Entry::Object {
                place,
                parsed: Ok(found),
            } => {
                let ss = &found.0;
                let object = format!(
                    "{}/{}",
                    ss.metadata.namespace.as_deref().unwrap_or_default(),
                    ss.metadata.name.as_deref().unwrap_or_default()
                );
                let outcome = outcomes
                    .next()
                    .ok_or_else(|| anyhow!("internal error: an outcome is missing"))?;
                (place, object, outcome)
            }
            Entry::Object {
                place,
                parsed: Err(e),
            } => (place, "?".to_owned(), Outcome::Failed(e)),
        };
        match &outcome {
            Outcome::Ok(_) => ok += 1,
            Outcome::Failed(_) => failed += 1,
            Outcome::Unchecked(_) => unchecked += 1,
        }
        out.push_str(&format!(
            "{place}: {object}: {}\n",
            crate::one_line(&outcome.to_string())
        ));
    }
    let total = ok + failed + unchecked;
    let strict_fail = plan.strict && unchecked > 0;
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

    fn sealed(scope: Option<Scope>) -> (SealedSecret, AcceptedKey) {
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
        let opts = SealOptions {
            scope,
            ..SealOptions::default()
        };
        let ss = seal_secret(&s, &cert, &opts).unwrap();
        let accepted = AcceptedKey {
            id: cert.key_id().clone(),
            modulus_len: 256,
        };
        (ss, accepted)
    }

    fn failure(ss: &SealedSecret, accepted: &[AcceptedKey]) -> String {
        match check_offline(ss, accepted) {
            Outcome::Failed(m) => m,
            other => panic!("expected a failure, got {other}"),
        }
    }

    #[test]
    fn offline_checks() {
        let (ss, key) = sealed(None);
        let other = AcceptedKey {
            id: KeyId::parse("0123456789abcdef").unwrap(),
            modulus_len: 512,
        };
        assert!(matches!(
            check_offline(&ss, std::slice::from_ref(&key)),
            Outcome::Ok(_)
        ));
        assert!(matches!(
            check_offline(&ss, &[other.clone(), key.clone()]),
            Outcome::Ok(_)
        ));
        assert!(failure(&ss, &[other]).contains("another cluster"));

        // Widened after sealing.
        let mut widened = ss.clone();
        widened
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ANNOTATION_CLUSTER_WIDE.into(), "true".into());
        let m = failure(&widened, std::slice::from_ref(&key));
        assert!(
            m.contains("sealed with scope strict") && m.contains("cluster-wide"),
            "{m}"
        );

        // Moved to another namespace.
        let mut moved = ss.clone();
        moved.metadata.namespace = Some("dev".into());
        let m = failure(&moved, std::slice::from_ref(&key));
        assert!(m.contains("a strict SealedSecret cannot be"), "{m}");

        // Upstream: nothing recorded.
        let mut upstream = ss.clone();
        upstream.metadata.annotations = None;
        assert!(matches!(
            check_offline(&upstream, &[key]),
            Outcome::Unchecked(_)
        ));
    }

    #[test]
    fn a_namespace_wide_object_moved_is_told_it_may_only_be_renamed() {
        let (mut ss, key) = sealed(Some(Scope::NamespaceWide));
        ss.metadata.name = Some("renamed".into());
        assert!(matches!(
            check_offline(&ss, std::slice::from_ref(&key)),
            Outcome::Ok(_)
        ));
        ss.metadata.namespace = Some("dev".into());
        let m = failure(&ss, &[key]);
        assert!(
            m.contains("sealed for a different namespace than dev"),
            "{m}"
        );
        assert!(m.contains("may only be renamed"), "{m}");
        assert!(!m.contains("renamed or moved"), "{m}");
    }

    #[test]
    fn structurally_broken_values_fail_naming_the_item() {
        let (ss, key) = sealed(None);
        let value = ss.spec.encrypted_data["password"].clone();
        let with = |v: &str| {
            let mut broken = ss.clone();
            broken
                .spec
                .encrypted_data
                .insert("password".into(), v.to_owned());
            failure(&broken, std::slice::from_ref(&key))
        };
        // Cut to 100 characters: valid base64, far too short for a 2048-bit key.
        let m = with(&value[..100]);
        assert!(
            m.starts_with("item \"password\": 75 bytes, shorter than the 274 bytes (2 + 256 + 16)"),
            "{m}"
        );
        assert!(with("not base64!").contains("not valid standard base64"));
        assert!(with("AA==").contains("too short"));
        // A length prefix that does not match the certificate's modulus.
        let mut bytes = sealant_crypto::decode_value(&value).unwrap();
        bytes[0] = 0x02;
        let m = with(&sealant_crypto::encode_value(&bytes));
        assert!(
            m.contains("RSA part is 512 bytes") && m.contains("256 (2048-bit)"),
            "{m}"
        );
        // Sealed for a 4096-bit certificate, checked against this 2048-bit one (no key ids).
        let mut unrecorded = ss.clone();
        unrecorded.metadata.annotations = None;
        unrecorded
            .spec
            .encrypted_data
            .insert("password".into(), sealant_crypto::encode_value(&bytes));
        assert!(failure(&unrecorded, &[key]).contains("damaged, or sealed with another key"));
    }
}
