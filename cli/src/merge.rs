//! `sealant seal --merge-into FILE`: seal a Secret's items into an existing SealedSecret file,
//! rewriting only the lines that change (see [`crate::yamledit`]): comments, other documents
//! and the other items' ciphertext stay byte for byte.

use std::path::Path;

use anyhow::{Result, anyhow};
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{Document, Format, SealOptions};
use sealant_crypto::Certificate;

use crate::io::{self, Source, WriteOptions};
use crate::manifest::locate_err;
use crate::yamledit::{Filter, Target};

/// Seals every input Secret's items into the SealedSecret in `target` (the only one in the
/// file, else the one named like the input) and rewrites the file atomically. With `format`
/// other than the file's, the object is rewritten whole in that format.
pub fn run(
    target: &Path,
    format: Option<Format>,
    source: &Source,
    secrets: &[(Document, Secret)],
    cert: &Certificate,
    opts: &SealOptions,
) -> Result<()> {
    let filters = [Filter::default(), input_filter(secrets, opts)];
    let file = Target::load(target, &filters)?;
    let before = file.sealed_secret()?;
    let mut after = before.clone();
    for (doc, secret) in secrets {
        sealant_api::merge_into(&mut after, secret, cert, opts).map_err(|e| match e {
            e @ (sealant_api::Error::MergeTarget(_)
            | sealant_api::Error::MergeScopeConflict { .. }) => anyhow!("{}: {e}", file.name()),
            other => locate_err(source, doc, secrets.len(), other),
        })?;
    }
    match format.filter(|f| *f != file.format()) {
        None => file.write(&after),
        Some(other) => {
            let rendered =
                sealant_api::render(&after, other).map_err(|e| anyhow!("{}: {e}", file.name()))?;
            let body = rendered.strip_prefix("---\n").unwrap_or(&rendered);
            io::write_atomic(target, body.as_bytes(), WriteOptions::REPLACE)
        }
    }
}

/// The SealedSecret named like the (first) input Secret, for files that hold several.
fn input_filter(secrets: &[(Document, Secret)], opts: &SealOptions) -> Filter {
    let meta = secrets.first().map(|(_, s)| &s.metadata);
    Filter {
        name: opts
            .name
            .clone()
            .or_else(|| meta.and_then(|m| m.name.clone())),
        namespace: opts
            .namespace
            .clone()
            .or_else(|| meta.and_then(|m| m.namespace.clone())),
    }
}
