//! `sealant seal`: round trips, formats, multiple documents, -w, --raw, --merge-into, cert URLs.
#![allow(clippy::unwrap_used)] // test helpers may panic

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use crate::common::*;
use predicates::prelude::*;

fn seal_to_json(w: &Workdir, input: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args(["-o", "json"])
        .args(extra)
        .write_stdin(input)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    json_stream(&String::from_utf8(out).unwrap())
}

#[test]
fn round_trip_every_scope() {
    let w = Workdir::new();
    let input = secret_yaml(
        Some("prod"),
        "db",
        &[("password", "hunter2"), ("user", "admin")],
    );
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let out = w.path(&format!("{scope}.yaml"));
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .args(["--scope", scope, "-w"])
            .arg(&out)
            .write_stdin(input.clone())
            .assert()
            .success()
            .stdout(predicate::str::is_empty());
        let yaml = std::fs::read_to_string(&out).unwrap();
        assert!(yaml.starts_with("---\n"), "{yaml}");
        assert!(yaml.contains("kind: SealedSecret"));
        assert!(!yaml.contains("hunter2"));
        match scope {
            "cluster-wide" => {
                assert!(yaml.contains("sealedsecrets.bitnami.com/cluster-wide: \"true\""))
            }
            "namespace-wide" => {
                assert!(yaml.contains("sealedsecrets.bitnami.com/namespace-wide: \"true\""))
            }
            _ => assert!(!yaml.contains("-wide")),
        }
        let secrets = unseal_json(&w.key(), &out);
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0]["metadata"]["name"], "db");
        assert_eq!(secrets[0]["metadata"]["namespace"], "prod");
        let data = decoded_data(&secrets[0]);
        assert_eq!(data["password"], "hunter2");
        assert_eq!(data["user"], "admin");
    }
}

#[test]
fn json_output_and_string_data() {
    let w = Workdir::new();
    let input = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"},\
                 \"stringData\":{\"token\":\"s3cr3t\"}}";
    let docs = seal_to_json(&w, input, &[]);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kind"], "SealedSecret");
    assert_eq!(docs[0]["apiVersion"], "bitnami.com/v1alpha1");
    let blob = docs[0]["spec"]["encryptedData"]["token"].as_str().unwrap();
    assert!(blob.starts_with("AQ"), "2048-bit keys give AQ...: {blob}");
    assert!(docs[0].get("stringData").is_none());
}

#[test]
fn namespace_defaults_and_overrides() {
    let w = Workdir::new();
    // No namespace in the input and no -n: "default".
    let docs = seal_to_json(&w, &secret_yaml(None, "a", &[("k", "v")]), &[]);
    assert_eq!(docs[0]["metadata"]["namespace"], "default");
    // -n fills in a missing namespace; --name overrides the name.
    let docs = seal_to_json(
        &w,
        &secret_yaml(None, "a", &[("k", "v")]),
        &["-n", "team", "--name", "b"],
    );
    assert_eq!(docs[0]["metadata"]["namespace"], "team");
    assert_eq!(docs[0]["metadata"]["name"], "b");
    // -n equal to the input's namespace is fine.
    let docs = seal_to_json(
        &w,
        &secret_yaml(Some("x"), "a", &[("k", "v")]),
        &["-n", "x"],
    );
    assert_eq!(docs[0]["metadata"]["namespace"], "x");
}

#[test]
fn multiple_documents_give_multiple_objects() {
    let w = Workdir::new();
    let input = format!(
        "{}---\n{}",
        secret_yaml(Some("ns"), "one", &[("a", "1")]),
        secret_yaml(Some("ns"), "two", &[("b", "2")])
    );
    let path = w.write("in.yaml", &input);
    let out = sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-f")
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let yaml = String::from_utf8(out).unwrap();
    assert_eq!(yaml.matches("---\n").count(), 2, "{yaml}");
    w.write("sealed.yaml", &yaml);
    let secrets = unseal_json(&w.key(), &w.path("sealed.yaml"));
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0]["metadata"]["name"], "one");
    assert_eq!(decoded_data(&secrets[1])["b"], "2");

    // JSON: concatenated objects.
    let docs = seal_to_json(&w, &input, &[]);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["metadata"]["name"], "two");
}

#[test]
fn stdin_dash_and_env_cert() {
    let w = Workdir::new();
    sealant()
        .env("SEALANT_CERT", w.cert())
        .args(["seal", "-f", "-"])
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "---\napiVersion: bitnami.com/v1alpha1\n",
        ));
}

