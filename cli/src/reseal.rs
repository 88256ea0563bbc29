//! `sealant reseal`: re-seal SealedSecrets in files with the newest key, online (the
//! controller's `/v1/rotate`) or offline (`--key` + `--cert`), rewriting only the documents that
//! change.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use sealant_api::{
    ANNOTATION_KEY_IDS, ANNOTATION_SEALED_FOR, SealedSecret, UnsealOptions,
    key_ids_from_annotations, scope_from_annotations, sealed_for, unseal_values_only,
};
use sealant_crypto::{Certificate, KeyId, Keyring, encode_value, seal};

use crate::certsrc::{check_pins, resolve};
use crate::io::{self, Source, WriteOptions};
use crate::kubecfg::{Cluster, ClusterArgs, status_message};
use crate::verify::{collect_files, is_sealed_secret};

pub const EXAMPLES: &str = "\
Examples:
  # After the controller renewed its key: re-seal everything under k8s/ through the controller
  sealant reseal k8s/

  # See what would change, write nothing
  sealant reseal --dry-run k8s/

  # Offline, with backed-up private keys and the newest certificate
  sealant reseal --key keys.yaml --cert cert.pem k8s/ more/secret.yaml

Only SealedSecrets not already sealed with the newest key are re-sealed (objects sealed by
kubeseal, without the sealant.dev/key-ids annotation, always are). Scope, name, namespace and
template stay as they are. Other documents, comments and ordering are kept byte for byte (a
List holding a re-sealed item is printed again whole); a file is rewritten atomically, and
nothing is written at all if any object fails.";

/// Arguments of `sealant reseal`.
#[derive(Debug, Args)]
pub struct ResealArgs {
    /// Files or directories (searched for .yaml, .yml and .json files).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Offline: private keys to unseal with (as `sealant unseal --key`); needs --cert.
    #[arg(
        long = "key",
        value_name = "FILE",
        value_delimiter = ',',
        requires = "cert"
    )]
    pub keys: Vec<PathBuf>,

    /// Offline: the newest certificate, to re-seal with (PEM file or URL).
    #[arg(long, value_name = "PATH|URL", requires = "keys")]
    pub cert: Option<String>,

    /// List what would be re-sealed; write nothing (and decrypt nothing).
    #[arg(long)]
    pub dry_run: bool,

    /// Also accept the deprecated v1 `spec.data` format (offline).
    #[arg(long)]
    pub accept_deprecated_v1_data: bool,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Re-sealed file contents are held until everything succeeded; at most this much (256 MiB).
pub const MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;

/// How objects are re-sealed.
pub enum Resealer {
    /// `POST /v1/rotate` through the API server.
    Online(Box<Cluster>),
    /// Unseal with these keys, seal with the certificate.
    Offline(Keyring, Certificate, UnsealOptions),
}

impl Resealer {
    /// Re-seals one object. `raw` is the object as read (sent as-is to the controller).
    /// `Ok(Err(message))` is a failure of this object; `Err` means the cluster is unreachable.
    pub fn reseal(
        &self,
        ss: &SealedSecret,
        raw: &serde_json::Value,
    ) -> Result<std::result::Result<SealedSecret, String>> {
        match self {
            Resealer::Online(cluster) => rotate_online(cluster, ss, raw),
            Resealer::Offline(keyring, cert, opts) => Ok(reseal_offline(ss, keyring, cert, opts)),
        }
    }
}

