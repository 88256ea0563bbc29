//! `sealant encryption-config`: the API server's encryption at rest for Secrets (self-managed
//! clusters): generate a configuration with a fresh key, walk through key rotation, validate.

mod rotation;
mod schema;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use crate::io::{self, Source, WriteOptions};
use rotation::{REWRITE_COMMAND, Stage};
use schema::{Cipher, Config, Key, Provider, ResourceConfig};

pub const EXAMPLES: &str = "\
Examples:
  # A configuration for Secrets with a fresh secretbox key (mode 0600)
  sealant encryption-config generate -o /etc/kubernetes/enc/encryption-config.yaml

  # Check a configuration
  sealant encryption-config validate /etc/kubernetes/enc/encryption-config.yaml

  # Which rotation step is next, and write the next configuration in place
  sealant encryption-config rotate --config encryption-config.yaml -o encryption-config.yaml

Walkthrough: docs/encryption-at-rest.md.";

const GENERATE_HELP: &str = "\
Where the platform offers one (a cloud KMS, Vault, an HSM), prefer a KMS v2 provider to these
local keys: with aescbc or secretbox the key sits in this file on every control-plane node, so
whoever reads the node's disk or backups reads the key next to the data it protects; with KMS v2
the key encryption key never leaves the KMS. aescbc and secretbox still protect etcd's storage,
snapshots and backups taken without the file.

Examples:
  sealant encryption-config generate -o encryption-config.yaml
  sealant encryption-config generate --provider aescbc -o encryption-config.yaml
  sealant encryption-config generate -o -     # print it (it holds the key)";

/// `sealant encryption-config` subcommands.
#[derive(Debug, Subcommand)]
pub enum EncryptionConfigCommand {
    /// Write an EncryptionConfiguration for Secrets with a fresh random key, `identity` last
    /// so Secrets written before stay readable (file mode 0600).
    #[command(after_help = GENERATE_HELP)]
    Generate(GenerateArgs),
    /// Say at which step of key rotation a configuration is, and write the next step's
    /// configuration (with -o).
    Rotate(RotateArgs),
    /// Check a configuration: schema, key lengths, base64, provider order.
    Validate(ValidateArgs),
}

/// Local-key providers `generate` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// XSalsa20 and Poly1305 (authenticated), 32-byte key.
    Secretbox,
    /// AES-CBC with PKCS#7 padding, 32-byte key; for policies that require AES (the Kubernetes
    /// documentation rates it weaker than secretbox: CBC padding oracles).
    Aescbc,
}

/// Arguments of `sealant encryption-config generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The provider of the new key.
    #[arg(long, value_enum, default_value_t = ProviderArg::Secretbox)]
    pub provider: ProviderArg,
    /// Write the configuration to FILE (mode 0600, atomically); `-` prints it on stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub out: PathBuf,
    /// Replace an existing FILE (its keys are lost: data encrypted with them becomes
    /// unreadable).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `sealant encryption-config rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The configuration the API servers use now.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Write the next step's configuration to FILE (mode 0600, atomically; the --config file
    /// itself is replaced in place); `-` prints it on stdout. Without it only the step is told.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing FILE other than the --config file.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `sealant encryption-config validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The configuration file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(cmd: &EncryptionConfigCommand) -> Result<()> {
    match cmd {
        EncryptionConfigCommand::Generate(args) => generate(&args.plan()?),
        EncryptionConfigCommand::Rotate(args) => rotate(&args.plan()?),
        EncryptionConfigCommand::Validate(args) => validate(&args.file),
    }
}

/// Where a configuration goes.
#[derive(Debug)]
enum Output {
    Stdout,
    File { path: PathBuf, replace: bool },
}

impl Output {
    fn resolve(out: &Path, force: bool, replaceable: Option<&Path>) -> Output {
        if out.as_os_str() == "-" {
            return Output::Stdout;
        }
        let same = replaceable.is_some_and(|config| same_file(config, out));
        Output::File {
            path: out.to_path_buf(),
            replace: force || same,
        }
    }

