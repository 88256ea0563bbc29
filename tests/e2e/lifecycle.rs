//! A user's whole journey through real processes: `fake-apiserver` as the cluster, the
//! `sealant-controller` binary in it, the `sealant` CLI on the workstation and `kubectl` as the
//! independent client. Skipped (with a message) when `kubectl` is not installed.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sealant_e2e::*;

const PASSWORD: &str = "e2e-pa55word-never-logged";
const TOKEN: &str = "e2e-t0ken-never-logged";
const ROTATED: &str = "e2e-r0tated-never-logged";

fn secret_manifest(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: web\n\
         type: Opaque\nstringData:\n  password: {PASSWORD}\n  token: {TOKEN}\n"
    )
}

/// Imports the vector key the way the migration docs say: a `kubernetes.io/tls` Secret
/// labelled active, applied with kubectl (the fake API server does not decode the protobuf
/// bodies that `kubectl create secret tls` sends).
fn import_vector_key(cluster: &Cluster) {
    use base64::Engine as _;
    let b64 = |name: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(vector(name)).unwrap())
    };
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "imported-key",
            "namespace": CONTROLLER_NS,
            "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"},
        },
        "type": "kubernetes.io/tls",
        "data": {"tls.key": b64("key-4096.pem"), "tls.crt": b64("cert-4096.pem")},
    });
    let file = cluster.write("imported-key.json", secret.to_string().as_bytes());
    cluster.kubectl_ok(&["apply", "--validate=false", "-f", file.to_str().unwrap()]);
}

fn assert_no_plaintext(what: &str, logs: &str) {
    use base64::Engine as _;
    for value in [PASSWORD, TOKEN, ROTATED, "correct horse battery staple"] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(
            !logs.contains(value),
            "{what} logs contain a plaintext value"
        );
        assert!(!logs.contains(&b64), "{what} logs contain a base64 value");
    }
}