/// kubeseal `--re-encrypt`: the controller re-seals `raw` with its newest key. The answer must
/// keep the object's name, namespace and scope; it gets [`ANNOTATION_SEALED_FOR`].
pub fn rotate_online(
    cluster: &Cluster,
    ss: &SealedSecret,
    raw: &serde_json::Value,
) -> Result<std::result::Result<SealedSecret, String>> {
    let body = serde_json::to_vec(raw).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
    let answer = cluster.call("POST", "/v1/rotate", Some(&body))?;
    match answer.status {
        200 => {}
        502..=504 => bail!(
            "cannot re-seal through {} at {}: the controller is unavailable ({}: {})",
            cluster.service(),
            cluster.server,
            answer.status,
            status_message(&answer.body)
        ),
        other => {
            return Ok(Err(format!(
                "the controller cannot re-seal it ({other}): {}",
                status_message(&answer.body)
            )));
        }
    }
    let mut value: serde_json::Value = match serde_json::from_slice(&answer.body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return Ok(Err(
                "the controller's answer is not a JSON object".to_owned()
            ));
        }
    };
    // Upstream's answer has no apiVersion/kind.
    value["apiVersion"] = sealant_api::API_VERSION.into();
    value["kind"] = sealant_api::KIND.into();
    let mut new = match sealant_api::sealed_secret_from_value(&value) {
        Ok(new) => new,
        Err(e) => return Ok(Err(format!("the controller's answer: {e}"))),
    };
    let empty = Default::default();
    let scope = scope_from_annotations(ss.metadata.annotations.as_ref().unwrap_or(&empty));
    let new_scope = scope_from_annotations(new.metadata.annotations.as_ref().unwrap_or(&empty));
    if new.metadata.name != ss.metadata.name
        || new.metadata.namespace != ss.metadata.namespace
        || new_scope != scope
    {
        return Ok(Err(format!(
            "the controller's answer changed the name, namespace or scope ({scope} -> {new_scope}): refusing it"
        )));
    }
    new.metadata.creation_timestamp = None;
    new.metadata.deletion_timestamp = None;
    new.metadata.generation = None;
    let namespace = new.metadata.namespace.clone().unwrap_or_default();
    let name = new.metadata.name.clone().unwrap_or_default();
    new.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            ANNOTATION_SEALED_FOR.to_owned(),
            sealed_for(scope, &namespace, &name),
        );
    Ok(Ok(new))
}

/// Unseals every value with `keyring` and seals it again with `cert` for the object's own
/// (top-level) name, namespace and scope; everything else (template, labels, other annotations)
/// is kept. Values never leave memory.
pub fn reseal_offline(
    ss: &SealedSecret,
    keyring: &Keyring,
    cert: &Certificate,
    opts: &UnsealOptions,
) -> std::result::Result<SealedSecret, String> {
    let out = unseal_values_only(ss, keyring, opts).map_err(|e| e.to_string())?;
    let empty = Default::default();
    let top = ss.metadata.annotations.as_ref().unwrap_or(&empty);
    let scope = scope_from_annotations(top);
    let namespace = ss.metadata.namespace.clone().unwrap_or_default();
    let name = ss.metadata.name.clone().unwrap_or_default();
    let label = scope.label(&namespace, &name);
    let mut encrypted = std::collections::BTreeMap::new();
    for (item, value) in out.secret.data.iter().flatten() {
        let sealed = seal(cert.public_key(), &value.0, &label)
            .map_err(|e| format!("cannot seal item {item:?}: {e}"))?;
        encrypted.insert(item.clone(), encode_value(&sealed));
    }
    let mut new = ss.clone();
    if ss.spec.data.is_some() && new.spec.template.type_.is_none() {
        new.spec.template.type_ = out.secret.type_.clone();
    }
    new.spec.encrypted_data = encrypted;
    new.spec.data = None;
    let annotations = new
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.insert(
        ANNOTATION_KEY_IDS.to_owned(),
        cert.key_id().as_str().to_owned(),
    );
    annotations.insert(
        ANNOTATION_SEALED_FOR.to_owned(),
        sealed_for(scope, &namespace, &name),
    );
    Ok(new)
}

/// Whether `ss` is not (only) sealed with `newest`: its key-ids annotation is not exactly it.
pub fn needs_reseal(ss: &SealedSecret, newest: &KeyId) -> bool {
    let empty = Default::default();
    let ids = key_ids_from_annotations(ss.metadata.annotations.as_ref().unwrap_or(&empty));
    ids.as_slice() != std::slice::from_ref(newest)
}

/// One document of a file, as a byte range of its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

fn is_json(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
}

