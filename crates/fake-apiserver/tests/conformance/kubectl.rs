//! The binary driven by the real `kubectl`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Running {
    child: Child,
    url: String,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-apiserver"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .args([
            "--proxy",
            "kube-system/sealed-secrets-controller=127.0.0.1:9",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let kc = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(kc.contains(&url), "{kc}");
    Running {
        child,
        url,
        kubeconfig,
        _dir: dir,
    }
}

fn kubectl(kc: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kc).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl is installed");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(o: Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "kubectl failed: {}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: demo
  labels:
    app: demo
stringData:
  password: hunter2
";

#[test]
fn kubectl_create_get_apply_delete() {
    let srv = start();
    let kc = &srv.kubeconfig;
    let out = ok(kubectl(kc, &["create", "-f", "-"], Some(SECRET)));
    assert_eq!(out.trim(), "secret/demo created");
    let err = kubectl(kc, &["create", "-f", "-"], Some(SECRET));
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("already exists"));

    let json: Value = serde_json::from_str(&ok(kubectl(
        kc,
        &["get", "secret", "demo", "-o", "json"],
        None,
    )))
    .unwrap();
    assert_eq!(json["data"]["password"], "aHVudGVyMg==");
    assert_eq!(json["type"], "Opaque");
    assert!(json.get("stringData").is_none());
    let yaml = ok(kubectl(kc, &["get", "secret", "demo", "-o", "yaml"], None));
    assert!(yaml.contains("password: aHVudGVyMg=="), "{yaml}");
    assert!(yaml.contains("name: demo"));

    // Table output.
    let table = ok(kubectl(kc, &["get", "secrets"], None));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "TYPE", "DATA", "AGE"],
        "{table}"
    );
    assert_eq!(
        lines[1].split_whitespace().take(3).collect::<Vec<_>>(),
        ["demo", "Opaque", "1"],
        "{table}"
    );
    let table = ok(kubectl(
        kc,
        &["get", "secrets", "-A", "-l", "app=demo"],
        None,
    ));
    assert!(
        table.lines().nth(1).unwrap().starts_with("default"),
        "{table}"
    );
    let ns = ok(kubectl(kc, &["get", "namespaces"], None));
    assert!(ns.contains("kube-system") && ns.contains("Active"), "{ns}");

    // Server-side apply changes the value and records kubectl as the manager.
    let applied = SECRET.replace("hunter2", "hunter3");
    let conflict = kubectl(kc, &["apply", "--server-side", "-f", "-"], Some(&applied));
    assert!(!conflict.status.success());
    let msg = String::from_utf8_lossy(&conflict.stderr).to_string();
    assert!(msg.contains("conflict with \"kubectl-create\""), "{msg}");
    let out = ok(kubectl(
        kc,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&applied),
    ));
    assert!(out.contains("serverside-applied"), "{out}");
    let json: Value = serde_json::from_str(&ok(kubectl(
        kc,
        &[
            "get",
            "secret",
            "demo",
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    )))
    .unwrap();
    assert_eq!(json["data"]["password"], "aHVudGVyMw==");
    let managers: Vec<&str> = json["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");

    let out = ok(kubectl(kc, &["delete", "secret", "demo"], None));
    assert_eq!(out.trim(), "secret \"demo\" deleted");
    let gone = kubectl(kc, &["get", "secret", "demo"], None);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("secrets \"demo\" not found"));

    let _ = &srv.url;
}

#[test]
fn kubectl_watch_and_crd() {
    let srv = start();
    let kc = srv.kubeconfig.clone();
    let crd = serde_json::to_string(&super::crd::sealedsecret_crd()).unwrap();
    ok(kubectl(&kc, &["create", "-f", "-"], Some(&crd)));
    let ss = r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{"name":"x"},"spec":{"encryptedData":{"k":"AgA="}}}"#;
    ok(kubectl(
        &kc,
        &["apply", "--server-side", "-f", "-"],
        Some(ss),
    ));
    let got: Value = serde_json::from_str(&ok(kubectl(
        &kc,
        &["get", "sealedsecrets", "x", "-o", "json"],
        None,
    )))
    .unwrap();
    assert_eq!(got["spec"]["encryptedData"]["k"], "AgA=");
    let table = ok(kubectl(&kc, &["get", "sealedsecrets"], None));
    assert!(
        table.lines().nth(1).is_some_and(|l| l.starts_with("x ")),
        "{table}"
    );

    // `get --watch` prints changes as they happen.
    let mut w = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "get",
            "secrets",
            "--watch",
            "--request-timeout=0",
            "-o",
            "name",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = w.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    ok(kubectl(&kc, &["create", "-f", "-"], Some(SECRET)));
    let line = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("kubectl get --watch printed the new secret");
    assert_eq!(line.trim(), "secret/demo");
    let _ = w.kill();
    let _ = w.wait();

    let out = ok(kubectl(&kc, &["delete", "sealedsecret", "x"], None));
    assert!(out.contains("deleted"), "{out}");
}

#[test]
fn binary_proxy_flag_and_sigterm() {
    use std::io::{Read, Write};
    let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = backend.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in backend.incoming() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = format!("proxied {}", req.lines().next().unwrap_or(""));
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-apiserver"))
        .args(["--listen", "127.0.0.1:0", "--history", "50", "--kubeconfig"])
        .arg(&kc)
        .arg("--proxy")
        .arg(format!("kube-system/sealed-secrets-controller={addr}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = ok(kubectl(
        &kc,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem",
        ],
        None,
    ));
    assert_eq!(out.trim(), "proxied GET /v1/cert.pem HTTP/1.1");
    let bad = Command::new(env!("CARGO_BIN_EXE_fake-apiserver"))
        .args(["--proxy", "nonsense"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    // SIGTERM: clean exit.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
