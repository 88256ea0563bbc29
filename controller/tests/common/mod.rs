//! Test support: a fake API server with the CRD, keys, an in-process controller, sealing and
//! polling helpers, and log capture.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use sealant_api::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_NAMESPACE_WIDE, Condition, SealOptions, SealedSecret,
    key_secret, seal_secret,
};
use sealant_controller::{Config, Running};
use sealant_crypto::{CertOptions, Certificate, PrivateKey, Scope};

/// The controller's namespace in tests.
pub const KEY_NS: &str = "kube-system";

pub const VECTOR_SEALED: &str = include_str!("../../../testdata/vectors/sealedsecret-strict.yaml");
pub const VECTOR_EXPECTED: &str = include_str!("../../../testdata/vectors/secret-expected.yaml");
pub const VECTOR_KEY: &str = include_str!("../../../testdata/vectors/key-4096.pem");
pub const VECTOR_CERT: &str = include_str!("../../../testdata/vectors/cert-4096.pem");

/// Everything the tests log, for "no plaintext in logs" checks.
pub fn logs() -> String {
    let buf = LOGS.get_or_init(Default::default).lock().unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

struct Capture;
impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        LOGS.get_or_init(Default::default)
            .lock()
            .unwrap()
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("sealant_controller=debug,info")
            .with_writer(|| Capture)
            .json()
            .try_init();
    });
}

/// A 2048-bit key and certificate, made once per test binary.
pub fn test_key() -> (PrivateKey, Certificate) {
    static KEY: OnceLock<(PrivateKey, Certificate)> = OnceLock::new();
    KEY.get_or_init(new_key).clone()
}

/// A fresh 2048-bit key and certificate.
pub fn new_key() -> (PrivateKey, Certificate) {
    let key = PrivateKey::generate(2048).unwrap();
    let cert = Certificate::self_signed(
        &key,
        &CertOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    (key, cert)
}

/// A fake API server with the SealedSecret CRD.
pub async fn server() -> (FakeApiServer, Client) {
    init_logs();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &sealant_api::crd())
        .await
        .unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in ["app", "ns1", "ns2", "prod", "other"] {
        let mut n = k8s_openapi::api::core::v1::Namespace::default();
        n.metadata.name = Some(ns.to_owned());
        let _ = namespaces.create(&PostParams::default(), &n).await;
    }
    (server, client)
}

/// Stores a key Secret (upstream shape) named `name` in the controller namespace.
pub async fn put_key(client: &Client, name: &str, key: &PrivateKey, cert: &Certificate) -> Secret {
    let mut s = key_secret(key, cert, KEY_NS, "sealed-secrets-key");
    s.metadata.generate_name = None;
    s.metadata.name = Some(name.to_owned());
    Api::<Secret>::namespaced(client.clone(), KEY_NS)
        .create(&PostParams::default(), &s)
        .await
        .unwrap()
}

/// Controller flags for tests: loopback listeners, 2048-bit keys, the test key namespace.
pub fn args(extra: &[&str]) -> Config {
    let mut a = vec![
        "sealant-controller",
        "--namespace",
        KEY_NS,
        "--listen-addr",
        "127.0.0.1:0",
        "--listen-metrics-addr",
        "127.0.0.1:0",
        "--key-size",
        "2048",
        "--workers",
        "4",
        "--max-retry-delay",
        "1s",
    ];
    a.extend_from_slice(extra);
    Config::try_from_args(a).unwrap()
}

/// Starts a controller and waits until its keys are loaded.
pub async fn controller(client: &Client, extra: &[&str]) -> Running {
    let running = sealant_controller::start(args(extra), client.clone())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), running.keys.wait_loaded())
        .await
        .expect("keys loaded");
    running
}

/// Server + pre-created test key + controller.
pub async fn setup() -> (FakeApiServer, Client, Running) {
    let (server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "test-key", &key, &cert).await;
    let ctl = controller(&client, &[]).await;
    (server, client, ctl)
}

/// A Secret manifest.
pub fn secret(ns: &str, name: &str, items: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        data: Some(
            items
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// Seals `items` as `ns/name` with `scope`.
pub fn seal(
    cert: &Certificate,
    ns: &str,
    name: &str,
    items: &[(&str, &str)],
    scope: Scope,
) -> SealedSecret {
    let mut s = secret(ns, name, items);
    let mut ann = BTreeMap::new();
    match scope {
        Scope::ClusterWide => {
            ann.insert(ANNOTATION_CLUSTER_WIDE.to_owned(), "true".to_owned());
        }
        Scope::NamespaceWide => {
            ann.insert(ANNOTATION_NAMESPACE_WIDE.to_owned(), "true".to_owned());
        }
        _ => {}
    }
    if !ann.is_empty() {
        s.metadata.annotations = Some(ann);
    }
    seal_secret(&s, cert, &SealOptions::default()).unwrap()
}

/// Creates a SealedSecret.
pub async fn create(client: &Client, ss: &SealedSecret) -> SealedSecret {
    let ns = ss.metadata.namespace.clone().unwrap();
    Api::<SealedSecret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), ss)
        .await
        .unwrap()
}

pub fn ss_api(client: &Client, ns: &str) -> Api<SealedSecret> {
    Api::namespaced(client.clone(), ns)
}

