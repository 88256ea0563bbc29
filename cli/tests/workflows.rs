//! `set`/`unset`, multi-cluster `seal --out-dir`, `guard` and the `kubeseal` front end, through
//! the real binary.
#![allow(clippy::unwrap_used)] // test helpers may panic

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::common::*;
use serde_json::Value;

const KEY_2048: &str = "key-2048-pkcs8.pem";
const CERT_2048: &str = "cert-2048.pem";
const KEY_4096: &str = "key-4096.pem";
const CERT_4096: &str = "cert-4096.pem";

/// Seals `input` with the 2048-bit vector certificate into `name` (YAML) and returns its text.
fn seal_to(w: &Workdir, input: &str, name: &str) -> String {
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(vector(CERT_2048))
        .arg("-w")
        .arg(w.path(name))
        .write_stdin(input.to_owned())
        .assert()
        .success();
    w.read(name)
}

/// `sealant unseal` with one vector key; the data items of every Secret, decoded, by
/// `namespace/name`.
fn unseal_items(key: &str, file: &Path) -> serde_json::Map<String, Value> {
    use base64::Engine as _;
    let out = sealant()
        .args(["unseal", "-o", "json", "--key"])
        .arg(vector(key))
        .arg("-f")
        .arg(file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut all = serde_json::Map::new();
    for v in serde_json::Deserializer::from_slice(&out).into_iter::<Value>() {
        let v = v.unwrap();
        let id = format!(
            "{}/{}",
            v["metadata"]["namespace"].as_str().unwrap_or_default(),
            v["metadata"]["name"].as_str().unwrap()
        );
        let mut items = serde_json::Map::new();
        for (k, b64) in v["data"].as_object().cloned().unwrap_or_default() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().unwrap())
                .unwrap();
            items.insert(k, Value::String(String::from_utf8(bytes).unwrap()));
        }
        all.insert(id, Value::Object(items));
    }
    all
}

/// Lines of `new` that are not in `old` and lines of `old` not in `new` (a crude diff).
fn changed_lines(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let added = new
        .lines()
        .filter(|l| !old.lines().any(|o| o == *l))
        .map(str::to_owned)
        .collect();
    let removed = old
        .lines()
        .filter(|l| !new.lines().any(|n| n == *l))
        .map(str::to_owned)
        .collect();
    (added, removed)
}

fn line_with<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

// ---------------------------------------------------------------- set / unset

/// `sealant set --cert <vector cert> FILE`, to be completed with the key and value source.
fn set_with(cert: &str, file: impl AsRef<std::path::Path>) -> assert_cmd::Command {
    let mut cmd = sealant();
    cmd.arg("set")
        .arg("--cert")
        .arg(vector(cert))
        .arg(file.as_ref());
    cmd
}

#[test]
fn set_replaces_one_line_and_keeps_other_ciphertext() {
    let w = Workdir::new();
    let before = seal_to(
        &w,
        &secret_yaml(
            Some("prod"),
            "db",
            &[("password", "hunter2"), ("user", "admin")],
        ),
        "ss.yaml",
    );
    let assert = set_with(CERT_2048, w.path("ss.yaml"))
        .args(["password", "--value-stdin"])
        .write_stdin("n3w-s3cr3t-value")
        .assert()
        .success();
    let out = assert.get_output();
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("replaced item \"password\""), "{stderr}");
    assert!(!stderr.contains("n3w-s3cr3t-value"));

    let after = w.read("ss.yaml");
    let (added, removed) = changed_lines(&before, &after);
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(added[0].starts_with("    password: "), "{added:?}");
    assert_eq!(line_with(&before, "user:"), line_with(&after, "user:"));
    assert!(!after.contains("n3w-s3cr3t-value"));

    let items = unseal_items(KEY_2048, &w.path("ss.yaml"));
    assert_eq!(items["prod/db"]["password"], "n3w-s3cr3t-value");
    assert_eq!(items["prod/db"]["user"], "admin");
}