#[test]
fn kubeseal_cert_env_is_honoured() {
    let w = Workdir::new();
    sealant()
        .env("SEALED_SECRETS_CERT", w.cert())
        .arg("seal")
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success()
        .stdout(predicate::str::contains("kind: SealedSecret"));
    // SEALANT_CERT wins over kubeseal's variable.
    sealant()
        .env("SEALED_SECRETS_CERT", w.path("missing.pem"))
        .env("SEALANT_CERT", w.cert())
        .arg("seal")
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success();
}

#[test]
fn write_file_json_by_extension() {
    let w = Workdir::new();
    let input = w.write("in.yaml", secret_yaml(Some("ns"), "a", &[("k", "v")]));
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-f")
        .arg(&input)
        .arg("-w")
        .arg(w.path("out.json"))
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let docs = json_stream(&w.read("out.json"));
    assert_eq!(docs[0]["kind"], "SealedSecret");
    // Only the output file was added: no temporary files left behind.
    assert_eq!(w.files(), ["cert.pem", "in.yaml", "key.pem", "out.json"]);
}

#[test]
fn write_file_untouched_on_failure() {
    let w = Workdir::new();
    let input = format!(
        "{}---\n{}",
        secret_yaml(Some("ns"), "good", &[("k", "v")]),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: empty\n"
    );
    let path = w.write("in.yaml", &input);
    // A new output file is not created...
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&path)
            .arg("-w")
            .arg(w.path("out.yaml"))
            .assert(),
        &["in.yaml", "document 2", "empty"],
    );
    assert!(!w.path("out.yaml").exists());
    // ...and an existing one keeps its contents.
    w.write("out.yaml", "previous\n");
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&path)
            .arg("-w")
            .arg(w.path("out.yaml"))
            .assert(),
        &["in.yaml"],
    );
    assert_eq!(w.read("out.yaml"), "previous\n");
    assert_eq!(w.files(), ["cert.pem", "in.yaml", "key.pem", "out.yaml"]);
}

