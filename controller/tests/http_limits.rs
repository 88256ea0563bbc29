//! Limits of the HTTP API (issue 23): the budget of private-key operations per client (keyed on
//! the TCP peer, `X-Forwarded-For` only from trusted proxies), its honest `Retry-After`, no
//! stalls of the cheap endpoints under hostile bodies, and slow clients.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use sealant_api::to_json;
use sealant_crypto::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn started(extra: &[&str]) -> (fake_apiserver::FakeApiServer, sealant_controller::Running) {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let ctl = controller(&client, extra).await;
    (server, ctl)
}

async fn post(
    ctl: &sealant_controller::Running,
    path: &str,
    xff: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let headers: Vec<(&str, &str)> = xff.map(|x| ("X-Forwarded-For", x)).into_iter().collect();
    let (code, head, _) = http(ctl.http_addr, "POST", path, &headers, body).await;
    (code, head)
}

fn retry_after(head: &str) -> Option<u64> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("retry-after")
            .then(|| v.trim().parse().ok())?
    })
}

/// The client is the TCP peer: a made-up `X-Forwarded-For` per request buys no fresh budget
/// (upstream keyed its limiter on that header).
#[tokio::test]
async fn the_budget_is_keyed_on_the_peer_not_on_what_it_claims() {
    let (_server, ctl) = started(&["--rate-limit", "0.1", "--rate-limit-burst", "10"]).await;
    let mut codes = Vec::new();
    for i in 0..20 {
        let xff = format!("10.20.0.{i}");
        codes.push(post(&ctl, "/v1/verify", Some(&xff), b"{}").await.0);
    }
    // Each malformed body costs one operation to parse: ten pass (the eleventh puts the
    // client in debt), the rest are refused before their body is read.
    assert_eq!(codes.iter().filter(|c| **c == 400).count(), 11, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 9, "{codes:?}");
    ctl.shutdown().await;
}

/// From a trusted proxy, the hop it appended is the client; what came before it is not.
#[tokio::test]
async fn a_trusted_proxy_names_each_client_in_the_hop_it_appended() {
    let (_server, ctl) = started(&[
        "--rate-limit",
        "0.1",
        "--rate-limit-burst",
        "3",
        "--trusted-proxies",
        "192.0.2.0/24,127.0.0.1",
    ])
    .await;
    // Twenty clients behind the proxy: each has its own budget.
    for i in 0..20 {
        let xff = format!("203.0.113.{i}");
        assert_eq!(
            post(&ctl, "/v1/verify", Some(&xff), b"{}").await.0,
            400,
            "client {i}"
        );
    }
    // One client lying about where it comes from: the proxy's hop still names it.
    let mut codes = Vec::new();
    for i in 0..8 {
        let xff = format!("10.0.0.{i}, 198.51.100.7");
        codes.push(post(&ctl, "/v1/verify", Some(&xff), b"{}").await.0);
    }
    assert_eq!(codes[..4], [400, 400, 400, 400], "{codes:?}");
    assert!(codes[4..].iter().all(|c| *c == 429), "{codes:?}");
    ctl.shutdown().await;
}

