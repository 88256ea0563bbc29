//! Shared by the tests that need a cluster (included with `#[path]` only where used, so the
//! offline test binaries do not compile the kube client): fake-apiserver with the CRD and the
//! shared test key, the real controller in-process, a Service in front of its HTTP API, and a
//! runner for the binary that keeps the controller serving meanwhile.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use sealant_api::key_secret;
use sealant_controller::Running;
use sealant_crypto::{Certificate, PrivateKey};

use crate::common::{sealant, test_pems};

/// What one run of the binary printed.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The binary with an isolated HOME, cache and kubeconfig environment.
pub fn isolated(dir: &Path) -> assert_cmd::Command {
    let mut cmd = sealant();
    cmd.env("HOME", dir)
        .env("SEALANT_CACHE_DIR", dir.join("cache"))
        .env_remove("KUBECONFIG")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("SEALED_SECRETS_CONTROLLER_NAME")
        .env_remove("SEALED_SECRETS_CONTROLLER_NAMESPACE");
    cmd
}

/// Runs `sealant ARGS` off the async runtime (the in-process controller keeps serving), and
/// fails the test if `secret` appears in its output or it panicked.
pub async fn run(dir: &Path, args: &[&str], stdin: Option<&str>, secret: &'static str) -> Out {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut cmd = isolated(&dir);
        cmd.args(&args).timeout(Duration::from_secs(180));
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        let out = cmd.output().unwrap();
        let out = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret value was printed"
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        out
    })
    .await
    .unwrap()
}

/// A Service in front of the controller's HTTP API: port 8080, named or unnamed.
pub async fn service(client: &kube::Client, ns: &str, name: &str, port_name: Option<&str>) {
    let svc = Service {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: port_name.map(str::to_owned),
                port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
}

/// The shared test key pair (the one `test_pems` holds).
pub fn shared_key() -> (PrivateKey, Certificate) {
    let (key, cert) = test_pems();
    (
        PrivateKey::from_pem(key.as_bytes()).unwrap(),
        Certificate::from_pem(cert.as_bytes()).unwrap(),
    )
}

/// A fake API server with the CRD and the shared test key in `kube-system`, and the real
/// controller running in-process against it with these extra flags, keys loaded.
pub struct Controlled {
    pub server: FakeApiServer,
    pub ctl: Running,
    pub client: kube::Client,
}

/// Starts a [`Controlled`] cluster.
pub async fn start(extra: &[&str]) -> Controlled {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client().await.unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &sealant_api::crd())
        .await
        .unwrap();
    let (key, cert) = shared_key();
    let mut s = key_secret(&key, &cert, "kube-system", "sealed-secrets-key");
    s.metadata.generate_name = None;
    s.metadata.name = Some("test-key".to_owned());
    Api::<Secret>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let mut flags = vec![
        "sealant-controller",
        "--namespace",
        "kube-system",
        "--listen-addr",
        "127.0.0.1:0",
        "--listen-metrics-addr",
        "127.0.0.1:0",
        "--key-size",
        "2048",
    ];
    flags.extend_from_slice(extra);
    let cfg = sealant_controller::Config::try_from_args(flags).unwrap();
    let ctl = sealant_controller::start(cfg, client.clone())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), ctl.keys.wait_loaded())
        .await
        .expect("keys loaded");
    Controlled {
        server,
        ctl,
        client,
    }
}
