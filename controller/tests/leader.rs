//! Leader election through the real binary: two replicas against the fake API server, only the
//! leader writes; SIGKILL of the leader while objects are being created hands over within the
//! lease duration with no duplicate key and no Secret written twice; SIGTERM hands over at
//! once; the follower serves the HTTP API.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use fake_apiserver::Verb;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use sealant_crypto::{Certificate, Scope};

const LEASE: &str = "sealant-ha-test";

struct Replica {
    name: &'static str,
    child: Child,
    api: std::net::SocketAddr,
    metrics: std::net::SocketAddr,
}

impl Replica {
    fn start(name: &'static str, kubeconfig: &std::path::Path, timing: [&str; 3]) -> Self {
        let http_port = free_port();
        let metrics_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_sealant-controller"))
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", KEY_NS)
            .env("POD_NAME", name)
            .env("SEALANT_LEADER_ELECT", "true")
            .args(["--key-size", "2048", "--workers", "2"])
            .args(["--leader-elect-lease-name", LEASE])
            .args(["--leader-elect-lease-duration", timing[0]])
            .args(["--leader-elect-renew-deadline", timing[1]])
            .args(["--leader-elect-retry-period", timing[2]])
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
        Replica {
            name,
            child,
            api: format!("127.0.0.1:{http_port}").parse().unwrap(),
            metrics: format!("127.0.0.1:{metrics_port}").parse().unwrap(),
        }
    }

    fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    async fn ready(&self) {
        let api = self.api;
        eventually(30, &format!("{} ready", self.name), || async move {
            tokio::net::TcpStream::connect(api).await.ok()?;
            let (code, _, _) = http(api, "GET", "/readyz", &[], b"").await;
            (code == 200).then_some(())
        })
        .await;
    }

