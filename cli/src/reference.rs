//! The README's CLI reference is generated from the clap definitions, so every flag's help
//! and the README say the same. The test fails when they drift; run it with
//! `SEALANT_WRITE_README=1` to rewrite the section between the markers.

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::Cli;

const BEGIN: &str = "<!-- cli-reference:begin (generated from the clap definitions: SEALANT_WRITE_README=1 cargo test -p sealant --bin sealant reference) -->";
const END: &str = "<!-- cli-reference:end -->";

/// The reference of every subcommand: usage and a table of its arguments.
fn render() -> String {
    let mut cli = Cli::command();
    cli.build();
    let mut out = String::new();
    for sub in cli.get_subcommands() {
        visit(sub, "sealant", &mut out);
    }
    out
}

fn visit(cmd: &Command, parent: &str, out: &mut String) {
    if cmd.is_hide_set() || cmd.get_name() == "help" {
        return;
    }
    let name = format!("{parent} {}", cmd.get_name());
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let _ = write!(out, "#### `{name}`\n\n{}\n\n", one_line(&about));
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    let args: Vec<&Arg> = cmd.get_arguments().filter(|a| shown(a)).collect();
    if !args.is_empty() || subs.is_empty() {
        let usage = cmd.clone().render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim_end();
        let _ = write!(out, "```text\n{usage}\n```\n\n");
    }
    if !args.is_empty() {
        out.push_str("| argument | environment | default | meaning |\n|---|---|---|---|\n");
        for arg in args {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                flag(arg).replace('|', "\\|"),
                arg.get_env()
                    .map(|e| format!("`{}`", e.to_string_lossy()))
                    .unwrap_or_default(),
                arg.get_default_values()
                    .iter()
                    .filter(|_| arg.get_action().takes_values())
                    .map(|v| format!("`{}`", v.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(", "),
                cell(&help(arg)),
            );
        }
        out.push('\n');
    }
    for sub in subs {
        visit(sub, &name, out);
    }
}

fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// `-o, --format <FORMAT>`, `--raw`, `<FILE>`.
fn flag(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), |v| v.to_string());
    let takes_value = arg.get_action().takes_values();
    let mut s = match (arg.get_short(), arg.get_long()) {
        (None, None) => return format!("`<{value}>`"),
        (Some(c), Some(l)) => format!("-{c}, --{l}"),
        (Some(c), None) => format!("-{c}"),
        (None, Some(l)) => format!("--{l}"),
    };
    if takes_value {
        let _ = write!(s, " <{value}>");
    }
    format!("`{s}`")
}

/// The help text, plus the accepted values of an enumerated argument.
fn help(arg: &Arg) -> String {
    let text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if values.is_empty() || !arg.get_action().takes_values() {
        one_line(&text)
    } else {
        format!("{} (one of: {})", one_line(&text), values.join(", "))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A table cell: `|` escaped, and `<` so that value names are not read as HTML.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;")
}

/// The README with its reference section replaced by `reference`.
fn with_reference(readme: &str, reference: &str) -> Option<String> {
    let start = readme.find(BEGIN)? + BEGIN.len();
    let end = readme[start..].find(END)? + start;
    Some(format!(
        "{}\n\n{reference}{}",
        &readme[..start],
        &readme[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_cli_reference_matches_the_help() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let expected = with_reference(&readme, &render())
            .unwrap_or_else(|| panic!("README.md has no {BEGIN} ... {END} section"));
        if std::env::var_os("SEALANT_WRITE_README").is_some() {
            std::fs::write(path, &expected).unwrap();
            return;
        }
        if readme != expected {
            let diff: Vec<String> = expected
                .lines()
                .zip(readme.lines())
                .filter(|(a, b)| a != b)
                .take(3)
                .map(|(a, b)| format!("help says:   {a}\nREADME says: {b}"))
                .collect();
            panic!(
                "README.md's CLI reference differs from the commands' help; run \
                 `SEALANT_WRITE_README=1 cargo test -p sealant --bin sealant reference` and \
                 review the diff.\n{}",
                diff.join("\n")
            );
        }
    }

    #[test]
    fn the_reference_lists_every_flag() {
        let text = render();
        for needle in [
            "#### `sealant seal`",
            "`--merge-into <FILE>`",
            "#### `sealant keys generate`",
            "#### `sealant guard install`",
            "`SEALANT_CERT`",
            "file:// URL",
        ] {
            assert!(text.contains(needle), "{needle} missing");
        }
        assert!(with_reference("a\nno markers\n", "x").is_none());
    }
}
