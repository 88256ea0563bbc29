//! Bad input to `sealant seal`: exit code 1, nothing on stdout, one error line naming the file,
//! and no output file.
#![allow(clippy::unwrap_used)] // test helpers may panic

use crate::common::*;

const GOOD: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: ns\ndata:\n  k: dg==\n";

fn seal_error(w: &Workdir, input: &str, extra: &[&str], fragments: &[&str]) {
    let path = w.write("input.yaml", input);
    let out = w.path("out.yaml");
    let mut all = vec!["input.yaml"];
    all.extend_from_slice(fragments);
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&path)
            .arg("-w")
            .arg(&out)
            .args(extra)
            .assert(),
        &all,
    );
    assert!(!out.exists(), "no output file on error");
}

#[test]
fn not_yaml_or_json() {
    let w = Workdir::new();
    seal_error(&w, "key: [unclosed\n", &[], &["YAML"]);
    seal_error(&w, "{\"apiVersion\": \"v1\",", &[], &["JSON"]);
    seal_error(&w, "", &[], &["no Secrets"]);
    seal_error(&w, "just a string\n", &[], &[]);
}

#[test]
fn not_utf8() {
    let w = Workdir::new();
    let path = w.write("input.yaml", b"\xff\xfe\x00garbage");
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&path)
            .assert(),
        &["input.yaml", "UTF-8"],
    );
}

#[test]
fn wrong_kind() {
    let w = Workdir::new();
    seal_error(
        &w,
        &GOOD.replace("kind: Secret", "kind: ConfigMap"),
        &[],
        &["ConfigMap"],
    );
}

#[test]
fn invalid_base64() {
    let w = Workdir::new();
    seal_error(
        &w,
        &GOOD.replace("dg==", "not*base64"),
        &[],
        &["data.k", "base64"],
    );
}

#[test]
fn empty_data_unless_allowed() {
    let w = Workdir::new();
    let empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: ns\n";
    seal_error(&w, empty, &[], &["empty", "--allow-empty-data"]);
    let path = w.write("input.yaml", empty);
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("--allow-empty-data")
        .arg("-f")
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn missing_name() {
    let w = Workdir::new();
    seal_error(
        &w,
        &GOOD.replace("  name: a\n", ""),
        &[],
        &["metadata.name"],
    );
}

#[test]
fn namespace_mismatch() {
    let w = Workdir::new();
    seal_error(
        &w,
        GOOD,
        &["-n", "other"],
        &["namespace mismatch", "\"ns\"", "\"other\""],
    );
}

#[test]
fn second_document_fails_all_or_nothing() {
    let w = Workdir::new();
    let input = format!("{GOOD}---\n{}", GOOD.replace("kind: Secret", "kind: Pod"));
    seal_error(&w, &input, &[], &["document 2", "Pod"]);
}

#[test]
fn input_over_16_mib() {
    let w = Workdir::new();
    let big = vec![b'#'; 16 * 1024 * 1024 + 1];
    let path = w.write("input.yaml", &big);
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&path)
            .assert(),
        &["input.yaml", "16 MiB"],
    );
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .write_stdin(big.clone())
            .assert(),
        &["<stdin>", "16 MiB"],
    );
    assert_input_error(
        sealant()
            .args(["unseal", "--key"])
            .arg(w.key())
            .arg("-f")
            .arg(&path)
            .assert(),
        &["input.yaml", "16 MiB"],
    );
}

fn cert_error(w: &Workdir, cert: &std::path::Path, fragments: &[&str]) {
    let input = w.write("input.yaml", GOOD);
    let out = w.path("out.yaml");
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(cert)
            .arg("-f")
            .arg(&input)
            .arg("-w")
            .arg(&out)
            .assert(),
        fragments,
    );
    assert!(!out.exists());
}

#[test]
fn bad_certificates() {
    let w = Workdir::new();
    cert_error(&w, &w.key(), &["key.pem", "private key"]);
    cert_error(
        &w,
        &vector("key-2048-pkcs8.pem"),
        &["key-2048-pkcs8.pem", "private key"],
    );
    let junk = w.write("junk.pem", "not a certificate");
    cert_error(&w, &junk, &["junk.pem", "certificate"]);
    let truncated = w.write(
        "truncated.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    cert_error(&w, &truncated, &["truncated.pem", "certificate"]);
    cert_error(&w, &w.path("missing.pem"), &["missing.pem"]);
    let huge = w.write("huge.pem", vec![b'A'; 100 * 1024]);
    cert_error(&w, &huge, &["huge.pem", "64 KiB"]);
    cert_error(&w, w.dir.path(), &["is a directory"]);
}

#[test]
fn missing_input_file() {
    let w = Workdir::new();
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(w.path("nope.yaml"))
            .assert(),
        &["nope.yaml"],
    );
}

#[test]
fn output_directory_missing() {
    let w = Workdir::new();
    let input = w.write("input.yaml", GOOD);
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&input)
            .arg("-w")
            .arg(w.path("no/such/dir/out.yaml"))
            .assert(),
        &["out.yaml", "does not exist"],
    );
}
