//! `sealant`: seal Kubernetes Secrets so they can be committed to git, and recover them offline.
//!
//! A thin command-line layer over `sealant-crypto` and `sealant-api`. Each command lives in its
//! own module, which resolves its arguments once into a plan (certificates and keys loaded,
//! inputs and outputs decided) and then runs the plan. Shared parts: `io` (bounded reading,
//! atomic writing), `manifest` (streams and files of manifests), `certsrc` and `kubecfg`
//! (certificates from files, URLs and the controller), `yamledit` (in-place edits that keep
//! comments), `bulk` and `progress` (work on every core, progress bars).

mod bulk;
mod cert;
mod certsrc;
mod completions;
mod edit;
mod fetch;
mod guard;
mod io;
mod keys;
mod kubecfg;
mod kubeseal;
mod manifest;
mod merge;
mod multi;
mod progress;
mod reseal;
mod rotate;
mod seal;
mod unseal;
mod verify;
mod yamledit;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

const ROOT_EXAMPLES: &str = "\
Examples:
  # Seal a Secret manifest with the controller's certificate
  sealant seal --cert cert.pem -f secret.yaml -w sealed-secret.yaml

  # Seal one value for use in a hand-written SealedSecret
  printf %s 'hunter2' | sealant seal --cert cert.pem --raw -n prod --name db

  # Recover Secrets offline with a backed-up private key
  sealant unseal --key backup-key.yaml -f sealed-secret.yaml

  # Make a key pair and inspect the certificate
  sealant keys generate --key-out tls.key --cert-out tls.crt
  sealant cert info --cert tls.crt

Exit codes: 0 success; 1 any error at run time (bad input, unreachable cluster, a check that
failed), reported as one `error:` line on stderr; 2 a usage error (unknown or missing
arguments).";

/// Seal Kubernetes Secrets so they can be committed to git (Bitnami sealed-secrets compatible).
#[derive(Debug, Parser)]
#[command(
    name = "sealant",
    version,
    about,
    after_help = ROOT_EXAMPLES,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seal Secret manifests (or one raw value) with a controller's certificate.
    #[command(after_help = seal::EXAMPLES)]
    Seal(seal::SealArgs),
    /// Decrypt SealedSecrets offline with private keys, printing the Secrets the controller
    /// would create.
    #[command(after_help = unseal::EXAMPLES)]
    Unseal(unseal::UnsealArgs),
    /// Add or replace one item of a SealedSecret file in place (other items stay byte-identical).
    #[command(after_help = edit::SET_EXAMPLES)]
    Set(edit::SetArgs),
    /// Remove one item of a SealedSecret file in place.
    #[command(after_help = edit::UNSET_EXAMPLES)]
    Unset(edit::UnsetArgs),
    /// Find plaintext Secrets in files, directories or the git index (pre-commit hook).
    #[command(after_help = guard::EXAMPLES)]
    Guard(guard::GuardArgs),
    /// Run with kubeseal's flags and defaults (also: invoke sealant as `kubeseal`).
    Kubeseal(kubeseal::KubesealArgs),
    /// Check that SealedSecrets will unseal: online through the controller, or offline with
    /// certificates (no private key) or private keys.
    #[command(after_help = verify::EXAMPLES)]
    Verify(verify::VerifyArgs),
    /// Re-seal SealedSecrets in files with the newest key (after key renewal).
    #[command(after_help = reseal::EXAMPLES)]
    Reseal(reseal::ResealArgs),
    /// Manage sealing keys.
    #[command(subcommand, after_help = keys::EXAMPLES)]
    Keys(keys::KeysCommand),
    /// Inspect sealing certificates.
    #[command(subcommand, after_help = cert::EXAMPLES)]
    Cert(cert::CertCommand),
    /// Print a shell completion script.
    #[command(after_help = completions::EXAMPLES)]
    Completions(completions::CompletionsArgs),
}

/// Output format of manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// YAML documents, each starting with `---`.
    Yaml,
    /// JSON objects, one after another.
    Json,
}

impl From<OutputFormat> for sealant_api::Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Yaml => sealant_api::Format::Yaml,
            OutputFormat::Json => sealant_api::Format::Json,
        }
    }
}

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next();
    if kubeseal::invoked_as_kubeseal(argv0.as_ref()) {
        return exit(kubeseal::main_from(std::env::args_os()).map(|()| true));
    }
    exit(run(Cli::parse().command))
}

/// Runs one command; `Ok(false)` when it ran but found failures (verify, reseal).
fn run(command: Command) -> anyhow::Result<bool> {
    let done = |r: anyhow::Result<()>| r.map(|()| true);
    match command {
        Command::Seal(args) => done(args.plan().and_then(|plan| seal::run(&plan))),
        Command::Unseal(args) => done(args.plan().and_then(|plan| unseal::run(&plan))),
        Command::Set(args) => done(edit::run_set(&args)),
        Command::Unset(args) => done(edit::run_unset(&args)),
        Command::Guard(args) => done(guard::run(&args)),
        Command::Kubeseal(args) => done(kubeseal::run(&args)),
        Command::Verify(args) => args.plan().and_then(|plan| verify::run(&plan)),
        Command::Reseal(args) => args.plan().and_then(|plan| reseal::run(&plan)),
        Command::Keys(cmd) => done(keys::run(&cmd)),
        Command::Cert(cmd) => done(cert::run(&cmd)),
        Command::Completions(args) => done(completions::run(&args)),
    }
}

/// Exit code 0 on success; 1 for failures found (already reported) and for errors, printed as
/// one `error: ` line on stderr.
fn exit(result: anyhow::Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            io::note(&format!("error: {}", one_line(&format!("{err:#}"))));
            ExitCode::FAILURE
        }
    }
}

/// Joins a possibly multi-line message into one line, so every error is exactly one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_line_joins() {
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
        assert_eq!(one_line("plain"), "plain");
    }
}
