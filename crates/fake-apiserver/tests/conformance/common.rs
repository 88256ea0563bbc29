//! Shared helpers.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use futures_util::{Stream, StreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ObjectMeta, WatchEvent};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn setup() -> (FakeApiServer, Client) {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client().await.unwrap();
    (server, client)
}

pub fn secrets(client: &Client) -> Api<Secret> {
    Api::namespaced(client.clone(), "default")
}

pub fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

pub fn rv<K: kube::Resource>(o: &K) -> String {
    o.meta().resource_version.clone().unwrap()
}

/// The next non-bookmark event within `d`.
pub async fn next_event<K, S>(s: &mut S, d: Duration) -> Option<WatchEvent<K>>
where
    S: Stream<Item = kube::Result<WatchEvent<K>>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + d;
    loop {
        let ev = tokio::time::timeout_at(deadline, s.next()).await.ok()??;
        match ev.unwrap() {
            WatchEvent::Bookmark(_) => continue,
            e => return Some(e),
        }
    }
}

pub fn event_name<K: kube::Resource>(e: &WatchEvent<K>) -> (String, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED".into(), o.meta().name.clone().unwrap()),
        WatchEvent::Modified(o) => ("MODIFIED".into(), o.meta().name.clone().unwrap()),
        WatchEvent::Deleted(o) => ("DELETED".into(), o.meta().name.clone().unwrap()),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(s) => ("ERROR".into(), s.reason.clone()),
    }
}

/// A raw HTTP/1.1 exchange: `(status, head, decoded body)`. Reads until the server closes
/// the connection or `wait` elapses.
pub async fn raw(
    server: &FakeApiServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    wait: Duration,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, head.to_string(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            out.push_str(rest.get(..n.min(rest.len())).unwrap_or(""));
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Parses newline-delimited JSON.
pub fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