    /// The value of a metric line `name value`.
    async fn metric(&self, name: &str) -> f64 {
        let (code, _, body) = http(self.metrics, "GET", "/metrics", &[], b"").await;
        assert_eq!(code, 200);
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("metric {name} missing"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits for exit (up to 20 s); returns the exit status and everything logged.
    async fn wait_exit(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut logs = String::new();
        use std::io::Read;
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        (status, logs)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn lease(client: &Client) -> Option<Lease> {
    Api::<Lease>::namespaced(client.clone(), KEY_NS)
        .get_opt(LEASE)
        .await
        .unwrap()
}

async fn holder(client: &Client) -> Option<String> {
    lease(client)
        .await?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

/// Waits until the Lease has a holder and returns it.
async fn wait_holder(client: &Client, secs: u64, not: Option<&str>) -> String {
    eventually(secs, "a Lease holder", || async move {
        holder(client).await.filter(|h| Some(h.as_str()) != not)
    })
    .await
}

fn secret_writes(server: &fake_apiserver::FakeApiServer) -> (u64, u64, u64) {
    (
        server.count(Verb::Create, "secrets"),
        server.count(Verb::Update, "secrets"),
        server.count(Verb::Patch, "secrets"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_mid_run_hands_over_without_double_writes() {
    let (server, client) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    // No key yet: exactly one replica (the leader) may generate it.
    let timing = ["3s", "2s", "250ms"];
    let a = Replica::start("replica-a", &kubeconfig, timing);
    let b = Replica::start("replica-b", &kubeconfig, timing);
    a.ready().await;
    b.ready().await;
    let first = wait_holder(&client, 20, None).await;
    let (leader, follower) = if first == a.name { (a, b) } else { (b, a) };
    assert_eq!(key_secrets(&client).await.len(), 1, "one key generated");
    assert_eq!(leader.metric("sealant_leader").await, 1.0);
    assert_eq!(follower.metric("sealant_leader").await, 0.0);

    // The follower serves the cert of the key the leader generated.
    let key_crt = String::from_utf8(
        key_secrets(&client).await[0].data.as_ref().unwrap()["tls.crt"]
            .0
            .clone(),
    )
    .unwrap();
    let (code, _, body) = http(follower.api, "GET", "/v1/cert.pem", &[], b"").await;
    assert_eq!(code, 200);
    assert_eq!(body, key_crt);
    let cert = Certificate::from_pem(body.as_bytes()).unwrap();

    // Phase 1: only the leader unseals and writes.
    for i in 0..10 {
        let ss = seal(
            &cert,
            "app",
            &format!("s{i}"),
            &[("v", "ha-value")],
            Scope::Strict,
        );
        create(&client, &ss).await;
    }
    for i in 0..10 {
        ready(&client, "app", &format!("s{i}")).await;
    }
    assert_eq!(
        follower
            .metric("sealant_private_key_operations_total")
            .await,
        0.0
    );
    assert_eq!(
        leader.metric("sealant_private_key_operations_total").await,
        10.0
    );

    // Phase 2: SIGKILL the leader while objects are being created.
    let mut killed_at = None;
    for i in 10..40 {
        let ss = seal(
            &cert,
            "app",
            &format!("s{i}"),
            &[("v", "ha-value")],
            Scope::Strict,
        );
        create(&client, &ss).await;
        if i == 20 {
            leader.signal("KILL");
            killed_at = Some(Instant::now());
        }
    }
    let killed_at = killed_at.unwrap();
    let new = wait_holder(&client, 20, Some(leader.name)).await;
    let took = killed_at.elapsed();
    assert_eq!(new, follower.name);
    assert!(
        took < Duration::from_secs(3 + 5),
        "take-over within lease duration + 5 s, took {took:?}"
    );
    for i in 0..40 {
        let s = ready(&client, "app", &format!("s{i}")).await;
        assert!(s.status.is_some());
        let secret = secret_api(&client, "app")
            .get(&format!("s{i}"))
            .await
            .unwrap();
        assert_eq!(item(&secret, "v"), "ha-value");
    }
    assert_eq!(follower.metric("sealant_leader").await, 1.0);
    // Let any duplicate write show up before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(key_secrets(&client).await.len(), 1, "no second key");
    let (creates, updates, patches) = secret_writes(&server);
    assert_eq!(
        (creates, updates, patches),
        (41, 0, 0),
        "one create per Secret plus the key, nothing written twice"
    );
    let l = lease(&client).await.unwrap().spec.unwrap();
    assert_eq!(l.lease_transitions, Some(1));
    assert_eq!(l.lease_duration_seconds, Some(3));
    assert!(l.acquire_time.is_some() && l.renew_time.is_some());

    // Quiet after convergence: Lease renewals only.
    server.reset_counts();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes: Vec<_> = server
        .counts()
        .into_iter()
        .filter(|((v, r), _)| v.is_write() && r != "leases")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(server.count(Verb::Update, "leases") >= 2, "leader renews");

    follower.signal("TERM");
    let (status, logs) = follower.wait_exit().await;
    assert!(status.success(), "{logs}");
    assert!(!logs.contains("ha-value"), "plaintext in logs");
    drop(leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_lease_for_an_immediate_hand_over() {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    // A long lease: a hand-over well within it can only come from the release.
    let timing = ["40s", "20s", "250ms"];
    let a = Replica::start("replica-a", &kubeconfig, timing);
    a.ready().await;
    wait_holder(&client, 20, None).await;
    let b = Replica::start("replica-b", &kubeconfig, timing);
    b.ready().await;
    assert_eq!(holder(&client).await.as_deref(), Some("replica-a"));
    assert_eq!(b.metric("sealant_leader").await, 0.0);
    // The follower does not reconcile.
    create(
        &client,
        &seal(&cert, "app", "before", &[("v", "x1")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "before").await;
    assert_eq!(b.metric("sealant_private_key_operations_total").await, 0.0);

    let started = Instant::now();
    a.signal("TERM");
    let (status, logs) = a.wait_exit().await;
    let exited = started.elapsed();
    assert!(status.success(), "{logs}");
    assert!(logs.contains("Lease released"), "{logs}");
    wait_holder(&client, 20, Some("replica-a")).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "hand-over took {took:?} (exit after {exited:?}), lease duration 40 s"
    );
    assert_eq!(holder(&client).await.as_deref(), Some("replica-b"));

    create(
        &client,
        &seal(&cert, "app", "after", &[("v", "x2")], Scope::Strict),
    )
    .await;
    ready(&client, "app", "after").await;
    assert_eq!(b.metric("sealant_leader").await, 1.0);
    assert_eq!(b.metric("sealant_private_key_operations_total").await, 1.0);
    assert_eq!(key_secrets(&client).await.len(), 1);
}

/// Shutdown is prompt and final also when it comes while the first list of SealedSecrets is
/// still arriving (kube-runtime's graceful shutdown then waited for a list that never came, for
/// the 10 s of the old shutdown timeout, and the watches went on afterwards): the Lease is
/// released within a second, and nothing of the controller talks to the API server afterwards.
#[tokio::test]
async fn shutdown_during_the_first_list_releases_the_lease_within_a_second() {
    use fake_apiserver::Delay;
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    for i in 0..3 {
        create(
            &client,
            &seal(&cert, "app", &format!("s{i}"), &[("k", "v")], Scope::Strict),
        )
        .await;
    }
    server.inject_delay(Delay::new(Some(Verb::List), Some("sealedsecrets"), 3000, 1));
    let ctl = controller(
        &client,
        &["--leader-elect", "--leader-elect-lease-name", LEASE],
    )
    .await;
    eventually(10, "leading, with the first list under way", || async {
        (ctl.leadership.is_leader() && server.count(Verb::List, "sealedsecrets") > 0).then_some(())
    })
    .await;
    assert!(holder(&client).await.is_some());

    let started = Instant::now();
    ctl.shutdown().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    assert_eq!(holder(&client).await, None, "Lease not released");
    server.reset_counts();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        server.counts().is_empty(),
        "requests after shutdown: {:?}",
        server.counts()
    );
}