/// A request pays for its work: after a verify of many values, the same client waits as long
/// as that work takes at the sustained rate; many small requests pass. `Retry-After` is when
/// the request passes.
#[tokio::test]
async fn a_big_request_pays_for_its_work_and_retry_after_is_honest() {
    let (_server, ctl) = started(&["--rate-limit", "20", "--rate-limit-burst", "40"]).await;
    let (_, cert) = test_key();
    let small = to_json(&seal(&cert, "app", "small", &[("k", "v")], Scope::Strict)).unwrap();
    // Many small ones (one value: at most 3 operations with one key, 1 really spent, plus 1
    // to parse): far more than upstream's 2 requests per second with a burst of 2.
    for i in 0..12 {
        let (code, head) = post(&ctl, "/v1/verify", None, small.as_bytes()).await;
        assert_eq!(code, 200, "small request {i}: {head}");
    }
    // Refill, then one verify of 100 values: 102 operations bound, more than the bucket.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let items: Vec<(String, String)> = (0..100)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let big = to_json(&seal(&cert, "app", "big", &refs, Scope::Strict)).unwrap();
    let (code, head) = post(&ctl, "/v1/verify", None, big.as_bytes()).await;
    assert_eq!(code, 200, "{head}");
    // 103 charged, 2 refunded: about 61 in debt at 20/s.
    let (code, head) = post(&ctl, "/v1/verify", None, small.as_bytes()).await;
    assert_eq!(code, 429, "{head}");
    let wait = retry_after(&head).unwrap();
    assert!((3..=4).contains(&wait), "{head}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (code, head) = post(&ctl, "/v1/verify", None, small.as_bytes()).await;
    assert_eq!(code, 200, "after Retry-After: {head}");
    ctl.shutdown().await;
}

/// A billion-laughs YAML document (aliases nested ten deep, ten per level).
fn billion_laughs() -> String {
    let mut y = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        y.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    y.push_str("kind: SealedSecret\napiVersion: bitnami.com/v1alpha1\n");
    y
}

/// POSTs `body` and returns the status code, or 0 when the server closed the connection before
/// answering (it may answer without reading a body it refuses).
async fn answer_code(local: [u8; 4], addr: std::net::SocketAddr, path: &str, body: &[u8]) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((local, 0))).unwrap();
    let Ok(mut s) = socket.connect(addr).await else {
        return 0;
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Bodies that are expensive to read (billion laughs, deeply nested, large) are parsed off the
/// async threads, a few at a time: under 200 of them at once, the cheap endpoints keep
/// answering in milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_do_not_stall_the_cheap_endpoints() {
    let (_server, ctl) = started(&["--rate-limit", "0"]).await;
    let laughs = billion_laughs();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let large = format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: x, namespace: y}}\nspec:\n  encryptedData:\n{}",
        (0..20_000)
            .map(|i| format!("    k{i}: {}\n", "A".repeat(80)))
            .collect::<String>()
    );
    let bodies = [laughs, deep, large];
    let addr = ctl.http_addr;
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let body = bodies[i % 3].clone();
            tokio::spawn(async move {
                let path = if i % 2 == 0 {
                    "/v1/verify"
                } else {
                    "/v1/rotate"
                };
                // From 50 addresses, four bodies each: the per-client limit lets them all in.
                let local = [127, 0, 1, (i % 50) as u8 + 1];
                answer_code(local, addr, path, body.as_bytes()).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    while flood.iter().any(|t| !t.is_finished()) && probes < 200 {
        for (target, path) in [
            (addr, "/healthz"),
            (addr, "/readyz"),
            (addr, "/v1/cert.pem"),
            (ctl.metrics_addr, "/metrics"),
        ] {
            let t = Instant::now();
            let (code, _, _) = http(target, "GET", path, &[], b"").await;
            assert_eq!(code, 200, "{path}");
            worst = worst.max(t.elapsed());
            probes += 1;
        }
    }
    let flood_at = Instant::now();
    let mut codes = Vec::new();
    for t in flood {
        codes.push(t.await.unwrap());
    }
    eprintln!("flood drained in {:?}", flood_at.elapsed());
    assert!(probes >= 8, "the flood was over before it was measured");
    assert!(
        worst < Duration::from_millis(500),
        "slowest answer {worst:?} over {probes} probes"
    );
    // Every hostile body was refused: as malformed, or busy (or the connection was closed
    // before the client finished sending a body the server would not read: 0; or 429 for a
    // client whose earlier bodies were still being read).
    assert!(
        codes
            .iter()
            .all(|c| [0, 400, 409, 413, 429, 503].contains(c)),
        "{codes:?}"
    );
    assert!(codes.contains(&400), "no body was parsed: {codes:?}");
    eprintln!(
        "hostile bodies: slowest cheap answer {worst:?} over {probes} probes; codes {:?}",
        [0, 400, 409, 413, 429, 503].map(|c| (c, codes.iter().filter(|x| **x == c).count()))
    );
    ctl.shutdown().await;
}

/// A connection from `local` (any 127.0.0.0/8 address is this host) to `addr`.
async fn connect_from(local: [u8; 4], addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((local, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// GET `/healthz` from `local`: the status code and how long the answer took.
async fn health_from(local: [u8; 4], addr: std::net::SocketAddr) -> (u16, Duration) {
    let t = Instant::now();
    let mut s = connect_from(local, addr).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let code = String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, t.elapsed())
}

/// Slow-loris clients (many connections, one header byte now and then) get at most a few
/// connections per address, are cut off by the header timeout, and meanwhile the health
/// endpoint answers others at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_do_not_block_others() {
    let (_server, ctl) = started(&["--read-timeout", "1s"]).await;
    let addr = ctl.http_addr;
    // 400 slow connections from two addresses, each trickling a byte every 200 ms.
    let mut slow = Vec::new();
    for i in 0..400 {
        let mut s = connect_from([127, 0, 0, 2 + (i % 2) as u8], addr).await;
        let _ = s.write_all(b"G").await;
        slow.push(s);
    }
    let started_at = Instant::now();
    let trickle = tokio::spawn(async move {
        let mut open = 0;
        let mut slow = slow;
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for s in &mut slow {
                let _ = s.write_all(b"E").await;
            }
        }
        // Whatever the server did not close is counted.
        for mut s in slow {
            let mut buf = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {}
                Ok(Ok(_)) => {} // an error answer (408/400) then close
                Err(_) => open += 1,
            }
        }
        open
    });
    // Meanwhile others are served at once.
    let mut worst = Duration::ZERO;
    for i in 0..10 {
        let (code, took) = health_from([127, 0, 0, 10 + i], addr).await;
        assert_eq!(code, 200, "probe {i}");
        worst = worst.max(took);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        worst < Duration::from_millis(500),
        "slowest probe {worst:?}"
    );
    let open = trickle.await.unwrap();
    assert_eq!(
        open,
        0,
        "slow connections still open after {:?}",
        started_at.elapsed()
    );

    // An idle kept-alive connection is closed too.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut out))
        .await
        .expect("idle connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "closed before idling"
    );
    ctl.shutdown().await;
}