pub fn secret_api(client: &Client, ns: &str) -> Api<Secret> {
    Api::namespaced(client.clone(), ns)
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn condition<'a>(ss: &'a SealedSecret, t: &str) -> Option<&'a Condition> {
    ss.status.as_ref()?.conditions.iter().find(|c| c.type_ == t)
}

/// Waits until the SealedSecret's status describes its current generation, and returns it.
pub async fn settled(client: &Client, ns: &str, name: &str) -> SealedSecret {
    let api = ss_api(client, ns);
    eventually(10, &format!("status of {ns}/{name}"), || {
        let api = api.clone();
        async move {
            let ss = api.get(name).await.ok()?;
            let st = ss.status.as_ref()?;
            (st.observed_generation == ss.metadata.generation
                && condition(&ss, "Ready").is_some()
                && condition(&ss, "Reconciling").is_none())
            .then_some(ss)
        }
    })
    .await
}

/// Waits until Ready=True for the current generation.
pub async fn ready(client: &Client, ns: &str, name: &str) -> SealedSecret {
    let api = ss_api(client, ns);
    eventually(10, &format!("{ns}/{name} Ready"), || {
        let api = api.clone();
        async move {
            let ss = api.get(name).await.ok()?;
            let st = ss.status.as_ref()?;
            (st.observed_generation == ss.metadata.generation
                && condition(&ss, "Ready").is_some_and(|c| c.status == "True"))
            .then_some(ss)
        }
    })
    .await
}

/// Waits until Stalled=True for the current generation.
pub async fn stalled(client: &Client, ns: &str, name: &str) -> SealedSecret {
    let api = ss_api(client, ns);
    eventually(10, &format!("{ns}/{name} Stalled"), || {
        let api = api.clone();
        async move {
            let ss = api.get(name).await.ok()?;
            let st = ss.status.as_ref()?;
            (st.observed_generation == ss.metadata.generation
                && condition(&ss, "Stalled").is_some_and(|c| c.status == "True"))
            .then_some(ss)
        }
    })
    .await
}

/// The Secret's item as text.
pub fn item(s: &Secret, key: &str) -> String {
    String::from_utf8(s.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

/// Waits until the Secret exists and `check` holds.
pub async fn secret_where(
    client: &Client,
    ns: &str,
    name: &str,
    check: impl Fn(&Secret) -> bool,
) -> Secret {
    let api = secret_api(client, ns);
    let check = Arc::new(check);
    eventually(10, &format!("Secret {ns}/{name}"), || {
        let api = api.clone();
        let check = check.clone();
        async move { api.get_opt(name).await.ok().flatten().filter(|s| check(s)) }
    })
    .await
}

/// All events (events.k8s.io/v1) as JSON text.
pub async fn events_json(client: &Client) -> String {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::all(client.clone());
    let list = api.list(&ListParams::default()).await.unwrap();
    serde_json::to_string(&list.items).unwrap()
}

/// Events with `reason` regarding `name`.
pub async fn events_for(
    client: &Client,
    name: &str,
    reason: &str,
) -> Vec<k8s_openapi::api::events::v1::Event> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::all(client.clone());
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
        })
        .collect()
}

/// Waits for events with `reason` regarding `name`: the controller publishes its event after
/// the status write, so a client that saw the status may look before the event exists.
pub async fn await_events(
    client: &Client,
    name: &str,
    reason: &str,
) -> Vec<k8s_openapi::api::events::v1::Event> {
    eventually(10, &format!("{reason} event for {name}"), || async {
        let e = events_for(client, name, reason).await;
        (!e.is_empty()).then_some(e)
    })
    .await
}

/// Asserts that none of `plaintexts` (nor their base64) appear in logs, events or the
/// SealedSecrets' status.
pub async fn assert_no_plaintext(client: &Client, plaintexts: &[&str]) {
    use base64::Engine;
    let events = events_json(client).await;
    let ss: Api<SealedSecret> = Api::all(client.clone());
    let statuses: Vec<_> = ss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.status)
        .collect();
    let statuses = serde_json::to_string(&statuses).unwrap();
    let logs = logs();
    for p in plaintexts {
        let b64 = base64::engine::general_purpose::STANDARD.encode(p.as_bytes());
        for (what, text) in [("events", &events), ("status", &statuses), ("logs", &logs)] {
            assert!(!text.contains(p), "plaintext found in {what}");
            assert!(!text.contains(&b64), "base64 plaintext found in {what}");
        }
    }
}

pub const VECTOR_KEY_2048_PKCS8: &str =
    include_str!("../../../testdata/vectors/key-2048-pkcs8.pem");
pub const VECTOR_CERT_2048: &str = include_str!("../../../testdata/vectors/cert-2048.pem");

/// Key Secrets in the controller namespace.
pub async fn key_secrets(client: &Client) -> Vec<Secret> {
    secret_api(client, KEY_NS)
        .list(&ListParams::default().labels(sealant_api::LABEL_SEALED_SECRETS_KEY))
        .await
        .unwrap()
        .items
}

/// A raw HTTP/1.1 exchange with a listener: `(status, headers, body)`.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_owned(), body.to_owned())
}

/// A free loopback port for a child process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `sig` (e.g. `TERM`, `KILL`, `USR1`) to a child process, asserting delivery.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}
