//! `sealant reseal`: re-seal SealedSecrets in files with the newest key, online (the
//! controller's `/v1/rotate`) or offline (`--key` + `--cert`), rewriting only the documents that
//! change.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use sealant_api::{
    ANNOTATION_KEY_IDS, ANNOTATION_SEALED_FOR, Format, SealedSecret, UnsealOptions,
    key_ids_from_annotations, scope_from_annotations, sealed_for, unseal_values_only,
};
use sealant_crypto::{Certificate, KeyId, Keyring, encode_value, seal};
use serde_json::Value;

use crate::bulk;
use crate::certsrc::{check_pins, resolve};
use crate::io::{self, Source};
use crate::kubecfg::{Cluster, ClusterArgs};
use crate::manifest::{collect_files, detect_format, is_sealed_secret};
use crate::progress::Progress;
use crate::rotate::{Rotated, Rotator};
use crate::yamledit::{replace_json, replace_yaml, rewrite};

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
template stay as they are. Only the lines that change are rewritten: other documents, comments
and ordering are kept byte for byte (a List holding a re-sealed item is printed again whole).
Offline, values are decrypted on every core; online, objects go to the controller in batches
when it offers them. Files are written all at once, and nothing is written if any object fails.";

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

/// YAML: split before each `---` document marker line; JSON: one span per concatenated object.
fn split_spans(text: &str) -> std::result::Result<Vec<Span>, String> {
    if detect_format(text) == Format::Json {
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

/// What a `reseal` run does: the files, how objects are re-sealed, and the newest key.
pub struct ResealPlan {
    /// The files to rewrite.
    pub files: Vec<PathBuf>,
    /// How objects are re-sealed.
    pub resealer: Resealer,
    /// The key every object should be sealed with.
    pub newest: KeyId,
    /// List what would change; decrypt and write nothing.
    pub dry_run: bool,
}

impl ResealArgs {
    /// Finds the files and loads the keys and certificate (offline) or the controller's
    /// certificate (online, checked against the pins).
    pub fn plan(&self) -> Result<ResealPlan> {
        let mut files = Vec::new();
        for source in collect_files(&self.paths)? {
            match source {
                Source::File(path) => files.push(path),
                Source::Stdin => {
                    bail!("reseal rewrites files in place: `-` (stdin) is not accepted")
                }
            }
        }
        let (resealer, newest) = if self.keys.is_empty() {
            let cluster = Cluster::open(&self.cluster)?;
            let pem = cluster.fetch_cert_pem()?;
            let origin = format!("controller {} at {}", cluster.service(), cluster.server);
            let cert = Certificate::from_pem(&pem).map_err(|e| anyhow!("{origin}: {e}"))?;
            let resolved = crate::certsrc::Resolved { cert, pem, origin };
            check_pins(&resolved, &self.cluster)?;
            let newest = resolved.cert.key_id().clone();
            (Resealer::Online(Box::new(cluster)), newest)
        } else {
            let keyring = crate::unseal::load_keyring(&self.keys)?;
            let cert = resolve(self.cert.as_deref(), &self.cluster, true)?.cert;
            let newest = cert.key_id().clone();
            let opts = UnsealOptions {
                accept_v1_data: self.accept_deprecated_v1_data,
                ..UnsealOptions::default()
            };
            (Resealer::Offline(keyring, cert, opts), newest)
        };
        Ok(ResealPlan {
            files,
            resealer,
            newest,
            dry_run: self.dry_run,
        })
    }
}

/// One SealedSecret found in a file, and what becomes of it.
struct Item {
    /// `file: document N[ items[i]]`.
    place: String,
    /// `namespace/name`, or why the object is not a valid SealedSecret.
    object: std::result::Result<(String, SealedSecret), String>,
    value: Value,
    /// `key a,b` or `unrecorded key`.
    old: String,
}

/// What one document of a file is.
enum Part {
    /// Kept as it is (not a SealedSecret, or not understood and not one).
    Keep,
    /// A document that could be a SealedSecret but does not parse: the file fails.
    Broken(String),
    /// A SealedSecret: the index of its [`Item`].
    Single(usize),
    /// A List: `(items[i], index of its Item)` for its SealedSecrets.
    List(Vec<(usize, usize)>),
}

/// One file, split into documents.
struct File {
    path: PathBuf,
    text: String,
    format: Format,
    /// Byte range and meaning of each document, in order.
    parts: Vec<(std::ops::Range<usize>, Part)>,
    /// The file could not be read or split.
    error: Option<String>,
}

/// Re-seals every SealedSecret not on the newest key (offline on all cores, online in
/// batches), then writes every changed file at once; nothing is written if anything failed.
pub fn run(plan: &ResealPlan) -> Result<bool> {
    let mut items: Vec<Item> = Vec::new();
    let files: Vec<File> = plan
        .files
        .iter()
        .map(|path| read_file(path, &mut items))
        .collect();

    // What each item needs; the work list holds the items to re-seal.
    let needs: Vec<bool> = items
        .iter()
        .map(|item| matches!(&item.object, Ok((_, ss)) if needs_reseal(ss, &plan.newest)))
        .collect();
    let work: Vec<usize> = (0..items.len())
        .filter(|i| needs[*i] && !plan.dry_run)
        .collect();
    let mut results: Vec<Option<Rotated>> = vec![None; items.len()];
    let done = match &plan.resealer {
        Resealer::Offline(keyring, cert, opts) => bulk::map("reseal", &work, |i| {
            let Ok((_, ss)) = &items[*i].object else {
                return Err("not a SealedSecret".to_owned());
            };
            reseal_offline(ss, keyring, cert, opts)
        }),
        Resealer::Online(cluster) => {
            let objects: Vec<(&SealedSecret, &Value)> = work
                .iter()
                .filter_map(|i| match &items[*i].object {
                    Ok((_, ss)) => Some((ss, &items[*i].value)),
                    Err(_) => None,
                })
                .collect();
            let progress = Progress::new("reseal", objects.len());
            let rotator = Rotator::new(cluster);
            rotator.rotate_all(&objects, &progress)?
        }
    };
    for (i, result) in work.iter().zip(done) {
        results[*i] = Some(result);
    }

    // The report, in file order, and the new texts.
    let mut tally = Tally {
        newest: &plan.newest,
        resealed: 0,
        current: 0,
        report: String::new(),
    };
    let mut failed = 0usize;
    let mut writes: Vec<(PathBuf, String, Vec<u8>)> = Vec::new();
    let mut pending_bytes = 0usize;
    for file in &files {
        if let Some(error) = &file.error {
            failed += 1;
            tally.report.push_str(&format!("FAILED: {error}\n"));
            continue;
        }
        let mut file_failed = false;
        let mut changed = false;
        let mut new_text = String::with_capacity(file.text.len());
        for (range, part) in &file.parts {
            let doc_text = &file.text[range.clone()];
            let mut outcome = |index: usize, tally: &mut Tally, failed: &mut bool| {
                let result = results[index].take();
                tally
                    .item(&items[index], needs[index], result)
                    .unwrap_or_else(|()| {
                        *failed = true;
                        None
                    })
            };
            let rendered = match part {
                Part::Keep => None,
                Part::Broken(line) => {
                    tally.report.push_str(line);
                    file_failed = true;
                    None
                }
                Part::Single(index) => outcome(*index, &mut tally, &mut file_failed).map(|new| {
                    rewrite(doc_text, file.format, &items[*index].value, &new)
                        .map_err(|e| anyhow!("{}: {e}", items[*index].place))
                }),
                Part::List(members) => {
                    let replaced: Vec<(usize, SealedSecret)> = members
                        .iter()
                        .filter_map(|(i, index)| {
                            outcome(*index, &mut tally, &mut file_failed).map(|new| (*i, new))
                        })
                        .collect();
                    (!replaced.is_empty()).then(|| {
                        sealant_api::render_list(doc_text, &replaced, file.format)
                            .map(|r| match file.format {
                                Format::Json => replace_json(doc_text, &r),
                                Format::Yaml => replace_yaml(doc_text, &r),
                            })
                            .map_err(|e| anyhow!("{}: {e}", file.path.display()))
                    })
                }
            };
            match rendered {
                Some(text) => {
                    new_text.push_str(&text?);
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
            writes.push((file.path.clone(), file.text.clone(), new_text.into_bytes()));
        }
    }
    let Tally {
        resealed,
        current,
        mut report,
        ..
    } = tally;

    let mut written = 0;
    if failed == 0 && !plan.dry_run && !writes.is_empty() {
        // Do not clobber an edit made while we worked.
        for (path, old, _) in &writes {
            let now = io::read_source_text(&Source::File(path.clone()))?;
            if &now != old {
                bail!(
                    "{}: changed while re-sealing; nothing written",
                    path.display()
                );
            }
        }
        let outputs: Vec<(PathBuf, Vec<u8>)> = writes
            .into_iter()
            .map(|(path, _, new)| (path, new))
            .collect();
        io::write_all(&outputs)?;
        written = outputs.len();
    }
    let verb = if plan.dry_run {
        "to re-seal"
    } else {
        "re-sealed"
    };
    let count = plan.files.len();
    report.push_str(&format!(
        "reseal: {resealed} {verb}, {current} up to date, {failed} failed; {written} of {count} file{} written{}\n",
        if count == 1 { "" } else { "s" },
        if failed > 0 {
            " (nothing is written when anything fails)"
        } else if plan.dry_run {
            " (--dry-run)"
        } else {
            ""
        }
    ));
    io::write_stdout(report.as_bytes())?;
    Ok(failed == 0)
}

/// Counts and report lines of a run.
struct Tally<'a> {
    newest: &'a KeyId,
    resealed: usize,
    current: usize,
    report: String,
}

impl Tally<'_> {
    /// Reports one item: `Ok(Some)` with the re-sealed object, `Ok(None)` when it stays as it
    /// is, `Err` when it failed.
    fn item(
        &mut self,
        item: &Item,
        needed: bool,
        result: Option<Rotated>,
    ) -> std::result::Result<Option<SealedSecret>, ()> {
        let (place, old, newest) = (&item.place, &item.old, self.newest);
        let object = match &item.object {
            Ok((object, _)) => object,
            Err(e) => {
                self.report.push_str(&format!("{place}: FAILED: {e}\n"));
                return Err(());
            }
        };
        if !needed {
            self.current += 1;
            self.report
                .push_str(&format!("{place}: {object}: up to date ({old})\n"));
            return Ok(None);
        }
        match result {
            None => {
                self.resealed += 1;
                self.report.push_str(&format!(
                    "{place}: {object}: would re-seal ({old} -> key {newest})\n"
                ));
                Ok(None)
            }
            Some(Ok(mut new)) => {
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
                Ok(Some(new))
            }
            Some(Err(message)) => {
                self.report.push_str(&format!(
                    "{place}: {object}: FAILED: {}\n",
                    crate::one_line(&message)
                ));
                Err(())
            }
        }
    }
}

/// Reads and splits one file, adding its SealedSecrets to `items`.
fn read_file(path: &std::path::Path, items: &mut Vec<Item>) -> File {
    let source = Source::File(path.to_path_buf());
    let mut file = File {
        path: path.to_path_buf(),
        text: String::new(),
        format: Format::Yaml,
        parts: Vec::new(),
        error: None,
    };
    match io::read_source_text(&source) {
        Ok(text) => file.text = text,
        Err(e) => {
            file.error = Some(crate::one_line(&format!("{e:#}")));
            return file;
        }
    }
    file.format = detect_format(&file.text);
    let spans = match split_spans(&file.text) {
        Ok(s) => s,
        Err(e) => {
            file.error = Some(format!("{source}: {e}"));
            return file;
        }
    };
    let json = file.format == Format::Json;
    let mut number = 0;
    for span in spans {
        let range = span.start..span.end;
        let doc_text = &file.text[range.clone()];
        let docs = match sealant_api::parse_stream(doc_text) {
            Ok(d) => d,
            Err(e) => {
                number += 1;
                // Not an object this command understands: keep it, but fail the file if it
                // could be a SealedSecret.
                let part = if doc_text.contains(sealant_api::KIND) {
                    Part::Broken(format!("{source}: document {number}: FAILED: {e}\n"))
                } else {
                    Part::Keep
                };
                file.parts.push((range, part));
                continue;
            }
        };
        if !docs.is_empty() || (json && !doc_text.trim().is_empty()) || doc_text.starts_with("---")
        {
            number += 1;
        }
        let place = format!("{source}: document {number}");
        let mut item = |place: String, value: &Value| {
            let object = sealant_api::sealed_secret_from_value(value)
                .map(|ss| {
                    let object = format!(
                        "{}/{}",
                        ss.metadata.namespace.as_deref().unwrap_or_default(),
                        ss.metadata.name.as_deref().unwrap_or_default()
                    );
                    (object, ss)
                })
                .map_err(|e| e.to_string());
            let old = match &object {
                Ok((_, ss)) => old_keys(ss),
                Err(_) => String::new(),
            };
            items.push(Item {
                place,
                object,
                value: value.clone(),
                old,
            });
            items.len() - 1
        };
        let part = match docs.as_slice() {
            [doc] if doc.list_item.is_none() && is_sealed_secret(&doc.value) => {
                Part::Single(item(place, &doc.value))
            }
            docs => {
                let members: Vec<(usize, usize)> = docs
                    .iter()
                    .filter(|doc| is_sealed_secret(&doc.value))
                    .filter_map(|doc| {
                        let index = doc.list_item?;
                        Some((index, item(format!("{place} items[{index}]"), &doc.value)))
                    })
                    .collect();
                if members.is_empty() {
                    Part::Keep
                } else {
                    Part::List(members)
                }
            }
        };
        file.parts.push((range, part));
    }
    file
}

/// `key a,b`, or `unrecorded key`.
fn old_keys(ss: &SealedSecret) -> String {
    let empty = Default::default();
    let ids: Vec<String> =
        key_ids_from_annotations(ss.metadata.annotations.as_ref().unwrap_or(&empty))
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
    if ids.is_empty() {
        "unrecorded key".to_owned()
    } else {
        format!("key {}", ids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_spans_cover_the_text() {
        let text = "# head\napiVersion: v1\nkind: ConfigMap\n---\n# about db\nkind: SealedSecret\nx: 1\n# trailing\n--- # third\nkind: Other\n";
        let spans = split_spans(text).unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(
            &text[spans[1].start..spans[1].end],
            "---\n# about db\nkind: SealedSecret\nx: 1\n# trailing\n"
        );
        let joined: String = spans.iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(joined, text);

        let text = "{\"a\": 1}\n  {\"b\": 2}\n";
        let spans = split_spans(text).unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(&text[spans[1].start..spans[1].end], "\n  {\"b\": 2}");
        assert!(split_spans("{\"a\": ").is_err());
    }
}