#[test]
fn set_in_a_stream_touches_only_the_selected_document() {
    let w = Workdir::new();
    let sealed_a = seal_to(&w, &secret_yaml(Some("prod"), "a", &[("x", "1")]), "a.yaml");
    let sealed_b = seal_to(
        &w,
        &secret_yaml(Some("prod"), "b", &[("alpha", "2"), ("zeta", "3")]),
        "b.yaml",
    );
    let stream = format!(
        "# header comment\n{sealed_a}---\n# a ConfigMap\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata: {{k: v}}\n{}",
        sealed_b.replace("    zeta:", "    # keep me\n    zeta:")
    );
    w.write("all.yaml", &stream);

    // Two SealedSecrets: a selector is needed.
    let line = assert_input_error(
        set_with(CERT_2048, w.path("all.yaml"))
            .args(["mid", "--from-file"])
            .arg(w.cert())
            .assert(),
        &["all.yaml", "2 SealedSecrets", "--name"],
    );
    assert!(!line.contains("BEGIN"));
    assert_eq!(w.read("all.yaml"), stream);

    w.write("v.txt", "middle");
    set_with(CERT_2048, w.path("all.yaml"))
        .args(["mid", "--name", "b", "-n", "prod", "--from-file"])
        .arg(w.path("v.txt"))
        .assert()
        .success();
    let after = w.read("all.yaml");
    let (added, removed) = changed_lines(&stream, &after);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added.len(), 1, "{added:?}");
    // Inserted in key order, before the comment that belongs to zeta.
    let lines: Vec<&str> = after.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("    mid: "))
        .unwrap();
    assert!(lines[at - 1].starts_with("    alpha: "), "{after}");
    assert_eq!(lines[at + 1], "    # keep me");
    // The first document and the ConfigMap are byte-identical.
    assert!(after.starts_with(&format!("# header comment\n{sealed_a}---\n# a ConfigMap\n")));

    // `unseal` takes only SealedSecrets: drop the ConfigMap.
    w.write(
        "sealed-only.yaml",
        after.replace(
            "---\n# a ConfigMap\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n",
            "",
        ),
    );
    let items = unseal_items(KEY_2048, &w.path("sealed-only.yaml"));
    assert_eq!(items["prod/b"]["mid"], "middle");
    assert_eq!(items["prod/b"]["zeta"], "3");
    assert_eq!(items["prod/a"]["x"], "1");
}