/// Imported (BYO) key, cert fetched through the API server's service proxy, a Secret sealed by
/// `sealant seal` and one sealed by upstream kubeseal, updates, a broken object, restart,
/// deletion and offline recovery.
#[test]
fn seal_apply_update_restart_delete() {
    if !kubectl_available() {
        eprintln!("kubectl not found; skipping");
        return;
    }
    let cluster = Cluster::start();
    import_vector_key(&cluster);
    let controller = Controller::start(&cluster, &[]);

    // The certificate, the way kubeseal users fetch it: through the service proxy.
    let pem = cluster.kubectl_ok(&[
        "get",
        "--raw",
        &format!(
            "/api/v1/namespaces/{CONTROLLER_NS}/services/http:{CONTROLLER_NAME}:/proxy/v1/cert.pem"
        ),
    ]);
    assert_eq!(
        pem.trim(),
        std::fs::read_to_string(vector("cert-4096.pem"))
            .unwrap()
            .trim(),
        "the controller serves the imported certificate"
    );
    let cert = cluster.write("cert.pem", pem.as_bytes());
    let cert = cert.to_str().unwrap();

    // Seal and apply; Ready shortly after.
    let input = cluster.write("secret.yaml", secret_manifest("prod", "web").as_bytes());
    let sealed = cluster.path("sealed.yaml");
    let sealed_s = sealed.to_str().unwrap();
    cluster.sealant_ok(
        &[
            "seal",
            "--cert",
            cert,
            "-f",
            input.to_str().unwrap(),
            "-w",
            sealed_s,
        ],
        b"",
    );
    let sealed_text = std::fs::read_to_string(&sealed).unwrap();
    assert!(!sealed_text.contains(PASSWORD) && !sealed_text.contains(TOKEN));
    let ns = cluster.write(
        "ns.yaml",
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n",
    );
    cluster.kubectl_ok(&["apply", "--validate=false", "-f", ns.to_str().unwrap()]);
    let applied = Instant::now();
    cluster.kubectl_ok(&["apply", "--validate=false", "-f", sealed_s]);
    let (reason, _) = cluster.wait_ready("prod", "web", "True");
    let latency = applied.elapsed();
    eprintln!("kubectl apply -> Ready=True seen by kubectl: {latency:?}");
    assert!(latency < Duration::from_secs(3), "Ready took {latency:?}");
    assert_eq!(reason, "Unsealed");
    let ss = cluster.get("sealedsecret", "prod", "web").unwrap();
    let (synced, _, _) = condition(&ss, "Synced").unwrap();
    assert_eq!(synced, "True");

    let secret = cluster.get("secret", "prod", "web").unwrap();
    let data = secret_data(&secret);
    assert_eq!(data.get("password").map(String::as_str), Some(PASSWORD));
    assert_eq!(data.get("token").map(String::as_str), Some(TOKEN));
    assert_eq!(data.len(), 2);
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["metadata"]["labels"]["app"], "web");
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "SealedSecret");
    assert_eq!(owner["uid"], ss["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);

    // Offline recovery with the private key gives the same Secret.
    let key = vector("key-4096.pem");
    let recovered = cluster.sealant_ok(
        &[
            "unseal",
            "--key",
            key.to_str().unwrap(),
            "-f",
            sealed_s,
            "-o",
            "json",
        ],
        b"",
    );
    let recovered: serde_json::Value = serde_json::from_str(&recovered).unwrap();
    assert_eq!(secret_data(&recovered), data);

    // A SealedSecret made by upstream kubeseal (shared vector) becomes the expected Secret.
    cluster.kubectl_ok(&[
        "apply",
        "--validate=false",
        "-f",
        vector("sealedsecret-strict.yaml").to_str().unwrap(),
    ]);
    let expected: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(vector("secret-expected.yaml")).unwrap())
            .unwrap();
    let ns = expected["metadata"]["namespace"].as_str().unwrap();
    let name = expected["metadata"]["name"].as_str().unwrap();
    cluster.wait_ready(ns, name, "True");
    let upstream = cluster.get("secret", ns, name).unwrap();
    assert_eq!(upstream["data"], expected["data"]);
    assert_eq!(upstream["type"], expected["type"]);

    // Update one value with --merge-into: the other ciphertext stays byte-identical.
    let before: serde_json::Value = serde_saphyr::from_str(&sealed_text).unwrap();
    let update = cluster.write(
        "update.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: prod\nstringData:\n  token: {ROTATED}\n"
        )
        .as_bytes(),
    );
    cluster.sealant_ok(
        &[
            "seal",
            "--cert",
            cert,
            "-f",
            update.to_str().unwrap(),
            "--merge-into",
            sealed_s,
        ],
        b"",
    );
    let after: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&sealed).unwrap()).unwrap();
    let item = |v: &serde_json::Value, k: &str| v["spec"]["encryptedData"][k].clone();
    assert_eq!(item(&after, "password"), item(&before, "password"));
    assert_ne!(item(&after, "token"), item(&before, "token"));
    cluster.kubectl_ok(&["apply", "--validate=false", "-f", sealed_s]);
    wait_for(Duration::from_secs(30), "updated token", || {
        let s = cluster.get("secret", "prod", "web")?;
        (secret_data(&s).get("token").map(String::as_str) == Some(ROTATED)).then_some(())
    });
    cluster.wait_ready("prod", "web", "True");

    // Renamed after sealing: Ready=False, Stalled=True, and the message says why.
    let renamed = std::fs::read_to_string(&sealed)
        .unwrap()
        .replace("name: web", "name: web-renamed");
    let renamed = cluster.write("renamed.yaml", renamed.as_bytes());
    cluster.kubectl_ok(&["apply", "--validate=false", "-f", renamed.to_str().unwrap()]);
    let (reason, message) = cluster.wait_ready("prod", "web-renamed", "False");
    assert_eq!(reason, "NameOrNamespaceMismatch", "{message}");
    assert!(
        message.contains("password") && message.contains("token"),
        "{message}"
    );
    let ss = cluster.get("sealedsecret", "prod", "web-renamed").unwrap();
    assert_eq!(condition(&ss, "Stalled").unwrap().0, "True");
    assert!(cluster.get("secret", "prod", "web-renamed").is_none());

    // Converged: no further writes.
    let settle = |what: &str| {
        let w = (cluster.writes("secrets"), cluster.writes("sealedsecrets"));
        std::thread::sleep(Duration::from_secs(3));
        let w2 = (cluster.writes("secrets"), cluster.writes("sealedsecrets"));
        assert_eq!(w, w2, "API writes after convergence ({what})");
    };
    settle("first run");

    // Restart: nothing is re-written, everything stays Ready.
    let web_rv =
        cluster.get("secret", "prod", "web").unwrap()["metadata"]["resourceVersion"].clone();
    let secret_writes = cluster.writes("secrets");
    let mut logs = controller.logs();
    let status = controller.stop();
    assert!(status.success(), "controller exit status {status:?}");
    let controller = Controller::start(&cluster, &[]);
    settle("after restart");
    assert_eq!(
        cluster.writes("secrets"),
        secret_writes,
        "restart wrote Secrets"
    );
    assert_eq!(
        cluster.get("secret", "prod", "web").unwrap()["metadata"]["resourceVersion"],
        web_rv
    );
    cluster.wait_ready("prod", "web", "True");

    // Deleting the SealedSecret garbage-collects its Secret; deleting the Secret of a live
    // SealedSecret gets it re-created.
    cluster.kubectl_ok(&["delete", "secret", name, "-n", ns]);
    wait_for(Duration::from_secs(30), "re-created Secret", || {
        cluster.get("secret", ns, name)
    });
    cluster.kubectl_ok(&["delete", "sealedsecret", "web", "-n", "prod"]);
    wait_for(Duration::from_secs(30), "garbage-collected Secret", || {
        cluster.get("secret", "prod", "web").is_none().then_some(())
    });

    logs.push_str(&controller.logs());
    let status = controller.stop();
    assert!(status.success(), "controller exit status {status:?}");
    assert!(
        logs.contains("Secret written"),
        "controller logged its work"
    );
    assert_no_plaintext("controller", &logs);
    assert_no_plaintext("fake-apiserver", &cluster.logs());
}

