//! `sealant migrate check` against fake-apiserver holding what upstream's two install methods
//! leave (testdata/upstream: its `controller.yaml` objects and a Helm release of its chart, with
//! upstream's CRD), created with the real `kubectl`. The check must list exactly those objects,
//! flag the dangerous ones, write nothing, and print commands that, run as printed with
//! `kubectl`, leave nothing of upstream but the CRD (updated), SealedSecrets and key Secrets.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_apiserver::{FakeApiServer, Verb};
use sealant_api::key_secret;

use crate::common::vector;
use crate::support::{Out, shared_key};

const SECRET: &str = "never-printed-in-migrate-check";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn upstream_file(name: &str) -> String {
    repo()
        .join("testdata/upstream")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// Runs kubectl (from the repository root, so printed relative paths resolve) and asserts success.
fn kubectl(kc: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl is installed");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Cluster {
    server: FakeApiServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn kc(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `sealant migrate check`; asserts it made no write request and printed no secret.
    async fn check(&self) -> Out {
        self.server.reset_counts();
        let kc = self.kc();
        let out = crate::support::run(
            self.dir.path(),
            &["migrate", "check", "--kubeconfig", kc.to_str().unwrap()],
            None,
            SECRET,
        )
        .await;
        assert_eq!(self.server.write_count(), 0, "migrate check wrote");
        let counts = self.server.counts();
        assert!(
            counts
                .keys()
                .all(|(verb, _)| matches!(verb, Verb::Get | Verb::List)),
            "migrate check made requests other than get/list: {counts:?}"
        );
        assert!(
            !counts
                .keys()
                .any(|(verb, res)| *verb == Verb::Get && res == "secrets"),
            "migrate check read a Secret"
        );
        out
    }
}

/// fake-apiserver with upstream's CRD, one SealedSecret, a key Secret and the objects of
/// `objects_file`, all created with `kubectl apply`.
async fn upstream_cluster(objects_file: &str) -> Cluster {
    let server = FakeApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    server
        .write_kubeconfig(dir.path().join("kubeconfig"))
        .unwrap();
    let c = Cluster { server, dir };
    let kc = c.kc();
    let apply = |file: &str| kubectl(&kc, &["apply", "--validate=false", "-f", file], None);
    apply(&upstream_file("crd-sealedsecrets.bitnami.com.yaml"));
    apply(&upstream_file(objects_file));
    kubectl(
        &kc,
        &["apply", "--validate=false", "-f", "-"],
        Some(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}}"#),
    );
    apply(vector("sealedsecret-strict.yaml").to_str().unwrap());
    // A key Secret as upstream's controller makes them (generateName, label active).
    let (key, cert) = shared_key();
    let mut s = key_secret(&key, &cert, "kube-system", "sealed-secrets-key");
    s.metadata.generate_name = None;
    s.metadata.name = Some("sealed-secrets-keyx7k2p".to_owned());
    let mut yaml = serde_json::to_string(&s).unwrap();
    // The check must never read key material; a marker value proves it is not printed.
    yaml = yaml.replacen(
        "\"data\":{",
        &format!("\"stringData\":{{\"marker\":\"{SECRET}\"}},\"data\":{{"),
        1,
    );
    kubectl(&kc, &["apply", "--validate=false", "-f", "-"], Some(&yaml));
    c
}

/// The commands under "Run, in this order".
fn commands(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("Run, in this order"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Runs a printed `kubectl ...` command as printed, plus the test's kubeconfig (and, for
/// `replace`, `--validate=false`: fake-apiserver serves no OpenAPI document to validate with).
fn run_printed(kc: &Path, command: &str) {
    let mut words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"kubectl"), "{command}");
    if words.get(1) == Some(&"replace") {
        words.insert(2, "--validate=false");
    }
    kubectl(kc, &words[1..], None);
}

const CONTROLLER_YAML_OBJECTS: &[&str] = &[
    "Deployment kube-system/sealed-secrets-controller [manifest]",
    "ClusterRoleBinding sealed-secrets-controller [manifest]",
    "RoleBinding kube-system/sealed-secrets-controller [manifest]",
    "RoleBinding kube-system/sealed-secrets-service-proxier [manifest]",
    "ClusterRole secrets-unsealer [manifest]",
    "Role kube-system/sealed-secrets-key-admin [manifest]",
    "Role kube-system/sealed-secrets-service-proxier [manifest]",
    "Service kube-system/sealed-secrets-controller [manifest]",
    "Service kube-system/sealed-secrets-controller-metrics [manifest]",
    "ServiceAccount kube-system/sealed-secrets-controller [manifest]",
];

fn listed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with("  ") && !l.starts_with("    ") && l.contains(" [") && l.contains("]: ")
        })
        .map(|l| l.trim().split("]: ").next().unwrap().to_owned() + "]")
        .collect()
}

