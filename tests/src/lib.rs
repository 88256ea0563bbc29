//! End-to-end test harness: runs the real `sealant`, `sealant-controller` and `fake-apiserver`
//! binaries as separate processes and drives them the way a user does, with `kubectl`.
//!
//! The binaries are (re)built on first use with the same cargo, target directory and profile as
//! the test itself, so `cargo test -p sealant-e2e` never runs stale binaries. Every process
//! writes its logs to a file in the test's temporary directory so tests can assert that no
//! plaintext value ever reaches a log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Namespace of the controller and its key Secrets (kubeseal's default).
pub const CONTROLLER_NS: &str = "kube-system";
/// Service name of the controller (kubeseal's default).
pub const CONTROLLER_NAME: &str = "sealed-secrets-controller";

/// Test material from `testdata/vectors` (public test keys; never use them for anything real).
pub fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/vectors")
        .join(name)
}

/// Paths of the three binaries under test.
pub struct Bins {
    /// `sealant` (the CLI).
    pub sealant: PathBuf,
    /// `sealant-controller`.
    pub controller: PathBuf,
    /// `fake-apiserver`.
    pub fake_apiserver: PathBuf,
}

/// Builds the binaries once per test process and returns their paths.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(build)
}

fn build() -> Bins {
    // target/<profile>/deps/<test>-<hash>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .args(["--bin", "sealant", "--bin", "sealant-controller"])
        .args(["--bin", "fake-apiserver"]);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => panic!("cannot tell the profile from {}", exe.display()),
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build of the binaries failed");
    let bin = |name: &str| {
        let p = profile_dir.join(name);
        assert!(p.is_file(), "{} was not built", p.display());
        p
    };
    Bins {
        sealant: bin("sealant"),
        controller: bin("sealant-controller"),
        fake_apiserver: bin("fake-apiserver"),
    }
}

