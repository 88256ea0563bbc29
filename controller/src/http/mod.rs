//! The HTTP API (upstream's paths): `/v1/cert.pem`, `/v1/certs`, `/v1/verify`, `/v1/rotate`,
//! `/healthz`, `/readyz`.
//!
//! Verify and rotate never render templates (`unseal_values_only`) and never change scope: the
//! OAEP label always comes from the object's top-level metadata. Both share one GCRA rate
//! limiter keyed, like upstream, by path + `X-Forwarded-For`; bodies are capped (413) and
//! malformed input gets 400 with a reason. Responses never contain unsealed values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use sealant_api::{
    SealedSecret, UnsealOptions, parse_documents, sealed_secret_from_value, unseal_values_only,
};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

pub mod rotate;

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
    /// Rate limiter of verify and rotate.
    pub limiter: Arc<RateLimiter>,
    /// Whether the v1 `spec.data` format is accepted.
    pub accept_v1_data: bool,
    /// Deadline for reading a request and answering it (`--read-timeout` + `--write-timeout`).
    pub request_timeout: Duration,
}

/// The API router.
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    let limited = Router::new()
        .route("/v1/verify", any(verify))
        .route("/v1/rotate", any(rotate))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    Router::new()
        .route("/v1/cert.pem", get(cert_pem))
        .route("/v1/certs", get(certs))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(limited)
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
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
    let fmt = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let list: Vec<_> = keys
        .keyring
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v = json!({
                "keyId": e.key_id().as_str(),
                "bits": e.key.bits(),
                "newest": i == 0,
            });
            if let Some(c) = &e.cert {
                v["notBefore"] = json!(fmt(c.not_before()));
                v["notAfter"] = json!(fmt(c.not_after()));
                v["subject"] = json!(c.subject());
                v["serial"] = json!(c.serial());
                v["certificate"] = json!(c.to_pem());
            }
            v
        })
        .collect();
    Json(json!({ "certificates": list })).into_response()
}

/// Reads exactly one SealedSecret from a request body.
#[allow(clippy::result_large_err)]
fn read_sealed_secret(body: &[u8]) -> Result<SealedSecret, Response> {
    let text = std::str::from_utf8(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "the body is not UTF-8 text",
        )
    })?;
    let docs = parse_documents(text)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "InvalidInput", e.to_string()))?;
    match docs.as_slice() {
        [one] => sealed_secret_from_value(one)
            .map_err(|e| error(StatusCode::BAD_REQUEST, "InvalidInput", e.to_string())),
        [] => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "the body holds no SealedSecret",
        )),
        many => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!(
                "the body holds {} documents; send exactly one SealedSecret",
                many.len()
            ),
        )),
    }
}

async fn verify(State(state): State<ApiState>, body: Bytes) -> Response {
    let ss = match read_sealed_secret(&body) {
        Ok(ss) => ss,
        Err(resp) => return resp,
    };
    let keys = state.keys.current();
    let opts = UnsealOptions {
        accept_v1_data: state.accept_v1_data,
        ..UnsealOptions::default()
    };
    let result = tokio::task::spawn_blocking(move || {
        unseal_values_only(&ss, &keys.keyring, &opts).map(|_| ())
    })
    .await;
    match result {
        Ok(Ok(())) => Json(json!({"reason": "Unsealed", "message": "the SealedSecret can be unsealed by this controller"}))
            .into_response(),
        Ok(Err(e)) => error(StatusCode::CONFLICT, e.reason(), e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "unseal task failed",
        ),
    }
}

async fn rotate(State(state): State<ApiState>, body: Bytes) -> Response {
    let keys = state.keys.current();
    let opts = UnsealOptions {
        accept_v1_data: state.accept_v1_data,
        ..UnsealOptions::default()
    };
    let result = tokio::task::spawn_blocking(move || {
        let body = rotate::read_body(&body)?;
        Ok(match body {
            rotate::Body::One(ss) => Json(rotate::resealed_json(&rotate::reseal(
                &ss,
                &keys.keyring,
                &opts,
            )?)),
            rotate::Body::Batch(items) => {
                let done: Vec<_> = items
                    .into_iter()
                    .map(|item| item.and_then(|ss| rotate::reseal(&ss, &keys.keyring, &opts)))
                    .collect();
                Json(rotate::batch_json(&done))
            }
        })
    })
    .await;
    match result {
        Ok(Ok(json)) => json.into_response(),
        Ok(Err((code, reason, message))) => error(code, reason, message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "re-seal task failed",
        ),
    }
}

async fn rate_limit(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Bounded key size: at most 65 536 keys of at most ~200 bytes.
    let forwarded: String = forwarded.chars().take(MAX_FORWARDED_CHARS).collect();
    let key = format!("{}|{forwarded}", req.uri().path());
    match state.limiter.check(&key) {
        Ok(remaining) => {
            let mut resp = next.run(req).await;
            state.limiter.headers(resp.headers_mut(), remaining, None);
            resp
        }
        Err(retry_after) => {
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimited",
                "limit exceeded",
            );
            state
                .limiter
                .headers(resp.headers_mut(), 0, Some(retry_after));
            resp
        }
    }
}

/// GCRA rate limiter (as upstream's `throttled`): `rate` per second with `burst` extra
/// requests, per key, at most 65 536 keys.
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    burst: u32,
    tat: Mutex<HashMap<String, Instant>>,
}

const MAX_KEYS: usize = 65_536;
const MAX_FORWARDED_CHARS: usize = 180;

impl RateLimiter {
    /// `rate` requests per second (≤ 0: unlimited), `burst` more at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        let interval = if rate > 0.0 {
            Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::from_secs(86_400))
        } else {
            Duration::ZERO
        };
        RateLimiter {
            interval,
            tolerance: interval.checked_mul(burst).unwrap_or(Duration::MAX),
            burst,
            tat: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok(remaining)` if allowed now, else `Err(retry after)`.
    pub fn check(&self, key: &str) -> Result<u32, Duration> {
        if self.interval.is_zero() {
            return Ok(self.burst);
        }
        let now = Instant::now();
        let mut map = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            map.retain(|_, tat| *tat > now);
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        let new_tat = tat + self.interval;
        map.insert(key.to_owned(), new_tat);
        let used = (new_tat - now).as_secs_f64() / self.interval.as_secs_f64();
        let remaining = (f64::from(self.burst) + 1.0 - used.ceil()).max(0.0);
        Ok(remaining as u32)
    }

    fn headers(&self, h: &mut HeaderMap, remaining: u32, retry_after: Option<Duration>) {
        let set = |h: &mut HeaderMap, k: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        set(
            h,
            "x-ratelimit-limit",
            self.burst.saturating_add(1).to_string(),
        );
        set(h, "x-ratelimit-remaining", remaining.to_string());
        if let Some(after) = retry_after {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            set(h, "retry-after", secs.to_string());
            set(h, "x-ratelimit-reset", secs.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_burst_then_limits() {
        let l = RateLimiter::new(2.0, 2);
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        let retry = l.check("a").unwrap_err();
        assert!(retry <= Duration::from_millis(500));
        assert!(l.check("b").is_ok(), "keys are independent");
    }

    #[test]
    fn tiny_rate_does_not_panic() {
        let l = RateLimiter::new(1e-300, 1);
        assert!(l.check("a").is_ok());
        let l = RateLimiter::new(1e-9, u32::MAX);
        assert!(l.check("a").is_ok());
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let l = RateLimiter::new(0.0, 0);
        for _ in 0..100 {
            assert!(l.check("a").is_ok());
        }
    }
}
