//! Re-sealing through the controller's `/v1/rotate`: one object per request (upstream's form,
//! kubeseal `--re-encrypt`), or up to [`MAX_BATCH`] per request when the controller offers the
//! batch form.
//!
//! The batch form: POST a `kind: List` (apiVersion `v1`) of SealedSecrets; a controller that
//! supports it answers 200 with a `kind: List` of as many items in the same order, each the
//! re-sealed SealedSecret or a `kind: Status` failure for that item. Any other answer (upstream
//! answers 500 to a List; 413; not a List; another length) means no batch support: the objects
//! are sent one per request, and so is everything else for the rest of the run.

use std::cell::Cell;

use anyhow::{Result, anyhow, bail};
use sealant_api::{ANNOTATION_SEALED_FOR, SealedSecret, scope_from_annotations, sealed_for};
use serde_json::Value;

use crate::kubecfg::{Answer, Cluster, status_message};
use crate::progress::Progress;

/// At most this many SealedSecrets per batch request (the contract's limit).
pub const MAX_BATCH: usize = 100;
/// A batch stops growing at this many bytes of request body (one object may be larger), well
/// under the controller's default body limit (2 MiB).
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The result for one object: the re-sealed object, or why the controller would not.
pub type Rotated = std::result::Result<SealedSecret, String>;

/// Re-seals objects through one controller, remembering whether it takes batches.
pub struct Rotator<'a> {
    cluster: &'a Cluster,
    /// `Some(false)` once the controller answered a batch as upstream does.
    batches: Cell<Option<bool>>,
}

impl<'a> Rotator<'a> {
    /// A rotator that tries the batch form first.
    pub fn new(cluster: &'a Cluster) -> Self {
        Rotator {
            cluster,
            batches: Cell::new(None),
        }
    }

    /// Re-seals every `(object, as read)` pair, in order. `Err` only when the controller
    /// cannot be reached.
    pub fn rotate_all(
        &self,
        objects: &[(&SealedSecret, &Value)],
        progress: &Progress,
    ) -> Result<Vec<Rotated>> {
        let mut out = Vec::with_capacity(objects.len());
        let mut rest = objects;
        while !rest.is_empty() {
            let size = batch_len(rest);
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            if size > 1 && self.batches.get() != Some(false) {
                if let Some(results) = self.try_batch(chunk)? {
                    self.batches.set(Some(true));
                    for _ in 0..results.len() {
                        progress.inc();
                    }
                    out.extend(results);
                    continue;
                }
                self.batches.set(Some(false));
            }
            for (ss, raw) in chunk {
                out.push(rotate_one(self.cluster, ss, raw)?);
                progress.inc();
            }
        }
        Ok(out)
    }

    /// One batch request; `None` when the answer is not the batch form.
    fn try_batch(&self, chunk: &[(&SealedSecret, &Value)]) -> Result<Option<Vec<Rotated>>> {
        let list = serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": chunk.iter().map(|(_, raw)| *raw).collect::<Vec<_>>(),
        });
        let body = serde_json::to_vec(&list).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
        let answer = self.cluster.call("POST", "/v1/rotate", Some(&body))?;
        unavailable(self.cluster, &answer)?;
        if answer.status != 200 {
            return Ok(None);
        }
        let Ok(Value::Object(mut reply)) = serde_json::from_slice::<Value>(&answer.body) else {
            return Ok(None);
        };
        let is_list = reply.get("kind").and_then(Value::as_str) == Some("List");
        let items = match reply.remove("items") {
            Some(Value::Array(items)) if is_list && items.len() == chunk.len() => items,
            _ => return Ok(None),
        };
        Ok(Some(
            items
                .into_iter()
                .zip(chunk)
                .map(|(item, (ss, _))| {
                    if item.get("kind").and_then(Value::as_str) == Some("Status") {
                        let body = serde_json::to_vec(&item).unwrap_or_default();
                        Err(format!(
                            "the controller cannot re-seal it: {}",
                            status_message(&body)
                        ))
                    } else {
                        accept(ss, item)
                    }
                })
                .collect(),
        ))
    }
}

/// How many of `objects` go into the next request.
fn batch_len(objects: &[(&SealedSecret, &Value)]) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for (_, raw) in objects.iter().take(MAX_BATCH) {
        bytes += serde_json::to_vec(raw).map_or(0, |v| v.len());
        if n > 0 && bytes > MAX_BATCH_BYTES {
            break;
        }
        n += 1;
    }
    n.max(1)
}

/// The API server's own answers (no endpoints, cannot dial): the controller is down.
fn unavailable(cluster: &Cluster, answer: &Answer) -> Result<()> {
    if (502..=504).contains(&answer.status) {
        bail!(
            "cannot re-seal through {} at {}: the controller is unavailable ({}: {})",
            cluster.service(),
            cluster.server,
            answer.status,
            status_message(&answer.body)
        );
    }
    Ok(())
}

/// kubeseal `--re-encrypt`: the controller re-seals `raw` with its newest key (one request).
/// `Ok(Err(message))` is a failure of this object; `Err` means the controller is unreachable.
pub fn rotate_one(cluster: &Cluster, ss: &SealedSecret, raw: &Value) -> Result<Rotated> {
    let body = serde_json::to_vec(raw).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
    let answer = cluster.call("POST", "/v1/rotate", Some(&body))?;
    unavailable(cluster, &answer)?;
    if answer.status != 200 {
        return Ok(Err(format!(
            "the controller cannot re-seal it ({}): {}",
            answer.status,
            status_message(&answer.body)
        )));
    }
    Ok(match serde_json::from_slice(&answer.body) {
        Ok(v @ Value::Object(_)) => accept(ss, v),
        _ => Err("the controller's answer is not a JSON object".to_owned()),
    })
}

/// Checks a controller's answer for `ss`: it must keep the name, namespace and scope; it gets
/// [`ANNOTATION_SEALED_FOR`] and loses server-set fields.
fn accept(ss: &SealedSecret, mut value: Value) -> Rotated {
    // Upstream's answer has no apiVersion/kind.
    value["apiVersion"] = sealant_api::API_VERSION.into();
    value["kind"] = sealant_api::KIND.into();
    let mut new = sealant_api::sealed_secret_from_value(&value)
        .map_err(|e| format!("the controller's answer: {e}"))?;
    let empty = Default::default();
    let scope = scope_from_annotations(ss.metadata.annotations.as_ref().unwrap_or(&empty));
    let new_scope = scope_from_annotations(new.metadata.annotations.as_ref().unwrap_or(&empty));
    if new.metadata.name != ss.metadata.name
        || new.metadata.namespace != ss.metadata.namespace
        || new_scope != scope
    {
        return Err(format!(
            "the controller's answer changed the name, namespace or scope ({scope} -> {new_scope}): refusing it"
        ));
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
    Ok(new)
}
