//! `sealant-controller` binary: parses flags, sets up logging and signals, runs [`sealant_controller::start`].

use anyhow::Context;
use sealant_controller::Config;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> anyhow::Result<()> {
    let cfg = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(sealant_controller::async_threads(cfg.worker_count()))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(run(cfg));
    // Blocking work still running (an HTTP API decryption) does not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    sealant_controller::init_logging(&cfg)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting sealant-controller"
    );
    let client = sealant_controller::client::from_env(cfg.kubeclient_qps, cfg.kubeclient_burst)
        .await
        .context("cannot configure the Kubernetes client (in-cluster config or KUBECONFIG)")?;
    let running = sealant_controller::start(cfg, client).await?;

    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("cannot handle SIGUSR1")?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = usr1.recv() => {
                tracing::info!("SIGUSR1: generating a new sealing key");
                running.request_new_key();
            }
        }
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
