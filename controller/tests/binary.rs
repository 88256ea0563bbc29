//! The real `sealant-controller` binary against the fake API server, driven with `kubectl`:
//! a kubeseal-made SealedSecret becomes its Secret within a second; SIGUSR1 adds a key;
//! SIGTERM shuts down cleanly. Skipped (with a message) when `kubectl` is not installed.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_with_kubectl() {
    if !kubectl_available() {
        eprintln!("kubectl not found; skipping");
        return;
    }
    let (server, client) = server().await;
    let key = sealant_crypto::PrivateKey::from_pem(VECTOR_KEY.as_bytes()).unwrap();
    let cert = sealant_crypto::Certificate::from_pem(VECTOR_CERT.as_bytes()).unwrap();
    put_key(&client, "vector-key", &key, &cert).await;

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let manifest = dir.path().join("ss.yaml");
    std::fs::write(&manifest, VECTOR_SEALED).unwrap();
    let http_port = free_port();
    let metrics_port = free_port();

    let mut child = Command::new(env!("CARGO_BIN_EXE_sealant-controller"))
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", KEY_NS)
        .env("SEALANT_KEY_SIZE", "2048")
        .args(["--listen-addr", &format!("127.0.0.1:{http_port}")])
        .args([
            "--listen-metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .args(["--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let api: std::net::SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();

    eventually(20, "controller ready", || async move {
        let ok = tokio::net::TcpStream::connect(api).await.is_ok();
        if !ok {
            return None;
        }
        let (code, _, _) = http(api, "GET", "/readyz", &[], b"").await;
        (code == 200).then_some(())
    })
    .await;

    let started = Instant::now();
    let out = Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .args(["apply", "--validate=false", "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ready(&client, "prod", "webapp").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "Ready within a second: {:?}",
        started.elapsed()
    );
    let s = secret_api(&client, "prod").get("webapp").await.unwrap();
    assert_eq!(item(&s, "username"), "webapp");

    // kubectl sees the status the way Flux/Argo would.
    let out = Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .args([
            "get",
            "sealedsecret",
            "webapp",
            "-n",
            "prod",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "True");

    // SIGUSR1: a new key.
    signal(pid, "USR1");
    eventually(20, "second key Secret", || {
        let client = client.clone();
        async move { (key_secrets(&client).await.len() == 2).then_some(()) }
    })
    .await;

    // SIGTERM: clean exit.
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "controller did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut logs = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(status.success(), "exit status {status:?}\n{logs}");
    assert!(logs.contains("shutting down"), "{logs}");
    for secret in [
        "correct horse battery staple",
        "Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ",
    ] {
        assert!(!logs.contains(secret), "plaintext in logs");
    }
}
