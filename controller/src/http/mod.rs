//! The HTTP API (upstream's paths): `/v1/cert.pem`, `/v1/certs`, `/v1/verify`, `/v1/rotate`,
//! `/healthz`, `/readyz`.
//!
//! Verify and rotate never render templates (`unseal_values_only`) and never change scope: the
//! OAEP label always comes from the object's top-level metadata. Both spend one per-client
//! budget of private-key operations ([`budget`]; the client is the TCP peer, [`client`]), are
//! parsed and decrypted off the async threads a few at a time ([`expensive`]); bodies are capped
//! (413) and malformed input gets 400 with a reason. Responses never contain unsealed values.
//! Both listeners are served with limits for slow and many clients ([`serve`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Semaphore;

pub mod budget;
pub mod client;
pub mod expensive;
pub mod rotate;
pub mod serve;

pub use rotate::reseal;

use crate::keys::Keys;
use crate::metrics::{HttpDurationLabels, HttpLabels, Metrics};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The current keys.
    pub keys: Keys,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Per-client budget of private-key operations of verify and rotate.
    pub budget: Arc<budget::Budget>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted: Arc<client::TrustedProxies>,
    /// Places for verify and rotate requests under way (body read, queued or working).
    pub pipeline: Arc<Semaphore>,
    /// Slots for parsing and decrypting bodies on blocking threads.
    pub workers: Arc<Semaphore>,
    /// Verify and rotate requests under way per client.
    pub in_flight: Arc<expensive::InFlight>,
    /// Whether the v1 `spec.data` format is accepted.
    pub accept_v1_data: bool,
    /// Deadline for reading a request and answering it (`--read-timeout` + `--write-timeout`).
    pub request_timeout: Duration,
}

/// Most verify and rotate requests under way at once (each holds at most `--max-body-bytes`
/// of body); more are answered 503 at once.
pub const PIPELINE: usize = 32;

/// Most verify and rotate requests under way at once from one client, so a client sending
/// bodies slowly cannot take the whole [`PIPELINE`]; more are answered 429 (`Retry-After: 1`).
pub const PER_CLIENT: usize = 4;

/// Bodies parsed and decrypted at once: half the CPUs (at least one), so the async threads and
/// the reconcilers keep a core.
pub fn expensive_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

impl ApiState {
    /// The state for these keys, metrics and settings.
    pub fn new(
        keys: Keys,
        metrics: Arc<Metrics>,
        budget: budget::Budget,
        trusted: client::TrustedProxies,
        accept_v1_data: bool,
        request_timeout: Duration,
    ) -> Self {
        ApiState {
            keys,
            metrics,
            budget: Arc::new(budget),
            trusted: Arc::new(trusted),
            pipeline: Arc::new(Semaphore::new(PIPELINE)),
            workers: Arc::new(Semaphore::new(expensive_workers())),
            in_flight: Arc::new(expensive::InFlight::default()),
            accept_v1_data,
            request_timeout,
        }
    }
}

/// The API router.
///
/// With `page`, the sealing page (`/`, `/index.html`, `/assets/...`, crate `sealant-web`) is
/// served beside the API, inside the same deadline and metrics layers.
pub fn router(state: ApiState, max_body_bytes: usize, page: bool) -> Router {
    let limited = Router::new()
        .route("/v1/verify", any(expensive::verify))
        .route("/v1/rotate", any(expensive::rotate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            expensive::admit,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    let api = Router::new()
        .route("/v1/cert.pem", get(cert_pem))
        .route("/v1/certs", get(certs))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(limited);
    let api = if page {
        api.merge(sealant_web::router())
    } else {
        api
    };
    api.layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts requests and latency on the API paths.
async fn observe(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    if path.starts_with("/v1/") {
        // Only known paths become label values (no cardinality explosion from random URLs).
        let path = match path.as_str() {
            "/v1/cert.pem" | "/v1/certs" | "/v1/verify" | "/v1/rotate" => path,
            _ => "other".to_owned(),
        };
        state
            .metrics
            .http_requests
            .get_or_create(&HttpLabels {
                path: path.clone(),
                code: resp.status().as_u16().to_string(),
                method: method.clone(),
            })
            .inc();
        state
            .metrics
            .http_duration
            .get_or_create(&HttpDurationLabels { path, method })
            .observe(start.elapsed().as_secs_f64());
    }
    resp
}

/// Answers 408 when a request is not read and handled within the deadline.
async fn deadline(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            "Timeout",
            "the request was not completed in time",
        ),
    }
}

fn error(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    (
        code,
        Json(json!({"reason": reason, "message": message.into()})),
    )
        .into_response()
}

async fn readyz(State(state): State<ApiState>) -> Response {
    let keys = state.keys.current();
    if keys.loaded && !keys.keyring.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "sealing keys not loaded yet\n",
        )
            .into_response()
    }
}

async fn cert_pem(State(state): State<ApiState>) -> Response {
    let keys = state.keys.current();
    match keys.keyring.iter().find_map(|e| e.cert.as_ref()) {
        Some(cert) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            cert.to_pem(),
        )
            .into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response(),
    }
}

async fn certs(State(state): State<ApiState>) -> Response {
    let keys = state.keys.current();
    let entries = keys
        .keyring
        .iter()
        .enumerate()
        .map(|(i, e)| sealant_web::CertEntry {
            key_id: e.key_id().as_str(),
            bits: e.key.bits(),
            newest: i == 0,
            cert: e.cert.as_ref(),
        });
    Json(sealant_web::certs_document(entries)).into_response()
}
