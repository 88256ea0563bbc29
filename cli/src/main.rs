//! `sealant`: seal Kubernetes Secrets so they can be committed to git, and recover them offline.
//!
//! A thin command-line layer over `sealant-crypto` and `sealant-api`. Each command lives in its
//! own module, which resolves its arguments once into a plan (certificates and keys loaded,
//! inputs and outputs decided) and then runs the plan. Shared parts: `io` (bounded reading,
//! atomic writing), `manifest` (streams and files of manifests), `certsrc` and `kubecfg`
//! (certificates from files, URLs and the controller), `yamledit` (in-place edits that keep
//! comments), `bulk` and `progress` (work on every core, progress bars).

mod audit;
mod bulk;
mod cert;
mod certsrc;
mod completions;
mod edit;
mod encryption_config;
mod fetch;
mod guard;
mod io;
mod keys;
mod kubecfg;
mod kubeseal;
mod manifest;
mod merge;
mod migrate;
mod multi;
mod progress;
#[cfg(test)]
mod reference;
mod reseal;
mod rotate;
mod seal;
mod unseal;
mod verify;
mod web;
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

// Usage lines: optional arguments in brackets. (clap's generated line lists every argument the
// user typed as if it were required.)
const USAGE_SEAL: &str = "\
sealant seal [OPTIONS] [--cert <PATH|URL>] [FILE | -f <FILE>] [-w <FILE> | --merge-into <FILE>]
       sealant seal --raw [OPTIONS] [--cert <PATH|URL>] [--from-file <FILE>]
       sealant seal --out-dir <DIR> [OPTIONS] [--cert <PATH|URL>]... [FILE | -f <FILE>]";
const USAGE_UNSEAL: &str = "sealant unseal --key <FILE>... [OPTIONS] [-f <FILE>]";
const USAGE_SET: &str = "sealant set [OPTIONS] <FILE> <KEY> <--from-file <F> | --value-stdin>";
const USAGE_UNSET: &str = "sealant unset [OPTIONS] <FILE> <KEY>";
const USAGE_GUARD: &str =
    "sealant guard [--staged] [PATH]...\n       sealant guard install [--force]";
const USAGE_VERIFY: &str =
    "sealant verify [OPTIONS] [--cert <PATH|URL>... | --key <FILE>...] <PATH>...";
const USAGE_AUDIT: &str = "sealant audit [OPTIONS] [-o table|json] [PATH]...";
const USAGE_RESEAL: &str =
    "sealant reseal [OPTIONS] [--dry-run] [--key <FILE>... --cert <PATH|URL>] <PATH>...";

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
    #[command(after_help = seal::EXAMPLES, override_usage = USAGE_SEAL)]
    Seal(seal::SealArgs),
    /// Decrypt SealedSecrets offline with private keys, printing the Secrets the controller
    /// would create.
    #[command(after_help = unseal::EXAMPLES, override_usage = USAGE_UNSEAL)]
    Unseal(unseal::UnsealArgs),
    /// Add or replace one item of a SealedSecret file in place (other items stay byte-identical).
    #[command(after_help = edit::SET_EXAMPLES, override_usage = USAGE_SET)]
    Set(edit::SetArgs),
    /// Remove one item of a SealedSecret file in place.
    #[command(after_help = edit::UNSET_EXAMPLES, override_usage = USAGE_UNSET)]
    Unset(edit::UnsetArgs),
    /// Find plaintext Secrets in files, directories or the git index (pre-commit hook).
    #[command(after_help = guard::EXAMPLES, override_usage = USAGE_GUARD)]
    Guard(guard::GuardArgs),
    /// Run with kubeseal's flags and defaults (also: invoke sealant as `kubeseal`).
    #[command(override_usage = "sealant kubeseal [OPTIONS]")]
    Kubeseal(kubeseal::KubesealArgs),
    /// Check that SealedSecrets will unseal: online through the controller, or offline with
    /// certificates (no private key) or private keys.
    #[command(after_help = verify::EXAMPLES, override_usage = USAGE_VERIFY)]
    Verify(verify::VerifyArgs),
    /// Re-seal SealedSecrets in files with the newest key (after key renewal).
    #[command(after_help = reseal::EXAMPLES, override_usage = USAGE_RESEAL)]
    Reseal(reseal::ResealArgs),
    /// Manage sealing keys.
    #[command(subcommand, after_help = keys::EXAMPLES)]
    Keys(keys::KeysCommand),
    /// Inspect sealing certificates.
    #[command(subcommand, after_help = cert::EXAMPLES)]
    Cert(cert::CertCommand),
    /// Audit a cluster (read-only) or files: SealedSecrets not Ready, keys and what they
    /// sealed, Secrets no SealedSecret made, who can read the sealing keys; plaintext in files.
    #[command(after_help = audit::EXAMPLES, override_usage = USAGE_AUDIT)]
    Audit(audit::AuditArgs),
    /// Encryption at rest of Secrets in etcd (self-managed clusters): generate, rotate and
    /// validate the API server's EncryptionConfiguration.
    #[command(subcommand, name = "encryption-config", after_help = encryption_config::EXAMPLES)]
    EncryptionConfig(encryption_config::EncryptionConfigCommand),
    /// Serve the sealing page on this machine (seal in a browser, offline, with given
    /// certificates).
    #[command(after_help = web::EXAMPLES)]
    Web(web::WebArgs),
    /// Replacing Bitnami sealed-secrets: what its install left, and how to remove it.
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
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

/// Runs one command; `Ok(false)` when it ran but found failures (verify, reseal) or work left
/// to do (migrate check).
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
        Command::Audit(args) => args.plan().and_then(|plan| audit::run(&plan)),
        Command::EncryptionConfig(cmd) => done(encryption_config::run(&cmd)),
        Command::Web(args) => done(args.plan().and_then(web::run)),
        Command::Migrate(cmd) => migrate::run(&cmd),
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

    /// What a usage line requires: the text outside `[...]` and `<--a … | --b>` groups.
    fn required_part(usage: &str) -> String {
        let mut out = String::new();
        let (mut square, mut angle) = (0usize, 0usize);
        let chars: Vec<char> = usage.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            match c {
                '[' => square += 1,
                '<' if angle > 0 || chars.get(i + 1) == Some(&'-') => angle += 1,
                _ => {}
            }
            if square == 0 && angle == 0 {
                out.push(*c);
            }
            match c {
                ']' => square = square.saturating_sub(1),
                '>' if angle > 0 => angle -= 1,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn usage_lines_show_optional_arguments_as_optional() {
        fn check(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{path} {}", sub.get_name());
                let usage = sub.clone().render_usage().to_string();
                // The first line is the main form; further lines show other modes (--raw).
                let required = required_part(usage.lines().next().unwrap_or_default());
                for arg in sub.get_arguments() {
                    let Some(long) = arg.get_long() else {
                        continue;
                    };
                    if long == "help" || long == "version" {
                        continue;
                    }
                    let shown = required
                        .split_whitespace()
                        .any(|word| word == format!("--{long}"));
                    if arg.is_required_set() {
                        assert!(shown, "{name}: required --{long} missing from {usage:?}");
                    } else {
                        assert!(
                            !shown,
                            "{name}: optional --{long} shown as required: {usage:?}"
                        );
                    }
                }
                check(sub, &name);
            }
        }
        let mut cli = Cli::command();
        cli.build();
        check(&cli, "sealant");
    }

    #[test]
    fn one_line_joins() {
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
        assert_eq!(one_line("plain"), "plain");
    }
}
