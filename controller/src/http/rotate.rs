//! `/v1/rotate`: re-seal with the newest key.
//!
//! Two forms, told apart by the body:
//! - one SealedSecret (JSON or YAML): answered with the re-sealed SealedSecret (`apiVersion` and
//!   `kind` set), or an error status with a `{"reason","message"}` body: 400 malformed, 409
//!   cannot be unsealed, 503 no keys, 500 sealing failed. Unchanged by the batch form.
//! - a batch: one `kind: List` (`apiVersion: v1`) of at most [`MAX_BATCH_ITEMS`] SealedSecrets,
//!   answered 200 with a `kind: List` of as many items in the same order, each the re-sealed
//!   SealedSecret or, for that item's failure, a `kind: Status` object (`status: Failure`,
//!   `reason`, `message`, and the `code` the single form would have answered). More items: 413.
//!   An upstream controller answers a List body with 500, so a client can tell the forms apart
//!   (a List of the same length, or not) and fall back to one object per request.

use axum::http::StatusCode;
use sealant_api::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_KEY_IDS, ANNOTATION_NAMESPACE_WIDE, API_VERSION, KIND,
    SealedSecret, UnsealOptions, parse_stream, scope_from_annotations, unseal_values_only,
};
use sealant_crypto::{Keyring, Scope, encode_value, seal};
use serde_json::{Value, json};

/// Most SealedSecrets in one batch request.
pub const MAX_BATCH_ITEMS: usize = 100;

/// Why an object (or a whole request) failed: HTTP code, CamelCase reason, message.
pub type Failure = (StatusCode, &'static str, String);

/// What a rotate body holds.
pub enum Body {
    /// One SealedSecret: the upstream form.
    One(Box<SealedSecret>),
    /// A `List`: each item a SealedSecret, or why it is not one.
    Batch(Vec<Result<SealedSecret, Failure>>),
}

fn invalid(message: impl Into<String>) -> Failure {
    (StatusCode::BAD_REQUEST, "InvalidInput", message.into())
}

/// Reads a rotate body; `Err` for a body that is neither form (400) or a batch too large (413).
pub fn read_body(body: &[u8]) -> Result<Body, Failure> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("the body is not UTF-8 text"))?;
    let docs = parse_stream(text).map_err(|e| invalid(e.to_string()))?;
    let batch = docs.first().is_some_and(|d| d.list_item.is_some());
    if batch {
        if docs.iter().any(|d| d.number != 1 || d.list_item.is_none()) {
            return Err(invalid(
                "the body holds more than one document; send one List of SealedSecrets",
            ));
        }
        if docs.len() > MAX_BATCH_ITEMS {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "TooManyItems",
                format!(
                    "the List holds {} items; send at most {MAX_BATCH_ITEMS} per request",
                    docs.len()
                ),
            ));
        }
        return Ok(Body::Batch(
            docs.iter()
                .map(|d| d.to_sealed_secret().map_err(|e| invalid(e.to_string())))
                .collect(),
        ));
    }
    match docs.as_slice() {
        [one] => one
            .to_sealed_secret()
            .map(|ss| Body::One(Box::new(ss)))
            .map_err(|e| invalid(e.to_string())),
        [] => Err(invalid("the body holds no SealedSecret")),
        many => Err(invalid(format!(
            "the body holds {} documents; send exactly one SealedSecret, or one List",
            many.len()
        ))),
    }
}

/// The re-sealed object as JSON, with `apiVersion` and `kind`.
pub fn resealed_json(ss: &SealedSecret) -> Value {
    let mut value = serde_json::to_value(ss).unwrap_or_default();
    value["apiVersion"] = json!(API_VERSION);
    value["kind"] = json!(KIND);
    value
}

/// A batch item's failure as a `kind: Status` object.
pub fn status_json((code, reason, message): &Failure) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code.as_u16(),
    })
}

/// The answer to a batch: a `kind: List` with one item per input item, in order.
pub fn batch_json(items: &[Result<SealedSecret, Failure>]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|r| match r {
            Ok(ss) => resealed_json(ss),
            Err(f) => status_json(f),
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
}

/// Re-seals every value of `ss` with the newest key, for the scope, name and namespace of its
/// TOP-LEVEL metadata; the template (metadata, type, templates) is kept, with its scope
/// annotations aligned to the top-level scope. Also returns the private-key operations spent.
/// `opening` unseals (compromised keys included), the newest of `sealing` seals.
pub fn reseal(
    ss: &SealedSecret,
    opening: &Keyring,
    sealing: &Keyring,
    opts: &UnsealOptions,
) -> Result<(SealedSecret, usize), Failure> {
    let newest = sealing.newest().ok_or((
        StatusCode::SERVICE_UNAVAILABLE,
        "NoKeys",
        "no sealing keys are loaded".to_owned(),
    ))?;
    let out = unseal_values_only(ss, opening, opts)
        .map_err(|e| (StatusCode::CONFLICT, e.reason(), e.to_string()))?;
    let rsa_ops = out.rsa_ops;
    // The plaintext, wiped on every way out of here.
    let plain = crate::wipe::Wiped(out.secret);
    let namespace = ss.metadata.namespace.clone().unwrap_or_default();
    let name = ss.metadata.name.clone().unwrap_or_default();
    let top = ss.metadata.annotations.clone().unwrap_or_default();
    let scope = scope_from_annotations(&top);
    let label = scope.label(&namespace, &name);
    let mut encrypted = std::collections::BTreeMap::new();
    for (item, value) in plain.data.iter().flatten() {
        let sealed = seal(newest.key.public_key(), &value.0, &label).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "SealFailed",
                format!("cannot seal item {item:?}: {e}"),
            )
        })?;
        encrypted.insert(item.clone(), encode_value(&sealed));
    }
    let mut new = ss.clone();
    new.status = None;
    let m = &mut new.metadata;
    m.uid = None;
    m.resource_version = None;
    m.generation = None;
    m.creation_timestamp = None;
    m.managed_fields = None;
    m.deletion_timestamp = None;
    m.deletion_grace_period_seconds = None;
    m.self_link = None;
    let mut annotations = top;
    set_scope(&mut annotations, scope);
    annotations.insert(
        ANNOTATION_KEY_IDS.to_owned(),
        newest.key_id().as_str().to_owned(),
    );
    m.annotations = Some(annotations);
    if ss.spec.data.is_some() && new.spec.template.type_.is_none() {
        new.spec.template.type_ = plain.type_.clone();
    }
    let tmeta = &mut new.spec.template.metadata;
    let mut tann = tmeta.annotations.take().unwrap_or_default();
    set_scope(&mut tann, scope);
    tmeta.annotations = Some(tann).filter(|a| !a.is_empty());
    new.spec.encrypted_data = encrypted;
    new.spec.data = None;
    Ok((new, rsa_ops))
}

fn set_scope(annotations: &mut std::collections::BTreeMap<String, String>, scope: Scope) {
    annotations.remove(ANNOTATION_CLUSTER_WIDE);
    annotations.remove(ANNOTATION_NAMESPACE_WIDE);
    match scope {
        Scope::ClusterWide => {
            annotations.insert(ANNOTATION_CLUSTER_WIDE.to_owned(), "true".to_owned());
        }
        Scope::NamespaceWide => {
            annotations.insert(ANNOTATION_NAMESPACE_WIDE.to_owned(), "true".to_owned());
        }
        _ => {}
    }
}
