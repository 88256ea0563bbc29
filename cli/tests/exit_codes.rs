//! The exit code rule, for every command: 2 only for usage errors (reported by the argument
//! parser), 1 for every error at run time (one `error:` line on stderr, or a report of
//! failures), 0 on success. No kubeconfig and no certificate variables are visible.
#![allow(clippy::unwrap_used)] // test helpers may panic

use crate::common::*;

/// The binary with an empty HOME (no ~/.kube/config), no KUBECONFIG, in `dir`.
fn bare(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = sealant();
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("SEALANT_CACHE_DIR", dir.join("cache"))
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .env_remove("KUBECONFIG")
        .env_remove("XDG_CACHE_HOME");
    cmd
}

fn code(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String) {
    let out = bare(dir).args(args).write_stdin(stdin).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1_for_every_command() {
    let w = Workdir::new();
    let d = w.dir.path();
    let secret = secret_yaml(Some("prod"), "db", &[("k", "v")]);
    w.write("secret.yaml", &secret);
    w.write("bad.pem", "not a certificate");
    w.write("plain.yaml", &secret);
    w.write("sealed.yaml", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db, namespace: prod}\nspec:\n  encryptedData:\n    k: AgA=\n");
    let cert = w.cert();
    let cert = cert.to_str().unwrap();
    let key = w.key();
    let key = key.to_str().unwrap();

    let usage: &[&[&str]] = &[
        &["frobnicate"],
        &["seal", "--frobnicate"],
        &["seal", "--cert", cert, "--scope", "everywhere"],
        &["seal", "--cert", cert, "secret.yaml", "-f", "secret.yaml"],
        &["unseal"],
        &["unseal", "-f", "sealed.yaml"],
        &["set", "sealed.yaml", "k"],
        &["unset", "sealed.yaml"],
        &["guard", "--frobnicate"],
        &["guard", "install", "--frobnicate"],
        &["kubeseal", "--frobnicate"],
        &["verify"],
        &["verify", "--cert", cert, "--key", key, "x"],
        &["reseal"],
        &["reseal", "--key", key, "x.yaml"],
        &["keys", "generate", "--key-out", "k.pem"],
        &[
            "keys",
            "generate",
            "--key-out",
            "k",
            "--cert-out",
            "c",
            "--bits",
            "1024",
        ],
        &["cert", "info", "-o", "xml"],
        &["cert", "fetch", "--frobnicate"],
        &["completions", "tcsh"],
    ];
    for args in usage {
        let (status, stderr) = code(d, args, "");
        assert_eq!(status, 2, "usage error {args:?}: {stderr}");
        assert!(stderr.contains("try '--help'"), "{args:?}: {stderr}");
    }

    let runtime: &[&[&str]] = &[
        // No --cert and no kubeconfig: nothing to seal with.
        &["seal", "-f", "secret.yaml"],
        &["seal", "secret.yaml"],
        &["seal", "--raw", "-n", "prod", "--name", "db"],
        &["seal", "--cert", "bad.pem", "secret.yaml"],
        &["seal", "--cert", cert, "missing.yaml"],
        &["seal", "--cert", cert, "--raw", "-n", "prod"],
        &[
            "seal",
            "--cert",
            cert,
            "--merge-into",
            "missing.yaml",
            "secret.yaml",
        ],
        &[
            "seal",
            "--cert",
            cert,
            "--cert",
            cert,
            "--out-dir",
            "out",
            "secret.yaml",
        ],
        &["unseal", "--key", "missing.pem", "-f", "sealed.yaml"],
        &["unseal", "--key", key, "-f", "sealed.yaml"],
        &["set", "missing.yaml", "k", "--value-stdin"],
        &[
            "set",
            "--cert",
            cert,
            "sealed.yaml",
            "k",
            "--from-file",
            "missing.txt",
        ],
        &["unset", "sealed.yaml", "nope"],
        &["guard", "missing-dir"],
        &["guard", "plain.yaml"],
        &["guard", "--staged"],
        &["guard", "install"],
        &["kubeseal", "-f", "secret.yaml"],
        &["kubeseal", "--from-file", "x"],
        &["kubeseal", "--cert", cert, "-o", "xml"],
        &["verify", "--cert", cert, "missing.yaml"],
        &["verify", "--key", key, "sealed.yaml"],
        &["verify", "sealed.yaml"],
        &["reseal", "sealed.yaml"],
        &["reseal", "--key", key, "--cert", cert, "-"],
        &[
            "keys",
            "generate",
            "--key-out",
            "key.pem",
            "--cert-out",
            "new.pem",
        ],
        &["cert", "info"],
        &["cert", "info", "--cert", "bad.pem"],
        &["cert", "fetch"],
    ];
    for args in runtime {
        let (status, stderr) = code(d, args, &secret);
        assert_eq!(status, 1, "runtime error {args:?}: {stderr}");
        assert!(!stderr.contains("try '--help'"), "{args:?}: {stderr}");
    }

    // Success is 0.
    let (status, stderr) = code(d, &["seal", "--cert", cert, "secret.yaml"], "");
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn no_certificate_and_no_kubeconfig_is_one_error_line() {
    let w = Workdir::new();
    let path = w.write(
        "secret.yaml",
        secret_yaml(Some("prod"), "db", &[("k", "v")]),
    );
    let line = assert_input_error(
        bare(w.dir.path()).arg("seal").arg("-f").arg(&path).assert(),
        &["no certificate", "--cert", "kubeconfig"],
    );
    assert!(!line.contains("Usage"), "{line}");
}

#[test]
fn help_documents_the_exit_codes() {
    let w = Workdir::new();
    let out = bare(w.dir.path()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Exit codes: 0 success; 1 any error at run time")
            && help.contains("2 a usage error"),
        "{help}"
    );
}

#[test]
fn usage_lines_show_which_value_source_set_needs_and_what_unseal_may_take() {
    let w = Workdir::new();
    let (status, stderr) = code(w.dir.path(), &["set", "f.yaml", "k"], "");
    assert_eq!(status, 2);
    assert!(
        stderr.contains(
            "Usage: sealant set [OPTIONS] <FILE> <KEY> <--from-file <F> | --value-stdin>"
        ),
        "{stderr}"
    );
    // -f was given, --key is missing: -f is still shown as optional.
    let (status, stderr) = code(w.dir.path(), &["unseal", "-f", "x.yaml"], "");
    assert_eq!(status, 2);
    assert!(
        stderr.contains("Usage: sealant unseal --key <FILE>... [OPTIONS] [-f <FILE>]"),
        "{stderr}"
    );
}