#[test]
fn set_with_a_new_key_adds_only_annotation_lines() {
    let w = Workdir::new();
    let before = seal_to(
        &w,
        &secret_yaml(Some("prod"), "db", &[("a", "1")]),
        "ss.yaml",
    );
    // As written by upstream kubeseal: no sealant annotations at all.
    let upstream: String = before
        .lines()
        .filter(|l| !l.contains("sealant.dev/") && l.trim() != "annotations:")
        .map(|l| format!("{l}\n"))
        .collect();
    w.write("ss.yaml", &upstream);
    set_with(CERT_4096, w.path("ss.yaml"))
        .args(["b", "--value-stdin"])
        .write_stdin("two")
        .assert()
        .success();
    let after = w.read("ss.yaml");
    let (added, removed) = changed_lines(&upstream, &after);
    assert!(removed.is_empty(), "{removed:?}");
    assert!(added.iter().any(|l| l.starts_with("    b: ")), "{added:?}");
    assert!(
        added.iter().any(|l| l.trim() == "annotations:"),
        "{added:?}"
    );
    assert!(
        added
            .iter()
            .any(|l| l.trim_start().starts_with("sealant.dev/key-ids: ")),
        "{added:?}"
    );
    // Items sealed with different keys: each opens with its own key.
    let out = sealant()
        .args(["unseal", "-o", "json", "--key"])
        .arg(vector(KEY_2048))
        .arg("--key")
        .arg(vector(KEY_4096))
        .arg("-f")
        .arg(w.path("ss.yaml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["data"]["a"], "MQ==");
    assert_eq!(v["data"]["b"], "dHdv");
}

#[test]
fn set_on_flow_style_and_json_keeps_other_values() {
    let w = Workdir::new();
    let yaml = seal_to(
        &w,
        &secret_yaml(Some("prod"), "db", &[("a", "1"), ("b", "2")]),
        "ss.yaml",
    );
    let a_value = line_with(&yaml, "a:")
        .trim()
        .trim_start_matches("a: ")
        .to_owned();
    let b_value = line_with(&yaml, "b:")
        .trim()
        .trim_start_matches("b: ")
        .to_owned();
    // Flow style: re-rendered, but b keeps its ciphertext.
    let flow = yaml.replace(
        &format!("    a: {a_value}\n    b: {b_value}\n"),
        &format!("    {{a: {a_value}, b: {b_value}}}\n"),
    );
    let flow = flow.replace("encryptedData:\n    {", "encryptedData: {");
    w.write("flow.yaml", &flow);
    set_with(CERT_2048, w.path("flow.yaml"))
        .args(["a", "--value-stdin"])
        .write_stdin("uno")
        .assert()
        .success();
    let after = w.read("flow.yaml");
    assert!(after.contains(&format!("b: {b_value}")), "{after}");
    assert!(!after.contains(&a_value));
    assert_eq!(
        unseal_items(KEY_2048, &w.path("flow.yaml"))["prod/db"]["a"],
        "uno"
    );

    // JSON stays JSON.
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(vector(CERT_2048))
        .arg("-w")
        .arg(w.path("ss.json"))
        .write_stdin(secret_yaml(Some("prod"), "db", &[("a", "1"), ("b", "2")]))
        .assert()
        .success();
    let before: Value = serde_json::from_str(&w.read("ss.json")).unwrap();
    sealant()
        .args(["unset"])
        .arg(w.path("ss.json"))
        .arg("a")
        .assert()
        .success();
    let after: Value = serde_json::from_str(&w.read("ss.json")).unwrap();
    assert_eq!(
        after["spec"]["encryptedData"]["b"],
        before["spec"]["encryptedData"]["b"]
    );
    assert!(after["spec"]["encryptedData"].get("a").is_none());
}

#[test]
fn unset_removes_one_line_and_refuses_missing_keys() {
    let w = Workdir::new();
    let before = seal_to(
        &w,
        &secret_yaml(Some("prod"), "db", &[("a", "1"), ("b", "2")]),
        "ss.yaml",
    );
    assert_input_error(
        sealant()
            .args(["unset"])
            .arg(w.path("ss.yaml"))
            .arg("nope")
            .assert(),
        &["ss.yaml", "prod/db", "\"nope\"", "items: a, b"],
    );
    assert_eq!(w.read("ss.yaml"), before);

    sealant()
        .args(["unset"])
        .arg(w.path("ss.yaml"))
        .arg("a")
        .assert()
        .success();
    let after = w.read("ss.yaml");
    let (added, removed) = changed_lines(&before, &after);
    assert!(added.is_empty(), "{added:?}");
    assert_eq!(removed.len(), 1);
    assert!(removed[0].starts_with("    a: "));

    // The last item: an empty mapping, still a valid SealedSecret.
    sealant()
        .args(["unset"])
        .arg(w.path("ss.yaml"))
        .arg("b")
        .assert()
        .success();
    assert!(w.read("ss.yaml").contains("  encryptedData: {}\n"));
    sealant()
        .args(["unset"])
        .arg(w.path("ss.yaml"))
        .arg("b")
        .assert()
        .failure();
}

#[test]
fn set_errors_leave_the_file_untouched() {
    let w = Workdir::new();
    let before = seal_to(
        &w,
        &secret_yaml(Some("prod"), "db", &[("a", "1")]),
        "ss.yaml",
    );
    let set = |key: &str, stdin: &str, extra: &[&str]| {
        set_with(CERT_2048, w.path("ss.yaml"))
            .arg(key)
            .arg("--value-stdin")
            .args(extra)
            .write_stdin(stdin.to_owned())
            .assert()
    };
    assert_input_error(
        set("b", "", &[]),
        &["<stdin>", "empty", "--allow-empty-data"],
    );
    assert_input_error(set("bad/key", "x", &[]), &["bad/key", "not a valid"]);
    assert_input_error(
        set("b", "x", &["--name", "other"]),
        &["ss.yaml", "no SealedSecret named \"other\""],
    );
    assert_eq!(w.read("ss.yaml"), before);
    // A Secret is not a SealedSecret.
    w.write("plain.yaml", secret_yaml(Some("prod"), "db", &[("a", "1")]));
    assert_input_error(
        set_with(CERT_2048, w.path("plain.yaml"))
            .args(["b", "--value-stdin"])
            .write_stdin("x")
            .assert(),
        &["plain.yaml", "no SealedSecret"],
    );
    // Neither --from-file nor --value-stdin: usage error.
    sealant()
        .arg("set")
        .arg(w.path("ss.yaml"))
        .arg("b")
        .assert()
        .code(2);
    // Empty value allowed on request.
    set("b", "", &["--allow-empty-data"]).success();
    assert_eq!(
        unseal_items(KEY_2048, &w.path("ss.yaml"))["prod/db"]["b"],
        ""
    );
}

#[test]
fn set_keeps_crlf_line_endings_and_names_a_missing_value_file() {
    let w = Workdir::new();
    let lf = seal_to(
        &w,
        &secret_yaml(Some("prod"), "db", &[("a", "1")]),
        "lf.yaml",
    );
    let crlf = lf.replace('\n', "\r\n");
    w.write("ss.yaml", &crlf);
    assert_input_error(
        set_with(CERT_2048, w.path("ss.yaml"))
            .args(["b", "--from-file"])
            .arg(w.path("missing.txt"))
            .assert(),
        &["missing.txt", "cannot open"],
    );
    assert_eq!(w.read("ss.yaml"), crlf);
    w.write("b.txt", "bee");
    set_with(CERT_2048, w.path("ss.yaml"))
        .args(["b", "--from-file"])
        .arg(w.path("b.txt"))
        .assert()
        .success();
    let after = w.read("ss.yaml");
    assert_eq!(after.matches('\n').count(), crlf.matches('\n').count() + 1);
    assert_eq!(
        after.matches("\r\n").count(),
        after.matches('\n').count(),
        "{after:?}"
    );
    assert!(after.contains(line_with(&crlf, "a:")));
    assert_eq!(
        unseal_items(KEY_2048, &w.path("ss.yaml"))["prod/db"]["b"],
        "bee"
    );
}

// ---------------------------------------------------------------- multi-cluster

#[test]
fn multi_cluster_outputs_open_only_with_their_cluster_key() {
    let w = Workdir::new();
    std::fs::copy(vector(CERT_2048), w.path("east.pem")).unwrap();
    std::fs::copy(vector(CERT_4096), w.path("west.pem")).unwrap();
    let input = format!(
        "{}---\n{}",
        secret_yaml(Some("prod"), "db", &[("password", "hunter2")]),
        secret_yaml(Some("dev"), "api", &[("token", "t0k3n")])
    );
    w.write("in.yaml", &input);
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.path("east.pem"))
        .arg("--cert")
        .arg(w.path("west.pem"))
        .arg("-f")
        .arg(w.path("in.yaml"))
        .arg("--out-dir")
        .arg(w.path("out"))
        .assert()
        .success()
        .stdout("");
    let mut files: Vec<String> = walk(&w.path("out"));
    files.sort();
    assert_eq!(
        files,
        [
            "east/dev-api.yaml",
            "east/prod-db.yaml",
            "west/dev-api.yaml",
            "west/prod-db.yaml"
        ]
    );
    for (cluster, key, other) in [("east", KEY_2048, KEY_4096), ("west", KEY_4096, KEY_2048)] {
        let file = w.path(&format!("out/{cluster}/prod-db.yaml"));
        assert_eq!(unseal_items(key, &file)["prod/db"]["password"], "hunter2");
        sealant()
            .args(["unseal", "--key"])
            .arg(vector(other))
            .arg("-f")
            .arg(&file)
            .assert()
            .failure();
    }

    // Independent check (Python `cryptography`) of JSON outputs, one file per cluster.
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.path("east.pem"))
        .arg("--cert")
        .arg(w.path("west.pem"))
        .arg("-f")
        .arg(w.path("in.yaml"))
        .args(["-o", "json", "--out-template", "{keyid}.{ext}", "--out-dir"])
        .arg(w.path("json"))
        .assert()
        .success();
    let mut names = walk(&w.path("json"));
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    if python_ok() {
        for (name, key) in names.iter().zip([KEY_2048, KEY_4096]) {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/open_sealed.py");
            let run = |key: &str| {
                StdCommand::new("python3")
                    .arg(&script)
                    .arg(vector(key))
                    .arg(w.path(&format!("json/{name}")))
                    .output()
                    .unwrap()
            };
            // Key ids sort in an unknown order: whichever key opens it, the other must not.
            let (good, bad) = if run(key).status.success() {
                (
                    run(key),
                    run(if key == KEY_2048 { KEY_4096 } else { KEY_2048 }),
                )
            } else {
                (
                    run(if key == KEY_2048 { KEY_4096 } else { KEY_2048 }),
                    run(key),
                )
            };
            assert!(good.status.success());
            assert!(!bad.status.success());
            let opened: Value = serde_json::from_slice(&good.stdout).unwrap();
            assert_eq!(opened["prod/db"]["password"], "aHVudGVyMg==");
            assert_eq!(opened["dev/api"]["token"], "dDBrM24=");
        }
    }
}

