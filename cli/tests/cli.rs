//! Help, version, completions and usage errors.
#![allow(clippy::unwrap_used)] // test helpers may panic

use crate::common::*;
use predicates::prelude::*;

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        &[][..],
        &["seal"][..],
        &["unseal"][..],
        &["keys"][..],
        &["keys", "generate"][..],
        &["cert"][..],
        &["completions"][..],
    ] {
        for help in ["--help", "-h"] {
            let out = sealant()
                .args(args)
                .arg(help)
                .assert()
                .success()
                .get_output()
                .stdout
                .clone();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("Examples:"), "{args:?} {help}: {text}");
            assert!(text.contains("sealant "), "{args:?} {help}: {text}");
        }
    }
}

#[test]
fn version() {
    sealant()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "sealant {}",
            env!("CARGO_PKG_VERSION")
        )));
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = sealant()
            .args(["completions", shell])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        assert!(text.len() > 200, "{shell}: {text}");
        assert!(text.contains("sealant"), "{shell}");
        assert!(text.contains("merge-into"), "{shell} completes flags");
    }
    sealant().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["seal", "--cert", "c.pem", "--scope", "everywhere"][..],
        &["seal", "--cert", "c.pem", "-o", "xml"][..],
        &["seal", "--cert", "c.pem", "--raw", "--merge-into", "x.yaml"][..],
        &[
            "seal",
            "--cert",
            "c.pem",
            "--merge-into",
            "x.yaml",
            "-w",
            "y.yaml",
        ][..],
        &["unseal"][..], // no --key
        &["keys", "generate", "--key-out", "k"][..],
    ] {
        sealant()
            .args(args)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("error"));
    }
}

#[test]
fn formats_are_case_insensitive() {
    let w = Workdir::new();
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args(["-o", "JSON"])
        .write_stdin(secret_yaml(Some("a"), "b", &[("k", "v")]))
        .assert()
        .success()
        .stdout(predicate::str::starts_with("{"));
}