/// YAML: split before each `---` document marker line; JSON: one span per concatenated object.
fn split_spans(text: &str) -> std::result::Result<Vec<Span>, String> {
    if is_json(text) {
        let mut spans = Vec::new();
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        let mut start = 0;
        while let Some(item) = stream.next() {
            item.map_err(|e| format!("not valid JSON: {e}"))?;
            let end = stream.byte_offset();
            spans.push(Span { start, end });
            start = end;
        }
        if start < text.len() {
            spans.push(Span {
                start,
                end: text.len(),
            });
        }
        return Ok(spans);
    }
    let mut spans = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let marker = trimmed
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        if marker && offset > start {
            spans.push(Span { start, end: offset });
            start = offset;
        }
        offset += line.len();
    }
    if offset > start {
        spans.push(Span { start, end: offset });
    }
    Ok(spans)
}

/// Replaces the object in a YAML document's text, keeping its `---` line and the comment and
/// blank lines (comments at column 0) before and after it.
fn replace_yaml(doc: &str, rendered: &str) -> String {
    let body = rendered.strip_prefix("---\n").unwrap_or(rendered);
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let keep = |l: &&str| {
        let t = l.trim_end_matches(['\n', '\r']);
        t.trim().is_empty() || t.starts_with('#')
    };
    let mut first = 0;
    if lines.first().is_some_and(|l| l.starts_with("---")) {
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

/// Replaces the object in a JSON span, keeping the whitespace before it.
fn replace_json(doc: &str, rendered: &str) -> String {
    let lead = doc.len() - doc.trim_start().len();
    let trail = doc.trim_end().len();
    format!(
        "{}{}{}",
        &doc[..lead],
        rendered.trim_end(),
        &doc[trail.max(lead)..]
    )
}

/// A progress line on stderr when it is a terminal.
struct Progress {
    on: bool,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            on: std::io::stderr().is_terminal() && total > 1,
            total,
        }
    }

    fn show(&self, done: usize, what: &str) {
        if !self.on {
            return;
        }
        const WIDTH: usize = 30;
        let filled = WIDTH * done / self.total.max(1);
        let what: String = what.chars().take(60).collect();
        eprint!(
            "\r\x1b[K[{}{}] {done}/{} {what}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.total
        );
    }

    fn finish(&self) {
        if self.on {
            eprint!("\r\x1b[K");
        }
    }
}

/// What became of one SealedSecret.
enum Item {
    /// Left as it is: up to date, or listed by `--dry-run`.
    Kept,
    /// Not re-sealed (the report says why); nothing is written.
    Failed,
    /// Re-sealed with the newest key.
    Resealed(Box<SealedSecret>),
}

/// One run's re-sealing, counts and report.
struct Tally<'a> {
    resealer: &'a Resealer,
    newest: &'a KeyId,
    dry_run: bool,
    resealed: usize,
    current: usize,
    report: String,
}

impl Tally<'_> {
    /// Re-seals the SealedSecret `value`, found at `place`, unless it is sealed with the newest
    /// key already; one report line says what became of it.
    fn item(&mut self, place: &str, value: &serde_json::Value) -> Result<Item> {
        let ss = match sealant_api::sealed_secret_from_value(value) {
            Ok(ss) => ss,
            Err(e) => {
                self.report.push_str(&format!("{place}: FAILED: {e}\n"));
                return Ok(Item::Failed);
            }
        };
        let object = format!(
            "{}/{}",
            ss.metadata.namespace.as_deref().unwrap_or_default(),
            ss.metadata.name.as_deref().unwrap_or_default()
        );
        let empty = Default::default();
        let old_ids: Vec<String> =
            key_ids_from_annotations(ss.metadata.annotations.as_ref().unwrap_or(&empty))
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect();
        let old = if old_ids.is_empty() {
            "unrecorded key".to_owned()
        } else {
            format!("key {}", old_ids.join(","))
        };
        let newest = self.newest;
        if !needs_reseal(&ss, newest) {
            self.current += 1;
            self.report
                .push_str(&format!("{place}: {object}: up to date ({old})\n"));
            return Ok(Item::Kept);
        }
        if self.dry_run {
            self.resealed += 1;
            self.report.push_str(&format!(
                "{place}: {object}: would re-seal ({old} -> key {newest})\n"
            ));
            return Ok(Item::Kept);
        }
        match self.resealer.reseal(&ss, value)? {
            Ok(mut new) => {
                // An upstream controller does not record the key: it used its newest, the one
                // /v1/cert.pem served (a hint only).
                new.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .entry(ANNOTATION_KEY_IDS.to_owned())
                    .or_insert_with(|| newest.as_str().to_owned());
                self.resealed += 1;
                self.report.push_str(&format!(
                    "{place}: {object}: re-sealed ({old} -> key {newest})\n"
                ));
                Ok(Item::Resealed(Box::new(new)))
            }
            Err(message) => {
                self.report.push_str(&format!(
                    "{place}: {object}: FAILED: {}\n",
                    crate::one_line(&message)
                ));
                Ok(Item::Failed)
            }
        }
    }
}

