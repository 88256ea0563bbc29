//! `sealant-controller`: the in-cluster half of sealant, a drop-in successor to Bitnami
//! sealed-secrets' controller.
//!
//! It unseals `bitnami.com/v1alpha1` SealedSecrets into Secrets ([`reconcile`]), reports the
//! outcome in a status Flux and Argo CD can wait on ([`status`]), holds and renews the sealing
//! keys ([`keys`]), and serves upstream's HTTP API ([`http`]) and metrics ([`metrics`]).
//! [`start`] wires everything together; the binary is a thin wrapper around it.
//!
//! Secret values never appear in logs, events, status, metrics or HTTP responses.

pub mod cache;
pub mod client;
pub mod config;
pub mod events;
pub mod http;
pub mod keys;
pub mod leader;
pub mod lean_writes;
pub mod metrics;
pub mod own_writes;
pub mod reconcile;
pub mod secret_merge;
pub mod status;
pub mod triggers;
pub mod unseal_pool;
pub mod wipe;

use std::net::SocketAddr;
use std::sync::Arc;

use events::{Recorder, Reporter};
use kube::Client;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::Config;
pub use keys::Keys;

/// Errors starting the controller.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Logging could not be set up.
    #[error("cannot set up logging: {0}")]
    Logging(String),
    /// Flags that do not fit together.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A running controller.
pub struct Running {
    /// Bound address of the HTTP API.
    pub http_addr: SocketAddr,
    /// Bound address of the metrics endpoint.
    pub metrics_addr: SocketAddr,
    /// The keys in force.
    pub keys: Keys,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Whether this replica leads.
    pub leadership: leader::Leadership,
    generate: mpsc::Sender<()>,
    shutdown: watch::Sender<bool>,
    /// The reconcilers and the key manager: stopped before the Lease is released.
    writers: Vec<JoinHandle<()>>,
    /// The HTTP API and metrics servers: drained after the Lease is released.
    servers: Vec<JoinHandle<()>>,
    /// The elector, and the signal that the reconcilers and key manager have stopped (after
    /// which it releases the Lease).
    elector: Option<(JoinHandle<()>, watch::Sender<bool>)>,
}

/// How long reconciles (and a key write) in flight get to finish at shutdown; what is still
/// running then is cut, which is safe: each reconcile is idempotent and whoever leads next
/// redoes it. Short, so the Lease is released promptly.
const WRITERS_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// How long releasing the Lease may take.
const RELEASE_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
/// How long open HTTP requests get to finish at shutdown.
const SERVERS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits for `tasks` until `grace` has passed, then aborts the ones still running (and waits
/// for them to go), so nothing started by this replica outlives its shutdown.
async fn stop_within(tasks: Vec<JoinHandle<()>>, grace: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    for mut task in tasks {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Running {
    /// Asks the key manager for a new key (what SIGUSR1 does).
    pub fn request_new_key(&self) {
        let _ = self.generate.try_send(());
    }

    /// Stops watching and lets in-flight reconciles finish (cutting what is left after half a
    /// second); then, with leader election, releases the Lease so another replica takes over at
    /// once; then drains the HTTP listeners. When it returns, no task of this controller runs.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        stop_within(self.writers, WRITERS_GRACE).await;
        if let Some((task, released)) = self.elector {
            let _ = released.send(true);
            stop_within(vec![task], RELEASE_WITHIN).await;
        }
        stop_within(self.servers, SERVERS_GRACE).await;
    }
}

/// A cloneable future that resolves once shutdown is requested.
type ShutdownSignal = futures_util::future::Shared<futures_util::future::BoxFuture<'static, ()>>;

fn shutdown_future(rx: watch::Receiver<bool>) -> ShutdownSignal {
    let fut: futures_util::future::BoxFuture<'static, ()> = Box::pin(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|v| *v).await;
    });
    futures_util::FutureExt::shared(fut)
}

