//! `cert fetch`, `verify` and `reseal` through the real binary against fake-apiserver and the
//! real controller's HTTP API (in-process), reached through the API server's service proxy.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use crate::support::{Controlled, Out, isolated, service, shared_key, start};
use fake_apiserver::FakeApiServer;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{
    ANNOTATION_KEY_IDS, ANNOTATION_SEALED_FOR, SealOptions, SealedSecret, seal_secret, to_yaml,
};
use sealant_controller::Running;
use sealant_crypto::{CertOptions, Certificate, PrivateKey};

const SECRET_VALUE: &str = "s3cr3t-value-never-printed";

fn new_key() -> (PrivateKey, Certificate) {
    let key = PrivateKey::generate(2048).unwrap();
    let cert = Certificate::self_signed(
        &key,
        &CertOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    (key, cert)
}

struct Cluster {
    server: FakeApiServer,
    ctl: Running,
    client: kube::Client,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// fake-apiserver + CRD + the shared test key + controller + Service with a named port.
async fn cluster() -> Cluster {
    cluster_with(&["--rate-limit", "1000", "--rate-limit-burst", "1000"]).await
}

/// [`cluster`] with these extra controller flags.
async fn cluster_with(extra: &[&str]) -> Cluster {
    let Controlled {
        server,
        ctl,
        client,
    } = start(extra).await;
    service(
        &client,
        "kube-system",
        "sealed-secrets-controller",
        Some("http"),
    )
    .await;
    server.add_proxy("kube-system", "sealed-secrets-controller", ctl.http_addr);
    let dir = tempfile::tempdir().unwrap();
    server
        .write_kubeconfig(dir.path().join("kubeconfig"))
        .unwrap();
    Cluster {
        server,
        ctl,
        client,
        dir,
    }
}

/// The binary with an isolated HOME, cache and kubeconfig environment.
fn bin(c_dir: &Path) -> assert_cmd::Command {
    isolated(c_dir)
}

/// Runs the binary off the async runtime (the controller keeps serving meanwhile).
async fn run(dir: &Path, args: &[&str]) -> Out {
    crate::support::run(dir, args, None, SECRET_VALUE).await
}

/// `sealant seal -f input` with `KUBECONFIG` and no `--cert`.
async fn seal_with_kubeconfig(d: &Path, kc: &str, input: &Path) -> std::process::Output {
    let (d, kc, input) = (d.to_path_buf(), kc.to_owned(), input.to_path_buf());
    tokio::task::spawn_blocking(move || {
        bin(&d)
            .env("KUBECONFIG", &kc)
            .args(["seal", "-f"])
            .arg(&input)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn secret(ns: &str, name: &str) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "password".to_owned(),
            ByteString(SECRET_VALUE.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

fn sealed(cert: &Certificate, ns: &str, name: &str) -> SealedSecret {
    seal_secret(&secret(ns, name), cert, &SealOptions::default()).unwrap()
}

/// As kubeseal would have sealed it: no sealant annotations.
fn upstream(cert: &Certificate, ns: &str, name: &str) -> SealedSecret {
    let mut ss = sealed(cert, ns, name);
    ss.metadata.annotations = None;
    ss
}

fn yaml(ss: &SealedSecret) -> String {
    to_yaml(ss).unwrap()
}

fn key_ids(ss_yaml: &str) -> Vec<String> {
    sealant_api::parse_stream(ss_yaml)
        .unwrap()
        .iter()
        .filter(|d| d.value["kind"] == "SealedSecret")
        .map(|d| {
            d.value["metadata"]["annotations"][ANNOTATION_KEY_IDS]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_fetch_ports_errors_cache_and_pins() {
    let c = cluster().await;
    let (_, cert) = shared_key();
    let d = c.dir.path();
    let kc = c.kubeconfig();
    let kc = kc.to_str().unwrap();

    // Named port, printed on stdout.
    let out = run(d, &["cert", "fetch", "--kubeconfig", kc]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, cert.to_pem());

    // Unnamed port (jsonnet manifests), another name and namespace, written to a file; KUBECONFIG.
    service(&c.client, "default", "ctl", None).await;
    c.server.add_proxy("default", "ctl", c.ctl.http_addr);
    let file = c.path("fetched.pem");
    let out = tokio::task::spawn_blocking({
        let d = d.to_path_buf();
        let kc = kc.to_owned();
        let file = file.clone();
        move || {
            bin(&d)
                .env("KUBECONFIG", &kc)
                .args(["cert", "fetch", "--controller-name", "ctl"])
                .args(["--controller-namespace", "default", "-o"])
                .arg(&file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), cert.to_pem());

    // Wrong service: a clear error naming it and the flags.
    let out = run(
        d,
        &[
            "cert",
            "fetch",
            "--kubeconfig",
            kc,
            "--controller-name",
            "nope",
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("kube-system/nope"), "{}", out.stderr);
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
    assert!(out.stderr.contains("--controller-name"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    // A Service without a running controller: a clear error, not a hang.
    service(&c.client, "default", "down", Some("http")).await;
    let out = run(
        d,
        &[
            "cert",
            "fetch",
            "--kubeconfig",
            kc,
            "--controller-name",
            "down",
            "--controller-namespace",
            "default",
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unavailable"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no cached certificate"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // Pins: the right fingerprint and key id pass, a wrong one is refused.
    let fp: String = sealant_crypto::sha256(cert.der())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let out = run(
        d,
        &[
            "cert",
            "fetch",
            "--kubeconfig",
            kc,
            "--cert-fingerprint",
            &fp,
            "--key-id",
            cert.key_id().as_str(),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(
        d,
        &[
            "cert",
            "fetch",
            "--kubeconfig",
            kc,
            "--key-id",
            "0123456789abcdef",
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("does not match --key-id"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    let out = run(
        d,
        &[
            "cert",
            "fetch",
            "--kubeconfig",
            kc,
            "--cert-fingerprint",
            &"0".repeat(64),
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("does not match --cert-fingerprint"),
        "{}",
        out.stderr
    );

    // `seal` without --cert asks the controller named by the kubeconfig (KUBECONFIG).
    let input = c.path("secret.yaml");
    std::fs::write(
        &input,
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: prod}}\nstringData: {{password: {SECRET_VALUE}}}\n"),
    )
    .unwrap();
    let seal_online = seal_with_kubeconfig(d, kc, &input).await;
    assert!(
        seal_online.status.success(),
        "{}",
        String::from_utf8_lossy(&seal_online.stderr)
    );
    assert_eq!(
        key_ids(&String::from_utf8_lossy(&seal_online.stdout)),
        vec![cert.key_id().as_str()]
    );
    assert!(
        seal_online.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&seal_online.stderr)
    );

    // The same with flags: another controller (unnamed port), a pin.
    let out = run(
        d,
        &[
            "seal",
            "--kubeconfig",
            kc,
            "--controller-name",
            "ctl",
            "--controller-namespace",
            "default",
            "--key-id",
            cert.key_id().as_str(),
            "-f",
            input.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(key_ids(&out.stdout), vec![cert.key_id().as_str()]);
    let out = run(
        d,
        &[
            "seal",
            "--kubeconfig",
            kc,
            "--key-id",
            "0123456789abcdef",
            "-f",
            input.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("does not match --key-id"),
        "{}",
        out.stderr
    );

    // The API server goes away: the cached copy is used, and says so.
    let Cluster { server, ctl, .. } = c;
    ctl.shutdown().await;
    server.shutdown().await;
    let out = run(d, &["cert", "fetch", "--kubeconfig", kc]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, cert.to_pem());
    assert!(
        out.stderr.contains("using the cached certificate"),
        "{}",
        out.stderr
    );
    // Sealing works offline after one fetch.
    let seal_offline = seal_with_kubeconfig(d, kc, &input).await;
    assert!(
        seal_offline.status.success(),
        "{}",
        String::from_utf8_lossy(&seal_offline.stderr)
    );
    assert_eq!(
        key_ids(&String::from_utf8_lossy(&seal_offline.stdout)),
        vec![cert.key_id().as_str()]
    );
    assert!(String::from_utf8_lossy(&seal_offline.stderr).contains("using the cached certificate"));
    // Pins apply to the cache too.
    let out = run(
        d,
        &[
            "cert",
            "fetch",
            "--kubeconfig",
            kc,
            "--key-id",
            "0123456789abcdef",
        ],
    )
    .await;
    assert_eq!(out.code, 1);

    // An expired cached certificate is never used.
    let cached: Vec<PathBuf> = std::fs::read_dir(d.join("cache").join("certs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        cached.len(),
        2,
        "one cache entry per controller: {cached:?}"
    );
    let (key, _) = shared_key();
    let expired = Certificate::self_signed(
        &key,
        &CertOptions {
            validity: time::Duration::days(1),
            ..Default::default()
        },
        time::OffsetDateTime::now_utc() - time::Duration::days(30),
    )
    .unwrap();
    for p in &cached {
        std::fs::write(p, expired.to_pem()).unwrap();
    }
    let out = run(d, &["cert", "fetch", "--kubeconfig", kc]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot be used"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_online_offline_and_with_keys() {
    let c = cluster().await;
    let (_, cert) = shared_key();
    let (_, other_cert) = new_key();
    let d = c.dir.path();
    let kc = c.kubeconfig();
    let kc = kc.to_str().unwrap();
    std::fs::write(c.path("cert.pem"), cert.to_pem()).unwrap();
    std::fs::write(c.path("key.pem"), &test_pems().0).unwrap();

    let mut renamed = sealed(&cert, "prod", "db");
    renamed.metadata.name = Some("db-renamed".to_owned());
    let stream = format!(
        "{}{}{}{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\n",
        yaml(&sealed(&cert, "prod", "db")),
        yaml(&renamed),
        yaml(&sealed(&other_cert, "prod", "api")),
        yaml(&upstream(&cert, "prod", "legacy")),
    );
    let dir = c.path("k8s");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub").join("all.yaml"), &stream).unwrap();
    std::fs::write(dir.join("notes.txt"), "kind: SealedSecret\n").unwrap();
    let dir_s = dir.to_str().unwrap();
    let cert_s = c.path("cert.pem");
    let cert_s = cert_s.to_str().unwrap();

    // Offline, no private key: renamed and other-cluster objects fail, upstream is unchecked.
    let out = run(d, &["verify", "--cert", cert_s, dir_s]).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(lines[0].contains("document 1: prod/db: ok"), "{}", lines[0]);
    assert!(
        lines[1].contains("document 2: prod/db-renamed: FAILED"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("renamed or moved"), "{}", lines[1]);
    assert!(lines[2].contains("prod/api: FAILED"), "{}", lines[2]);
    assert!(lines[2].contains("another cluster"), "{}", lines[2]);
    assert!(
        lines[3].contains("prod/legacy: not checked"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].contains(
            "4 SealedSecrets in 1 file: 1 ok, 2 failed, 1 not checked (1 other object skipped)"
        ),
        "{}",
        lines[4]
    );

    // Only good and upstream objects: 0, unless --strict.
    let good = c.path("good.yaml");
    std::fs::write(
        &good,
        format!(
            "{}{}",
            yaml(&sealed(&cert, "prod", "db")),
            yaml(&upstream(&cert, "prod", "legacy"))
        ),
    )
    .unwrap();
    let good_s = good.to_str().unwrap();
    let out = run(d, &["verify", "--cert", cert_s, good_s]).await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    let out = run(d, &["verify", "--cert", cert_s, "--strict", good_s]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("--strict"), "{}", out.stdout);

    // Online through the controller: the upstream object does unseal.
    let out = run(d, &["verify", "--kubeconfig", kc, dir_s]).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("prod/db: ok"), "{}", out.stdout);
    assert!(
        lines[1].contains("FAILED") && lines[1].contains("NameOrNamespaceMismatch"),
        "{}",
        out.stdout
    );
    assert!(lines[2].contains("FAILED"), "{}", out.stdout);
    assert!(lines[3].contains("prod/legacy: ok"), "{}", out.stdout);
    assert!(
        lines[4].contains("2 ok, 2 failed, 0 not checked"),
        "{}",
        out.stdout
    );
    let out = run(d, &["verify", "--kubeconfig", kc, good_s]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // Offline with the private key: full decryption.
    let key_s = c.path("key.pem");
    let out = run(d, &["verify", "--key", key_s.to_str().unwrap(), dir_s]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("prod/db: ok: unseals with key"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2 ok, 2 failed, 0 not checked"),
        "{}",
        out.stdout
    );

    // Usage errors: exit 2.
    let out = run(d, &["verify"]).await;
    assert_eq!(out.code, 2);
    // A missing file: exit 1, one line.
    let out = run(d, &["verify", "--cert", cert_s, "/nonexistent.yaml"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("/nonexistent.yaml"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_online_after_key_renewal_keeps_other_documents() {
    let c = cluster().await;
    let (_, old_cert) = shared_key();
    let d = c.dir.path();
    let kc = c.kubeconfig();
    let kc = kc.to_str().unwrap();

    // Sealed with the first key, then the controller renews its key.
    let first = sealed(&old_cert, "prod", "db");
    let legacy = upstream(&old_cert, "prod", "legacy");
    let wide = {
        let mut s = secret("prod", "wide");
        s.metadata.annotations = Some(BTreeMap::from([(
            sealant_api::ANNOTATION_NAMESPACE_WIDE.to_owned(),
            "true".to_owned(),
        )]));
        let mut ss = seal_secret(&s, &old_cert, &SealOptions::default()).unwrap();
        ss.spec.template.metadata.labels =
            Some(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
        ss
    };
    let configmap = "# a config map, untouched\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm   # odd spacing kept\n";
    let text = format!(
        "# header comment\n{configmap}---\n# the db secret\n{}{}# trailing note\n",
        yaml(&first).trim_start_matches("---\n"),
        yaml(&legacy),
    );
    let file = c.path("secrets.yaml");
    std::fs::write(&file, &text).unwrap();
    let json_file = c.path("wide.json");
    let json_text = sealant_api::to_json(&wide).unwrap();
    std::fs::write(&json_file, &json_text).unwrap();
    let file_s = file.to_str().unwrap();
    let json_s = json_file.to_str().unwrap();

    // Nothing to do while the first key is the newest.
    let out = run(
        d,
        &["reseal", "--kubeconfig", kc, "--dry-run", file_s, json_s],
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("prod/db: up to date"), "{}", out.stdout);
    assert!(
        out.stdout.contains("prod/legacy: would re-seal"),
        "{}",
        out.stdout
    );

    c.ctl.request_new_key();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while c.ctl.keys.current().keyring.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no new key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let newest = c
        .ctl
        .keys
        .current()
        .keyring
        .newest()
        .unwrap()
        .key_id()
        .clone();
    assert_ne!(&newest, old_cert.key_id());

    // --dry-run lists and writes nothing.
    let out = run(
        d,
        &["reseal", "--kubeconfig", kc, "--dry-run", file_s, json_s],
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("would re-seal").count(),
        3,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("3 to re-seal, 0 up to date, 0 failed; 0 of 2 files written"),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert_eq!(std::fs::read_to_string(&json_file).unwrap(), json_text);

    // Online re-seal.
    let out = run(d, &["reseal", "--kubeconfig", kc, file_s, json_s]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("3 re-sealed, 0 up to date, 0 failed; 2 of 2 files written"),
        "{}",
        out.stdout
    );
    let new_text = std::fs::read_to_string(&file).unwrap();
    assert!(
        new_text.starts_with(&format!(
            "# header comment\n{configmap}---\n# the db secret\n"
        )),
        "{new_text}"
    );
    assert!(new_text.ends_with("# trailing note\n"), "{new_text}");
    assert_eq!(key_ids(&new_text), vec![newest.as_str(); 2]);
    let docs = sealant_api::parse_stream(&new_text).unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1].value["metadata"]["name"], "db");
    assert_eq!(
        docs[1].value["metadata"]["annotations"][ANNOTATION_SEALED_FOR],
        sealant_api::sealed_for(sealant_api::Scope::Strict, "prod", "db").as_str()
    );
    let new_json = std::fs::read_to_string(&json_file).unwrap();
    assert!(
        new_json.trim_start().starts_with('{'),
        "stays JSON: {new_json}"
    );
    let w: serde_json::Value = serde_json::from_str(&new_json).unwrap();
    assert_eq!(
        w["metadata"]["annotations"][sealant_api::ANNOTATION_NAMESPACE_WIDE],
        "true"
    );
    assert_eq!(w["spec"]["template"]["metadata"]["labels"]["app"], "web");
    assert_eq!(
        w["metadata"]["annotations"][ANNOTATION_KEY_IDS],
        newest.as_str()
    );

    // Everything verifies online, and a second run has nothing to do.
    let out = run(d, &["verify", "--kubeconfig", kc, file_s, json_s]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(d, &["reseal", "--kubeconfig", kc, file_s, json_s]).await;
    assert!(
        out.stdout.contains("0 re-sealed, 3 up to date"),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), new_text);

    // A file the controller cannot re-seal: nothing written anywhere.
    let (_, stranger) = new_key();
    let bad = c.path("bad.yaml");
    let bad_text = yaml(&sealed(&stranger, "prod", "x"));
    std::fs::write(&bad, &bad_text).unwrap();
    std::fs::write(&file, &text).unwrap();
    let out = run(
        d,
        &["reseal", "--kubeconfig", kc, file_s, bad.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("prod/x: FAILED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("0 of 2 files written"),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), bad_text);
}

/// A fresh key pair as new.key and new.pem in `work`, for the offline reseal tests; its cert.
fn write_new_key(work: &Workdir) -> Certificate {
    let (new_key, new_cert) = new_key();
    std::fs::write(work.path("new.pem"), new_cert.to_pem()).unwrap();
    std::fs::write(work.path("new.key"), new_key.to_pkcs1_pem().as_bytes()).unwrap();
    new_cert
}

/// The comma-separated `--key` of the offline reseal tests: the shared (old) key and new.key.
fn both_keys(work: &Workdir) -> String {
    format!(
        "{},{}",
        work.path("key.pem").display(),
        work.path("new.key").display()
    )
}

/// `sealant reseal` offline with both keys and new.pem over `dir`; asserts success, gives stdout.
fn reseal_offline_ok(work: &Workdir, dir: &Path) -> String {
    let out = sealant()
        .env("HOME", work.dir.path())
        .args(["reseal", "--key", &both_keys(work), "--cert"])
        .arg(work.path("new.pem"))
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// How many of the unsealed values are [`SECRET_VALUE`] when new.key alone unseals `file`.
fn values_opened_by_new_key(work: &Workdir, file: &Path) -> usize {
    let out = sealant()
        .args(["unseal", "--key"])
        .arg(work.path("new.key"))
        .arg("-f")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET_VALUE);
    String::from_utf8_lossy(&out.stdout).matches(&b64).count()
}

#[test]
fn reseal_offline_with_keys() {
    let work = Workdir::new();
    let (_, old_cert) = shared_key();
    let new_cert = write_new_key(&work);
    let text = format!(
        "# keep me\n{}{}",
        yaml(&sealed(&old_cert, "prod", "db")),
        yaml(&upstream(&old_cert, "prod", "legacy"))
    );
    let dir = work.path("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.yml");
    std::fs::write(&file, &text).unwrap();
    std::fs::write(dir.join("ignored.txt"), &text).unwrap();

    let stdout = reseal_offline_ok(&work, &dir);
    assert!(
        stdout.contains("2 re-sealed, 0 up to date, 0 failed; 1 of 1 file written"),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET_VALUE));
    let new_text = std::fs::read_to_string(&file).unwrap();
    assert!(new_text.starts_with("# keep me\n---\n"), "{new_text}");
    assert_eq!(key_ids(&new_text), vec![new_cert.key_id().as_str(); 2]);
    assert_eq!(
        std::fs::read_to_string(dir.join("ignored.txt")).unwrap(),
        text
    );

    // The new key alone unseals them to the same values.
    assert_eq!(values_opened_by_new_key(&work, &file), 2);

    // --key without --cert is a usage error.
    let out = sealant()
        .args(["reseal", "--key", &both_keys(&work)])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn reseal_rewrites_sealed_secrets_inside_lists() {
    let work = Workdir::new();
    let (_, old_cert) = shared_key();
    let new_cert = write_new_key(&work);
    let item = |ss: &SealedSecret| serde_json::to_value(ss).unwrap();
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [
            item(&upstream(&old_cert, "prod", "a")),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}},
            item(&sealed(&new_cert, "prod", "current")),
            item(&sealed(&old_cert, "prod", "b")),
        ],
    });
    // YAML: a List between two other documents; JSON: a List alone.
    let other = yaml(&sealed(&new_cert, "prod", "other"));
    let as_item = |ss: &SealedSecret| {
        let body = yaml(ss);
        let body = body.strip_prefix("---\n").unwrap();
        let mut out = String::new();
        for (i, line) in body.lines().enumerate() {
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(line);
            out.push('\n');
        }
        out
    };
    let list_yaml = format!(
        "# the list\n---\napiVersion: v1\nkind: List\nmetadata: {{resourceVersion: \"\"}}\nitems:\n{}- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: c}}\n  data: {{k: v}}\n{}{}",
        as_item(&upstream(&old_cert, "prod", "a")),
        as_item(&sealed(&new_cert, "prod", "current")),
        as_item(&sealed(&old_cert, "prod", "b")),
    );
    let yaml_text = format!("{other}{list_yaml}# after\n{other}");
    let dir = work.path("repo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("list.yaml"), &yaml_text).unwrap();
    std::fs::write(
        dir.join("list.json"),
        serde_json::to_string_pretty(&list).unwrap(),
    )
    .unwrap();
    let stdout = reseal_offline_ok(&work, &dir);
    assert!(
        stdout.contains("4 re-sealed, 4 up to date, 0 failed; 2 of 2 files written"),
        "{stdout}"
    );
    assert!(
        stdout.contains("list.yaml: document 2 items[0]: prod/a: re-sealed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("list.json: document 1 items[2]: prod/current: up to date"),
        "{stdout}"
    );

    let new_yaml = std::fs::read_to_string(dir.join("list.yaml")).unwrap();
    // The documents around the List stay byte for byte.
    assert!(
        new_yaml.starts_with(&format!("{other}# the list\n---\n")),
        "{new_yaml}"
    );
    assert!(
        new_yaml.ends_with(&format!("# after\n{other}")),
        "{new_yaml}"
    );
    for text in [
        new_yaml,
        std::fs::read_to_string(dir.join("list.json")).unwrap(),
    ] {
        let docs = sealant_api::parse_stream(&text).unwrap();
        let kinds: Vec<&str> = docs
            .iter()
            .filter(|d| d.list_item.is_some())
            .map(|d| d.value["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["SealedSecret", "ConfigMap", "SealedSecret", "SealedSecret"]
        );
        let ids = key_ids(&text);
        assert!(
            ids.iter().all(|id| id == new_cert.key_id().as_str()),
            "{ids:?}"
        );
        // The new key alone opens every SealedSecret in it.
        let sealed_only: String = docs
            .iter()
            .filter(|d| d.value["kind"] == "SealedSecret")
            .map(|d| d.value.to_string())
            .collect();
        let path = work.path("check.json");
        std::fs::write(&path, sealed_only).unwrap();
        let expected = if text.starts_with('{') { 3 } else { 5 };
        assert_eq!(values_opened_by_new_key(&work, &path), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_online_waits_out_the_rate_limit() {
    // Upstream's defaults: 2 requests per second, small burst; 429s are retried after Retry-After.
    let c = cluster_with(&["--rate-limit", "2", "--rate-limit-burst", "1"]).await;
    let (_, cert) = shared_key();
    let file = c.path("many.yaml");
    let text: String = (0..6)
        .map(|i| yaml(&sealed(&cert, "prod", &format!("s{i}"))))
        .collect();
    std::fs::write(&file, text).unwrap();
    let kc = c.kubeconfig();
    let out = run(
        c.dir.path(),
        &[
            "verify",
            "--kubeconfig",
            kc.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("6 ok, 0 failed"), "{}", out.stdout);
}

/// `/v1/rotate` requests a stand-in saw.
#[derive(Default)]
struct Seen {
    lists: std::sync::atomic::AtomicUsize,
    singles: std::sync::atomic::AtomicUsize,
}

/// A counting proxy in front of the real controller. With `upstream`, it stands in for an
/// upstream controller: a `kind: List` posted to `/v1/rotate` gets 500 (what upstream answers);
/// everything else is forwarded.
async fn stand_in(
    target: std::net::SocketAddr,
    upstream: bool,
) -> (std::net::SocketAddr, std::sync::Arc<Seen>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let head_end = loop {
                    let n = conn.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed before the request ended");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = conn.read(&mut chunk).await.unwrap();
                    assert!(n > 0);
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = &buf[head_end..head_end + length];
                let request_line = head.lines().next().unwrap_or_default().to_owned();
                let is_list = serde_json::from_slice::<serde_json::Value>(body)
                    .is_ok_and(|v| v["kind"] == "List");
                if request_line.starts_with("POST /v1/rotate") {
                    if is_list {
                        counts.lists.fetch_add(1, Ordering::SeqCst);
                    } else {
                        counts.singles.fetch_add(1, Ordering::SeqCst);
                    }
                    if is_list && upstream {
                        let text = "Error rotating secret: cannot decode a List";
                        let reply = format!(
                            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                            text.len()
                        );
                        conn.write_all(reply.as_bytes()).await.unwrap();
                        return;
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
                let method = request_line.split(' ').next().unwrap_or("GET").to_owned();
                let mut upstream = tokio::net::TcpStream::connect(target).await.unwrap();
                let forwarded = format!(
                    "{method} {path} HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                );
                upstream.write_all(forwarded.as_bytes()).await.unwrap();
                upstream.write_all(body).await.unwrap();
                let mut reply = Vec::new();
                upstream.read_to_end(&mut reply).await.unwrap();
                conn.write_all(&reply).await.unwrap();
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_online_falls_back_to_one_object_per_request_for_an_upstream_controller() {
    use std::sync::atomic::Ordering;
    let c = cluster().await;
    let (proxy, seen) = stand_in(c.ctl.http_addr, true).await;
    service(&c.client, "default", "upstream", Some("http")).await;
    c.server.add_proxy("default", "upstream", proxy);
    let (_, old_cert) = shared_key();
    let d = c.dir.path();
    let kc = c.kubeconfig();
    let kc = kc.to_str().unwrap();
    // More objects than one batch holds (100), so the fallback must be remembered for the rest.
    let count = 105;
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&yaml(&sealed(&old_cert, "prod", &format!("db{i}"))));
    }
    let file = c.path("many.yaml");
    std::fs::write(&file, &text).unwrap();
    c.ctl.request_new_key();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while c.ctl.keys.current().keyring.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no new key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = run(
        d,
        &[
            "reseal",
            "--kubeconfig",
            kc,
            "--controller-namespace",
            "default",
            "--controller-name",
            "upstream",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "{count} re-sealed, 0 up to date, 0 failed; 1 of 1 file written"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        seen.lists.load(Ordering::SeqCst),
        1,
        "one batch tried, then remembered"
    );
    assert_eq!(seen.singles.load(Ordering::SeqCst), count);
    let newest = c
        .ctl
        .keys
        .current()
        .keyring
        .newest()
        .unwrap()
        .key_id()
        .clone();
    let new_text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        key_ids(&new_text),
        vec![newest.as_str().to_owned(); count],
        "every object is on the newest key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_online_sends_batches_to_a_controller_that_takes_them() {
    use std::sync::atomic::Ordering;
    let c = cluster().await;
    let (proxy, seen) = stand_in(c.ctl.http_addr, false).await;
    service(&c.client, "default", "counted", Some("http")).await;
    c.server.add_proxy("default", "counted", proxy);
    let (_, old_cert) = shared_key();
    let (_, stranger) = new_key();
    let d = c.dir.path();
    let kc = c.kubeconfig();
    let kc = kc.to_str().unwrap();
    let count = 105;
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&yaml(&sealed(&old_cert, "prod", &format!("db{i}"))));
    }
    let file = c.path("many.yaml");
    std::fs::write(&file, &text).unwrap();
    // One object the controller cannot open, in its own file: its failure comes back as the
    // batch's item, the others re-seal, and (all or nothing) no file is written.
    let bad = c.path("bad.yaml");
    std::fs::write(&bad, yaml(&sealed(&stranger, "prod", "alien"))).unwrap();
    c.ctl.request_new_key();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while c.ctl.keys.current().keyring.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no new key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counted = [
        "--controller-namespace",
        "default",
        "--controller-name",
        "counted",
    ];
    let mut args = vec!["reseal", "--kubeconfig", kc];
    args.extend(counted);
    args.extend([file.to_str().unwrap(), bad.to_str().unwrap()]);
    let out = run(d, &args).await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("prod/alien: FAILED: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "{count} re-sealed, 0 up to date, 1 failed; 0 of 2 files written"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        seen.lists.load(Ordering::SeqCst),
        2,
        "100 + 6 objects: two batches"
    );
    assert_eq!(seen.singles.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // Without the stranger: everything is re-sealed, in batches, and written.
    let mut args = vec!["reseal", "--kubeconfig", kc];
    args.extend(counted);
    args.push(file.to_str().unwrap());
    let out = run(d, &args).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(seen.lists.load(Ordering::SeqCst), 4);
    assert_eq!(seen.singles.load(Ordering::SeqCst), 0);
    let newest = c
        .ctl
        .keys
        .current()
        .keyring
        .newest()
        .unwrap()
        .key_id()
        .clone();
    assert_eq!(
        key_ids(&std::fs::read_to_string(&file).unwrap()),
        vec![newest.as_str().to_owned(); count]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_online_accepts_values_up_to_what_a_secret_holds() {
    let c = cluster().await;
    let (_, cert) = shared_key();
    let d = c.dir.path();
    let kc = c.kubeconfig();
    let kc = kc.to_str().unwrap();
    // 786 KB and, in another object, exactly 1 MiB of values: both accepted by Kubernetes.
    let mut ok = Vec::new();
    for (name, sizes) in [
        ("medium", vec![786_000]),
        ("full", vec![1024 * 1024 - 3, 3]),
    ] {
        let mut s = secret("prod", name);
        s.data = Some(
            sizes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("v{i}"), ByteString(vec![b'x'; *n])))
                .collect(),
        );
        ok.push(seal_secret(&s, &cert, &SealOptions::default()).unwrap());
    }
    let file = c.path("big.yaml");
    std::fs::write(&file, ok.iter().map(yaml).collect::<String>()).unwrap();
    let out = run(d, &["verify", "--kubeconfig", kc, file.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("2 ok, 0 failed"), "{}", out.stdout);
}
