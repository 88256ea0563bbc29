//! `sealant audit`: what sealing cannot cover, checked. Against a cluster (read-only, through
//! the kubeconfig): SealedSecrets not Ready, which key sealed what (re-seal candidates,
//! compromised keys), Secrets no SealedSecret made, the sealing keys and their renewal, and
//! whether broad RBAC subjects can read the keys. Against files: the same key inventory
//! offline, plus `guard`'s plaintext findings.

mod cluster;
mod report;
mod tree;

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::io;
use crate::kubecfg::{Cluster, ClusterArgs};
use report::{Level, Report};

pub const EXAMPLES: &str = "\
Examples:
  # The cluster of the kubeconfig's current context
  sealant audit

  # Another context, as JSON for CI (exit 1 when anything is at error level)
  sealant audit --context prod -o json

  # A git checkout: which files are sealed with which key id, and plaintext Secrets
  sealant audit k8s/

Levels: error (a SealedSecret not Ready, one sealed with a compromised key, a plaintext Secret
in files, the sealing keys readable by every user of a broad group, no active key), warning
(re-seal candidates, Secrets no SealedSecret made, overdue renewal, checks that could not run),
info. Values of Secrets are never read into the report.";

/// Report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON object (keys, keyUsage, findings, summary) for CI.
    Json,
}

/// Arguments of `sealant audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Files and directories to audit offline instead of the cluster.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Report format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What to audit, resolved.
pub enum Plan {
    Cluster {
        cluster: Box<Cluster>,
        format: AuditFormat,
    },
    Files {
        paths: Vec<PathBuf>,
        format: AuditFormat,
    },
}

impl AuditArgs {
    pub fn plan(&self) -> Result<Plan> {
        if !self.paths.is_empty() {
            return Ok(Plan::Files {
                paths: self.paths.clone(),
                format: self.format,
            });
        }
        Ok(Plan::Cluster {
            cluster: Box::new(Cluster::open(&self.cluster)?),
            format: self.format,
        })
    }
}

/// Runs the audit and prints the report; `Ok(false)` when something is at error level.
pub fn run(plan: &Plan) -> Result<bool> {
    let (report, format) = match plan {
        Plan::Cluster { cluster, format } => (
            cluster::audit(cluster, time::OffsetDateTime::now_utc())?,
            *format,
        ),
        Plan::Files { paths, format } => (tree::audit(paths)?, *format),
    };
    print(&report, format)?;
    Ok(report.count(Level::Error) == 0)
}

fn print(report: &Report, format: AuditFormat) -> Result<()> {
    let text = match format {
        AuditFormat::Json => report.to_json(),
        AuditFormat::Table => report.to_table(),
    };
    io::write_stdout(text.as_bytes())?;
    let errors = report.count(Level::Error);
    if errors > 0 && (format == AuditFormat::Json || !std::io::stdout().is_terminal()) {
        io::note(&format!("audit: {errors} finding(s) at error level"));
    }
    Ok(())
}