fn kept_intact(kc: &Path) {
    // The SealedSecret, the key Secret and the CRD (now sealant's) are still there.
    kubectl(kc, &["get", "sealedsecret", "-n", "prod", "webapp"], None);
    kubectl(
        kc,
        &[
            "get",
            "secret",
            "-n",
            "kube-system",
            "sealed-secrets-keyx7k2p",
        ],
        None,
    );
    let crd = kubectl(
        kc,
        &["get", "crd", "sealedsecrets.bitnami.com", "-o", "json"],
        None,
    );
    let crd: serde_json::Value = serde_json::from_str(&crd).unwrap();
    assert_eq!(
        crd["spec"]["versions"],
        serde_json::to_value(sealant_api::crd()).unwrap()["spec"]["versions"],
        "the CRD is not sealant's after the printed commands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_yaml_leftovers_are_listed_and_the_printed_commands_remove_them() {
    let c = upstream_cluster("controller-yaml.yaml").await;
    let out = c.check().await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        listed(&out.stdout),
        CONTROLLER_YAML_OBJECTS,
        "{}",
        out.stdout
    );
    // Dangerous: the running controller and the two bindings to its ServiceAccount.
    assert_eq!(
        out.stdout.matches("    DANGER: ").count(),
        3,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(
        "DANGER: grants these rights to ServiceAccount kube-system/sealed-secrets-controller"
    ));
    assert!(
        out.stdout
            .contains("secrets: get,list,create,update,delete,watch")
    );
    assert!(out.stdout.contains("upstream's schema"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("key Secrets in kube-system: sealed-secrets-keyx7k2p")
    );
    assert!(out.stdout.contains("(1 SealedSecrets)"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("fullnameOverride: sealed-secrets-controller")
    );
    assert_eq!(
        commands(&out.stdout),
        [
            "kubectl delete -n kube-system deployment/sealed-secrets-controller",
            "kubectl delete clusterrolebinding/sealed-secrets-controller clusterrole/secrets-unsealer",
            "kubectl delete -n kube-system rolebinding/sealed-secrets-controller \
             rolebinding/sealed-secrets-service-proxier role/sealed-secrets-key-admin \
             role/sealed-secrets-service-proxier service/sealed-secrets-controller \
             service/sealed-secrets-controller-metrics serviceaccount/sealed-secrets-controller",
            "kubectl replace -f charts/sealant/crds/sealedsecrets.bitnami.com.yaml",
        ]
    );

    for cmd in commands(&out.stdout) {
        run_printed(&c.kc(), &cmd);
    }
    let out = c.check().await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Nothing is left of upstream's install.")
    );
    assert!(out.stdout.contains("sealant's schema"), "{}", out.stdout);
    assert!(commands(&out.stdout).is_empty());
    kept_intact(&c.kc());
}

/// A sealant Deployment (as the chart labels it) that runs as upstream's ServiceAccount name.
const SEALANT_REUSING_SA: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sealant
  namespace: kube-system
  labels:
    app.kubernetes.io/name: sealant
    app.kubernetes.io/instance: sealant
    app.kubernetes.io/part-of: sealant
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: sealant
  template:
    metadata:
      labels:
        app.kubernetes.io/name: sealant
    spec:
      serviceAccountName: sealed-secrets-controller
      containers:
        - name: controller
          image: registry.example.com/sealant-controller:0.1.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_leftovers_and_a_sealant_pod_inheriting_upstreams_rights() {
    let c = upstream_cluster("helm-release.yaml").await;
    kubectl(
        &c.kc(),
        &["apply", "--validate=false", "-f", "-"],
        Some(SEALANT_REUSING_SA),
    );
    let out = c.check().await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let mut got = listed(&out.stdout);
    got.sort();
    let mut want: Vec<String> = [
        "Deployment kube-system/sealed-secrets-controller",
        "ClusterRoleBinding sealed-secrets-controller",
        "RoleBinding kube-system/sealed-secrets-controller-key-admin",
        "RoleBinding kube-system/sealed-secrets-controller-service-proxier",
        "ClusterRole secrets-unsealer",
        "Role kube-system/sealed-secrets-controller-key-admin",
        "Role kube-system/sealed-secrets-controller-service-proxier",
        "Service kube-system/sealed-secrets-controller",
        "Service kube-system/sealed-secrets-controller-metrics",
        "ServiceAccount kube-system/sealed-secrets-controller",
    ]
    .iter()
    .map(|o| format!("{o} [Helm release kube-system/sealed-secrets]"))
    .collect();
    want.sort();
    assert_eq!(got, want, "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("    DANGER: ").count(),
        3,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "which sealant's Deployment kube-system/sealant runs as: sealant has upstream's wider rights"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        commands(&out.stdout),
        [
            "helm uninstall sealed-secrets -n kube-system",
            "kubectl replace -f charts/sealant/crds/sealedsecrets.bitnami.com.yaml",
        ]
    );

    // `helm uninstall` (no helm binary in the tests) deletes every object of the release, all
    // labelled with its instance; the same deletion with kubectl stands in for it.
    let kc = c.kc();
    let sel = "app.kubernetes.io/instance=sealed-secrets";
    kubectl(
        &kc,
        &[
            "delete",
            "-n",
            "kube-system",
            "deployment,service,serviceaccount,role,rolebinding",
            "-l",
            sel,
        ],
        None,
    );
    kubectl(
        &kc,
        &["delete", "clusterrole,clusterrolebinding", "-l", sel],
        None,
    );
    for cmd in commands(&out.stdout)
        .iter()
        .filter(|c| c.starts_with("kubectl "))
    {
        run_printed(&kc, cmd);
    }
    let out = c.check().await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Nothing is left of upstream's install.")
    );
    kept_intact(&kc);
}
