//! Watch responses: newline-delimited JSON events over a chunked HTTP body.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::resources::ResourceType;
use crate::store::{Served, WatchMsg};
use crate::table;

/// How the stream renders objects.
pub struct StreamOpts {
    /// The resource (and version) watched.
    pub rt: ResourceType,
    /// Render objects as single-row Tables (`kubectl get --watch`).
    pub table: Option<String>,
    /// Render objects as `PartialObjectMetadata`.
    pub meta_only: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
}

/// A watch event line as JSON: `{"type":...,"object":...}` plus whether it ends the stream.
fn render(msg: WatchMsg, opts: &StreamOpts, first: bool) -> (Vec<u8>, bool) {
    let line = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
    match msg {
        // The common case, serialized straight from the shared stored object (no deep copy).
        WatchMsg::Event(t, obj) if opts.table.is_none() && !opts.meta_only => {
            let event = EventLine {
                type_: t,
                object: Served {
                    obj: &obj,
                    api_version: &opts.rt.api_version(),
                },
            };
            (serde_json::to_vec(&event).unwrap_or_default(), false)
        }
        WatchMsg::Event(t, obj) if opts.table.is_none() => (
            line(&json!({"type": t, "object": table::partial(&obj)})),
            false,
        ),
        WatchMsg::Event(t, obj) => {
            let o = Served {
                obj: &obj,
                api_version: &opts.rt.api_version(),
            }
            .to_value();
            let include = opts.table.as_deref().unwrap_or_default();
            let o = table::table(&opts.rt, &[o], include, first, json!({}));
            (line(&json!({"type": t, "object": o})), false)
        }
        WatchMsg::Bookmark(rv, initial_end) => {
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let (kind, api_version) = if opts.meta_only {
                (
                    "PartialObjectMetadata".to_string(),
                    "meta.k8s.io/v1".to_string(),
                )
            } else {
                (opts.rt.kind.clone(), opts.rt.api_version())
            };
            (
                line(&json!({"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": api_version, "metadata": meta}})),
                false,
            )
        }
        WatchMsg::Error(e) => (
            line(&json!({"type": "ERROR", "object": e.to_status()})),
            true,
        ),
    }
}

#[derive(serde::Serialize)]
struct EventLine<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    object: Served<'a>,
}

/// The streaming response for a registered watch.
pub fn response(rx: mpsc::UnboundedReceiver<WatchMsg>, opts: StreamOpts) -> Response {
    let deadline = opts.timeout.and_then(|t| Instant::now().checked_add(t));
    let stream = futures_util::stream::unfold(
        (rx, opts, true, false),
        move |(mut rx, opts, first, done)| async move {
            if done {
                return None;
            }
            let msg = match deadline {
                Some(d) => tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep_until(d) => None,
                },
                None => rx.recv().await,
            }?;
            let is_event = matches!(msg, WatchMsg::Event(..));
            let (mut line, end) = render(msg, &opts, first);
            line.push(b'\n');
            Some((
                Ok::<Bytes, Infallible>(Bytes::from(line)),
                (rx, opts, first && !is_event, end),
            ))
        },
    );
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}