fn python_ok() -> bool {
    StdCommand::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Files under `dir`, relative, with `/` separators.
fn walk(dir: &Path) -> Vec<String> {
    fn go(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        go(dir, dir, &mut out);
    }
    out
}

#[test]
fn multi_cluster_is_all_or_nothing() {
    let w = Workdir::new();
    std::fs::copy(vector(CERT_2048), w.path("east.pem")).unwrap();
    w.write("west.pem", "not a certificate");
    w.write("in.yaml", secret_yaml(Some("prod"), "db", &[("a", "1")]));
    let seal = |certs: &[PathBuf], input: &str| {
        let mut cmd = sealant();
        cmd.arg("seal");
        for c in certs {
            cmd.arg("--cert").arg(c);
        }
        cmd.arg("-f")
            .arg(w.path(input))
            .arg("--out-dir")
            .arg(w.path("out"))
            .assert()
    };
    assert_input_error(
        seal(&[w.path("east.pem"), w.path("west.pem")], "in.yaml"),
        &["west.pem"],
    );
    assert!(!w.path("out").exists());
    // The second object fails: nothing is written for the first either.
    w.write(
        "two.yaml",
        format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{namespace: prod}}\ndata: {{a: MQ==}}\n",
            secret_yaml(Some("prod"), "db", &[("a", "1")])
        ),
    );
    std::fs::copy(vector(CERT_4096), w.path("west.pem")).unwrap();
    assert_input_error(
        seal(&[w.path("east.pem"), w.path("west.pem")], "two.yaml"),
        &["two.yaml", "document 2"],
    );
    assert!(!w.path("out").exists());
    // Several --cert without --out-dir, unknown placeholder, escaping template.
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.path("east.pem"))
            .arg("--cert")
            .arg(w.path("west.pem"))
            .arg("-f")
            .arg(w.path("in.yaml"))
            .assert(),
        &["--out-dir"],
    );
    for (template, fragment) in [
        ("{region}.yaml", "unknown placeholder"),
        ("../{name}.yaml", "inside --out-dir"),
    ] {
        assert_input_error(
            sealant()
                .arg("seal")
                .arg("--cert")
                .arg(w.path("east.pem"))
                .arg("-f")
                .arg(w.path("in.yaml"))
                .arg("--out-dir")
                .arg(w.path("out"))
                .args(["--out-template", template])
                .assert(),
            &[fragment],
        );
    }
    assert!(!w.path("out").exists());
    // Success with one cert works too, and files for the same path are one stream.
    seal(&[w.path("east.pem")], "in.yaml").success();
    assert_eq!(walk(&w.path("out")), ["east/prod-db.yaml"]);
}