pub fn run(args: &ResealArgs) -> Result<bool> {
    let files = collect_files(&args.paths)?;
    if files.iter().any(|f| matches!(f, Source::Stdin)) {
        bail!("reseal rewrites files in place: `-` (stdin) is not accepted");
    }
    let (resealer, newest) = if args.keys.is_empty() {
        let cluster = Cluster::open(&args.cluster)?;
        let pem = cluster.fetch_cert_pem()?;
        let origin = format!("controller {} at {}", cluster.service(), cluster.server);
        let cert = Certificate::from_pem(&pem).map_err(|e| anyhow!("{origin}: {e}"))?;
        let resolved = crate::certsrc::Resolved { cert, pem, origin };
        check_pins(&resolved, &args.cluster)?;
        let newest = resolved.cert.key_id().clone();
        (Resealer::Online(Box::new(cluster)), newest)
    } else {
        let keyring = crate::unseal::load_keyring(&args.keys)?;
        let cert = resolve(args.cert.as_deref(), &args.cluster, true)?.cert;
        let newest = cert.key_id().clone();
        let opts = UnsealOptions {
            accept_v1_data: args.accept_deprecated_v1_data,
        };
        (Resealer::Offline(keyring, cert, opts), newest)
    };

    let progress = Progress::new(files.len());
    let mut tally = Tally {
        resealer: &resealer,
        newest: &newest,
        dry_run: args.dry_run,
        resealed: 0,
        current: 0,
        report: String::new(),
    };
    let mut failed = 0usize;
    let mut writes: Vec<(PathBuf, String, String)> = Vec::new();
    let mut pending_bytes = 0usize;
    for (i, source) in files.iter().enumerate() {
        progress.show(i, &source.to_string());
        let Source::File(path) = source else {
            continue;
        };
        let text = match io::read_source_text(source) {
            Ok(t) => t,
            Err(e) => {
                failed += 1;
                tally
                    .report
                    .push_str(&format!("FAILED: {}\n", crate::one_line(&format!("{e:#}"))));
                continue;
            }
        };
        let spans = match split_spans(&text) {
            Ok(s) => s,
            Err(e) => {
                failed += 1;
                tally.report.push_str(&format!("{source}: FAILED: {e}\n"));
                continue;
            }
        };
        let json = is_json(&text);
        let format = if json {
            sealant_api::Format::Json
        } else {
            sealant_api::Format::Yaml
        };
        let mut new_text = String::with_capacity(text.len());
        let mut changed = false;
        let mut file_failed = false;
        let mut number = 0;
        for span in spans {
            let doc_text = &text[span.start..span.end];
            let docs = match sealant_api::parse_stream(doc_text) {
                Ok(d) => d,
                Err(e) => {
                    // Not an object this command understands: keep it, but say so if it could
                    // be a SealedSecret.
                    if doc_text.contains(sealant_api::KIND) {
                        file_failed = true;
                        tally
                            .report
                            .push_str(&format!("{source}: document {}: FAILED: {e}\n", number + 1));
                    }
                    number += 1;
                    new_text.push_str(doc_text);
                    continue;
                }
            };
            if !docs.is_empty()
                || (json && !doc_text.trim().is_empty())
                || doc_text.starts_with("---")
            {
                number += 1;
            }
            let place = format!("{source}: document {number}");
            let rendered = match docs.as_slice() {
                [doc] if doc.list_item.is_none() && is_sealed_secret(&doc.value) => {
                    match tally.item(&place, &doc.value)? {
                        Item::Resealed(new) => Some(sealant_api::render(&new, format)),
                        Item::Failed => {
                            file_failed = true;
                            None
                        }
                        Item::Kept => None,
                    }
                }
                items => {
                    // The items of a List: it is printed again whole if any of them changed.
                    let mut replaced = Vec::new();
                    for doc in items {
                        let Some(index) = doc.list_item else {
                            continue;
                        };
                        if !is_sealed_secret(&doc.value) {
                            continue;
                        }
                        match tally.item(&format!("{place} items[{index}]"), &doc.value)? {
                            Item::Resealed(new) => replaced.push((index, *new)),
                            Item::Failed => file_failed = true,
                            Item::Kept => {}
                        }
                    }
                    (!replaced.is_empty())
                        .then(|| sealant_api::render_list(doc_text, &replaced, format))
                }
            };
            match rendered {
                Some(rendered) => {
                    let rendered = rendered.map_err(|e| anyhow!("{place}: {e}"))?;
                    new_text.push_str(&if json {
                        replace_json(doc_text, &rendered)
                    } else {
                        replace_yaml(doc_text, &rendered)
                    });
                    changed = true;
                }
                None => new_text.push_str(doc_text),
            }
        }
        if file_failed {
            failed += 1;
        } else if changed {
            pending_bytes += new_text.len();
            if pending_bytes > MAX_PENDING_BYTES {
                bail!(
                    "more than {} of re-sealed files to hold before writing; nothing written: re-seal fewer paths at a time",
                    io::human_size(MAX_PENDING_BYTES as u64)
                );
            }
            writes.push((path.clone(), text, new_text));
        }
    }
    progress.finish();

    let mut written = 0;
    if failed == 0 && !args.dry_run {
        for (path, old, new) in &writes {
            // Do not clobber an edit made while we worked.
            let now = io::read_source_text(&Source::File(path.clone()))?;
            if &now != old {
                bail!(
                    "{}: changed while re-sealing; nothing more written ({written} file{} already written)",
                    path.display(),
                    if written == 1 { "" } else { "s" }
                );
            }
            io::write_atomic(path, new.as_bytes(), WriteOptions::REPLACE)?;
            written += 1;
        }
    }
    let verb = if args.dry_run {
        "to re-seal"
    } else {
        "re-sealed"
    };
    let Tally {
        resealed,
        current,
        mut report,
        ..
    } = tally;
    report.push_str(&format!(
        "reseal: {resealed} {verb}, {current} up to date, {failed} failed; {written} of {} file{} written{}\n",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if failed > 0 {
            " (nothing is written when anything fails)"
        } else if args.dry_run {
            " (--dry-run)"
        } else {
            ""
        }
    ));
    io::write_stdout(report.as_bytes())?;
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_spans_and_replacement_keep_comments() {
        let text = "# head\napiVersion: v1\nkind: ConfigMap\n---\n# about db\nkind: SealedSecret\nx: 1\n# trailing\n--- # third\nkind: Other\n";
        let spans = split_spans(text).unwrap();
        assert_eq!(spans.len(), 3);
        let second = &text[spans[1].start..spans[1].end];
        assert_eq!(
            second,
            "---\n# about db\nkind: SealedSecret\nx: 1\n# trailing\n"
        );
        assert_eq!(
            replace_yaml(second, "---\nkind: SealedSecret\nx: 2\n"),
            "---\n# about db\nkind: SealedSecret\nx: 2\n# trailing\n"
        );
        let joined: String = spans.iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn json_spans_and_replacement() {
        let text = "{\"a\": 1}\n  {\"b\": 2}\n";
        let spans = split_spans(text).unwrap();
        assert_eq!(spans.len(), 3);
        let second = &text[spans[1].start..spans[1].end];
        assert_eq!(second, "\n  {\"b\": 2}");
        assert_eq!(
            replace_json(second, "{\n  \"b\": 3\n}\n"),
            "\n  {\n  \"b\": 3\n}"
        );
        assert!(split_spans("{\"a\": ").is_err());
    }
}
