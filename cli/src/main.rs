//! `sealant`: seal Kubernetes Secrets so they can be committed to git, and recover them offline.
//!
//! A thin command-line layer over `sealant-crypto` and `sealant-api`: each command lives in its
//! own module; `io` holds bounded reading and atomic writing; `certsrc` gets certificates from
//! files and URLs.

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
mod multi;
mod reseal;
mod seal;
mod unseal;
mod verify;

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
  sealant cert info --cert tls.crt";

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
        return exit(kubeseal::main_from(std::env::args_os()));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Set(args) => edit::run_set(&args),
        Command::Unset(args) => edit::run_unset(&args),
        Command::Guard(args) => guard::run(&args),
        Command::Kubeseal(args) => kubeseal::run(&args),
        Command::Seal(args) => seal::run(&args),
        Command::Unseal(args) => unseal::run(&args),
        Command::Verify(args) => verify::run(&args).map(|ok| {
            if !ok {
                std::process::exit(1);
            }
        }),
        Command::Reseal(args) => reseal::run(&args).map(|ok| {
            if !ok {
                std::process::exit(1);
            }
        }),
        Command::Keys(cmd) => keys::run(&cmd),
        Command::Cert(cmd) => cert::run(&cmd),
        Command::Completions(args) => completions::run(&args),
    };
    exit(result)
}

/// Success, or the error as one `error: ` line on stderr and exit code 1.
fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
