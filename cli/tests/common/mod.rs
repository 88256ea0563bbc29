//! Helpers shared by the CLI tests: the binary, vectors, cached test keys, error assertions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use sealant_crypto::{CertOptions, Certificate, PrivateKey};
use time::OffsetDateTime;

/// The `sealant` binary, with an environment that cannot change its behaviour.
pub fn sealant() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealant"));
    for var in [
        "SEALANT_CERT",
        "SEALED_SECRETS_CERT",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A file of the shared known-answer vectors.
pub fn vector(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/")).join(name)
}

/// A 2048-bit key and its certificate as PEM, generated once per test binary.
pub fn test_pems() -> &'static (String, String) {
    static PEMS: OnceLock<(String, String)> = OnceLock::new();
    PEMS.get_or_init(|| {
        let key = PrivateKey::generate(2048).expect("keygen");
        let cert =
            Certificate::self_signed(&key, &CertOptions::default(), OffsetDateTime::now_utc())
                .expect("cert");
        (key.to_pkcs1_pem().to_string(), cert.to_pem())
    })
}

/// A second, unrelated 2048-bit key (PEM), generated once per test binary.
pub fn other_key_pem() -> &'static String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        PrivateKey::generate(2048)
            .expect("keygen")
            .to_pkcs1_pem()
            .to_string()
    })
}

/// A temporary directory holding `key.pem` and `cert.pem` of [`test_pems`].
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, cert) = test_pems();
        std::fs::write(dir.path().join("key.pem"), key).expect("write key");
        std::fs::write(dir.path().join("cert.pem"), cert).expect("write cert");
        Workdir { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn key(&self) -> PathBuf {
        self.path("key.pem")
    }

    pub fn cert(&self) -> PathBuf {
        self.path("cert.pem")
    }

    /// Writes `contents` to `name` and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read file")
    }

    /// Names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// A Secret manifest with the given items (plain strings, sent as base64 `data`).
pub fn secret_yaml(namespace: Option<&str>, name: &str, items: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    let mut s = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n");
    if let Some(ns) = namespace {
        s.push_str(&format!("  namespace: {ns}\n"));
    }
    s.push_str("type: Opaque\ndata:\n");
    for (k, v) in items {
        let b64 = base64::engine::general_purpose::STANDARD.encode(v);
        s.push_str(&format!("  {k}: {b64}\n"));
    }
    s
}

/// Asserts a bad-input failure: exit code 1, nothing on stdout, exactly one `error: ` line on
/// stderr that contains every fragment (e.g. the file name and the cause). Returns the line.
pub fn assert_input_error(assert: assert_cmd::assert::Assert, fragments: &[&str]) -> String {
    let output = assert.get_output().clone();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "stdout must be empty, got: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line, got: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for fragment in fragments {
        assert!(
            lines[0].contains(fragment),
            "error line {:?} should contain {fragment:?}",
            lines[0]
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_owned()
}

/// Unseals `sealed` (a file) with `key` through the CLI and returns the JSON Secrets.
pub fn unseal_json(key: &Path, sealed: &Path) -> Vec<serde_json::Value> {
    let out = sealant()
        .args(["unseal", "-o", "json", "--key"])
        .arg(key)
        .arg("-f")
        .arg(sealed)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    json_stream(&String::from_utf8(out).expect("utf8"))
}

/// Parses concatenated JSON objects.
pub fn json_stream(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .expect("JSON stream")
}

/// `data` of an unsealed Secret, decoded to strings.
pub fn decoded_data(secret: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    use base64::Engine as _;
    secret["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("string"))
                .expect("base64");
            (k.clone(), String::from_utf8(bytes).expect("utf8"))
        })
        .collect()
}