/// A SealedSecret holding one raw value, for unsealing it through the CLI.
fn wrap_raw(blob: &str, namespace: &str, name: &str, scope_annotation: Option<&str>) -> String {
    let annotations = scope_annotation
        .map(|a| format!("  annotations:\n    {a}: \"true\"\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n{annotations}spec:\n  encryptedData:\n    value: {blob}\n"
    )
}

#[test]
fn raw_has_no_newline_and_unseals() {
    let w = Workdir::new();
    // Strict, value from stdin (trailing newline included, as upstream).
    let out = sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args(["--raw", "-n", "prod", "--name", "db"])
        .write_stdin("hunter2\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let blob = String::from_utf8(out).unwrap();
    assert!(!blob.ends_with('\n'), "no trailing newline: {blob:?}");
    assert!(!blob.contains(char::is_whitespace));
    w.write("strict.yaml", wrap_raw(&blob, "prod", "db", None));
    let secrets = unseal_json(&w.key(), &w.path("strict.yaml"));
    assert_eq!(decoded_data(&secrets[0])["value"], "hunter2\n");

    // Namespace-wide, from --from-file with kubeseal's KEY=PATH syntax: any name works.
    let value = w.write("value.txt", "v4lue");
    let out = sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args([
            "--raw",
            "--scope",
            "namespace-wide",
            "-n",
            "prod",
            "--from-file",
        ])
        .arg(format!("ignored={}", value.display()))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let blob = String::from_utf8(out).unwrap();
    w.write(
        "nsw.yaml",
        wrap_raw(
            &blob,
            "prod",
            "anything",
            Some("sealedsecrets.bitnami.com/namespace-wide"),
        ),
    );
    let secrets = unseal_json(&w.key(), &w.path("nsw.yaml"));
    assert_eq!(decoded_data(&secrets[0])["value"], "v4lue");

    // Cluster-wide, written with -w.
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args(["--raw", "--scope", "cluster-wide", "--from-file"])
        .arg(&value)
        .arg("-w")
        .arg(w.path("raw.txt"))
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let blob = w.read("raw.txt");
    assert!(!blob.ends_with('\n'));
    w.write(
        "cw.yaml",
        wrap_raw(
            &blob,
            "elsewhere",
            "other",
            Some("sealedsecrets.bitnami.com/cluster-wide"),
        ),
    );
    let secrets = unseal_json(&w.key(), &w.path("cw.yaml"));
    assert_eq!(decoded_data(&secrets[0])["value"], "v4lue");
}

#[test]
fn raw_strict_requires_name() {
    let w = Workdir::new();
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .args(["--raw", "-n", "prod"])
            .write_stdin("x")
            .assert(),
        &["<stdin>", "--name"],
    );
}

#[test]
fn from_file_requires_raw() {
    let w = Workdir::new();
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .args(["--from-file", "x"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
}

fn encrypted_data(doc: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    doc["spec"]["encryptedData"].as_object().unwrap().clone()
}

#[test]
fn merge_into_yaml_keeps_other_ciphertexts() {
    let w = Workdir::new();
    let target = w.path("sealed.yaml");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-w")
        .arg(&target)
        .write_stdin(secret_yaml(
            Some("prod"),
            "db",
            &[("keep", "old"), ("change", "old")],
        ))
        .assert()
        .success();
    let before = w.read("sealed.yaml");
    let keep_line = before
        .lines()
        .find(|l| l.trim_start().starts_with("keep: "))
        .unwrap()
        .to_owned();
    // The input's name and namespace do not matter: the target's are used.
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("--merge-into")
        .arg(&target)
        .write_stdin(secret_yaml(
            Some("prod"),
            "db",
            &[("change", "new"), ("added", "x")],
        ))
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let after = w.read("sealed.yaml");
    assert!(after.starts_with("---\n"), "stays YAML: {after}");
    assert!(after.contains("  added: "), "{after}");
    assert!(
        after.contains(&keep_line),
        "untouched item is byte-identical"
    );
    let secrets = unseal_json(&w.key(), &target);
    let data = decoded_data(&secrets[0]);
    assert_eq!(data["keep"], "old");
    assert_eq!(data["change"], "new");
    assert_eq!(data["added"], "x");
    assert_eq!(w.files(), ["cert.pem", "key.pem", "sealed.yaml"]);
}

#[test]
fn merge_into_yaml_without_marker_gets_none() {
    let w = Workdir::new();
    let target = w.path("sealed.yaml");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-w")
        .arg(&target)
        .write_stdin(secret_yaml(Some("prod"), "db", &[("a", "1")]))
        .assert()
        .success();
    let without = w
        .read("sealed.yaml")
        .strip_prefix("---\n")
        .unwrap()
        .to_owned();
    w.write("sealed.yaml", &without);
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("--merge-into")
        .arg(&target)
        .write_stdin(secret_yaml(None, "x", &[("b", "2")]))
        .assert()
        .success();
    let after = w.read("sealed.yaml");
    assert!(
        after.starts_with("apiVersion: bitnami.com/v1alpha1\n"),
        "{after}"
    );
    let data = decoded_data(&unseal_json(&w.key(), &target)[0]);
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("1", "2"));
}

#[test]
fn merge_into_json_stays_json() {
    let w = Workdir::new();
    let target = w.path("sealed.json");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-w")
        .arg(&target)
        .write_stdin(secret_yaml(Some("prod"), "db", &[("a", "1"), ("b", "2")]))
        .assert()
        .success();
    let before = encrypted_data(&json_stream(&w.read("sealed.json"))[0]);
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("--merge-into")
        .arg(&target)
        .write_stdin(secret_yaml(None, "whatever", &[("b", "3")]))
        .assert()
        .success();
    let text = w.read("sealed.json");
    assert!(text.starts_with('{'), "stays JSON: {text}");
    let after = encrypted_data(&json_stream(&text)[0]);
    assert_eq!(after["a"], before["a"], "untouched item is byte-identical");
    assert_ne!(after["b"], before["b"]);
    let data = decoded_data(&unseal_json(&w.key(), &target)[0]);
    assert_eq!(data["a"], "1");
    assert_eq!(data["b"], "3");
}

#[test]
fn merge_into_bad_target_is_untouched() {
    let w = Workdir::new();
    let target = w.write(
        "target.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("--merge-into")
            .arg(&target)
            .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
            .assert(),
        &["target.yaml"],
    );
    assert_eq!(
        w.read("target.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    );
    let missing = w.path("missing.yaml");
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("--merge-into")
            .arg(&missing)
            .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
            .assert(),
        &["missing.yaml"],
    );
    assert!(!missing.exists());
}

/// Serves `responses` (status line, body) to one connection each on 127.0.0.1, then stops.
fn serve(responses: Vec<(&'static str, Vec<u8>)>) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        for (status, body) in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (url, handle)
}

#[test]
fn cert_from_http_url() {
    let w = Workdir::new();
    let (_, cert_pem) = test_pems();
    let (url, server) = serve(vec![
        ("200 OK", cert_pem.clone().into_bytes()),
        ("404 Not Found", b"nope".to_vec()),
        ("200 OK", vec![b'A'; 70 * 1024]),
    ]);
    let out = w.path("sealed.yaml");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(format!("{url}/v1/cert.pem"))
        .arg("-w")
        .arg(&out)
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success();
    assert_eq!(decoded_data(&unseal_json(&w.key(), &out)[0])["k"], "v");

    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(format!("{url}/v1/cert.pem"))
            .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
            .assert(),
        &["/v1/cert.pem", "404"],
    );
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(format!("{url}/big"))
            .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
            .assert(),
        &["/big", "64 KiB"],
    );
    server.join().unwrap();
}

#[test]
fn cert_from_file_url() {
    let w = Workdir::new();
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(format!("file://{}", w.cert().display()))
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success()
        .stdout(predicate::str::contains("kind: SealedSecret"));
}

fn read_head(stream: &mut std::net::TcpStream) -> String {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => request.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&request).into_owned()
}

/// A one-connection HTTP CONNECT proxy that answers the tunnelled request itself with `body`.
fn serve_connect_proxy(body: Vec<u8>) -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let connect = read_head(&mut stream);
        stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let request = read_head(&mut stream);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        format!("{connect}{request}")
    });
    (url, handle)
}

