//! `fake-apiserver`: runs the in-memory Kubernetes API server until SIGTERM/SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use fake_apiserver::{FakeApiServer, Options};

/// In-memory Kubernetes API server on loopback, for tests.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig for the server here once it is listening.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Service proxy target, `NAMESPACE/NAME=127.0.0.1:PORT` (repeatable).
    #[arg(long = "proxy", value_name = "NS/NAME=ADDR")]
    proxy: Vec<String>,
    /// Events kept for watch replay.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
}

fn parse_proxy(s: &str) -> anyhow::Result<(String, String, SocketAddr)> {
    let (svc, addr) = s
        .split_once('=')
        .with_context(|| format!("--proxy {s:?}: expected NAMESPACE/NAME=ADDR"))?;
    let (ns, name) = svc
        .split_once('/')
        .with_context(|| format!("--proxy {s:?}: expected NAMESPACE/NAME=ADDR"))?;
    let addr = addr
        .parse()
        .with_context(|| format!("--proxy {s:?}: {addr:?} is not an IP:PORT address"))?;
    Ok((ns.to_string(), name.to_string(), addr))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proxies = args
        .proxy
        .iter()
        .map(|p| parse_proxy(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let server = FakeApiServer::start_with(Options {
        listen: args.listen,
        history: args.history,
        ..Options::default()
    })
    .await
    .with_context(|| format!("cannot listen on {}", args.listen))?;
    for (ns, name, addr) in proxies {
        server.add_proxy(&ns, &name, addr);
    }
    if let Some(path) = &args.kubeconfig {
        server
            .write_kubeconfig(path)
            .with_context(|| format!("cannot write kubeconfig to {}", path.display()))?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server.url())?;
        out.flush()?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    server.shutdown().await;
    Ok(())
}
