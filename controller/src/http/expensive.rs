//! `/v1/verify` and `/v1/rotate`: the requests that spend private-key operations.
//!
//! Before the body is read, [`admit`] identifies the client ([`super::client`]), refuses it
//! while its budget is in debt (429) and takes a place in the pipeline (503 when
//! [`super::PIPELINE`] requests are already under way, so bodies held in memory stay bounded).
//! The body is then parsed and decrypted on a blocking thread, at most
//! [`super::expensive_workers`] at once, so the async threads keep answering `/healthz`,
//! `/readyz`, `/v1/cert.pem` and `/metrics` whatever the bodies hold; the budget is charged
//! between parsing and decrypting, once the cost is known ([`super::budget`]).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sealant_api::{
    SealedSecret, UnsealOptions, parse_documents, sealed_secret_from_value, unseal_values_only,
};
use serde_json::json;

use super::budget::{Budget, parse_cost, unseal_bound};
use super::rotate::{self, Body};
use super::{ApiState, error};

/// Requests under way per client (at most [`super::PER_CLIENT`] each).
#[derive(Debug, Default)]
pub struct InFlight(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One request under way; uncounted when dropped.
pub struct Entered<'a>(&'a InFlight, IpAddr);

impl InFlight {
    /// Counts a request of `client`, unless it has the most it may under way.
    pub fn enter(&self, client: IpAddr) -> Option<Entered<'_>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(client).or_insert(0);
        if *n >= super::PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(Entered(self, client))
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut map = (self.0).0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// The client a request is charged to.
#[derive(Clone, Copy, Debug)]
pub struct Client(pub IpAddr);

/// Identifies the client, refuses it while in debt, and holds a place in the pipeline while
/// the request is read and handled.
pub async fn admit(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
    let client = super::client::client_of(peer, req.headers(), &state.trusted);
    // The smallest request: one value against every key, parsed.
    let smallest = parse_cost(0, Duration::ZERO)
        .saturating_add(unseal_bound(1, state.keys.current().opening.len()));
    if let Err(wait) = state.budget.check_debt(client, smallest) {
        tracing::debug!(%client, %peer, ?wait, "HTTP API budget in debt");
        return too_many(&state.budget, wait);
    }
    let Some(_mine) = state.in_flight.enter(client) else {
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyConcurrent",
            format!(
                "this client has {} verify and rotate requests under way; retry shortly",
                super::PER_CLIENT
            ),
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return resp;
    };
    let Ok(place) = state.pipeline.clone().try_acquire_owned() else {
        let mut resp = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "too many verify and rotate requests under way; retry shortly",
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return resp;
    };
    req.extensions_mut().insert(Client(client));
    let mut resp = next.run(req).await;
    drop(place);
    let headers = resp.headers_mut();
    set(headers, "x-ratelimit-limit", state.budget.capacity());
    if !headers.contains_key("x-ratelimit-remaining") {
        set(
            headers,
            "x-ratelimit-remaining",
            state.budget.remaining(client),
        );
    }
    resp
}

fn set(h: &mut HeaderMap, name: &'static str, value: impl std::fmt::Display) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        h.insert(name, v);
    }
}

/// 429 with an honest `Retry-After` (whole seconds, rounded up).
fn too_many(budget: &Budget, wait: Duration) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimited",
        format!(
            "this client's budget of private-key operations is spent; retry in {:.1} s",
            wait.as_secs_f64()
        ),
    );
    let secs = wait.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u64;
    let h = resp.headers_mut();
    set(h, "retry-after", secs);
    set(h, "x-ratelimit-reset", secs);
    set(h, "x-ratelimit-limit", budget.capacity());
    set(h, "x-ratelimit-remaining", 0);
    resp
}

/// Runs `work` on a blocking thread once one of the expensive-work slots is free.
async fn off_thread(
    state: &ApiState,
    work: impl FnOnce() -> Response + Send + 'static,
) -> Response {
    let Ok(slot) = state.workers.clone().acquire_owned().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "Busy", "shutting down");
    };
    match tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    })
    .await
    {
        Ok(resp) => resp,
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the request's work did not complete",
        ),
    }
}

