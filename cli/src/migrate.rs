//! `sealant migrate check`: what an install of upstream's controller (its Helm chart or its
//! `controller.yaml`) left in the cluster, what of it is dangerous, and the exact commands that
//! delete it while keeping the CRD, the SealedSecrets and the key Secrets. Read-only: it lists and
//! gets, never writes.

mod inventory;
mod snapshot;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::io;
use inventory::{Origin, Report};

pub const EXAMPLES: &str = "\
Examples:
  # Before installing sealant, and again after: what is left of Bitnami sealed-secrets?
  sealant migrate check

  # Another cluster
  sealant migrate check --context prod

Exit status 0 when nothing is left to do, 1 when something is (or on an error).";

/// `sealant migrate ...`.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// List what is left of an upstream (Bitnami sealed-secrets) install, what of it is
    /// dangerous, and the commands that delete it (keeps the CRD, SealedSecrets and key
    /// Secrets). Read-only.
    #[command(after_help = EXAMPLES)]
    Check(CheckArgs),
}

/// Arguments of `sealant migrate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// kubeconfig context to use [default: the current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// Runs the command; `Ok(false)` when something is left to do.
pub fn run(cmd: &MigrateCommand) -> Result<bool> {
    let MigrateCommand::Check(args) = cmd;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
    let (client, server) = rt.block_on(connect(args))?;
    let snap = rt.block_on(async {
        tokio::time::timeout(
            crate::kubecfg::REQUEST_TIMEOUT * 5,
            snapshot::read(&client, &server),
        )
        .await
        .map_err(|_| anyhow!("reading the cluster at {server} timed out"))?
    })?;
    let report = inventory::assess(&snap);
    io::write_stdout(render(&report, &server).as_bytes())?;
    Ok(report.clean())
}

async fn connect(args: &CheckArgs) -> Result<(kube::Client, String)> {
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .map_err(|e| anyhow!("{}: cannot read kubeconfig: {e}", path.display()))?,
        None => Kubeconfig::read().map_err(|e| {
            anyhow!(
                "cannot read kubeconfig ($KUBECONFIG or ~/.kube/config): {e}; pass --kubeconfig"
            )
        })?,
    };
    let opts = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &opts)
        .await
        .map_err(|e| match &args.context {
            Some(ctx) => anyhow!("kubeconfig context {ctx:?}: {e}"),
            None => anyhow!("kubeconfig: {e}"),
        })?;
    config.connect_timeout = Some(crate::kubecfg::CONNECT_TIMEOUT);
    config.read_timeout = Some(crate::kubecfg::REQUEST_TIMEOUT);
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let client = kube::Client::try_from(config)
        .map_err(|e| anyhow!("cannot set up a client for {server}: {e}"))?;
    Ok((client, server))
}

/// The report as text.
fn render(report: &Report, server: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Cluster {server}");
    let _ = writeln!(out, "\nKeep (sealant uses them as they are):");
    for k in &report.keep {
        let mark = if k.danger { "DANGER " } else { "" };
        let _ = writeln!(out, "  {mark}{}", k.text);
    }
    if report.leftovers.is_empty() {
        let _ = writeln!(out, "\nNothing is left of upstream's install.");
    } else {
        let dangerous = report
            .leftovers
            .iter()
            .filter(|l| l.danger.is_some())
            .count();
        let _ = writeln!(
            out,
            "\nLeft over from upstream's install ({}, {dangerous} dangerous):",
            report.leftovers.len()
        );
        for l in &report.leftovers {
            let origin = match &l.origin {
                Origin::Helm { release, namespace } => {
                    format!("Helm release {namespace}/{release}")
                }
                Origin::Manifest => "manifest".to_owned(),
            };
            let _ = writeln!(out, "  {} [{origin}]: {}", l.display_name(), l.what);
            if let Some(d) = &l.danger {
                let _ = writeln!(out, "    DANGER: {d}");
            }
        }
    }
    if !report.commands.is_empty() {
        let _ = writeln!(
            out,
            "\nRun, in this order (the CRD, SealedSecrets, their Secrets and the key Secrets stay):"
        );
        for c in &report.commands {
            let _ = writeln!(out, "  {c}");
        }
    }
    if !report.hints.is_empty() {
        let _ = writeln!(out, "\nInstalling sealant:");
        for h in &report.hints {
            let _ = writeln!(out, "  - {h}");
        }
    }
    out
}