/// No key at all: the controller generates one, serves it over HTTP, `sealant seal` takes the
/// certificate from the URL, and the key Secret backed up with kubectl recovers the value offline.
#[test]
fn generated_key_seal_by_url_and_backup() {
    if !kubectl_available() {
        eprintln!("kubectl not found; skipping");
        return;
    }
    let cluster = Cluster::start();
    let controller = Controller::start(&cluster, &["--key-size", "2048"]);

    let keys = cluster.kubectl_ok(&[
        "get",
        "secrets",
        "-n",
        CONTROLLER_NS,
        "-l",
        "sealedsecrets.bitnami.com/sealed-secrets-key=active",
        "-o",
        "json",
    ]);
    let keys: serde_json::Value = serde_json::from_str(&keys).unwrap();
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "exactly one generated key");
    assert_eq!(items[0]["type"], "kubernetes.io/tls");
    let backup = cluster.write("backup.json", keys.to_string().as_bytes());

    let url = format!("http://{}/v1/cert.pem", controller.api);
    let sealed = cluster.sealant_ok(
        &["seal", "--cert", &url],
        secret_manifest("default", "app").as_bytes(),
    );
    let sealed_file = cluster.write("sealed.yaml", sealed.as_bytes());
    cluster.kubectl_ok(&[
        "apply",
        "--validate=false",
        "-f",
        sealed_file.to_str().unwrap(),
    ]);
    cluster.wait_ready("default", "app", "True");
    let secret = cluster.get("secret", "default", "app").unwrap();
    assert_eq!(
        secret_data(&secret).get("password").map(String::as_str),
        Some(PASSWORD)
    );

    // Recovery from the kubectl backup (a List of key Secrets).
    let recovered = cluster.sealant_ok(
        &[
            "unseal",
            "--key",
            backup.to_str().unwrap(),
            "-f",
            sealed_file.to_str().unwrap(),
            "-o",
            "json",
        ],
        b"",
    );
    let recovered: serde_json::Value = serde_json::from_str(&recovered).unwrap();
    assert_eq!(secret_data(&recovered), secret_data(&secret));

    // The wrong key says so, names the items, and prints nothing on stdout.
    let other = vector("key-2048-pkcs8.pem");
    let out = cluster.sealant(
        &[
            "unseal",
            "--key",
            other.to_str().unwrap(),
            "-f",
            sealed_file.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password") || err.contains("token"), "{err}");

    let logs = controller.logs();
    assert!(controller.stop().success());
    assert_no_plaintext("controller", &logs);
    assert_no_plaintext("fake-apiserver", &cluster.logs());
}
