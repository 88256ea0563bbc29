//! `sealant audit`: against fake-apiserver with the real controller and fixtures made with the
//! real `kubectl`, and offline against files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sealant_crypto::{CertOptions, Certificate, PrivateKey};
use serde_json::Value;
use time::OffsetDateTime;

use crate::common::{Workdir, other_key_pem, sealant, secret_yaml};
use crate::support;

/// `kubectl ARGS` against `kubeconfig` with an isolated HOME; must succeed.
fn kubectl(dir: &Path, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl is installed");
    if let Some(input) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A key pair whose certificate starts `days_ago` days ago, as PEM files in `dir`.
fn key_files(dir: &Workdir, name: &str, days_ago: i64) -> (Certificate, String, String) {
    let key = PrivateKey::generate(2048).unwrap();
    let not_before = OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    let cert = Certificate::self_signed(&key, &CertOptions::default(), not_before).unwrap();
    let key_path = dir.write(&format!("{name}.key"), key.to_pkcs1_pem().as_bytes());
    let cert_path = dir.write(&format!("{name}.crt"), cert.to_pem());
    (
        cert,
        key_path.display().to_string(),
        cert_path.display().to_string(),
    )
}

/// `sealant seal` of one Secret with `cert`.
fn seal(dir: &Workdir, cert: &Path, ns: &str, name: &str, value: &str) -> String {
    let out = sealant()
        .args(["seal", "--cert"])
        .arg(cert)
        .write_stdin(secret_yaml(Some(ns), name, &[("password", value)]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let _ = dir;
    String::from_utf8(out).unwrap()
}

fn findings<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

fn finding<'a>(report: &'a Value, check: &str, object: &str) -> &'a Value {
    findings(report, check)
        .into_iter()
        .find(|f| f["object"] == object)
        .unwrap_or_else(|| panic!("no {check} finding for {object}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_of_a_cluster_reports_every_check() {
    let cluster = support::start(&[]).await;
    let dir = Workdir::new();
    let kc = dir.path("kubeconfig");
    cluster.server.write_kubeconfig(&kc).unwrap();
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let k = |args: &[&str], stdin: Option<&str>| kubectl(&home, &kc, args, stdin);

    // Keys: the shared test key (newest, active), an older active key, a compromised one.
    let (old_cert, old_key, old_crt) = key_files(&dir, "old", 40);
    let (bad_cert, bad_key, bad_crt) = key_files(&dir, "bad", 80);
    for (name, key, crt, label) in [
        ("old-key", &old_key, &old_crt, "active"),
        ("bad-key", &bad_key, &bad_crt, "compromised"),
    ] {
        k(
            &[
                "create",
                "secret",
                "tls",
                name,
                "-n",
                "kube-system",
                "--key",
                key,
                "--cert",
                crt,
            ],
            None,
        );
        k(
            &[
                "label",
                "secret",
                name,
                "-n",
                "kube-system",
                &format!("sealedsecrets.bitnami.com/sealed-secrets-key={label}"),
            ],
            None,
        );
    }
    k(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sealed-secrets-controller\n  namespace: kube-system\nspec:\n  selector:\n    matchLabels: {app: c}\n  template:\n    metadata:\n      labels: {app: c}\n    spec:\n      containers:\n      - name: c\n        image: sealant:test\n        args: [--key-renew-period=48h]\n",
        ),
    );

    // SealedSecrets in `team`: current key, older key, compromised key, a key the cluster
    // does not have; a hand-made Secret and a Helm release record beside them.
    k(&["create", "namespace", "team"], None);
    let other_cert = dir.write(
        "other.crt",
        Certificate::self_signed(
            &PrivateKey::from_pem(other_key_pem().as_bytes()).unwrap(),
            &CertOptions::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap()
        .to_pem(),
    );
    let sealed = [
        seal(&dir, &dir.cert(), "team", "current", "s3cret-current"),
        seal(&dir, Path::new(&old_crt), "team", "older", "s3cret-older"),
        seal(&dir, Path::new(&bad_crt), "team", "leaked", "s3cret-leaked"),
        seal(&dir, &other_cert, "team", "stranger", "s3cret-stranger"),
    ]
    .join("");
    k(&["apply", "-f", "-"], Some(&sealed));
    k(
        &[
            "create",
            "secret",
            "generic",
            "hand-made",
            "-n",
            "team",
            "--from-literal=token=plain-value",
        ],
        None,
    );
    k(
        &[
            "create",
            "secret",
            "generic",
            "sh.helm.release.v1.web.v1",
            "-n",
            "team",
            "--type=helm.sh/release.v1",
            "--from-literal=release=x",
        ],
        None,
    );
    // Every authenticated user may read Secrets everywhere: the keys too.
    k(
        &[
            "create",
            "clusterrole",
            "secret-reader",
            "--verb=get,list",
            "--resource=secrets",
        ],
        None,
    );
    k(
        &[
            "create",
            "clusterrolebinding",
            "everyone-reads",
            "--clusterrole=secret-reader",
            "--group=system:authenticated",
        ],
        None,
    );

    // Wait until the controller has reconciled all four.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: Value = serde_json::from_str(&k(
            &["get", "sealedsecrets", "-n", "team", "-o", "json"],
            None,
        ))
        .unwrap();
        let done = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| {
                i["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            })
            .count();
        if done == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "not reconciled: {list:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let kcs = kc.display().to_string();
    let out = support::run(
        &home,
        &["audit", "--kubeconfig", &kcs, "-o", "json"],
        None,
        "s3cret-",
    )
    .await;
    assert_eq!(out.code, 1, "errors make exit 1: {}", out.stderr);
    assert!(!out.stdout.contains("plain-value"));
    let report: Value = serde_json::from_str(&out.stdout).unwrap();

    // Not Ready, with the reason: the stranger's key is not in the cluster.
    let stranger = finding(&report, "not-ready", "team/stranger");
    assert_eq!(stranger["level"], "error");
    assert!(
        stranger["message"].as_str().unwrap().contains("not Ready"),
        "{stranger}"
    );
    assert!(
        findings(&report, "not-ready")
            .iter()
            .all(|f| f["object"] != "team/current")
    );
    // Keys: three, the shared one newest; renewal from the Deployment.
    let keys = report["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "{report:#}");
    let newest: Vec<&Value> = keys.iter().filter(|k| k["newest"] == true).collect();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["secret"], "kube-system/test-key");
    let old = keys
        .iter()
        .find(|k| k["keyId"] == old_cert.key_id().as_str())
        .unwrap();
    assert_eq!(old["ageDays"], 40);
    assert_eq!(old["status"], "active");
    let bad = keys
        .iter()
        .find(|k| k["keyId"] == bad_cert.key_id().as_str())
        .unwrap();
    assert_eq!(bad["status"], "compromised");
    assert_eq!(report["renewal"]["period"], "48h");
    assert!(
        report["renewal"]["source"]
            .as_str()
            .unwrap()
            .contains("Deployment kube-system/sealed-secrets-controller")
    );
    assert!(report["renewal"]["daysToNext"].as_i64().unwrap() >= 1);
    // Re-seal candidates per key, and the compromised key.
    let older = finding(&report, "reseal", "team/older");
    assert!(
        older["message"]
            .as_str()
            .unwrap()
            .contains(old_cert.key_id().as_str())
    );
    assert_eq!(
        finding(&report, "compromised-key", "team/leaked")["level"],
        "error"
    );
    assert_eq!(
        finding(&report, "unknown-key", "team/stranger")["level"],
        "warning"
    );
    let usage = report["keyUsage"].as_array().unwrap();
    assert_eq!(usage.len(), 4, "one SealedSecret per key: {usage:?}");
    // Unmanaged Secrets: the hand-made one, not the Helm record nor the unsealed ones.
    assert_eq!(
        finding(&report, "unmanaged-secret", "team/hand-made")["level"],
        "warning"
    );
    let unmanaged: Vec<&Value> = findings(&report, "unmanaged-secret");
    assert_eq!(unmanaged.len(), 1, "{unmanaged:?}");
    // RBAC: system:authenticated may read the keys; the binding is named.
    let rbac = finding(&report, "rbac", "kube-system/");
    assert_eq!(rbac["level"], "error");
    let message = rbac["message"].as_str().unwrap();
    assert!(message.contains("system:authenticated"), "{message}");
    assert!(message.contains("everyone-reads"), "{message}");
    let not_ready = findings(&report, "not-ready")
        .iter()
        .filter(|f| f["level"] == "error")
        .count();
    assert_eq!(
        report["summary"]["errors"].as_u64().unwrap() as usize,
        not_ready + 2,
        "{report:#}"
    );

    // The table says the same for people.
    let table = support::run(&home, &["audit", "--kubeconfig", &kcs], None, "s3cret-").await;
    assert_eq!(table.code, 1);
    assert!(table.stdout.contains("Sealing keys: 3"), "{}", table.stdout);
    assert!(
        table.stdout.contains("Renewal period 48h"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("error") && l.contains("rbac")),
        "{}",
        table.stdout
    );

    // Fixed: no binding, no compromised or stranger objects: exit 0.
    k(&["delete", "clusterrolebinding", "everyone-reads"], None);
    k(
        &["delete", "sealedsecret", "leaked", "stranger", "-n", "team"],
        None,
    );
    let out = support::run(
        &home,
        &["audit", "--kubeconfig", &kcs, "-o", "json"],
        None,
        "s3cret-",
    )
    .await;
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(out.code, 0, "{report:#}");
    assert_eq!(report["summary"]["errors"], 0);
    assert!(findings(&report, "rbac").is_empty(), "{report:#}");
}

#[test]
fn audit_of_files_lists_keys_by_id_and_plaintext() {
    let dir = Workdir::new();
    let tree = dir.path("k8s");
    std::fs::create_dir_all(tree.join("apps")).unwrap();
    let a = seal(&dir, &dir.cert(), "prod", "db", "v1");
    let b = seal(&dir, &dir.cert(), "prod", "api", "v2");
    // As kubeseal writes it: no key-ids annotation.
    let c: String = seal(&dir, &dir.cert(), "prod", "legacy", "v3")
        .lines()
        .filter(|l| !l.contains("sealant.dev/key-ids"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(tree.join("apps/db.yaml"), format!("{a}{b}")).unwrap();
    std::fs::write(tree.join("legacy.yaml"), c).unwrap();
    std::fs::write(
        tree.join("apps/oops.yaml"),
        secret_yaml(Some("prod"), "oops", &[("password", "plain-secret")]),
    )
    .unwrap();
    let out = sealant()
        .args(["audit", "-o", "json"])
        .arg(&tree)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("plain-secret"));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["sealedSecrets"], 3);
    let cert = Certificate::from_pem(std::fs::read(dir.cert()).unwrap().as_slice()).unwrap();
    let usage = report["keyUsage"].as_array().unwrap();
    let ours = usage
        .iter()
        .find(|u| u["keyId"] == cert.key_id().as_str())
        .unwrap();
    assert_eq!(ours["count"], 2);
    assert!(
        ours["objects"][0]
            .as_str()
            .unwrap()
            .ends_with("apps/db.yaml: prod/api"),
        "{ours}"
    );
    let unknown = usage.iter().find(|u| u["keyId"] == "unknown").unwrap();
    assert_eq!(unknown["count"], 1);
    let oops = format!("{}:", tree.join("apps/oops.yaml").display());
    let plain = findings(&report, "plaintext")
        .into_iter()
        .find(|f| f["object"].as_str().unwrap().starts_with(&oops))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(plain["level"], "error");
    assert!(
        plain["message"].as_str().unwrap().contains("prod/oops"),
        "{plain}"
    );

    // Without the plaintext file: exit 0, and the table lists the key.
    std::fs::remove_file(tree.join("apps/oops.yaml")).unwrap();
    let out = sealant()
        .arg("audit")
        .arg(&tree)
        .assert()
        .success()
        .get_output()
        .clone();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(cert.key_id().as_str()) && l.contains("apps/db.yaml: prod/api")),
        "{table}"
    );
    assert!(table.contains("Findings: 0 error(s)"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_without_review_rights_checks_the_auditors_own_access() {
    let server = fake_apiserver::FakeApiServer::start().await.unwrap();
    let dir = Workdir::new();
    let admin = dir.path("admin.kubeconfig");
    server.write_kubeconfig(&admin).unwrap();
    // The same cluster as user alice (kubeconfig `as:`, impersonation).
    let alice = dir.write(
        "alice.kubeconfig",
        server.kubeconfig_yaml().replace(
            "    token: fake-token\n",
            "    token: fake-token\n    as: alice\n",
        ),
    );
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let k = |args: &[&str]| kubectl(&home, &admin, args, None);
    kubectl(
        &home,
        &admin,
        &["apply", "-f", "-"],
        Some(&sealant_api::crd_yaml()),
    );
    k(&[
        "create",
        "role",
        "key-reader",
        "-n",
        "kube-system",
        "--verb=get,list",
        "--resource=secrets",
    ]);
    k(&[
        "create",
        "rolebinding",
        "alice-reads-keys",
        "-n",
        "kube-system",
        "--role=key-reader",
        "--user=alice",
    ]);

    let kc = alice.display().to_string();
    let audit = |home: std::path::PathBuf, kc: String| async move {
        let out = support::run(
            &home,
            &["audit", "--kubeconfig", &kc, "-o", "json"],
            None,
            "s3cret-",
        )
        .await;
        serde_json::from_str::<Value>(&out.stdout).unwrap()
    };
    let report = audit(home.clone(), kc.clone()).await;
    let refused = finding(&report, "rbac", "kube-system/");
    assert_eq!(refused["level"], "warning", "{report:#}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("SubjectAccessReview was refused"),
        "{report:#}"
    );
    let own: Vec<&Value> = findings(&report, "rbac")
        .into_iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains("you may read the Secrets in kube-system")
        })
        .collect();
    assert_eq!(own.len(), 1, "{report:#}");
    // Listing SealedSecrets is forbidden for alice: said, not hidden.
    assert!(
        findings(&report, "access")[0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot list SealedSecrets"),
        "{report:#}"
    );

    k(&[
        "delete",
        "rolebinding",
        "alice-reads-keys",
        "-n",
        "kube-system",
    ]);
    let report = audit(home.clone(), kc.clone()).await;
    assert!(
        findings(&report, "rbac")
            .iter()
            .all(|f| !f["message"].as_str().unwrap().contains("you may read")),
        "{report:#}"
    );
    assert!(
        findings(&report, "keys")[0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot list the sealing key Secrets"),
        "{report:#}"
    );
}
