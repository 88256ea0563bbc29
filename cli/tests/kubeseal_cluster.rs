//! `sealant kubeseal` against fake-apiserver and the real controller (in-process), reached through
//! the API server's service proxy: the certificate from the cluster, `--fetch-cert`,
//! `--validate`, `--re-encrypt`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::common::*;
use crate::support::{Controlled, Out, service, shared_key, start};
use sealant_crypto::Certificate;

const VALUE: &str = "kubeseal-value-never-printed";

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `sealant ARGS` off the async runtime with an isolated HOME and cache.
async fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    crate::support::run(dir, args, stdin, VALUE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeseal_flags_against_a_cluster() {
    let Controlled {
        server,
        ctl,
        client,
    } = start(&["--rate-limit", "1000", "--rate-limit-burst", "1000"]).await;
    let (_, cert) = shared_key();
    // Upstream's jsonnet manifests: an unnamed port, in a non-default place.
    service(&client, "kube-system", "ss-ctl", None).await;
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
