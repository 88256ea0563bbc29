//! Independent check: Python `cryptography` opens what `sealant seal` wrote (tests/oracle).
#![allow(clippy::unwrap_used)] // test helpers may panic

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "\n\n!!! SKIPPING the Python oracle test: python3 with the `cryptography` package is \
             not available. CI has it; install it (pip install cryptography) to run this check. !!!\n"
        );
    }
    ok.then_some("python3")
}

fn oracle(python: &str, args: &[&std::ffi::OsStr]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/open_sealed.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_opens_sealed_manifests_for_every_scope() {
    let Some(python) = python() else { return };
    let w = Workdir::new();
    let input = format!(
        "{}---\n{}",
        secret_yaml(
            Some("prod"),
            "db",
            &[("password", "hunter2"), ("user", "admin")]
        ),
        secret_yaml(Some("dev"), "api", &[("token", "t0k3n")])
    );
    let key4096 = vector("key-4096.pem");
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let out = w.path(&format!("{scope}.json"));
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(vector("cert-4096.pem"))
            .args(["--scope", scope, "-o", "json", "-w"])
            .arg(&out)
            .write_stdin(input.clone())
            .assert()
            .success();
        let opened: serde_json::Value =
            serde_json::from_str(&oracle(python, &[key4096.as_os_str(), out.as_os_str()])).unwrap();
        // base64 of the plaintexts.
        assert_eq!(opened["prod/db"]["password"], "aHVudGVyMg==", "{scope}");
        assert_eq!(opened["prod/db"]["user"], "YWRtaW4=", "{scope}");
        assert_eq!(opened["dev/api"]["token"], "dDBrM24=", "{scope}");
    }
}

#[test]
fn python_opens_raw_values() {
    let Some(python) = python() else { return };
    let key = vector("key-2048-pkcs8.pem");
    for (scope, label, extra) in [
        ("strict", "prod/db", &["-n", "prod", "--name", "db"][..]),
        ("namespace-wide", "prod", &["-n", "prod"][..]),
        ("cluster-wide", "", &[][..]),
    ] {
        let out = sealant()
            .arg("seal")
            .arg("--cert")
            .arg(vector("cert-2048.pem"))
            .args(["--raw", "--scope", scope])
            .args(extra)
            .write_stdin("s3cr3t")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let blob = String::from_utf8(out).unwrap();
        let opened = oracle(
            python,
            &[
                key.as_os_str(),
                "--raw".as_ref(),
                label.as_ref(),
                blob.as_ref(),
            ],
        );
        assert_eq!(opened.trim(), "czNjcjN0", "{scope}");
    }
}
