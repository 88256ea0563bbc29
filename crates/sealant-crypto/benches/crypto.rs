//! Benchmark: sealant-crypto (aws-lc-rs) against OpenSSL (Python `cryptography`) in the same run,
//! and hint-directed keyring unsealing against trial decryption. Prints a table of ratios.
//!
//! `cargo bench -p sealant-crypto --bench crypto` (set `SEALANT_BENCH_QUICK=1` for a short run).

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use sealant_crypto::{
    CertOptions, Certificate, KeyEntry, Keyring, PrivateKey, Scope, encode_value, seal, unseal,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/vectors");

struct Row {
    what: String,
    ours_ms: f64,
    base_ms: f64,
    baseline: &'static str,
    target: Option<f64>,
}

fn per_op_ms(ops: usize, f: impl FnMut()) -> f64 {
    let mut f = f;
    let start = Instant::now();
    for _ in 0..ops {
        f();
    }
    start.elapsed().as_secs_f64() * 1000.0 / ops as f64
}

/// Median of `runs` measurements, interleaving the two sides so drift hits both alike.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("SEALANT_BENCH_QUICK").is_some();
    let (values, rounds, runs, keygens) = if quick { (20, 2, 3, 2) } else { (50, 4, 5, 6) };
    let key_path = format!("{VECTORS}/key-4096.pem");
    let key = PrivateKey::from_pem(&std::fs::read(&key_path).unwrap()).unwrap();
    let cert =
        Certificate::from_pem(&std::fs::read(format!("{VECTORS}/cert-4096.pem")).unwrap()).unwrap();

    let labels: Vec<Vec<u8>> = (0..values)
        .map(|i| Scope::Strict.label("bench", &format!("secret-{i}")))
        .collect();
    let blobs: Vec<Vec<u8>> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            seal(
                cert.public_key(),
                format!("value number {i:04}").as_bytes(),
                l,
            )
            .unwrap()
        })
        .collect();

    let python_available = Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    let job = |keygen: usize| {
        serde_json::json!({
            "key_pem": key_path,
            "rounds": rounds,
            "keygen": keygen,
            "blobs": blobs.iter().zip(&labels).map(|(b, l)| serde_json::json!({
                "sealed_b64": encode_value(b), "label": String::from_utf8_lossy(l)
            })).collect::<Vec<_>>(),
        })
    };
    let run_python = |keygen: usize| -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/openssl_baseline.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(job(keygen).to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "python baseline failed");
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let mut rows = Vec::new();
    let ops = values * rounds;
    if python_available {
        let (mut ours_unseal, mut ours_seal, mut py_unseal, mut py_seal) =
            (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            ours_unseal.push(
                per_op_ms(rounds, || {
                    for (b, l) in blobs.iter().zip(&labels) {
                        std::hint::black_box(unseal(&key, b, l).unwrap());
                    }
                }) / values as f64,
            );
            ours_seal.push(per_op_ms(ops, || {
                std::hint::black_box(
                    seal(cert.public_key(), b"value number 0000", &labels[0]).unwrap(),
                );
            }));
            let py = run_python(0);
            py_unseal.push(py["unseal_ms"].as_f64().unwrap());
            py_seal.push(py["seal_ms"].as_f64().unwrap());
        }
        rows.push(Row {
            what: "unseal one value, RSA-4096".into(),
            ours_ms: median(ours_unseal),
            base_ms: median(py_unseal),
            baseline: "OpenSSL (Python cryptography)",
            target: Some(1.15),
        });
        rows.push(Row {
            what: "seal one value, RSA-4096".into(),
            ours_ms: median(ours_seal),
            base_ms: median(py_seal),
            baseline: "OpenSSL (Python cryptography)",
            target: None,
        });
        let ours_keygen = per_op_ms(keygens, || {
            std::hint::black_box(PrivateKey::generate(4096).unwrap());
        });
        let py = run_python(keygens);
        rows.push(Row {
            what: format!("generate RSA-4096 key (mean of {keygens})"),
            ours_ms: ours_keygen,
            base_ms: py["keygen_ms"].as_f64().unwrap(),
            baseline: "OpenSSL (Python cryptography)",
            target: None,
        });
    } else {
        eprintln!("WARNING: python3 with `cryptography` not found: OpenSSL baseline rows skipped");
    }

    // 24 RSA-4096 keys; the values are sealed with the oldest one.
    let now = time::OffsetDateTime::now_utc();
    let mut ring = Keyring::new();
    ring.insert(KeyEntry::new(key.clone(), Some(cert.clone())));
    let others: Vec<PrivateKey> = (1..24)
        .map(|_| PrivateKey::generate(4096).unwrap())
        .collect();
    for (i, k) in others.into_iter().enumerate() {
        let c = Certificate::self_signed(
            &k,
            &CertOptions::default(),
            now + time::Duration::days(i as i64 + 1),
        )
        .unwrap();
        ring.insert(KeyEntry::new(k, Some(c)));
    }
    assert_eq!(ring.len(), 24);
    let hint = [key.key_id().clone()];
    let trial_values = values.min(10);
    let (mut single, mut hinted, mut trial) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        single.push(
            per_op_ms(rounds, || {
                for (b, l) in blobs.iter().zip(&labels) {
                    std::hint::black_box(unseal(&key, b, l).unwrap());
                }
            }) / values as f64,
        );
        hinted.push(
            per_op_ms(rounds, || {
                for (b, l) in blobs.iter().zip(&labels) {
                    let out = ring.unseal(b, l, &hint).unwrap();
                    assert_eq!(out.rsa_ops, 1);
                }
            }) / values as f64,
        );
        trial.push(
            per_op_ms(1, || {
                for (b, l) in blobs.iter().zip(&labels).take(trial_values) {
                    let out = ring.unseal(b, l, &[]).unwrap();
                    assert_eq!(out.rsa_ops, 24);
                }
            }) / trial_values as f64,
        );
    }
    let single = median(single);
    rows.push(Row {
        what: "24-key keyring, oldest key, with key-id hint".into(),
        ours_ms: median(hinted),
        base_ms: single,
        baseline: "that key alone",
        target: Some(1.3),
    });
    rows.push(Row {
        what: "24-key keyring, oldest key, trial decryption (upstream)".into(),
        ours_ms: median(trial),
        base_ms: single,
        baseline: "that key alone",
        target: None,
    });

    println!();
    println!("| operation | sealant ms/op | baseline ms/op | baseline | ratio | target |");
    println!("|---|---:|---:|---|---:|---|");
    for r in &rows {
        let ratio = r.ours_ms / r.base_ms;
        let target = match r.target {
            Some(t) if ratio <= t => format!("<= {t} met"),
            Some(t) => format!("<= {t} MISSED"),
            None => "-".into(),
        };
        println!(
            "| {} | {:.3} | {:.3} | {} | {:.2} | {} |",
            r.what, r.ours_ms, r.base_ms, r.baseline, ratio, target
        );
    }
}
