//! `sealant web`: serves the sealing page (the same files the controller serves) on this
//! machine, with `/v1/cert.pem` and `/v1/certs` answered from the certificates given on the
//! command line, so Secrets can be sealed in a browser without any cluster access.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use clap::Args;
use sealant_api::Certificate;

use crate::certsrc::{cert_spec, load_sealing_certificate};

pub const EXAMPLES: &str = "\
Examples:
  # Serve the page with a certificate fetched earlier, then open http://127.0.0.1:8080/
  sealant web --cert cert.pem

  # Offer the current and the previous key (the first one is the default)
  sealant web --cert new.pem --cert old.pem --listen 127.0.0.1:9000

The page seals in the browser with WebCrypto, which browsers offer only on https:// and on
http://localhost (or 127.0.0.1): keep the default loopback address unless a TLS proxy is in
front. Values never reach this process: it serves only the page's files and the
certificates.";

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Certificate(s) to offer: PEM files, file:// or http(s):// URLs (e.g. a controller's
    /// /v1/cert.pem). Repeat for several keys; the first is selected by default. Expired
    /// certificates are refused. kubeseal's SEALED_SECRETS_CERT is also read.
    #[arg(
        long,
        env = "SEALANT_CERT",
        value_name = "PATH|URL",
        hide_env_values = true,
        action = clap::ArgAction::Append
    )]
    pub cert: Vec<String>,

    /// Address to listen on (loopback by default: browsers seal only on secure origins, and
    /// http://127.0.0.1 is one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// What a `web` run serves.
pub struct WebPlan {
    certs: Vec<Certificate>,
    listen: SocketAddr,
}

impl WebArgs {
    /// Loads the certificates.
    pub fn plan(&self) -> Result<WebPlan> {
        let specs = if self.cert.is_empty() {
            vec![cert_spec(None)?]
        } else {
            self.cert.clone()
        };
        let certs = specs
            .iter()
            .map(|spec| load_sealing_certificate(spec))
            .collect::<Result<Vec<_>>>()?;
        Ok(WebPlan {
            certs,
            listen: self.listen,
        })
    }
}

/// Serves the page until interrupted.
pub fn run(plan: WebPlan) -> Result<()> {
    if plan.certs.is_empty() {
        bail!("no certificate: pass --cert <PATH|URL>");
    }
    let ids: Vec<String> = plan
        .certs
        .iter()
        .map(|c| c.key_id().as_str().to_owned())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(plan.listen)
            .await
            .with_context(|| format!("cannot listen on {}", plan.listen))?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("cannot listen on {}", plan.listen))?;
        if !addr.ip().is_loopback() {
            crate::io::note(
                "note: browsers seal only on https:// or loopback addresses; put a TLS proxy in front of a non-loopback address",
            );
        }
        // The URL goes to stdout (scripts and tests read it), the rest to stderr.
        println!("http://{addr}/");
        crate::io::note(&format!(
            "serving the sealing page with key(s) {} (Ctrl-C to stop)",
            ids.join(", ")
        ));
        axum::serve(listener, sealant_web::offline_router(plan.certs))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the HTTP server failed")
    })
}