// ---------------------------------------------------------------- guard

const PLAIN: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: hunter2-plaintext\n  user: admin\n";

fn guard_in(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    sealant().current_dir(dir).arg("guard").args(args).assert()
}

#[test]
fn guard_finds_plaintext_secrets_with_lines_and_never_values() {
    let w = Workdir::new();
    let root = w.path("repo");
    for d in [
        "repo/deploy",
        "repo/node_modules/x",
        "repo/target",
        "repo/.git",
    ] {
        std::fs::create_dir_all(w.path(d)).unwrap();
    }
    // Multi-document: a ConfigMap, then the Secret (its `kind` line is line 8).
    w.write(
        "repo/deploy/app.yaml",
        format!("# app\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{k: v}}\n---\n{PLAIN}"),
    );
    // A List: items at lines 4 and 9; an empty Secret is fine.
    w.write(
        "repo/deploy/list.yml",
        "apiVersion: v1\nkind: List\nitems:\n- kind: Secret\n  apiVersion: v1\n  metadata: {name: a, namespace: ns}\n  data: {tok: c2VjcmV0LXZhbHVl}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n  stringData: {k: another-plaintext}\n- kind: Secret\n  metadata: {name: empty}\n",
    );
    // JSON, the second object's `kind` at line 5.
    w.write(
        "repo/deploy/s.json",
        "{\"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}\n\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\",\n  \"metadata\": {\"name\": \"j\"},\n  \"data\": {\"x\": \"anNvbi1wbGFpbnRleHQ=\"}\n}\n",
    );
    // kustomize secretGenerator literals.
    w.write(
        "repo/kustomization.yaml",
        "resources: [deploy/app.yaml]\nsecretGenerator:\n- name: gen\n  literals:\n  - api-key=kustomize-plaintext\n",
    );
    // Sealed, skipped, binary and template files are fine.
    w.write("repo/deploy/sealed.yaml", seal_to(&w, PLAIN, "sealed.yaml"));
    w.write("repo/node_modules/x/s.yaml", PLAIN);
    w.write("repo/target/s.yaml", PLAIN);
    w.write("repo/.git/s.yaml", PLAIN);
    let mut binary = PLAIN.as_bytes().to_vec();
    binary.push(0);
    w.write("repo/deploy/bin.yaml", binary);
    w.write("repo/notes.txt", PLAIN);

    let assert = guard_in(&root, &[]).code(1);
    let out = assert.get_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "deploy/app.yaml:8: prod/db (keys: password, user)",
            "deploy/list.yml:4: ns/a (keys: tok)",
            "deploy/list.yml:9: b (keys: k)",
            "deploy/s.json:5: j (keys: x)",
            "kustomization.yaml:3: secretGenerator gen (keys: api-key)",
        ],
        "{stdout}"
    );
    assert!(
        stderr.contains("error: 5 plaintext Secret(s) found"),
        "{stderr}"
    );
    for value in [
        "hunter2",
        "secret-value",
        "another-plaintext",
        "json-plaintext",
        "kustomize-plaintext",
        "c2VjcmV0",
    ] {
        assert!(
            !stdout.contains(value) && !stderr.contains(value),
            "{value} printed"
        );
    }
    // An explicit file is checked whatever its name; a clean path passes.
    guard_in(&root, &["notes.txt"]).code(1);
    guard_in(&root, &["deploy/sealed.yaml", "deploy/bin.yaml"]).success();
}

