//! `sealant unseal`: vectors, key file shapes, several objects, and every failure cause.
#![allow(clippy::unwrap_used)] // test helpers may panic

use crate::common::*;
use predicates::prelude::*;
use sealant_crypto::{Certificate, PrivateKey};

fn expected_vector_data() -> std::collections::BTreeMap<String, String> {
    // secret-expected.yaml's data, decoded.
    let text = std::fs::read_to_string(vector("secret-expected.yaml")).unwrap();
    let out = sealant_api::parse_documents(&text).unwrap();
    decoded_data(&out[0])
}

#[test]
fn vector_strict_unseals_to_expected_secret() {
    let secrets = unseal_json(&vector("key-4096.pem"), &vector("sealedsecret-strict.yaml"));
    assert_eq!(secrets.len(), 1);
    let s = &secrets[0];
    assert_eq!(s["kind"], "Secret");
    assert_eq!(s["metadata"]["name"], "webapp");
    assert_eq!(s["metadata"]["namespace"], "prod");
    assert_eq!(s["metadata"]["labels"]["app"], "webapp");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(decoded_data(s), expected_vector_data());
    assert_eq!(decoded_data(s)["password"], "correct horse battery staple");
}

#[test]
fn yaml_output_by_default_with_expected_data() {
    let out = sealant()
        .args(["unseal", "--key"])
        .arg(vector("key-4096.pem"))
        .write_stdin(std::fs::read(vector("sealedsecret-strict.yaml")).unwrap())
        .assert()
        .success()
        .stdout(predicate::str::starts_with("---\napiVersion: v1\n"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let expected = std::fs::read_to_string(vector("secret-expected.yaml")).unwrap();
    for line in expected
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(": "))
    {
        if line.trim_start().starts_with("password:") || line.contains("settings.ini") {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}

#[test]
fn key_secret_list_stream_and_several_key_files() {
    let w = Workdir::new();
    let key =
        PrivateKey::from_pem(std::fs::read(vector("key-4096.pem")).unwrap().as_slice()).unwrap();
    let cert =
        Certificate::from_pem(std::fs::read(vector("cert-4096.pem")).unwrap().as_slice()).unwrap();
    let secret = sealant_api::key_secret(&key, &cert, "kube-system", "sealed-secrets-key");
    let secret_yaml = sealant_api::secret_to_yaml(&secret).unwrap();
    let secret_json = sealant_api::secret_to_json(&secret).unwrap();
    let other = PrivateKey::from_pem(other_key_pem().as_bytes()).unwrap();

    // A key Secret (YAML).
    let key_secret = w.write("key-secret.yaml", &secret_yaml);
    let s = unseal_json(&key_secret, &vector("sealedsecret-strict.yaml"));
    assert_eq!(decoded_data(&s[0]), expected_vector_data());

    // A List of key Secrets (JSON), the other key first.
    let other_secret = sealant_api::key_secret(
        &other,
        &Certificate::self_signed(&other, &Default::default(), time::OffsetDateTime::now_utc())
            .unwrap(),
        "kube-system",
        "sealed-secrets-key",
    );
    let list = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{},{}]}}",
        sealant_api::secret_to_json(&other_secret).unwrap(),
        secret_json
    );
    let list_path = w.write("list.json", list);
    let s = unseal_json(&list_path, &vector("sealedsecret-strict.yaml"));
    assert_eq!(decoded_data(&s[0]), expected_vector_data());

    // A multi-document stream.
    let stream = format!(
        "{}{}",
        sealant_api::secret_to_yaml(&other_secret).unwrap(),
        secret_yaml
    );
    let stream_path = w.write("stream.yaml", stream);
    let s = unseal_json(&stream_path, &vector("sealedsecret-strict.yaml"));
    assert_eq!(decoded_data(&s[0]), expected_vector_data());

    // Several --key flags: a wrong PEM key and the right PKCS#8... plus the right key.
    let other_pem = w.write("other.pem", other_key_pem());
    sealant()
        .args(["unseal", "-o", "json", "--key"])
        .arg(&other_pem)
        .arg("--key")
        .arg(vector("key-4096.pem"))
        .arg("-f")
        .arg(vector("sealedsecret-strict.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("\"password\""));
    // Comma-separated, like kubeseal's --recovery-private-key.
    sealant()
        .arg("unseal")
        .arg("--recovery-private-key")
        .arg(format!(
            "{},{}",
            other_pem.display(),
            vector("key-4096.pem").display()
        ))
        .arg("-f")
        .arg(vector("sealedsecret-strict.yaml"))
        .assert()
        .success();
}