/// Whether `kubectl` is on PATH (CI checks that it is; local runs may skip).
pub fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (racy in theory; the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 25 ms until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

fn stop(child: &mut Child, sig: &str) -> ExitStatus {
    signal(child.id(), sig);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `fake-apiserver` process with the SealedSecret CRD installed and a service proxy for
/// the controller's HTTP port, plus a scratch directory.
pub struct Cluster {
    dir: tempfile::TempDir,
    child: Child,
    /// kubeconfig written by `fake-apiserver --kubeconfig`.
    pub kubeconfig: PathBuf,
    /// The port the controller's HTTP API must listen on (the service proxy points there).
    pub controller_port: u16,
}

impl Cluster {
    /// Starts the server and installs the CRD with `kubectl apply`.
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let controller_port = free_port();
        let log = std::fs::File::create(dir.path().join("fake-apiserver.log")).unwrap();
        let mut child = Command::new(&bins().fake_apiserver)
            .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--proxy")
            .arg(format!(
                "{CONTROLLER_NS}/{CONTROLLER_NAME}=127.0.0.1:{controller_port}"
            ))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "fake-apiserver printed {line:?}"
        );
        assert!(kubeconfig.is_file(), "kubeconfig written before the URL");
        let cluster = Cluster {
            dir,
            child,
            kubeconfig,
            controller_port,
        };
        let crd = cluster.write("crd.yaml", sealant_api::crd_yaml().as_bytes());
        cluster.kubectl_ok(&["apply", "--validate=false", "-f", crd.to_str().unwrap()]);
        cluster
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the scratch directory and returns its path.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Runs kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs kubectl, asserts success and returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl get -o json` of one object, or `None` when it does not exist.
    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let out = self.kubectl(&["get", kind, name, "-n", ns, "-o", "json"]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("NotFound"), "kubectl get {kind} {name}: {err}");
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Writes (create/update/patch/delete) counted by the server for `resource`.
    pub fn writes(&self, resource: &str) -> u64 {
        let counts: Value =
            serde_json::from_str(&self.kubectl_ok(&["get", "--raw", "/fake/counts"])).unwrap();
        counts
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource"] == resource)
            .filter(|c| {
                matches!(
                    c["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete" | "deletecollection")
                )
            })
            .map(|c| c["count"].as_u64().unwrap())
            .sum()
    }

    /// Everything the API server process logged.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.path("fake-apiserver.log")).unwrap_or_default()
    }

    /// Runs the `sealant` CLI with `stdin`.
    pub fn sealant(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(&bins().sealant)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("SEALANT_CERT")
            .env_remove("SEALED_SECRETS_CERT")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs the `sealant` CLI, asserts success and returns stdout.
    pub fn sealant_ok(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.sealant(args, stdin);
        assert!(
            out.status.success(),
            "sealant {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The `Ready` condition of a SealedSecret as kubectl shows it: (status, reason, message).
    pub fn ready(&self, ns: &str, name: &str) -> Option<(String, String, String)> {
        let ss = self.get("sealedsecret", ns, name)?;
        condition(&ss, "Ready")
    }

    /// Waits until the SealedSecret's `Ready` condition has `status` for its current generation.
    pub fn wait_ready(&self, ns: &str, name: &str, status: &str) -> (String, String) {
        wait_for(
            Duration::from_secs(30),
            &format!("{ns}/{name} Ready={status}"),
            || {
                let ss = self.get("sealedsecret", ns, name)?;
                let (s, reason, message) = condition(&ss, "Ready")?;
                let current = ss["status"]["observedGeneration"] == ss["metadata"]["generation"];
                (s == status && current).then_some((reason, message))
            },
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop(&mut self.child, "TERM");
        if std::thread::panicking() {
            print_tail("fake-apiserver", &self.logs());
        }
    }
}

/// Prints the end of a process log to the test's output (shown only for a failed test), so a
/// CI failure carries what the processes did just before it.
fn print_tail(what: &str, log: &str) {
    const LINES: usize = 60;
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.len().saturating_sub(LINES);
    eprintln!(
        "--- last {} lines of the {what} log ---",
        lines.len() - from
    );
    for line in &lines[from..] {
        eprintln!("{line}");
    }
}

/// A condition of an object as `(status, reason, message)`.
pub fn condition(obj: &Value, kind: &str) -> Option<(String, String, String)> {
    let c = obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// The decoded `data` of a Secret as UTF-8 strings.
pub fn secret_data(secret: &Value) -> std::collections::BTreeMap<String, String> {
    use base64::Engine as _;
    secret["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap())
                        .unwrap();
                    (k.clone(), String::from_utf8(bytes).unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A running `sealant-controller` process.
pub struct Controller {
    child: Child,
    log: PathBuf,
    /// HTTP API address.
    pub api: String,
    /// Metrics address.
    pub metrics: String,
}

impl Controller {
    /// Starts the controller against `cluster` (HTTP API on the proxied port) and waits
    /// until `/readyz` answers 200.
    pub fn start(cluster: &Cluster, extra: &[&str]) -> Controller {
        let api = format!("127.0.0.1:{}", cluster.controller_port);
        let metrics = format!("127.0.0.1:{}", free_port());
        let log_path = cluster.path(&format!("controller-{}.log", free_port()));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(&bins().controller)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("POD_NAMESPACE", CONTROLLER_NS)
            .args(["--listen-addr", &api, "--listen-metrics-addr", &metrics])
            .args(["--log-format", "json", "--log-level", "debug"])
            .args(extra)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Controller {
            child,
            log: log_path,
            api,
            metrics,
        };
        wait_for(Duration::from_secs(60), "controller /readyz", || {
            (http_get(&c.api, "/readyz").0 == 200).then_some(())
        });
        c
    }

    /// Everything the controller logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        stop(&mut self.child, "TERM")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            stop(&mut self.child, "KILL");
        }
        if std::thread::panicking() {
            print_tail("controller", &self.logs());
        }
    }
}

/// A plain HTTP/1.1 GET on loopback: (status code, body). Status 0 when nothing listens.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Read;
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    if s.read_to_string(&mut resp).is_err() {
        return (0, String::new());
    }
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}