/// One address gets at most a bounded number of connections; past it, new connections from
/// that address are closed at once while other addresses are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let (_server, ctl) = started(&[]).await;
    let addr = ctl.http_addr;
    let mut held = Vec::new();
    for _ in 0..sealant_controller::http::serve::MAX_CONNECTIONS_PER_PEER {
        held.push(connect_from([127, 0, 0, 4], addr).await);
    }
    // Let the server account for them, then one more from the same address is closed unread.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _) = health_from([127, 0, 0, 4], addr).await;
    assert_eq!(
        code, 0,
        "a connection past the per-address limit was served"
    );
    let (code, took) = health_from([127, 0, 0, 5], addr).await;
    assert_eq!(code, 200);
    assert!(took < Duration::from_millis(500), "{took:?}");
    // Closing one frees a place.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _) = health_from([127, 0, 0, 4], addr).await;
    assert_eq!(code, 200);
    ctl.shutdown().await;
}

/// One client sending bodies slowly holds at most a few places: its next request is refused at
/// once (429, `Retry-After: 1`), and other clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_cannot_take_every_place_in_the_pipeline() {
    let (_server, ctl) = started(&["--rate-limit", "0"]).await;
    let addr = ctl.http_addr;
    let mut slow = Vec::new();
    for _ in 0..sealant_controller::http::PER_CLIENT {
        let mut s = connect_from([127, 0, 0, 6], addr).await;
        s.write_all(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            .await
            .unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let code = answer_code([127, 0, 0, 6], addr, "/v1/verify", b"{}").await;
    assert_eq!(code, 429, "one more from the slow client");
    let t = Instant::now();
    let code = answer_code([127, 0, 0, 7], addr, "/v1/verify", b"{}").await;
    assert_eq!(
        code, 400,
        "another client's malformed body is read and refused"
    );
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // Once the slow requests end, the client is served again.
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let code = answer_code([127, 0, 0, 6], addr, "/v1/verify", b"{}").await;
    assert_eq!(code, 400);
    ctl.shutdown().await;
}
