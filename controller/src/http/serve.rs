//! Serving a router on a listener with limits for slow and many clients (HTTP/1.1).
//!
//! - At most [`MAX_CONNECTIONS`] connections at once per listener; beyond that the listener
//!   stops accepting until one closes (new connections wait in the kernel's backlog). At most
//!   [`MAX_CONNECTIONS_PER_PEER`] of them from one peer address: a further connection from that
//!   peer is closed at once, so one slow or greedy client cannot take every place (and the
//!   kubelet's probes, from the node's address, still get through).
//! - A request's headers must arrive within the header timeout, which also closes a kept-alive
//!   connection that sends no next request in that time: a client sending one byte every few
//!   seconds, or holding idle connections open, occupies a slot for at most that long.
//! - Each request's peer address is available to handlers as `ConnectInfo<SocketAddr>`.
//! - On shutdown the listener closes at once; connections finish their request in flight and
//!   close (the caller bounds how long that may take).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Most open connections per listener.
pub const MAX_CONNECTIONS: usize = 1024;

/// Most open connections per listener from one peer address.
pub const MAX_CONNECTIONS_PER_PEER: usize = 64;

/// Open connections per peer address.
#[derive(Default)]
struct PerPeer(Mutex<HashMap<IpAddr, usize>>);

impl PerPeer {
    /// Counts a connection from `ip`, unless it already has the most it may.
    fn open(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot(self.clone(), ip))
    }
}

/// One open connection of a peer; uncounted when dropped.
struct PeerSlot(Arc<PerPeer>, IpAddr);

impl Drop for PeerSlot {
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

/// Longest header timeout: `--read-timeout` applies to whole requests and defaults to two
/// minutes, far more than any client needs to send its headers.
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections to
/// finish their request in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_peer = Arc::new(PerPeer::default());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(
        header_timeout
            .min(MAX_HEADER_TIMEOUT)
            .max(Duration::from_millis(1)),
    );
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(peer_slot) = per_peer.open(peer.ip().to_canonical()) else {
            tracing::debug!(%peer, "too many connections from this peer: closed");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "HTTP connection ended");
            }
            drop((slot, peer_slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
