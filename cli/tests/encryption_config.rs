//! `sealant encryption-config`: generated files, every step of key rotation, validation errors.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::common::{Workdir, sealant};

/// The upstream schema of `apiserver.config.k8s.io/v1` `EncryptionConfiguration`, written down
/// from the Kubernetes documentation (and the Go types `k8s.io/apiserver/pkg/apis/apiserver/v1`):
/// decoded strictly, as the API server does, independently of sealant's own reader.
mod upstream {
    use super::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EncryptionConfiguration {
        #[serde(rename = "apiVersion")]
        pub api_version: String,
        pub kind: String,
        pub resources: Vec<ResourceConfiguration>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ResourceConfiguration {
        pub resources: Vec<String>,
        pub providers: Vec<ProviderConfiguration>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ProviderConfiguration {
        pub aesgcm: Option<KeysConfiguration>,
        pub aescbc: Option<KeysConfiguration>,
        pub secretbox: Option<KeysConfiguration>,
        pub identity: Option<IdentityConfiguration>,
        pub kms: Option<serde_json::Value>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct KeysConfiguration {
        pub keys: Vec<Key>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Key {
        pub name: String,
        pub secret: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct IdentityConfiguration {}
}

/// Reads a file with the upstream schema; returns the keys of the Secrets' first provider
/// (cipher, [(name, key bytes)]) after checking the documented invariants.
fn upstream_keys(text: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let config: upstream::EncryptionConfiguration =
        serde_saphyr::from_str(text).expect("matches the upstream schema");
    assert_eq!(config.api_version, "apiserver.config.k8s.io/v1");
    assert_eq!(config.kind, "EncryptionConfiguration");
    assert_eq!(config.resources.len(), 1);
    let entry = &config.resources[0];
    assert_eq!(entry.resources, ["secrets"]);
    assert_eq!(
        entry.providers.len(),
        2,
        "one keyed provider, then identity"
    );
    let last = entry.providers.last().expect("providers");
    assert!(last.identity.is_some(), "identity last");
    let first = &entry.providers[0];
    let set = [
        first.aesgcm.is_some(),
        first.aescbc.is_some(),
        first.secretbox.is_some(),
        first.identity.is_some(),
        first.kms.is_some(),
    ];
    assert_eq!(set.iter().filter(|s| **s).count(), 1, "one type per entry");
    let (cipher, keys) = match (&first.aescbc, &first.secretbox) {
        (Some(k), None) => ("aescbc", k),
        (None, Some(k)) => ("secretbox", k),
        _ => panic!("first provider is aescbc or secretbox"),
    };
    let keys = keys
        .keys
        .iter()
        .map(|k| {
            let bytes = STANDARD.decode(&k.secret).expect("base64");
            assert_eq!(bytes.len(), 32, "32-byte key");
            (k.name.clone(), bytes)
        })
        .collect();
    (cipher.to_owned(), keys)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn generate(dir: &Workdir, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let path = dir.path(name);
    sealant()
        .args(["encryption-config", "generate", "-o"])
        .arg(&path)
        .args(extra)
        .assert()
        .success()
        .stdout("");
    path
}

#[test]
fn generate_writes_a_private_file_with_a_fresh_key_and_prints_no_key() {
    let dir = Workdir::new();
    let path = dir.path("enc.yaml");
    let out = sealant()
        .args(["encryption-config", "generate", "-o"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    assert_eq!(mode(&path), 0o600);
    let text = dir.read("enc.yaml");
    let (cipher, keys) = upstream_keys(&text);
    assert_eq!(cipher, "secretbox", "the default");
    assert_eq!(keys.len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(&STANDARD.encode(&keys[0].1)), "{stderr}");
    assert!(stderr.contains("kubectl get secrets --all-namespaces -o json | kubectl replace -f -"));
    // No temporary file is left next to it.
    assert_eq!(dir.files(), ["cert.pem", "enc.yaml", "key.pem"]);

    let other = generate(&dir, "aescbc.yaml", &["--provider", "aescbc"]);
    let (cipher, other_keys) = upstream_keys(&std::fs::read_to_string(&other).expect("read"));
    assert_eq!(cipher, "aescbc");
    assert_ne!(other_keys[0].1, keys[0].1, "every key is fresh");
    for file in [&path, &other] {
        sealant()
            .args(["encryption-config", "validate"])
            .arg(file)
            .assert()
            .success()
            .stderr("");
    }
}

#[test]
fn generate_prints_the_key_only_when_asked_and_never_replaces_a_file_by_accident() {
    let dir = Workdir::new();
    let out = sealant()
        .args(["encryption-config", "generate", "-o", "-"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    upstream_keys(&String::from_utf8(out).expect("utf8"));

    sealant()
        .args(["encryption-config", "generate"])
        .assert()
        .code(2);

    let path = dir.write("enc.yaml", "keep me");
    let err = sealant()
        .args(["encryption-config", "generate", "-o"])
        .arg(&path)
        .assert()
        .code(1);
    crate::common::assert_input_error(err, &["enc.yaml", "already exists", "--force"]);
    assert_eq!(dir.read("enc.yaml"), "keep me");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    generate(&dir, "enc.yaml", &["--force"]);
    assert_eq!(mode(&path), 0o600, "a replaced file gets 0600 too");
    upstream_keys(&dir.read("enc.yaml"));

    let missing = dir.path("no/such/dir/enc.yaml");
    let err = sealant()
        .args(["encryption-config", "generate", "-o"])
        .arg(&missing)
        .assert();
    crate::common::assert_input_error(err, &["no/such/dir/enc.yaml"]);
    assert!(!dir.path("no").exists());
}

fn rotate(config: &Path, out: Option<&Path>) -> (String, String) {
    let mut cmd = sealant();
    cmd.args(["encryption-config", "rotate", "--config"])
        .arg(config);
    if let Some(out) = out {
        cmd.arg("-o").arg(out);
    }
    let output = cmd.assert().success().get_output().clone();
    (
        String::from_utf8(output.stdout).expect("utf8"),
        String::from_utf8(output.stderr).expect("utf8"),
    )
}

#[test]
fn rotate_walks_through_every_step_of_the_documented_procedure() {
    let dir = Workdir::new();
    let path = generate(&dir, "enc.yaml", &[]);
    let (_, start) = upstream_keys(&dir.read("enc.yaml"));
    let (old_name, old_key) = start[0].clone();

    // Told, not written, without -o; no key on stdout.
    let before = dir.read("enc.yaml");
    let (report, _) = rotate(&path, None);
    assert!(
        report.contains("Step 1 of 5 is next: add a new key second"),
        "{report}"
    );
    assert!(report.contains("-o FILE"), "{report}");
    assert!(!report.contains(&STANDARD.encode(&old_key)));
    assert_eq!(dir.read("enc.yaml"), before);

    // Step 1: a new key second.
    let (report, _) = rotate(&path, Some(&path));
    assert!(report.contains("written to"), "{report}");
    let (_, keys) = upstream_keys(&dir.read("enc.yaml"));
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys[0],
        (old_name.clone(), old_key.clone()),
        "the old key stays first"
    );
    let (new_name, new_key) = keys[1].clone();
    assert_ne!(new_key, old_key);
    assert!(new_name > old_name, "{new_name} sorts after {old_name}");
    assert_eq!(mode(&path), 0o600);
    assert!(!report.contains(&STANDARD.encode(&new_key)));

    // Steps 2-3: the new key moves first.
    let (report, _) = rotate(&path, Some(&path));
    assert!(report.contains("step 1 is done"), "{report}");
    assert!(report.contains("restart every API server"), "{report}");
    assert!(
        report.contains("Step 3 is next: move the new key first"),
        "{report}"
    );
    let (_, keys) = upstream_keys(&dir.read("enc.yaml"));
    assert_eq!(
        keys,
        [
            (new_name.clone(), new_key.clone()),
            (old_name.clone(), old_key.clone())
        ]
    );

    // Steps 4-5: the exact kubectl rewrite, then the old key goes.
    let next = dir.path("final.yaml");
    let (report, _) = rotate(&path, Some(&next));
    assert!(report.contains("step 3 is done"), "{report}");
    assert!(
        report.contains("Step 4 is next: rewrite every Secret so it is encrypted with"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.trim()
                == "kubectl get secrets --all-namespaces -o json | kubectl replace -f -"),
        "{report}"
    );
    assert!(
        report.contains("Step 5, only after step 4 succeeded"),
        "{report}"
    );
    let (_, keys) = upstream_keys(&dir.read("final.yaml"));
    assert_eq!(keys, [(new_name.clone(), new_key.clone())]);
    assert_eq!(mode(&next), 0o600);

    // The end is the start of the next rotation.
    let (report, _) = rotate(&next, None);
    assert!(report.contains("Step 1 of 5 is next"), "{report}");

    // -o -: the configuration on stdout, the report on stderr.
    let (stdout, stderr) = rotate(&next, Some(Path::new("-")));
    let (_, keys) = upstream_keys(&stdout);
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], (new_name, new_key));
    assert!(stderr.contains("Step 1 of 5"), "{stderr}");
}

#[test]
fn rotate_refuses_what_it_cannot_place() {
    let dir = Workdir::new();
    let key = STANDARD.encode([7u8; 32]);
    let config = |providers: &str| {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n{providers}"
        )
    };
    let cases = [
        (
            config(&format!(
                "  - aescbc:\n      keys:\n      - {{name: alpha, secret: {key}}}\n      - {{name: beta, secret: {key}}}\n  - identity: {{}}\n"
            )),
            vec![
                "resources[0].providers[0].aescbc.keys",
                "cannot tell which key is newest",
            ],
        ),
        (
            config(&format!(
                "  - identity: {{}}\n  - aescbc:\n      keys:\n      - {{name: k1, secret: {key}}}\n"
            )),
            vec!["identity is first"],
        ),
        (
            config(
                "  - kms: {apiVersion: v2, name: vault, endpoint: 'unix:///kms.sock'}\n  - identity: {}\n",
            ),
            vec!["resources[0].providers[0]", "KMS"],
        ),
    ];
    for (text, fragments) in cases {
        let path = dir.write("enc.yaml", &text);
        let out = sealant()
            .args(["encryption-config", "rotate", "--config"])
            .arg(&path)
            .arg("-o")
            .arg(&path)
            .assert()
            .code(1)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("enc.yaml"), "{stderr}");
        for fragment in fragments {
            assert!(stderr.contains(fragment), "{fragment:?} in {stderr}");
        }
        assert!(!stderr.contains(&key));
        assert_eq!(dir.read("enc.yaml"), text, "left untouched");
    }

    // Writing over another existing file needs --force.
    let path = generate(&dir, "fresh.yaml", &[]);
    let other = dir.write("other.yaml", "keep");
    let err = sealant()
        .args(["encryption-config", "rotate", "--config"])
        .arg(&path)
        .arg("-o")
        .arg(&other)
        .assert();
    crate::common::assert_input_error(err, &["other.yaml", "--force"]);
    assert_eq!(dir.read("other.yaml"), "keep");
}

#[test]
fn validate_names_the_file_and_field_of_every_problem() {
    let dir = Workdir::new();
    let k32 = STANDARD.encode([1u8; 32]);
    let k24 = STANDARD.encode([2u8; 24]);
    let k20 = STANDARD.encode([3u8; 20]);
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";
    let one = |providers: &str| {
        format!("{head}resources:\n- resources: [secrets]\n  providers:\n{providers}")
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            one(&format!(
                "  - aescbc: {{keys: [{{name: a, secret: {k32}}}]}}\n  - identity: {{}}\n"
            ))
            .replace("config.k8s.io/v1", "config.k8s.io/v1beta1"),
            vec!["apiVersion", "expected apiserver.config.k8s.io/v1"],
        ),
        (
            one("  - identity: {}\n")
                .replace("kind: EncryptionConfiguration", "kind: EncryptionConfig"),
            vec!["kind", "expected EncryptionConfiguration"],
        ),
        (head.to_string(), vec!["resources: required"]),
        (format!("{head}resources: []\n"), vec!["resources: empty"]),
        (
            format!("{head}resources:\n- resources: [secrets]\n  providers: []\n"),
            vec!["resources[0].providers: empty"],
        ),
        (
            format!("{head}resources:\n- providers: [{{identity: {{}}}}]\n"),
            vec!["resources[0].resources: required"],
        ),
        (
            one(&format!(
                "  - aescbc: {{keys: [{{name: a, secret: {k32}}}]}}\n"
            )) + "extra: 1\n",
            vec!["extra: unknown field"],
        ),
        (
            one(&format!(
                "  - aescbc: {{keys: [{{name: a, secret: {k32}, algo: x}}]}}\n"
            )),
            vec!["resources[0].providers[0].aescbc.keys[0].algo: unknown field"],
        ),
        (
            one(&format!(
                "  - aescbc: {{keys: [{{name: a, secret: {k32}}}]}}\n    identity: {{}}\n"
            )),
            vec!["resources[0].providers[0]", "2 provider types in one entry"],
        ),
        (
            one("  - {}\n"),
            vec!["resources[0].providers[0]: no provider type"],
        ),
        (
            one("  - rot13: {}\n"),
            vec!["resources[0].providers[0].rot13: unknown field"],
        ),
        (
            one("  - aescbc: {keys: [{name: a, secret: 'not base64!'}]}\n"),
            vec![
                "resources[0].providers[0].aescbc.keys[0].secret",
                "not valid base64",
            ],
        ),
        (
            one(&format!(
                "  - aescbc: {{keys: [{{name: a, secret: {k20}}}]}}\n"
            )),
            vec![
                "aescbc.keys[0].secret",
                "decodes to 20 bytes",
                "16, 24 or 32",
            ],
        ),
        (
            one(&format!(
                "  - secretbox: {{keys: [{{name: a, secret: {k24}}}]}}\n"
            )),
            vec![
                "secretbox.keys[0].secret",
                "decodes to 24 bytes",
                "is 32 bytes",
            ],
        ),
        (
            one("  - secretbox: {keys: [{name: a}]}\n"),
            vec!["secretbox.keys[0].secret: required"],
        ),
        (
            one(&format!("  - secretbox: {{keys: [{{secret: {k32}}}]}}\n")),
            vec!["secretbox.keys[0].name: required"],
        ),
        (
            one("  - secretbox: {keys: []}\n"),
            vec!["secretbox.keys: empty"],
        ),
        (
            one(&format!(
                "  - secretbox: {{keys: [{{name: a, secret: {k32}}}, {{name: a, secret: {k32}}}]}}\n"
            )),
            vec!["secretbox.keys[1].name", "also the name of keys[0]"],
        ),
        (
            one(&format!(
                "  - identity: {{}}\n  - aescbc: {{keys: [{{name: a, secret: {k32}}}]}}\n"
            )),
            vec!["resources[0].providers[0]", "identity is first"],
        ),
        (
            one("  - identity: {}\n"),
            vec!["resources[0].providers", "only identity"],
        ),
        (
            format!(
                "{head}resources:\n- resources: [configmaps]\n  providers: [{{identity: {{}}}}]\n"
            ),
            vec!["no entry lists secrets"],
        ),
        (
            format!(
                "{head}resources:\n- resources: ['*.*']\n  providers: [{{secretbox: {{keys: [{{name: a, secret: {k32}}}]}}}}]\n- resources: [secrets]\n  providers: [{{identity: {{}}}}]\n"
            ),
            vec![
                "resources[1].resources[0]",
                "masked by \"*.*\" in resources[0]",
            ],
        ),
        (
            format!(
                "{head}resources:\n- resources: [secrets]\n  providers: [{{secretbox: {{keys: [{{name: a, secret: {k32}}}]}}}}]\n- resources: [secrets]\n  providers: [{{identity: {{}}}}]\n"
            ),
            vec!["resources[1].resources[0]", "also listed in resources[0]"],
        ),
        (
            one("  - kms: {apiVersion: v2, name: vault, endpoint: 'tcp://1.2.3.4:1'}\n"),
            vec!["resources[0].providers[0].kms.endpoint", "unix socket"],
        ),
        (
            one("  - kms: {apiVersion: v2, name: vault, endpoint: 'unix:///s', cachesize: 10}\n"),
            vec!["kms.cachesize", "not supported with apiVersion v2"],
        ),
        (
            one("  - kms: {apiVersion: v3, name: vault, endpoint: 'unix:///s'}\n"),
            vec!["kms.apiVersion", "expected v1 or v2"],
        ),
        (
            format!(
                "{}---\n{}",
                one("  - identity: {}\n"),
                one("  - identity: {}\n")
            ),
            vec!["2 documents"],
        ),
        (
            "resources: [unclosed\n".to_owned(),
            vec!["not valid YAML or JSON"],
        ),
        ("- a list\n".to_owned(), vec!["expected"]),
    ];
    for (text, fragments) in cases {
        let path = dir.write("bad.yaml", &text);
        let out = sealant()
            .args(["encryption-config", "validate"])
            .arg(&path)
            .assert()
            .code(1)
            .get_output()
            .clone();
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr
                .lines()
                .last()
                .is_some_and(|l| l.starts_with("error: ") && l.contains("bad.yaml")),
            "{stderr}"
        );
        for fragment in &fragments {
            assert!(
                stderr
                    .lines()
                    .any(|l| l.contains("bad.yaml") && l.contains(fragment)),
                "{fragment:?} for\n{text}\nin:\n{stderr}"
            );
        }
        for key in [&k32, &k24, &k20] {
            assert!(
                !stderr.contains(key.as_str()),
                "no key value in messages: {stderr}"
            );
        }
    }
}

#[test]
fn validate_accepts_the_documented_shapes_and_warns_about_loose_modes() {
    let dir = Workdir::new();
    let k16 = STANDARD.encode([4u8; 16]);
    let k32 = STANDARD.encode([5u8; 32]);
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n      - configmaps\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n              secret: {k16}\n      - secretbox:\n          keys:\n            - name: key2\n              secret: {k32}\n      - identity: {{}}\n  - resources:\n      - '*.apps'\n    providers:\n      - kms:\n          apiVersion: v2\n          name: myKmsPlugin\n          endpoint: unix:///tmp/socketfile.sock\n          timeout: 3s\n"
    );
    let path = dir.write("ok.yaml", &text);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let out = sealant()
        .args(["encryption-config", "validate"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok.yaml: valid: Secrets are encrypted with aescbc key key1"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("mode 0644"),
        "{stderr}"
    );
}

#[test]
fn names_from_the_file_never_reach_the_terminal_raw() {
    let dir = Workdir::new();
    let key = STANDARD.encode([9u8; 32]);
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox:\n      keys:\n      - {{name: \"k1\\e[2J\", secret: {key}}}\n  - identity: {{}}\n"
    );
    let path = dir.write("enc.yaml", &text);
    for args in [
        vec!["encryption-config", "validate"],
        vec!["encryption-config", "rotate", "--config"],
    ] {
        let out = sealant()
            .args(&args)
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .clone();
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains('\u{1b}'), "{args:?}: {text:?}");
        }
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("k1\\u{1b}[2J"),
            "{args:?}"
        );
    }
}