#[test]
fn cert_url_through_http_proxy() {
    let w = Workdir::new();
    let (_, cert_pem) = test_pems();
    let (proxy, server) = serve_connect_proxy(cert_pem.clone().into_bytes());
    // The host does not exist: only the proxy can answer.
    let out = w.path("sealed.yaml");
    sealant()
        .env("HTTP_PROXY", &proxy)
        .arg("seal")
        .arg("--cert")
        .arg("http://controller.sealant.invalid/v1/cert.pem")
        .arg("-w")
        .arg(&out)
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success();
    let seen = server.join().unwrap();
    assert!(
        seen.starts_with("CONNECT controller.sealant.invalid:80"),
        "{seen}"
    );
    assert_eq!(decoded_data(&unseal_json(&w.key(), &out)[0])["k"], "v");
}

#[test]
fn https_handshake_failure_is_a_clean_error() {
    // A plain-HTTP server behind an https:// URL: the TLS handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnot tls");
    });
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(format!("{url}/v1/cert.pem"))
            .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
            .assert(),
        &["cannot fetch", "/v1/cert.pem"],
    );
    server.join().unwrap();
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let (_, cert_pem) = test_pems();
    let (url, server) = serve(vec![("200 OK", cert_pem.clone().into_bytes())]);
    sealant()
        .env("HTTP_PROXY", "http://127.0.0.1:9") // nothing listens there
        .env("NO_PROXY", "127.0.0.1")
        .arg("seal")
        .arg("--cert")
        .arg(format!("{url}/v1/cert.pem"))
        .write_stdin(secret_yaml(Some("ns"), "a", &[("k", "v")]))
        .assert()
        .success();
    server.join().unwrap();
}

