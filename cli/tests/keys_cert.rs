//! `sealant keys generate` and `sealant cert info`.
#![allow(clippy::unwrap_used)] // test helpers may panic

use crate::common::*;
use predicates::prelude::*;
use sealant_crypto::{CertOptions, Certificate, PrivateKey};
use time::OffsetDateTime;

#[test]
fn generate_2048_and_use_it() {
    let w = Workdir::new();
    let (key, cert) = (w.path("tls.key"), w.path("tls.crt"));
    sealant()
        .args([
            "keys",
            "generate",
            "--bits",
            "2048",
            "--cn",
            "my-cluster",
            "--validity",
            "720h",
        ])
        .arg("--key-out")
        .arg(&key)
        .arg("--cert-out")
        .arg(&cert)
        .assert()
        .success()
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("2048-bit"));
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode");
    }
    let parsed = Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    assert_eq!(parsed.public_key().bits(), 2048);
    assert_eq!(parsed.subject(), "CN=my-cluster");
    let validity = parsed.not_after() - parsed.not_before();
    assert_eq!(validity, time::Duration::hours(720));
    assert_eq!(
        PrivateKey::from_pem(key_pem.as_bytes()).unwrap().key_id(),
        parsed.key_id()
    );

    // Seal with the new cert, unseal with the new key.
    let sealed = w.path("sealed.yaml");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(&cert)
        .arg("-w")
        .arg(&sealed)
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success();
    assert_eq!(decoded_data(&unseal_json(&key, &sealed)[0])["k"], "v");
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let w = Workdir::new();
    let key = w.write("tls.key", "precious");
    let cert = w.path("tls.crt");
    let run = |force: bool| {
        let mut cmd = sealant();
        cmd.args(["keys", "generate", "--bits", "2048", "--key-out"])
            .arg(&key)
            .arg("--cert-out")
            .arg(&cert);
        if force {
            cmd.arg("--force");
        }
        cmd.assert()
    };
    assert_input_error(run(false), &["tls.key", "--force"]);
    assert_eq!(w.read("tls.key"), "precious");
    assert!(!cert.exists(), "no certificate written when refusing");
    run(true).success();
    assert!(
        w.read("tls.key")
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert!(cert.exists());
    assert_eq!(w.files(), ["cert.pem", "key.pem", "tls.crt", "tls.key"]);
}

#[test]
fn generate_default_4096() {
    let w = Workdir::new();
    sealant()
        .args(["keys", "generate", "--key-out"])
        .arg(w.path("k"))
        .arg("--cert-out")
        .arg(w.path("c"))
        .assert()
        .success();
    let cert = Certificate::from_pem(&std::fs::read(w.path("c")).unwrap()).unwrap();
    assert_eq!(cert.public_key().bits(), 4096);
    assert_eq!(cert.subject(), "");
    assert_eq!(
        cert.not_after() - cert.not_before(),
        time::Duration::hours(87_600)
    );
}

#[test]
fn generate_usage_errors() {
    let w = Workdir::new();
    for bad in [
        ["--bits", "1024"],
        ["--validity", "10x"],
        ["--validity", "0h"],
    ] {
        sealant()
            .args(["keys", "generate", "--key-out"])
            .arg(w.path("k"))
            .arg("--cert-out")
            .arg(w.path("c"))
            .args(bad)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty());
    }
    assert!(!w.path("k").exists());
    assert_input_error(
        sealant()
            .args(["keys", "generate", "--bits", "2048", "--key-out"])
            .arg(w.path("same"))
            .arg("--cert-out")
            .arg(w.path("same"))
            .assert(),
        &["same"],
    );
}

#[test]
fn cert_info_text_and_json() {
    let text = sealant()
        .args(["cert", "info", "--cert"])
        .arg(vector("cert-4096.pem"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    let cert = Certificate::from_pem(&std::fs::read(vector("cert-4096.pem")).unwrap()).unwrap();
    assert!(
        text.contains(&format!("key id:     {}", cert.key_id())),
        "{text}"
    );
    assert!(text.contains("key size:   4096 bits"), "{text}");
    assert!(
        text.contains(&format!("subject:    {}", cert.subject())),
        "{text}"
    );
    assert!(text.contains(cert.serial()), "{text}");
    assert!(text.contains("not after:  "), "{text}");
    assert!(text.contains("expired:    no"), "{text}");

    let out = sealant()
        .args(["cert", "info", "-o", "json", "--cert"])
        .arg(vector("cert-2048.pem"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let cert = Certificate::from_pem(&std::fs::read(vector("cert-2048.pem")).unwrap()).unwrap();
    assert_eq!(v["keyId"], cert.key_id().as_str());
    assert_eq!(v["bits"], 2048);
    assert_eq!(v["expired"], false);
    assert_eq!(v["serial"], cert.serial());
    assert!(v["notBefore"].as_str().unwrap().ends_with('Z'));
}

fn expired_cert_pem() -> String {
    let key = PrivateKey::from_pem(test_pems().0.as_bytes()).unwrap();
    let options = CertOptions {
        common_name: "expired".into(),
        validity: time::Duration::hours(1),
    };
    let past = OffsetDateTime::now_utc() - time::Duration::days(3);
    Certificate::self_signed(&key, &options, past)
        .unwrap()
        .to_pem()
}

#[test]
fn expired_cert_is_refused_for_sealing_but_shown_by_info() {
    let w = Workdir::new();
    let expired = w.write("expired.pem", expired_cert_pem());
    let out = w.path("out.yaml");
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(&expired)
            .arg("-w")
            .arg(&out)
            .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
            .assert(),
        &["expired.pem", "expired"],
    );
    assert!(!out.exists());
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(&expired)
            .args(["--raw", "--scope", "cluster-wide"])
            .write_stdin("x")
            .assert(),
        &["expired.pem", "expired"],
    );
    sealant()
        .args(["cert", "info", "--cert"])
        .arg(&expired)
        .assert()
        .success()
        .stdout(predicate::str::contains("expired:    yes"));
    let out = sealant()
        .args(["cert", "info", "-o", "json", "--cert"])
        .arg(&expired)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["expired"], true);
}

#[test]
fn cert_info_refuses_non_certificates() {
    let w = Workdir::new();
    assert_input_error(
        sealant()
            .args(["cert", "info", "--cert"])
            .arg(vector("key-4096.pem"))
            .assert(),
        &["key-4096.pem", "private key"],
    );
    let junk = w.write("junk.txt", "hello");
    assert_input_error(
        sealant()
            .args(["cert", "info", "--cert"])
            .arg(&junk)
            .assert(),
        &["junk.txt", "certificate"],
    );
    assert_input_error(
        sealant()
            .args(["cert", "info", "--cert"])
            .arg(w.path("nope.pem"))
            .assert(),
        &["nope.pem"],
    );
    sealant()
        .env("SEALANT_CERT", vector("cert-2048.pem"))
        .args(["cert", "info"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2048 bits"));
}