/// How many sealed values unsealing `ss` opens.
fn values(ss: &SealedSecret) -> usize {
    if ss.spec.data.as_deref().is_some_and(|d| !d.is_empty()) {
        1
    } else {
        ss.spec.encrypted_data.len()
    }
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

/// `/v1/verify`: 200 if the SealedSecret can be unsealed, 409 (with the reason) if not.
pub async fn verify(
    State(state): State<ApiState>,
    Extension(Client(client)): Extension<Client>,
    body: Bytes,
) -> Response {
    let (keys, opts, budget) = (
        state.keys.current(),
        unseal_options(&state),
        state.budget.clone(),
    );
    off_thread(&state, move || {
        let (ss, parse) = match parse_timed(&budget, client, &body, read_sealed_secret) {
            Ok(read) => read,
            Err(resp) => return resp,
        };
        let bound = unseal_bound(values(&ss), keys.opening.len());
        if let Err(wait) = budget.admit(client, parse, bound) {
            return too_many(&budget, wait);
        }
        match unseal_values_only(&ss, &keys.opening, &opts) {
            Ok(out) => {
                drop(crate::wipe::Wiped(out.secret));
                budget.refund(client, bound.saturating_sub(out.rsa_ops as u64));
                let compromised: Vec<String> = out
                    .key_ids
                    .iter()
                    .map(|id| id.as_str().to_owned())
                    .filter(|id| keys.compromised.contains(id))
                    .collect();
                if compromised.is_empty() {
                    Json(json!({"reason": "Unsealed", "message": "the SealedSecret can be unsealed by this controller"}))
                        .into_response()
                } else {
                    Json(json!({
                        "reason": crate::status::REASON_COMPROMISED,
                        "message": format!(
                            "the SealedSecret can be unsealed by this controller, but it was {}",
                            crate::status::compromised_message(&compromised)
                        ),
                    }))
                    .into_response()
                }
            }
            Err(e) => error(StatusCode::CONFLICT, e.reason(), e.to_string()),
        }
    })
    .await
}

/// `read` applied to `body`, with what parsing it cost; a body that fails to parse still costs
/// its parsing (even into debt), and the answer stays the parse error.
#[allow(clippy::result_large_err)]
fn parse_timed<T>(
    budget: &Budget,
    client: IpAddr,
    body: &[u8],
    read: impl FnOnce(&[u8]) -> Result<T, Response>,
) -> Result<(T, u64), Response> {
    let started = Instant::now();
    let read = read(body);
    let parse = parse_cost(body.len(), started.elapsed());
    read.map(|v| (v, parse))
        .inspect_err(|_| budget.charge(client, parse))
}

/// [`rotate::read_body`], its refusal as the response.
#[allow(clippy::result_large_err)]
fn read_rotate_body(body: &[u8]) -> Result<rotate::Body, Response> {
    rotate::read_body(body).map_err(|(code, reason, message)| error(code, reason, message))
}

/// How `/v1/verify` and `/v1/rotate` open values (never rendering templates).
fn unseal_options(state: &ApiState) -> UnsealOptions {
    UnsealOptions {
        accept_v1_data: state.accept_v1_data,
        ..UnsealOptions::default()
    }
}

/// `/v1/rotate`: one SealedSecret or a batch, re-sealed with the newest key (see [`rotate`]).
pub async fn rotate(
    State(state): State<ApiState>,
    Extension(Client(client)): Extension<Client>,
    body: Bytes,
) -> Response {
    let (keys, opts, budget) = (
        state.keys.current(),
        unseal_options(&state),
        state.budget.clone(),
    );
    off_thread(&state, move || {
        let (read, parse) = match parse_timed(&budget, client, &body, read_rotate_body) {
            Ok(read) => read,
            Err(resp) => return resp,
        };
        let opening = &keys.opening;
        let bound_of = |ss: &SealedSecret| unseal_bound(values(ss), opening.len());
        let bound = match &read {
            Body::One(ss) => bound_of(ss),
            Body::Batch(items) => items
                .iter()
                .flatten()
                .map(bound_of)
                .fold(0u64, u64::saturating_add),
        };
        if let Err(wait) = budget.admit(client, parse, bound) {
            return too_many(&budget, wait);
        }
        let reseal = |ss: &SealedSecret| {
            let out = rotate::reseal(ss, opening, &keys.keyring, &opts)?;
            budget.refund(client, bound_of(ss).saturating_sub(out.1 as u64));
            Ok(out.0)
        };
        match read {
            Body::One(ss) => match reseal(&ss) {
                Ok(done) => Json(rotate::resealed_json(&done)).into_response(),
                Err((code, reason, message)) => error(code, reason, message),
            },
            Body::Batch(items) => {
                let done: Vec<_> = items
                    .into_iter()
                    .map(|item| item.and_then(|ss| reseal(&ss)))
                    .collect();
                Json(rotate::batch_json(&done)).into_response()
            }
        }
    })
    .await
}