/// Starts the key manager, the HTTP API, the metrics endpoint and the controllers.
pub async fn start(cfg: Config, client: Client) -> Result<Running, StartError> {
    for flag in cfg.ignored_upstream_flags() {
        tracing::warn!(
            flag,
            "upstream flag accepted but not implemented by sealant; ignored"
        );
    }
    let election = cfg.election().map_err(StartError::Config)?;
    if cfg.bench_naive {
        tracing::warn!(
            "--bench-naive: benchmark-only strategy (no key-id hints, no digest); never use it in a cluster"
        );
    }
    let metrics = metrics::Metrics::new();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (leadership, elector) = match election {
        None => {
            metrics.leader.set(1);
            (leader::Leadership::always(), None)
        }
        Some(opts) => {
            let (elector, leadership) = leader::Elector::new(client.clone(), opts, metrics.clone());
            let (released_tx, released_rx) = watch::channel(false);
            let released = async move {
                let mut rx = released_rx;
                let _ = rx.wait_for(|v| *v).await;
            };
            let task = tokio::spawn(elector.run(shutdown_future(shutdown_rx.clone()), released));
            (leadership, Some((task, released_tx)))
        }
    };
    let reporter = Reporter {
        controller: "sealant-controller".to_owned(),
        instance: std::env::var("POD_NAME").ok().filter(|s| !s.is_empty()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let (generate_tx, generate_rx) = mpsc::channel(4);

    let (manager, keys) = keys::KeyManager::new(
        client.clone(),
        keys::KeyOptions::from_config(&cfg),
        recorder.clone(),
        metrics.clone(),
        leadership.clone(),
    );
    let mut writers = Vec::new();
    let mut servers = Vec::new();
    writers.push(tokio::spawn(
        manager.run(generate_rx, shutdown_future(shutdown_rx.clone())),
    ));

    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let api_listener = bind(cfg.listen_addr).await?;
    let metrics_listener = bind(cfg.listen_metrics_addr).await?;
    let http_addr = api_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: cfg.listen_addr,
            source,
        })?;
    let metrics_addr = metrics_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: cfg.listen_metrics_addr,
            source,
        })?;

    let api = http::router(
        http::ApiState::new(
            keys.clone(),
            metrics.clone(),
            http::budget::Budget::new(cfg.rate_limit, cfg.rate_limit_burst),
            http::client::TrustedProxies::new(cfg.trusted_proxies.clone()),
            cfg.accept_deprecated_v1_data,
            cfg.read_timeout.saturating_add(cfg.write_timeout),
        ),
        cfg.max_body_bytes,
        !cfg.disable_web,
    );
    let header_timeout = cfg.read_timeout;
    let stop = shutdown_future(shutdown_rx.clone());
    servers.push(tokio::spawn(http::serve::serve(
        api_listener,
        api,
        header_timeout,
        stop,
    )));
    let stop = shutdown_future(shutdown_rx.clone());
    let metrics_app = metrics::router(metrics.clone());
    let metrics_for_run = metrics.clone();
    servers.push(tokio::spawn(http::serve::serve(
        metrics_listener,
        metrics_app,
        header_timeout,
        stop,
    )));
    tracing::info!(%http_addr, %metrics_addr, "listening");

    let watch_opts = reconcile::WatchOptions {
        namespaces: cfg.watched_namespaces(),
        label_selector: cfg.label_selector.clone(),
        skip_recreate: cfg.skip_recreate,
        workers: cfg.worker_count(),
    };
    let stop = shutdown_future(shutdown_rx.clone());
    let keys_for_run = keys.clone();
    let lead = leadership.clone();
    writers.push(tokio::spawn(async move {
        loop {
            // Biased: when shutdown and leadership are both ready, shutdown wins (a fair pick
            // sometimes started a new term of watching after SIGTERM).
            tokio::select! {
                biased;
                _ = stop.clone() => return,
                _ = async { keys_for_run.wait_loaded().await; lead.wait_leader().await } => {}
            }
            // A fresh context per term of leadership: nothing learnt as a follower or in an
            // earlier term (retry counts, the digest index) carries over.
            let ctx = Arc::new(
                reconcile::Context::new(
                    client.clone(),
                    keys_for_run.clone(),
                    metrics_for_run.clone(),
                    recorder.clone(),
                    reconcile::ReconcileOptions {
                        accept_v1_data: cfg.accept_deprecated_v1_data,
                        update_status: cfg.update_status,
                        max_retry_delay: cfg.max_retry_delay,
                        workers: watch_opts.workers,
                        templates_disabled: cfg.disable_templates,
                    },
                )
                .with_leadership(lead.clone())
                .with_naive(cfg.bench_naive),
            );
            let lead_lost = lead.clone();
            let term_end: ShutdownSignal = futures_util::FutureExt::shared(Box::pin({
                let stop = stop.clone();
                async move {
                    tokio::select! {
                        _ = stop => {}
                        _ = lead_lost.wait_follower() => {}
                    }
                }
            }));
            reconcile::run(ctx, watch_opts.clone(), term_end).await;
            if !lead.is_leader() {
                tracing::info!("no longer leading: stopped reconciling");
            }
        }
    }));

    Ok(Running {
        http_addr,
        metrics_addr,
        keys,
        metrics,
        leadership,
        generate: generate_tx,
        shutdown: shutdown_tx,
        writers,
        servers,
        elector,
    })
}

/// Threads of the async runtime for `workers` decryption threads: one per four. The async side
/// (watches, API round trips, HTTP) costs about a tenth of the decryption work, and each extra
/// runtime thread on a busy machine mostly adds context switches: on two cores, a second one
/// raised the controller's non-decryption CPU by about 30% in the scale benchmark.
pub fn async_threads(workers: u16) -> usize {
    usize::from(workers).div_ceil(4).max(1)
}

/// Sets up `tracing` output (`--log-format`, `--log-level`) on stderr.
pub fn init_logging(cfg: &Config) -> Result<(), StartError> {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_new(&cfg.log_level).map_err(|e| StartError::Logging(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = match cfg.log_format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
    res.map_err(|e| StartError::Logging(e.to_string()))
}
