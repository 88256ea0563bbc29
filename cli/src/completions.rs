//! `sealant completions SHELL`: shell completion scripts.

use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::Cli;
use crate::io::write_stdout;

pub const EXAMPLES: &str = "\
Examples:
  # bash (current shell, then permanently)
  source <(sealant completions bash)
  sealant completions bash > ~/.local/share/bash-completion/completions/sealant

  # zsh
  sealant completions zsh > \"${fpath[1]}/_sealant\"

  # fish
  sealant completions fish > ~/.config/fish/completions/sealant.fish

  # PowerShell
  sealant completions powershell | Out-String | Invoke-Expression";

/// Arguments of `sealant completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "sealant", &mut script);
    write_stdout(&script)
}
