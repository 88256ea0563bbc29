//! Content negotiation as the real server does it: request bodies in JSON, YAML or (for the
//! built-in kinds) protobuf, anything else 415 `UnsupportedMediaType` listing what is
//! accepted; responses in the first type of `Accept` the server can produce, else 406.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::errors::{ApiError, ApiResult, json_response};
use crate::protobuf;
use crate::resources::ResourceType;

/// The format of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `application/json` (also no `Content-Type`).
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

fn accepted_types(protobuf: bool) -> String {
    let mut t = vec!["application/json", "application/yaml"];
    if protobuf {
        t.push(protobuf::MEDIA_TYPE);
    }
    t.join(", ")
}

fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The body format of a create or update of `rt`.
pub fn request_body(rt: &ResourceType, headers: &HeaderMap) -> ApiResult<Body> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(media_type)
        .unwrap_or_default();
    let proto = !rt.custom && protobuf::supports(&rt.group, &rt.kind);
    match ctype.as_str() {
        "" | "application/json" | "*/*" => Ok(Body::Json),
        "application/yaml" => Ok(Body::Yaml),
        protobuf::MEDIA_TYPE if proto => Ok(Body::Protobuf),
        _ => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted_types(proto)
            ),
        )),
    }
}

/// 415 for a patch type the resource does not take, listing those it does.
pub fn unsupported_patch(rt: &ResourceType) -> ApiError {
    let mut types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if !rt.custom {
        types.push("application/strategic-merge-patch+json");
    }
    types.push("application/apply-patch+yaml");
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            types.join(", ")
        ),
    )
}

/// The format of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// JSON.
    Json,
    /// Protobuf (built-in kinds only).
    Protobuf,
}

/// The first type in `accept` the server can answer `rt` in.
pub fn response(rt: &ResourceType, accept: &str) -> ApiResult<Out> {
    if accept.trim().is_empty() {
        return Ok(Out::Json);
    }
    let proto = !rt.custom && protobuf::supports(&rt.group, &rt.kind);
    for range in accept.split(',') {
        // `as=Table` and friends are served by the callers in JSON.
        if range.contains("as=") {
            return Ok(Out::Json);
        }
        match media_type(range).as_str() {
            "application/json" | "application/*" | "*/*" | "application/yaml" => {
                return Ok(Out::Json);
            }
            protobuf::MEDIA_TYPE if proto => return Ok(Out::Protobuf),
            _ => {}
        }
    }
    Err(ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: {}",
            accepted_types(proto)
        ),
    ))
}

/// A response body of `kind` (an object or list kind of `rt`'s group).
pub fn respond(code: StatusCode, out: Out, rt: &ResourceType, kind: &str, v: &Value) -> Response {
    if out == Out::Protobuf
        && let Ok(bytes) = protobuf::encode(&rt.api_version(), kind, &rt.group, v)
    {
        return (code, [(header::CONTENT_TYPE, protobuf::MEDIA_TYPE)], bytes).into_response();
    }
    json_response(code, v)
}
