//! `sealant web`: the sealing page served offline with the given certificates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use sealant_crypto::{CertOptions, Certificate, PrivateKey};

use crate::common::*;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[test]
fn serves_the_page_and_the_given_certificates_on_loopback() {
    let second = vector("cert-2048.pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sealant"))
        .args(["web", "--listen", "127.0.0.1:0", "--cert"])
        .arg(vector("cert-4096.pem"))
        .arg("--cert")
        .arg(&second)
        .env_remove("SEALANT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url).unwrap();
    let addr = url
        .trim()
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix('/'))
        .unwrap_or_else(|| panic!("printed {url:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let (head, body) = get(&addr, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'")
    );
    assert!(body.contains("assets/app.mjs"));

    let newest = Certificate::from_pem(&std::fs::read(vector("cert-4096.pem")).unwrap()).unwrap();
    let older = Certificate::from_pem(&std::fs::read(&second).unwrap()).unwrap();
    let (_, pem) = get(&addr, "/v1/cert.pem");
    assert_eq!(pem, newest.to_pem(), "cert.pem is the first --cert");
    let (_, list) = get(&addr, "/v1/certs");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let ids: Vec<&str> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["keyId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [newest.key_id().as_str(), older.key_id().as_str()]);
    let (head, _) = get(&addr, "/v1/verify");
    assert!(
        head.starts_with("HTTP/1.1 404"),
        "no decrypting endpoint: {head}"
    );
}

#[test]
fn refuses_missing_and_expired_certificates() {
    sealant()
        .args(["web", "--listen", "127.0.0.1:0"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no certificate"));
    let key = PrivateKey::generate(2048).unwrap();
    let expired = Certificate::self_signed(
        &key,
        &CertOptions {
            validity: time::Duration::days(1),
            ..Default::default()
        },
        time::OffsetDateTime::now_utc() - time::Duration::days(30),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("expired.pem");
    std::fs::write(&path, expired.to_pem()).unwrap();
    sealant()
        .args(["web", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("expired"));
}
