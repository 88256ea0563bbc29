//! `sealant unseal` with templates: stderr and exit code do not depend on the values (only on
//! the templates, item names and value lengths), and deep or huge templates are ordinary errors.

use std::collections::BTreeMap;

use crate::common::*;
use sealant_crypto::Certificate;

const ATTACKS: &[&str] = &[
    "{{ .pw | trimPrefix \"a\" | b64dec }}",
    "{{ if eq .pw \"aGVsbG8=\" }}{{ .pw | b64dec }}{{ else }}x{{ end }}",
    "{{ if hasPrefix \"a\" .pw }}{{ fail \"x\" }}{{ end }}",
    "{{ index (splitList \"=\" .pw) 3 }}",
    "{{ repeat (atoi .pw) \"x\" }}",
    "{{ (fromJson .pw).x.y | upper }}",
    "{{ range $i, $c := splitList \"\" .pw }}{{ if eq $c \"=\" }}{{ $i }}{{ end }}{{ end }}",
    "{{ div 100 (len (trimAll \"a\" .pw)) }}",
];

/// Seals `pw` with `template` as `out` and runs `sealant unseal` on it: (exit code, stderr).
fn unseal_with(w: &Workdir, template: &str, pw: &str) -> (Option<i32>, String) {
    let cert = Certificate::from_pem(std::fs::read(w.cert()).unwrap().as_slice()).unwrap();
    let secret = sealant_api::parse_stream(&secret_yaml(Some("app"), "s", &[("pw", pw)])).unwrap()
        [0]
    .to_secret()
    .unwrap();
    let mut ss =
        sealant_api::seal_secret(&secret, &cert, &sealant_api::SealOptions::default()).unwrap();
    ss.spec.template.data = Some(BTreeMap::from([("out".to_owned(), template.to_owned())]));
    let file = w.write("ss.yaml", sealant_api::to_yaml(&ss).unwrap());
    let out = sealant()
        .args(["unseal", "--key"])
        .arg(w.key())
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn stderr_and_exit_code_do_not_depend_on_the_values() {
    let w = Workdir::new();
    let mut failed = 0;
    for t in ATTACKS {
        let a = unseal_with(&w, t, "aGVsbG8=");
        let b = unseal_with(&w, t, "b,c=d{}9");
        assert_eq!(a, b, "template {t}");
        assert!(
            !a.1.contains("aGVsbG8") && !a.1.contains("hello"),
            "{}",
            a.1
        );
        if a.0 != Some(0) {
            assert_eq!(a.0, Some(1), "{}", a.1);
            failed += 1;
        }
    }
    assert!(
        failed >= 2 && failed < ATTACKS.len(),
        "some attacks fail, some render"
    );
}

#[test]
fn deep_templates_are_errors_not_crashes() {
    let w = Workdir::new();
    let deep = format!("{{{{ {}\"x\"{} }}}}", "(".repeat(3000), ")".repeat(3000));
    let (code, stderr) = unseal_with(&w, &deep, "v");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("nesting depth limit"), "{stderr}");
}