fn git(dir: &Path, args: &[&str]) {
    let out = StdCommand::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn guard_staged_checks_the_index_not_the_working_tree() {
    let w = Workdir::new();
    let repo = w.path("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    // Staged plaintext, working tree cleaned afterwards: still fails.
    w.write("repo/s.yaml", PLAIN);
    git(&repo, &["add", "s.yaml"]);
    w.write("repo/s.yaml", "kind: ConfigMap\n");
    let assert = guard_in(&repo, &["--staged"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(stdout, "s.yaml:2: prod/db (keys: password, user)\n");
    // Staged clean, working tree dirty: passes (and plain `guard` sees the working tree).
    w.write("repo/s.yaml", "kind: ConfigMap\n");
    git(&repo, &["add", "s.yaml"]);
    w.write("repo/s.yaml", PLAIN);
    guard_in(&repo, &["--staged"]).success();
    guard_in(&repo, &[]).code(1);
    // Outside a repository: a clear error.
    let outside = tempfile::tempdir().unwrap();
    assert_input_error(
        sealant()
            .current_dir(outside.path())
            .env("GIT_CEILING_DIRECTORIES", outside.path().parent().unwrap())
            .args(["guard", "--staged"])
            .assert(),
        &["git rev-parse"],
    );
}

const GENERATOR: &str = "secretGenerator:\n- name: db\n  envs: [db.env]\n  files:\n  - tls.key\n  - ca=certs/ca.pem\n  - missing.txt\n";
const ENV_FILE: &str = "# database\nUSER=admin\nPASSWORD=env-plaintext\n";

#[test]
fn guard_reports_generator_files_a_commit_would_carry() {
    let w = Workdir::new();
    let repo = w.path("repo");
    std::fs::create_dir_all(w.path("repo/app/certs")).unwrap();
    git(&repo, &["init", "-q"]);
    w.write("repo/app/kustomization.yaml", GENERATOR);
    w.write("repo/app/db.env", ENV_FILE);
    w.write("repo/app/tls.key", "key-plaintext");
    w.write("repo/app/certs/ca.pem", "ca-plaintext");
    // Ignored files are not committed: only the others are reported.
    w.write("repo/.gitignore", "*.env\n");
    let assert = guard_in(&repo, &[]).code(1);
    let out = assert.get_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout,
        "app/kustomization.yaml:2: secretGenerator db reads app/tls.key (keys: tls.key)\n\
         app/kustomization.yaml:2: secretGenerator db reads app/certs/ca.pem (keys: ca)\n",
        "{stderr}"
    );
    assert!(stderr.contains(".gitignore them"), "{stderr}");
    // Not ignored any more: the env file is reported with its keys, never its values.
    w.write("repo/.gitignore", "tls.key\ncerts/\n");
    let assert = guard_in(&repo, &["app"]).code(1);
    let out = assert.get_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "app/kustomization.yaml:2: secretGenerator db reads app/db.env (keys: PASSWORD, USER)\n"
    );
    for value in ["env-plaintext", "key-plaintext", "ca-plaintext", "admin"] {
        assert!(!stdout.contains(value), "{value} printed");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains(value),
            "{value} printed"
        );
    }
    // A tracked file counts even when a rule would ignore it.
    git(&repo, &["add", "-f", "app/tls.key"]);
    let assert = guard_in(&repo, &["app/kustomization.yaml"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("reads app/tls.key (keys: tls.key)"),
        "{stdout}"
    );
}

#[test]
fn guard_staged_reports_generator_files_in_the_index() {
    let w = Workdir::new();
    let repo = w.path("repo");
    std::fs::create_dir_all(w.path("repo/app")).unwrap();
    git(&repo, &["init", "-q"]);
    w.write("repo/app/kustomization.yaml", GENERATOR);
    w.write("repo/app/db.env", ENV_FILE);
    // The kustomization is staged, its files are not: nothing leaves the machine.
    git(&repo, &["add", "app/kustomization.yaml"]);
    guard_in(&repo, &["--staged"]).success();
    git(&repo, &["commit", "-q", "-m", "k"]);
    // Staging the env file alone is caught through the committed kustomization.
    git(&repo, &["add", "app/db.env"]);
    let assert = guard_in(&repo, &["--staged"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(
        stdout,
        "app/kustomization.yaml:2: secretGenerator db reads app/db.env (keys: PASSWORD, USER)\n"
    );
    // From a subdirectory, with a path leading out of the kustomization's directory.
    git(&repo, &["commit", "-q", "-m", "leak"]);
    std::fs::create_dir(w.path("repo/app/prod")).unwrap();
    w.write(
        "repo/app/prod/kustomization.yaml",
        "secretGenerator:\n- name: p\n  envs: [../db.env]\n",
    );
    git(&repo, &["add", "app/prod/kustomization.yaml"]);
    let assert = sealant()
        .current_dir(w.path("repo/app"))
        .args(["guard", "--staged"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(
        stdout,
        "app/prod/kustomization.yaml:2: secretGenerator p reads app/db.env (keys: PASSWORD, USER)\n"
    );
}

#[test]
fn guard_staged_reports_files_read_by_an_untracked_kustomization() {
    let w = Workdir::new();
    let repo = w.path("repo");
    std::fs::create_dir_all(w.path("repo/app")).unwrap();
    git(&repo, &["init", "-q"]);
    // The kustomization exists only in the working tree; only the env file it reads is staged.
    w.write("repo/app/kustomization.yaml", GENERATOR);
    w.write("repo/app/db.env", ENV_FILE);
    git(&repo, &["add", "app/db.env"]);
    let assert = guard_in(&repo, &["--staged"]).code(1);
    let out = assert.get_output();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        stdout,
        "app/kustomization.yaml:2: secretGenerator db reads app/db.env (keys: PASSWORD, USER)\n"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("env-plaintext"));
    // Also when git ignores the kustomization, and for a tracked one edited in the working tree.
    w.write("repo/.gitignore", "kustomization.yaml\n");
    guard_in(&repo, &["--staged"]).code(1);
    std::fs::remove_file(w.path("repo/.gitignore")).unwrap();
    w.write("repo/app/kustomization.yaml", "resources: []\n");
    git(&repo, &["rm", "-q", "--cached", "app/db.env"]);
    git(&repo, &["add", "app/kustomization.yaml"]);
    git(&repo, &["commit", "-q", "-m", "k"]);
    w.write("repo/app/kustomization.yaml", GENERATOR);
    git(&repo, &["add", "app/db.env"]);
    guard_in(&repo, &["--staged"]).code(1);
    // A staged file no generator reads passes.
    git(&repo, &["rm", "-q", "--cached", "app/db.env"]);
    w.write("repo/notes.txt", "hello");
    git(&repo, &["add", "notes.txt"]);
    guard_in(&repo, &["--staged"]).success();
}

#[test]
fn guard_install_writes_a_hook_that_blocks_commits() {
    let w = Workdir::new();
    let repo = w.path("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    assert_input_error(guard_in(&repo, &["install"]), &["pre-commit", "--force"]);
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    guard_in(&repo, &["install", "--force"]).success();
    // Re-installing over our own hook needs no --force.
    guard_in(&repo, &["install"]).success();
    let script = std::fs::read_to_string(&hook).unwrap();
    assert!(script.contains("guard --staged"), "{script}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111,
            0o111
        );
        w.write("repo/s.yaml", PLAIN);
        git(&repo, &["add", "s.yaml"]);
        let out = StdCommand::new("git")
            .current_dir(&repo)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-q",
                "-m",
                "x",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "the hook must block the commit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("plaintext Secret"), "{stderr}");
        w.write("repo/s.yaml", "kind: ConfigMap\n");
        git(&repo, &["add", "s.yaml"]);
        git(&repo, &["commit", "-q", "-m", "clean"]);
    }
}

// ---------------------------------------------------------------- kubeseal

/// Replaces every encryptedData value by "X", and parses concatenated JSON.
fn masked(json: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(json)
        .into_iter::<Value>()
        .map(|v| {
            let mut v = v.unwrap();
            if let Some(map) = v["spec"]["encryptedData"].as_object_mut() {
                for value in map.values_mut() {
                    *value = Value::String("X".into());
                }
            }
            v
        })
        .collect()
}

#[cfg(unix)]
fn kubeseal_link(w: &Workdir) -> PathBuf {
    let link = w.path("kubeseal");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sealant"), &link).unwrap();
    link
}

#[cfg(unix)]
#[test]
fn kubeseal_symlink_defaults_to_json_like_sealant_seal() {
    let w = Workdir::new();
    let link = kubeseal_link(&w);
    let input = format!(
        "{}---\n{}",
        secret_yaml(Some("prod"), "db", &[("a", "1")]),
        secret_yaml(None, "api", &[("t", "2")])
    );
    let kubeseal = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::new(&link);
        cmd.env_remove("SEALED_SECRETS_CERT")
            .env_remove("SEALANT_CERT");
        cmd.arg("--cert").arg(vector(CERT_2048)).args(args);
        cmd
    };
    let ks = kubeseal(&["--scope", "namespace-wide"])
        .write_stdin(input.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let ours = sealant()
        .args(["seal", "-o", "json", "--scope", "namespace-wide", "--cert"])
        .arg(vector(CERT_2048))
        .write_stdin(input.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(ks.starts_with(b"{"));
    assert_eq!(masked(&ks), masked(&ours));
    assert_eq!(masked(&ks).len(), 2);

    // The same through `sealant kubeseal`, with -f and -n.
    w.write("in.yaml", secret_yaml(None, "db", &[("a", "1")]));
    let sub = sealant()
        .args(["kubeseal", "-n", "prod", "-f"])
        .arg(w.path("in.yaml"))
        .arg("--cert")
        .arg(vector(CERT_2048))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = masked(&sub);
    assert_eq!(v[0]["metadata"]["namespace"], "prod");

    // -w x.yaml forces YAML even with -o json; the result unseals.
    kubeseal(&["-o", "json", "-f"])
        .arg(w.path("in.yaml"))
        .arg("-w")
        .arg(w.path("out.yaml"))
        .assert()
        .success()
        .stdout("");
    assert!(
        w.read("out.yaml")
            .starts_with("---\napiVersion: bitnami.com/v1alpha1\n")
    );
    assert_eq!(
        unseal_items(KEY_2048, &w.path("out.yaml"))["default/db"]["a"],
        "1"
    );

    // --raw with kubeseal's KEY=PATH --from-file form.
    w.write("v.txt", "raw-value");
    let raw = kubeseal(&["--raw", "-n", "prod", "--name", "db"])
        .arg("--from-file")
        .arg(format!("key={}", w.path("v.txt").display()))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(!raw.is_empty() && !raw.ends_with(b"\n"));

    // --recovery-unseal prints the Secret, JSON by default.
    let rec = assert_cmd::Command::new(&link)
        .args(["--recovery-unseal", "--recovery-private-key"])
        .arg(vector(KEY_2048))
        .arg("-f")
        .arg(w.path("out.yaml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let secret: Value = serde_json::from_slice(&rec).unwrap();
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["data"]["a"], "MQ==");

    // --fetch-cert with --cert prints the certificate.
    let pem = kubeseal(&["--fetch-cert"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(pem)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    // kubeseal's errors.
    assert_input_error(
        kubeseal(&["--from-file", "x"])
            .write_stdin(input.clone())
            .assert(),
        &["--from-file requires --raw"],
    );
    assert_input_error(
        kubeseal(&["-o", "xml"]).write_stdin(input.clone()).assert(),
        &["unsupported output format: xml"],
    );
    assert_input_error(
        kubeseal(&["--scope", "global"])
            .write_stdin(input.clone())
            .assert(),
        &["must be one of: strict, namespace-wide, cluster-wide"],
    );
    let version = assert_cmd::Command::new(&link)
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(version)
            .unwrap()
            .starts_with("kubeseal version: ")
    );
}

#[test]
fn kubeseal_merge_into_writes_json_by_default() {
    let w = Workdir::new();
    seal_to(
        &w,
        &secret_yaml(Some("prod"), "db", &[("a", "1")]),
        "ss.yaml",
    );
    let before = w.read("ss.yaml");
    let a_line = line_with(&before, "a:")
        .trim()
        .trim_start_matches("a: ")
        .to_owned();
    sealant()
        .args(["kubeseal", "--merge-into"])
        .arg(w.path("ss.yaml"))
        .arg("--cert")
        .arg(vector(CERT_2048))
        .write_stdin(secret_yaml(Some("prod"), "db", &[("b", "2")]))
        .assert()
        .success();
    let after: Value = serde_json::from_str(&w.read("ss.yaml")).unwrap();
    assert_eq!(after["spec"]["encryptedData"]["a"], Value::String(a_line));
    let items = unseal_items(KEY_2048, &w.path("ss.yaml"));
    assert_eq!(items["prod/db"]["b"], "2");
}

#[test]
fn verify_offline_fails_a_cut_value_naming_the_item() {
    let w = Workdir::new();
    let sealed = seal_to(
        &w,
        &secret_yaml(
            Some("prod"),
            "db",
            &[("password", "hunter2"), ("user", "me")],
        ),
        "db.yaml",
    );
    let value = line_with(&sealed, "password: ")
        .trim()
        .trim_start_matches("password: ")
        .to_owned();
    let cut = sealed.replace(&value, &value[..100]);
    let path = w.write("cut.yaml", &cut);
    let out = sealant()
        .args(["verify", "--cert"])
        .arg(vector(CERT_2048))
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("prod/db: FAILED: item \"password\": 75 bytes, shorter than the 274 bytes (2 + 256 + 16)"),
        "{stdout}"
    );
    assert!(stdout.contains("0 ok, 1 failed"), "{stdout}");
    // The intact file passes.
    sealant()
        .args(["verify", "--cert"])
        .arg(vector(CERT_2048))
        .arg(w.path("db.yaml"))
        .assert()
        .success();
}

#[test]
fn a_namespace_wide_secret_moved_is_told_the_truth() {
    let w = Workdir::new();
    let input = secret_yaml(Some("prod"), "db", &[("password", "hunter2")]);
    sealant()
        .args(["seal", "--scope", "namespace-wide", "--cert"])
        .arg(w.cert())
        .arg("-w")
        .arg(w.path("db.yaml"))
        .write_stdin(input)
        .assert()
        .success();
    let moved = w
        .read("db.yaml")
        .replace("namespace: prod", "namespace: staging");
    let path = w.write("moved.yaml", moved);
    for mode in [["--key", "key.pem"], ["--cert", "cert.pem"]] {
        let out = sealant()
            .current_dir(w.dir.path())
            .arg("verify")
            .args(mode)
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(
            stdout.contains("sealed for a different namespace"),
            "{mode:?}: {stdout}"
        );
        assert!(
            !stdout.contains("unless sealed namespace-wide"),
            "{mode:?}: {stdout}"
        );
        assert!(!stdout.contains("renamed or moved"), "{mode:?}: {stdout}");
    }
}

#[test]
fn kubeseal_mode_keeps_upstreams_strict_scope_and_says_so() {
    let w = Workdir::new();
    let input = secret_yaml(Some("prod"), "db", &[("k", "v")]).replace(
        "  namespace: prod\n",
        "  namespace: prod\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
    );
    let out = sealant()
        .args(["kubeseal", "--scope", "strict", "--cert"])
        .arg(w.cert())
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let sealed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        sealed["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"], "true",
        "kubeseal ignores --scope strict on an annotated input"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--scope strict does not override the input's namespace-wide annotation"),
        "{stderr}"
    );
}
