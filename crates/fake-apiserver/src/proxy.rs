//! `services/{name}/proxy/...`: forwards to a configured local address over HTTP/1.1.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::errors::ApiError;

/// The service name in `name`, `scheme:name:port` or `name:port` form.
pub fn service_name(segment: &str) -> &str {
    let parts: Vec<&str> = segment.split(':').collect();
    match parts.as_slice() {
        [_, name, _] => name,
        [name, _] => name,
        _ => segment,
    }
}

fn unavailable(msg: String) -> Response {
    ApiError::new(503, "ServiceUnavailable", msg).into_response()
}

/// Forwards one request; errors reaching the target are 503 `Status` responses.
pub async fn forward(
    target: SocketAddr,
    method: Method,
    path_and_query: String,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let stream = match tokio::net::TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            return unavailable(format!(
                "error trying to reach service: dial tcp {target}: {e}"
            ));
        }
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return unavailable(format!("error trying to reach service: {e}")),
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = Request::builder().method(method).uri(path_and_query);
    for (k, v) in headers {
        if matches!(
            k.as_str(),
            "host"
                | "connection"
                | "transfer-encoding"
                | "authorization"
                | "content-length"
                | "keep-alive"
                | "upgrade"
        ) {
            continue;
        }
        builder = builder.header(k, v);
    }
    builder = builder.header(header::HOST, target.to_string());
    let req = match builder.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return ApiError::bad_request(format!("bad proxy request: {e}")).into_response(),
    };
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => return unavailable(format!("error trying to reach service: {e}")),
    };
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return unavailable(format!("error reading from service: {e}")),
    };
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = parts.status;
    for (k, v) in &parts.headers {
        if matches!(
            k.as_str(),
            "connection" | "transfer-encoding" | "content-length" | "keep-alive"
        ) {
            continue;
        }
        out.headers_mut().append(k, v.clone());
    }
    out
}
