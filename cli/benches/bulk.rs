//! Benchmark: the bulk commands on every core against the same run pinned to one core, in one
//! run. `sealant verify --key` and offline `sealant reseal` over a directory of generated
//! SealedSecrets (one per file, 3 values each, RSA-4096), through the real binary. Prints a
//! table of wall times and ratios.
//!
//! `cargo bench -p sealant --bench bulk` (2,000 objects); `SEALANT_BENCH_QUICK=1` for a short
//! run (60 objects, seconds); `SEALANT_BENCH_N=<n>` sets the number of objects. One core is
//! `taskset -c 0` (else `RAYON_NUM_THREADS=1` when taskset is missing).

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sealant_api::{SealOptions, seal_secret, to_yaml};
use sealant_crypto::{CertOptions, Certificate, PrivateKey};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors");
const BIN: &str = env!("CARGO_BIN_EXE_sealant");

/// How one run is confined.
#[derive(Clone, Copy)]
enum Cores {
    All,
    One,
}

fn command(cores: Cores, taskset: bool) -> Command {
    match (cores, taskset) {
        (Cores::All, _) => Command::new(BIN),
        (Cores::One, true) => {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", BIN]);
            c
        }
        (Cores::One, false) => {
            let mut c = Command::new(BIN);
            c.env("RAYON_NUM_THREADS", "1");
            c
        }
    }
}

/// CPU seconds (user + system) used by waited-for child processes so far; Linux only (0
/// elsewhere). From `/proc/self/stat`, in clock ticks of 1/100 s.
fn children_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    // After the command name: state is field 3; cutime and cstime are fields 16 and 17.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(13) + tick(14)) / 100.0
}

/// Wall time and CPU time of one run of `sealant ARGS`, which must succeed.
fn time(cores: Cores, taskset: bool, args: &[&str], dir: &Path) -> (f64, f64) {
    let cpu = children_cpu();
    let start = Instant::now();
    let out = command(cores, taskset)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "sealant {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (secs, children_cpu() - cpu)
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn main() {
    let quick = std::env::var_os("SEALANT_BENCH_QUICK").is_some();
    let n: usize = std::env::var("SEALANT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 60 } else { 2000 });
    let taskset = Command::new("taskset")
        .args(["-c", "0", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let old_key = std::fs::read(format!("{VECTORS}/key-4096.pem")).unwrap();
    let old_cert =
        Certificate::from_pem(&std::fs::read(format!("{VECTORS}/cert-4096.pem")).unwrap()).unwrap();
    let new_key = PrivateKey::generate(4096).unwrap();
    let new_cert = Certificate::self_signed(
        &new_key,
        &CertOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    std::fs::write(root.join("old.pem"), &old_key).unwrap();
    std::fs::write(root.join("new.pem"), new_key.to_pkcs1_pem().as_bytes()).unwrap();
    std::fs::write(root.join("new-cert.pem"), new_cert.to_pem()).unwrap();

    // The repository: one SealedSecret per file, 3 values each, sealed with the old key.
    let src: PathBuf = root.join("src");
    std::fs::create_dir(&src).unwrap();
    for i in 0..n {
        let secret = Secret {
            metadata: kube_meta(&format!("app-{i:05}")),
            data: Some(
                ["username", "password", "url"]
                    .iter()
                    .map(|k| ((*k).to_owned(), ByteString(format!("{k}-{i}").into_bytes())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let ss = seal_secret(&secret, &old_cert, &SealOptions::default()).unwrap();
        std::fs::write(src.join(format!("app-{i:05}.yaml")), to_yaml(&ss).unwrap()).unwrap();
    }

    let verify = ["verify", "--key", "old.pem", "src"];
    let reseal = [
        "reseal",
        "--key",
        "old.pem,new.pem",
        "--cert",
        "new-cert.pem",
        "copy",
    ];
    let mut rows = Vec::new();
    for (what, args) in [
        ("verify --key", &verify[..]),
        ("reseal (offline)", &reseal[..]),
    ] {
        let mut sides = [(0.0, 0.0); 2];
        // Interleaved (one core, all cores), so a slow spell of the host hits both sides.
        for (side, mode) in [(1, Cores::One), (0, Cores::All)] {
            if args[0] == "reseal" {
                copy_dir(&src, &root.join("copy"));
            }
            sides[side] = time(mode, taskset, args, root);
        }
        rows.push((what, sides[0], sides[1]));
    }

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nload average (1, 5, 15 min) after the runs, which add up to {cores}: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "\nbulk commands over {n} SealedSecrets (one file each, 3 values, RSA-4096): {cores} cores vs one ({})\n",
        if taskset {
            "taskset -c 0"
        } else {
            "RAYON_NUM_THREADS=1"
        }
    );
    println!(
        "| command | all cores (s) | one core (s) | speed-up | CPU s / wall s, all cores | private-key ops/s, all cores | target |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (what, (all, all_cpu), (one, _)) in rows {
        let ratio = one / all;
        let target = if quick {
            "(quick: ≥ 1.7× applies to the full run)".to_owned()
        } else if cores >= 2 {
            format!("≥ 1.7× {}", if ratio >= 1.7 { "✔" } else { "✘" })
        } else {
            "(one core: no target)".to_owned()
        };
        println!(
            "| {what} | {all:.2} | {one:.2} | {ratio:.2}× | {:.2} | {:.0} | {target} |",
            all_cpu / all,
            (3 * n) as f64 / all
        );
    }
}

fn kube_meta(name: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some("bench".to_owned()),
        ..Default::default()
    }
}
