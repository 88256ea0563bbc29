//! An in-memory Kubernetes API server on loopback, for tests.
//!
//! DOCS-PLACEHOLDER

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod apply;
mod errors;
mod fields;
mod hooks;
mod patch;
mod proxy;
mod resources;
mod routes;
mod secrets;
mod selectors;
mod store;
mod table;
mod util;
mod watch;

pub use errors::ApiError;
pub use hooks::{Fault, Verb};

/// State shared by all request handlers.
pub(crate) struct Shared {
    state: Mutex<store::State>,
    hooks: Mutex<hooks::Hooks>,
    addr: SocketAddr,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, store::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn hooks(&self) -> MutexGuard<'_, hooks::Hooks> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Server options for [`FakeApiServer::start_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Number of events kept for watch replay (default 10 000); older versions get 410.
    pub history: usize,
    /// Interval of BOOKMARK events to watches that allow them (default 1 s).
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            history: 10_000,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

/// A running fake API server. Dropping it stops the server (without waiting).
pub struct FakeApiServer {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: JoinHandle<()>,
}

impl FakeApiServer {
    /// Starts a server on `127.0.0.1:0` with default options.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with the given options.
    pub async fn start_with(opts: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(store::State::new(opts.history)),
            hooks: Mutex::new(hooks::Hooks::default()),
            addr,
        });
        let app = axum::Router::new()
            .fallback(routes::handle)
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let weak = Arc::downgrade(&shared);
        let interval = opts.bookmark_interval.max(Duration::from_millis(10));
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(s) => s.state().bookmark_tick(),
                    None => break,
                }
            }
        });
        Ok(FakeApiServer {
            shared,
            shutdown: Some(tx),
            server: Some(server),
            ticker,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A kubeconfig for this server (context `fake`, namespace `default`, dummy token).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A `kube::Client` for this server (default namespace `default`).
    #[cfg(feature = "client")]
    pub async fn kube_client(&self) -> Result<kube::Client, kube::Error> {
        let url = self
            .url()
            .parse()
            .map_err(|e| kube::Error::Service(Box::new(e)))?;
        let config = kube::Config::new(url);
        kube::Client::try_from(config)
    }

    /// Sends `services/{name}/proxy/...` requests in `namespace` to `target`.
    pub fn add_proxy(&self, namespace: &str, name: &str, target: SocketAddr) {
        self.shared
            .hooks()
            .proxies
            .insert((namespace.to_string(), name.to_string()), target);
    }

    /// Requests so far per (verb, resource); status writes count as `plural/status`.
    pub fn counts(&self) -> BTreeMap<(Verb, String), u64> {
        self.shared.hooks().counts.clone()
    }

    /// Requests so far for one verb and resource.
    pub fn count(&self, verb: Verb, resource: &str) -> u64 {
        self.shared
            .hooks()
            .counts
            .get(&(verb, resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Write requests so far (create, update, patch, delete, deletecollection), any resource.
    pub fn write_count(&self) -> u64 {
        self.shared
            .hooks()
            .counts
            .iter()
            .filter(|((v, _), _)| v.is_write())
            .map(|(_, n)| n)
            .sum()
    }

    /// Zeroes all counters.
    pub fn reset_counts(&self) {
        self.shared.hooks().counts.clear();
    }

    /// Makes matching requests fail (see [`Fault`]).
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.hooks().faults.push(fault);
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        self.shared.hooks().faults.clear();
    }

    /// Closes every open watch stream (clients see the stream end).
    pub fn drop_watches(&self) {
        self.shared.state().drop_watches();
    }

    /// Open watch streams.
    pub fn open_watches(&self) -> usize {
        self.shared.state().watch_count()
    }

    /// Forgets the event history: watches from any older version get a 410 `Expired` event,
    /// and outstanding `continue` tokens expire.
    pub fn compact(&self) {
        self.shared.state().compact();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.state().current_rv()
    }

    /// Stops accepting requests, closes watches and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shared.state().drop_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.ticker.abort();
        self.shared.state().drop_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

/// A kubeconfig pointing at `url` (cluster/user/context `fake`, namespace `default`).
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: fake
  user:
    token: fake-token
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
preferences: {{}}
"
    )
}
