//! `sealant kubeseal` against fake-apiserver and the real controller (in-process), reached through
//! the API server's service proxy: the certificate from the cluster, `--fetch-cert`,
//! `--validate`, `--re-encrypt`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use fake_apiserver::FakeApiServer;
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use sealant_api::key_secret;
use sealant_crypto::{Certificate, PrivateKey};

const VALUE: &str = "kubeseal-value-never-printed";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `sealant ARGS` off the async runtime with an isolated HOME and cache.
async fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut cmd = sealant();
        cmd.env("HOME", &dir)
            .env("SEALANT_CACHE_DIR", dir.join("cache"))
            .env_remove("KUBECONFIG")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("SEALED_SECRETS_CONTROLLER_NAME")
            .env_remove("SEALED_SECRETS_CONTROLLER_NAMESPACE")
            .args(&args)
            .timeout(Duration::from_secs(180));
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
            !out.stdout.contains(VALUE) && !out.stderr.contains(VALUE),
            "a secret value was printed"
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeseal_flags_against_a_cluster() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client().await.unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &sealant_api::crd())
        .await
        .unwrap();
    let (key_pem, cert_pem) = test_pems();
    let key = PrivateKey::from_pem(key_pem.as_bytes()).unwrap();
    let cert = Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let mut s = key_secret(&key, &cert, "kube-system", "sealed-secrets-key");
    s.metadata.generate_name = None;
    s.metadata.name = Some("test-key".to_owned());
    Api::<Secret>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let cfg = sealant_controller::Config::try_from_args([
        "sealant-controller",
        "--namespace",
        "kube-system",
        "--listen-addr",
        "127.0.0.1:0",
        "--listen-metrics-addr",
        "127.0.0.1:0",
        "--key-size",
        "2048",
        "--rate-limit",
        "1000",
        "--rate-limit-burst",
        "1000",
    ])
    .unwrap();
    let ctl = sealant_controller::start(cfg, client.clone())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), ctl.keys.wait_loaded())
        .await
        .expect("keys loaded");
    // Upstream's jsonnet manifests: an unnamed port, in a non-default place.
    let svc = Service {
        metadata: kube::api::ObjectMeta {
            name: Some("ss-ctl".to_owned()),
            namespace: Some("kube-system".to_owned()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<Service>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    server.add_proxy("kube-system", "ss-ctl", ctl.http_addr);
    let w = Workdir::new();
    let dir = w.dir.path();
    server.write_kubeconfig(dir.join("kubeconfig")).unwrap();
    let kc = dir.join("kubeconfig");
    let kc = kc.to_str().unwrap();
    let file = |n: &str| -> PathBuf { dir.join(n) };
    let cluster = ["--kubeconfig", kc, "--controller-name", "ss-ctl"];
    let ks = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["kubeseal".into()];
        v.extend(cluster.iter().map(|s| (*s).to_owned()));
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };

    // --fetch-cert: the controller's certificate.
    let out = run(dir, &args(&ks(&["--fetch-cert"])), None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let fetched = Certificate::from_pem(out.stdout.as_bytes()).unwrap();
    assert_eq!(fetched.key_id(), cert.key_id());

    // Sealing without --cert: JSON by default, unseals with the cluster's key.
    let input = secret_yaml(Some("prod"), "db", &[("password", VALUE)]);
    let sealed = file("sealed.json");
    let out = run(
        dir,
        &args(&ks(&["-w", sealed.to_str().unwrap()])),
        Some(&input),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&sealed).unwrap();
    assert!(text.starts_with('{'), "{text}");
    let first: serde_json::Value = serde_json::from_str(&text).unwrap();

    // --validate: fine as sealed; moved to another name it is not.
    let out = run(
        dir,
        &args(&ks(&["--validate", "-f", sealed.to_str().unwrap()])),
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    w.write(
        "moved.json",
        text.replacen("\"name\": \"db\"", "\"name\": \"other\"", 1),
    );
    let out = run(
        dir,
        &args(&ks(&[
            "--validate",
            "-f",
            file("moved.json").to_str().unwrap(),
        ])),
        None,
    )
    .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);

    // --re-encrypt with -f and no -w rewrites the file: new ciphertext, same value.
    let out = run(
        dir,
        &args(&ks(&["--re-encrypt", "-f", sealed.to_str().unwrap()])),
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sealed).unwrap()).unwrap();
    assert_ne!(
        again["spec"]["encryptedData"]["password"],
        first["spec"]["encryptedData"]["password"]
    );
    assert_eq!(again["metadata"]["name"], "db");
    let out = run(
        dir,
        &[
            "unseal",
            "-o",
            "json",
            "--key",
            w.key().to_str().unwrap(),
            "-f",
            sealed.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let secret: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    use base64::Engine as _;
    assert_eq!(
        secret["data"]["password"],
        base64::engine::general_purpose::STANDARD.encode(VALUE)
    );

    // A wrong --controller-name is a clear error, not a silent fallback.
    let out = run(
        dir,
        &[
            "kubeseal",
            "--kubeconfig",
            kc,
            "--controller-name",
            "nope",
            "--fetch-cert",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    drop(ctl);
}