#[test]
fn merge_into_keeps_every_comment_and_other_documents() {
    let w = Workdir::new();
    let sealed = String::from_utf8(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .write_stdin(secret_yaml(
                Some("prod"),
                "db",
                &[("keep", "old"), ("change", "old")],
            ))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    // Comments at the top, between documents and beside items; another document after it.
    let body = sealed.strip_prefix("---\n").unwrap();
    let mut commented = String::from("# Managed by the platform team.\n---\n# The database.\n");
    for line in body.lines() {
        commented.push_str(line);
        if line.trim_start().starts_with("keep: ") {
            commented.push_str(" # do not rotate");
        }
        if line.trim_start() == "encryptedData:" {
            commented.push_str("\n    # Rotated quarterly.");
        }
        commented.push('\n');
    }
    commented.push_str("# End of the database.\n---\n# Unrelated.\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    let target = w.write("sealed.yaml", &commented);
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("--merge-into")
        .arg(&target)
        .write_stdin(secret_yaml(
            Some("prod"),
            "db",
            &[("change", "new"), ("added", "x")],
        ))
        .assert()
        .success();
    let after = w.read("sealed.yaml");
    for comment in [
        "# Managed by the platform team.\n---\n# The database.\n",
        " # do not rotate\n",
        "    # Rotated quarterly.\n",
        "# End of the database.\n---\n# Unrelated.\napiVersion: v1\nkind: ConfigMap\n",
    ] {
        assert!(after.contains(comment), "{comment:?} lost:\n{after}");
    }
    let keep_line = commented
        .lines()
        .find(|l| l.trim_start().starts_with("keep: "))
        .unwrap();
    assert!(
        after.contains(keep_line),
        "untouched item is byte-identical"
    );
    // Only the changed item's line, the added item and the key-id annotation differ.
    let old: std::collections::BTreeSet<&str> = commented.lines().collect();
    let changed: Vec<&str> = after.lines().filter(|l| !old.contains(l)).collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(
        changed
            .iter()
            .any(|l| l.trim_start().starts_with("change: "))
    );
    assert!(
        changed
            .iter()
            .any(|l| l.trim_start().starts_with("added: "))
    );
    let (first, _) = after.split_once("\n---\n# Unrelated.").unwrap();
    let only = w.write("only.yaml", first);
    let secrets = unseal_json(&w.key(), &only);
    let data = decoded_data(&secrets[0]);
    assert_eq!(data["keep"], "old");
    assert_eq!(data["change"], "new");
    assert_eq!(data["added"], "x");
}

#[test]
fn an_explicit_scope_is_honoured_over_the_input_annotation() {
    let w = Workdir::new();
    let input = secret_yaml(Some("prod"), "db", &[("k", "v")]).replace(
        "  namespace: prod\n",
        "  namespace: prod\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
    );
    let input = w.write("in.yaml", input);
    let out = seal_to_json(
        &w,
        &std::fs::read_to_string(&input).unwrap(),
        &["--scope", "strict"],
    );
    let top = &out[0]["metadata"];
    assert!(
        top.get("annotations")
            .and_then(|a| a.get("sealedsecrets.bitnami.com/namespace-wide"))
            .is_none(),
        "--scope strict must win: {top}"
    );
    // Renamed, the strict object no longer unseals.
    let mut renamed = out[0].clone();
    renamed["metadata"]["name"] = "other".into();
    let file = w.write("renamed.json", renamed.to_string());
    sealant()
        .args(["unseal", "--key"])
        .arg(w.key())
        .arg("-f")
        .arg(&file)
        .assert()
        .code(1);
    // Without --scope the annotation is kept.
    let kept = seal_to_json(&w, &std::fs::read_to_string(&input).unwrap(), &[]);
    assert_eq!(
        kept[0]["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"],
        "true"
    );
}

#[test]
fn input_file_as_a_positional_argument() {
    let w = Workdir::new();
    let input = w.write(
        "secret.yaml",
        secret_yaml(Some("prod"), "db", &[("k", "v")]),
    );
    let out = w.path("out.yaml");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg(&input)
        .arg("-w")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(decoded_data(&unseal_json(&w.key(), &out)[0])["k"], "v");
    // Not both.
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg(&input)
        .arg("-f")
        .arg(&input)
        .assert()
        .code(2);
}

#[test]
fn size_limits_are_on_decoded_bytes_as_in_kubernetes() {
    let w = Workdir::new();
    // 1 MiB of values in total (1,048,576 bytes decoded, about 1.4 MB of base64): accepted.
    let big = "a".repeat(1024 * 1024 - 1);
    let input = secret_yaml(Some("prod"), "db", &[("big", &big), ("b", "b")]);
    let out = w.path("out.yaml");
    sealant()
        .arg("seal")
        .arg("--cert")
        .arg(w.cert())
        .arg("-w")
        .arg(&out)
        .write_stdin(input)
        .assert()
        .success();
    let secrets = unseal_json(&w.key(), &out);
    assert_eq!(decoded_data(&secrets[0])["big"].len(), big.len());
    // One byte more: refused, naming the file and the largest item.
    let path = w.write(
        "too-big.yaml",
        secret_yaml(Some("prod"), "db", &[("big", &big), ("b", "bb")]),
    );
    assert_input_error(
        sealant()
            .arg("seal")
            .arg("--cert")
            .arg(w.cert())
            .arg("-f")
            .arg(&path)
            .assert(),
        &["too-big.yaml", "1048577 bytes", "\"big\""],
    );
}