#[test]
fn several_sealed_secrets_give_several_secrets() {
    let w = Workdir::new();
    let input = format!(
        "{}---\n{}",
        secret_yaml(Some("a"), "one", &[("x", "1")]),
        secret_yaml(Some("b"), "two", &[("y", "2")])
    );
    let sealed = w.path("sealed.json");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-w")
        .arg(&sealed)
        .write_stdin(input)
        .assert()
        .success();
    let secrets = unseal_json(&w.key(), &sealed);
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0]["metadata"]["namespace"], "a");
    assert_eq!(decoded_data(&secrets[1])["y"], "2");
}

/// Seals a one-item Secret into `sealed.yaml` in `w` and returns its text.
fn sealed_fixture(w: &Workdir, extra: &[&str]) -> String {
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args(extra)
        .arg("-w")
        .arg(w.path("sealed.yaml"))
        .write_stdin(secret_yaml(Some("prod"), "db", &[("password", "hunter2")]))
        .assert()
        .success();
    w.read("sealed.yaml")
}

fn unseal_error(w: &Workdir, sealed: &str, fragments: &[&str]) -> String {
    let path = w.write("bad.yaml", sealed);
    assert_input_error(
        sealant()
            .args(["unseal", "--key"])
            .arg(w.key())
            .arg("-f")
            .arg(&path)
            .assert(),
        fragments,
    )
}

fn replace_blob(sealed: &str, f: impl Fn(&str) -> String) -> String {
    sealed
        .lines()
        .map(|l| match l.split_once("password: ") {
            Some((indent, blob)) if blob.starts_with("AQ") => {
                format!("{indent}password: {}", f(blob))
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn wrong_key_is_reported() {
    let w = Workdir::new();
    let sealed = sealed_fixture(&w, &[]);
    let path = w.write("s.yaml", sealed);
    let other = w.write("other.pem", other_key_pem());
    assert_input_error(
        sealant()
            .args(["unseal", "--key"])
            .arg(&other)
            .arg("-f")
            .arg(&path)
            .assert(),
        &["s.yaml", "prod/db", "password"],
    );
}

#[test]
fn too_short_and_corrupt_and_bad_base64() {
    let w = Workdir::new();
    let sealed = sealed_fixture(&w, &[]);
    unseal_error(
        &w,
        &replace_blob(&sealed, |_| "AQAB".to_owned()),
        &["bad.yaml", "password", "short"],
    );
    // Flip a character in the AES part (the end of the blob).
    let corrupt = replace_blob(&sealed, |b| {
        let mut chars: Vec<char> = b.chars().collect();
        let i = chars.len() - 8;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    });
    unseal_error(&w, &corrupt, &["bad.yaml", "password", "corrupt"]);
    unseal_error(
        &w,
        &replace_blob(&sealed, |b| format!("{b}!")),
        &["bad.yaml", "password", "base64"],
    );
}

#[test]
fn wrong_scope_name_and_namespace() {
    let w = Workdir::new();
    let sealed = sealed_fixture(&w, &[]);
    // Declared cluster-wide but sealed strict.
    let cluster = sealed.replacen(
        "metadata:\n  annotations:\n",
        "metadata:\n  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\n",
        1,
    );
    assert_ne!(cluster, sealed, "fixture layout changed");
    unseal_error(&w, &cluster, &["bad.yaml", "password", "scope"]);
    // Renamed: sealed strict for prod/db.
    let renamed = sealed.replacen("  name: db\n", "  name: other\n", 1);
    unseal_error(&w, &renamed, &["bad.yaml", "prod/other", "password"]);
}

#[test]
fn not_a_sealed_secret() {
    let w = Workdir::new();
    unseal_error(
        &w,
        &secret_yaml(Some("a"), "b", &[("k", "v")]),
        &["bad.yaml", "SealedSecret"],
    );
    unseal_error(&w, "{ not json", &["bad.yaml"]);
}

#[test]
fn bad_key_files() {
    let w = Workdir::new();
    let sealed = vector("sealedsecret-strict.yaml");
    for (name, contents) in [
        (
            "cert-as-key.pem",
            std::fs::read_to_string(vector("cert-4096.pem")).unwrap(),
        ),
        ("empty.yaml", String::new()),
        (
            "garbage.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".to_owned(),
        ),
        ("notes.txt", "hello: world\n".to_owned()),
    ] {
        let path = w.write(name, contents);
        assert_input_error(
            sealant()
                .args(["unseal", "--key"])
                .arg(&path)
                .arg("-f")
                .arg(&sealed)
                .assert(),
            &[name],
        );
    }
    assert_input_error(
        sealant()
            .args(["unseal", "--key"])
            .arg(w.path("missing.pem"))
            .arg("-f")
            .arg(&sealed)
            .assert(),
        &["missing.pem"],
    );
}