    fn write(&self, text: &str) -> Result<()> {
        match self {
            Output::Stdout => io::write_stdout(text.as_bytes()),
            Output::File { path, replace } => io::write_atomic(
                path,
                text.as_bytes(),
                WriteOptions {
                    no_clobber: !replace,
                    mode: Some(0o600),
                },
            ),
        }
    }

    fn describe(&self) -> String {
        match self {
            Output::Stdout => "stdout".to_owned(),
            Output::File { path, .. } => format!("{} (mode 0600)", path.display()),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

struct GeneratePlan {
    cipher: Cipher,
    out: Output,
}

impl GenerateArgs {
    fn plan(&self) -> Result<GeneratePlan> {
        let out = Output::resolve(&self.out, self.force, None);
        if let Output::File {
            path,
            replace: false,
        } = &out
            && path.exists()
        {
            bail!(
                "{}: already exists; replacing it loses its keys and every Secret encrypted with them (use --force if that is intended, or `rotate --config {}`)",
                path.display(),
                path.display()
            );
        }
        let cipher = match self.provider {
            ProviderArg::Secretbox => Cipher::Secretbox,
            ProviderArg::Aescbc => Cipher::Aescbc,
        };
        Ok(GeneratePlan { cipher, out })
    }
}

fn generate(plan: &GeneratePlan) -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let name = rotation::fresh_name(&[], now);
    let config = Config {
        resources: vec![ResourceConfig {
            resources: vec!["secrets".to_owned()],
            providers: vec![
                Provider::Keyed {
                    cipher: plan.cipher,
                    keys: vec![Key {
                        name: name.clone(),
                        secret: rotation::fresh_secret()?,
                    }],
                },
                Provider::Identity,
            ],
        }],
    };
    let header = "EncryptionConfiguration for kube-apiserver --encryption-provider-config.\n\
                  It holds an encryption key: keep it mode 0600, owned by root, and back it up\n\
                  somewhere safe (without it, encrypted Secrets cannot be read).";
    plan.out.write(&schema::render(&config, header))?;
    io::note(&format!(
        "wrote an EncryptionConfiguration to {}: Secrets encrypted with {} key {name}, identity last.\n\
         Next: back the file up; copy it to every control-plane node; point each kube-apiserver's \
         --encryption-provider-config at it; restart every API server; then rewrite every Secret so \
         existing ones are encrypted too:\n  {REWRITE_COMMAND}\n\
         (docs/encryption-at-rest.md)",
        plan.out.describe(),
        plan.cipher.name()
    ));
    Ok(())
}

/// Reads and validates a configuration file; problems are printed one a line, then one error.
fn load(path: &Path) -> Result<(Config, Vec<String>)> {
    let source = Source::File(path.to_path_buf());
    let text = io::read_source_text(&source)?;
    match schema::parse(&text) {
        Ok(ok) => Ok(ok),
        Err(problems) => {
            for problem in &problems {
                io::note(&format!("{source}: {problem}"));
            }
            bail!(
                "{source}: not a valid {} {} ({} problem{})",
                schema::API_VERSION,
                schema::KIND,
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            )
        }
    }
}

/// A warning when the file can be read by other users.
fn mode_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "mode {mode:04o}: other users can read the keys; chmod 600 {}",
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn validate(path: &Path) -> Result<()> {
    let (config, warnings) = load(path)?;
    let name = path.display();
    for warning in warnings.iter().cloned().chain(mode_warning(path)) {
        io::note(&format!("warning: {name}: {warning}"));
    }
    let summary = match config.secrets_entry() {
        Some(i) => {
            let entry = &config.resources[i];
            match entry.providers.first() {
                Some(Provider::Keyed { cipher, keys }) => format!(
                    "Secrets are encrypted with {} key {} (resources[{i}]; {} key{} in all)",
                    cipher.name(),
                    keys.first().map_or(String::new(), |k| printable(&k.name)),
                    keys.len(),
                    if keys.len() == 1 { "" } else { "s" }
                ),
                Some(Provider::Kms(kms)) => format!(
                    "Secrets are encrypted by KMS provider {} (resources[{i}])",
                    printable(&kms.name)
                ),
                _ => String::new(),
            }
        }
        None => String::new(),
    };
    io::write_stdout(format!("{name}: valid: {summary}\n").as_bytes())
}

/// A name from the file as plain text: control characters shown escaped, never sent to the
/// terminal.
fn printable(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

struct RotatePlan {
    config_path: PathBuf,
    out: Option<Output>,
}

impl RotateArgs {
    fn plan(&self) -> Result<RotatePlan> {
        let out = self
            .out
            .as_deref()
            .map(|o| Output::resolve(o, self.force, Some(&self.config)));
        if let Some(Output::File {
            path,
            replace: false,
        }) = &out
            && path.exists()
        {
            bail!(
                "{}: already exists and is not the --config file (use --force to replace it)",
                path.display()
            );
        }
        Ok(RotatePlan {
            config_path: self.config.clone(),
            out,
        })
    }
}

fn rotate(plan: &RotatePlan) -> Result<()> {
    let (config, warnings) = load(&plan.config_path)?;
    let name = plan.config_path.display();
    for warning in &warnings {
        io::note(&format!("warning: {name}: {warning}"));
    }
    let next = rotation::next(&config, time::OffsetDateTime::now_utc())
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let old = next
        .names
        .iter()
        .filter(|n| **n != next.newest)
        .map(|n| printable(n))
        .collect::<Vec<_>>()
        .join(", ");
    let cipher = next.cipher.name();
    let new = &printable(&next.newest);
    let written = plan.out.as_ref().map(Output::describe);
    let apply = |what: &str| match &written {
        Some(dest) => format!("{what}: written to {dest}"),
        None => {
            format!("{what}: run again with -o FILE to write it (it holds keys; -o - prints it)")
        }
    };
    let report = match next.stage {
        Stage::OneKey => format!(
            "{name}: one {cipher} key ({old}) in {field}: the start of a rotation (or the end of the last one).\n\
             Step 1 of 5 is next: add a new key second.\n\
             {next_config}.\n\
             Then:\n\
             2. install it on every control-plane node and restart every API server, so each can read data written with the new key;\n\
             back the new configuration up;\n\
             then run `sealant encryption-config rotate --config FILE` on it for step 3.\n",
            field = next.field,
            next_config = apply(&format!("The next configuration adds key {new} second"))
        ),
        Stage::NewKeyNotFirst => format!(
            "{name}: the newest key {new} is not first in {field}: step 1 is done.\n\
             Step 2, if not done yet: install this file on every control-plane node and restart every API server.\n\
             Step 3 is next: move the new key first, so it encrypts new writes.\n\
             {next_config}.\n\
             Then install it on every control-plane node, restart every API server, and run \
             `sealant encryption-config rotate --config FILE` on it for steps 4 and 5.\n",
            field = next.field,
            next_config = apply(&format!(
                "The next configuration has {new} first, then {old}"
            ))
        ),
        Stage::NewKeyFirst => format!(
            "{name}: the newest key {new} is first in {field}, older key(s) {old} remain: step 3 is done.\n\
             Step 3, if not done yet: install this file on every control-plane node and restart every API server.\n\
             Step 4 is next: rewrite every Secret so it is encrypted with {new}:\n\
             \x20 {REWRITE_COMMAND}\n\
             (rerun it if it reports conflicts: every Secret must have been rewritten).\n\
             Step 5, only after step 4 succeeded: remove the old key(s).\n\
             {next_config}.\n\
             Then install it on every control-plane node and restart every API server: the rotation is complete.\n",
            field = next.field,
            next_config = apply(&format!("The next configuration keeps only {new}"))
        ),
    };
    let header = "EncryptionConfiguration for kube-apiserver --encryption-provider-config.\n\
                  It holds encryption keys: keep it mode 0600, owned by root, and backed up.";
    match &plan.out {
        Some(out) => {
            out.write(&schema::render(&next.config, header))?;
            let report = report.trim_end();
            // The configuration may be on stdout: the report then goes to stderr.
            if matches!(out, Output::Stdout) {
                io::note(report);
                Ok(())
            } else {
                io::write_stdout(format!("{report}\n").as_bytes())
            }
        }
        None => io::write_stdout(report.as_bytes()),
    }
}
