//! Scale benchmark of the real `sealant-controller` binary against an in-process fake API server
//! (loopback), RSA-4096 keys, compared in the same run with a naive mode that mimics upstream's
//! strategy (`--bench-naive --workers 1`: serial, key-id hints ignored so every key is tried
//! newest first, every object decrypted on every start).
//!
//! `cargo bench -p sealant-controller --bench scale` prints a table; `SEALANT_BENCH_QUICK=1`
//! runs a small version (CI). Private-key operations are read from the controller's
//! `sealant_private_key_operations_total`, memory from `/proc/<pid>/status` of the controller
//! process, API requests from the fake API server's counters. Both modes run with
//! `--kubeclient-qps 0` (no client-side rate limit) so the figures measure the controller, not
//! the limiter. Each cold start is compared with raw rates (one core, and every core at once)
//! measured just before and just after it, and sealant's cold start runs five times (once in
//! quick mode; `SEALANT_BENCH_RUNS=k`): the median ratio is reported with the range.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_apiserver::{FakeApiServer, Verb};
use futures_util::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use sealant_api::{SealOptions, SealedSecret, key_secret, seal_secret};
use sealant_crypto::{CertOptions, Certificate, KeyEntry, Keyring, PrivateKey, Scope};
use time::OffsetDateTime;

const KEY_NS: &str = "kube-system";
const NS: &str = "bench";
const VECTOR_KEY: &str = include_str!("../../testdata/vectors/key-4096.pem");
const VECTOR_CERT: &str = include_str!("../../testdata/vectors/cert-4096.pem");

struct Params {
    quick: bool,
    cold: Vec<usize>,
    values: usize,
    keys: usize,
    keys_objects: usize,
    /// SealedSecret counts of the memory scenario, each measured without and with
    /// `rss_unrelated_per` unrelated Secrets per SealedSecret.
    rss_sealed: Vec<usize>,
    rss_unrelated_per: usize,
    quiet_window: Duration,
    latency_samples: usize,
    raw_values: usize,
    /// Sealant cold starts per N; the ratio reported is their median.
    cold_runs: usize,
    only: Option<String>,
}

impl Params {
    fn from_env() -> Self {
        if std::env::var("SEALANT_BENCH_QUICK").is_ok_and(|v| v == "1") {
            Params {
                quick: true,
                cold: vec![200],
                values: 3,
                keys: 4,
                keys_objects: 20,
                rss_sealed: vec![100, 400],
                rss_unrelated_per: 5,
                quiet_window: Duration::from_secs(2),
                latency_samples: 20,
                raw_values: 100,
                cold_runs: 1,
                only: None,
            }
        } else {
            Params {
                quick: false,
                cold: vec![1_000, 5_000],
                values: 3,
                keys: 24,
                keys_objects: 100,
                rss_sealed: vec![1_000, 10_000, 20_000, 50_000],
                rss_unrelated_per: 5,
                quiet_window: Duration::from_secs(10),
                latency_samples: 100,
                raw_values: 600,
                cold_runs: 5,
                only: None,
            }
        }
    }
}

fn main() {
    let mut p = Params::from_env();
    // Diagnostics: `SEALANT_BENCH_RSS=<n>[,<n>...]` resizes the memory scenario (SealedSecret
    // counts) and `SEALANT_BENCH_RSS_UNRELATED=<k>` its unrelated Secrets per SealedSecret,
    // `SEALANT_BENCH_COLD=<n>[,<n>...]` the cold-start one; `SEALANT_BENCH_ONLY=rss|cold` runs
    // only that scenario.
    if let Ok(v) = std::env::var("SEALANT_BENCH_RSS") {
        p.rss_sealed = v.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    }
    if let Some(k) = std::env::var("SEALANT_BENCH_RSS_UNRELATED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        p.rss_unrelated_per = k;
    }
    if let Ok(v) = std::env::var("SEALANT_BENCH_COLD") {
        p.cold = v.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    }
    if let Some(runs) = std::env::var("SEALANT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        p.cold_runs = runs.max(1);
    }
    p.only = std::env::var("SEALANT_BENCH_ONLY").ok();
    // One thread serves the fake API server (and this bench's own polling): its load is a small
    // share of one core, and a second thread only added wake-ups between the two (about 10% of
    // its CPU), on the cores the controller under test needs.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(p));
}

/// One row of the report.
struct Row {
    scenario: String,
    sealant: String,
    naive: String,
    target: String,
}

fn row(
    scenario: impl Into<String>,
    sealant: impl Into<String>,
    naive: impl Into<String>,
    target: &str,
) -> Row {
    Row {
        scenario: scenario.into(),
        sealant: sealant.into(),
        naive: naive.into(),
        target: target.to_owned(),
    }
}

async fn run(p: Params) {
    let started = Instant::now();
    let key = PrivateKey::from_pem(VECTOR_KEY.as_bytes()).expect("vector key");
    let cert = Certificate::from_pem(VECTOR_CERT.as_bytes()).expect("vector cert");
    let mut rows = Vec::new();

    // Raw single-core unseal rate (aws-lc-rs, one thread, one key).
    let raw_rate = raw_unseal_rate(&key, &cert, p.raw_values);
    eprintln!("raw single-core unseal rate: {raw_rate:.0} values/s");
    rows.push(row(
        "raw RSA-4096 unseal, 1 core (values/s)",
        format!("{raw_rate:.0}"),
        "",
        "",
    ));
    // The machine's ceiling: the same loop on every core at once.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all_cores = raw_unseal_rate_all_cores(&key, &cert, p.raw_values);
    eprintln!("raw unseal rate on {cpus} cores: {all_cores:.0} values/s");
    rows.push(row(
        format!("raw RSA-4096 unseal, {cpus} cores at once (values/s; ceiling)"),
        format!("{all_cores:.0} ({:.2}x)", all_cores / raw_rate),
        "",
        "",
    ));

    // 1 + 2: cold start and restart.
    let wants = |scenario: &str| p.only.as_deref().is_none_or(|o| o == scenario);
    // Diagnostics: `SEALANT_BENCH_SKIP_NAIVE=1` leaves out the naive cold-start runs.
    let skip_naive = std::env::var("SEALANT_BENCH_SKIP_NAIVE").is_ok_and(|v| v == "1");
    let cold: &[usize] = if wants("cold") { &p.cold } else { &[] };
    for &n in cold {
        // Each cold start is bracketed by raw rates measured right before and right after it, so
        // a slow or fast spell of the (shared, noisy) machine moves both sides of its ratio;
        // sealant runs `cold_runs` times and the median run is reported, with the range.
        let mut runs: Vec<(ColdRestart, Rates)> = Vec::new();
        let mut naive: Option<(ColdRestart, Rates)> = None;
        let modes = std::iter::repeat_n(Mode::Sealant, p.cold_runs)
            .chain((!skip_naive).then_some(Mode::Naive));
        for (i, mode) in modes.enumerate() {
            let env = Env::new(&[(&key, &cert)]).await;
            let objects = sealed_objects(&cert, "ss", n, p.values);
            create_all(&env.client, objects).await;
            let before = Rates::measure(&key, &cert, p.raw_values);
            let out =
                cold_and_restart(&env, mode, n, p.values, i == 0 || mode == Mode::Naive).await;
            let raw = before.and(Rates::measure(&key, &cert, p.raw_values));
            eprintln!("N={n} {mode:?}: raw {raw:?} values/s, {out:?}");
            if mode == Mode::Sealant {
                // Key ids and the digest: one private-key operation per value, never more.
                assert_eq!(
                    out.cold_ops,
                    (n * p.values) as u64,
                    "N={n}: private-key operations at cold start"
                );
            }
            match mode {
                Mode::Sealant => runs.push((out, raw)),
                Mode::Naive => naive = Some((out, raw)),
            }
        }
        let values = (n * p.values) as f64;
        let ratio = |(c, raw): &(ColdRestart, Rates)| values / c.cold.as_secs_f64() / raw.one_core;
        let of_ceiling =
            |(c, raw): &(ColdRestart, Rates)| values / c.cold.as_secs_f64() / raw.all_cores;
        runs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let median = &runs[runs.len() / 2];
        // Restart figures come from the first run (the only one that measures them).
        let restarted = runs
            .iter()
            .find(|(c, _)| c.restart_measured)
            .map_or(median, |r| r);
        let naive_cell = |f: &dyn Fn(&(ColdRestart, Rates)) -> String| {
            naive.as_ref().map_or_else(|| "-".to_string(), f)
        };
        rows.push(row(
            format!("cold start N={n} x{} values: time to all Ready", p.values),
            secs(median.0.cold),
            naive_cell(&|r| secs(r.0.cold)),
            "",
        ));
        rows.push(row(
            format!("cold start N={n}: private-key ops"),
            median.0.cold_ops.to_string(),
            naive_cell(&|r| r.0.cold_ops.to_string()),
            &format!("{}", n * p.values),
        ));
        let spread = if runs.len() > 1 {
            format!(
                " ({:.2}-{:.2}, {} runs)",
                ratio(&runs[0]),
                ratio(&runs[runs.len() - 1]),
                runs.len()
            )
        } else {
            String::new()
        };
        rows.push(row(
            format!("cold start N={n}: throughput / raw 1-core rate measured around it"),
            format!("{:.2}x{spread}", ratio(median)),
            naive_cell(&|r| format!("{:.2}x", ratio(r))),
            // The target is set for N >= 1,000 (a small N spends a larger share in the list
            // and the last stragglers); a quick run's N=200 is not compared with it.
            if n >= 1_000 {
                ">= 1.7x, every run"
            } else {
                "n/a (>= 1.7x is for N >= 1,000)"
            },
        ));
        rows.push(row(
            format!("cold start N={n}: throughput / raw {cpus}-core ceiling measured around it"),
            format!("{:.0}%", 100.0 * of_ceiling(median)),
            naive_cell(&|r| format!("{:.0}%", 100.0 * of_ceiling(r))),
            "",
        ));
        let cpu = |r: &(ColdRestart, Rates)| {
            let (u, o, b) = r.0.cold_cpu;
            format!("{u:.1} / {o:.2} / {b:.2}")
        };
        rows.push(row(
            format!("cold start N={n}: CPU s, decryption / rest of controller / fake API server"),
            cpu(median),
            naive_cell(&cpu),
            "",
        ));
        // What the controller's own CPU time per value projects to on all cores with the API
        // server on other machines, as in a cluster (not a measured time; for reading the
        // measured ratio above, whose cores the in-process fake API server shares).
        let own = |r: &(ColdRestart, Rates)| {
            let (u, o, _) = r.0.cold_cpu;
            let projected = values / (u + o) * cpus as f64 / r.1.one_core;
            format!("{projected:.2}x")
        };
        rows.push(row(
            format!(
                "cold start N={n}: controller CPU alone, projected to {cpus} cores / raw 1-core rate"
            ),
            own(median),
            "",
            if n >= 1_000 {
                ">= 1.9x"
            } else {
                "n/a (>= 1.9x is for N >= 1,000)"
            },
        ));
        // What bounds that projection whatever the rest of the controller costs: the private-key
        // work itself, which on a busy host (or with both cores busy) costs more per value inside
        // the controller than in the single-core raw loop. With no other work at all the
        // projection would be `cpus` divided by this slowdown.
        let slowdown = |r: &(ColdRestart, Rates)| r.0.cold_cpu.0 / values * r.1.one_core;
        rows.push(row(
            format!(
                "cold start N={n}: decryption CPU per value / raw 1-core time per value (bound on the projection: {cpus}x / this)"
            ),
            format!(
                "{:.3} (bound {:.2}x; runs {})",
                slowdown(median),
                cpus as f64 / slowdown(median),
                runs.iter()
                    .map(|r| format!("{:.3}", slowdown(r)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "",
            "",
        ));
        let sealant = &restarted.0;
        let naive = naive.as_ref().map(|(c, _)| c);
        rows.push(row(
            format!("restart N={n}: private-key ops"),
            sealant.restart_ops.to_string(),
            naive.map_or("-".into(), |c| c.restart_ops.to_string()),
            "0",
        ));
        rows.push(row(
            format!("restart N={n}: time to steady state"),
            secs(sealant.restart),
            naive.map_or("-".into(), |c| secs(c.restart)),
            if n >= 5_000 { "< 5 s" } else { "" },
        ));
        rows.push(row(
            format!("restart N={n}: API writes"),
            sealant.restart_writes.to_string(),
            naive.map_or("-".into(), |c| c.restart_writes.to_string()),
            "0",
        ));
    }

    // 3: many keys, objects sealed with the oldest.
    if wants("keys") {
        let keys = many_keys(p.keys);
        let pairs: Vec<(&PrivateKey, &Certificate)> = keys.iter().map(|(k, c)| (k, c)).collect();
        let oldest = &keys[0].1;
        let mut per_value = Vec::new();
        let mut times = Vec::new();
        for mode in [Mode::Sealant, Mode::Naive] {
            let env = Env::new(&pairs).await;
            create_all(
                &env.client,
                sealed_objects(oldest, "k", p.keys_objects, p.values),
            )
            .await;
            let ctl = Controller::spawn(&env, mode);
            let t = wait_all_ready(&env, p.keys_objects, Duration::from_secs(1800)).await;
            let ops = ctl.metric("sealant_private_key_operations_total").await;
            ctl.stop().await;
            per_value.push(ops / (p.keys_objects * p.values) as f64);
            times.push(t);
            eprintln!("{} keys {mode:?}: {ops} ops in {t:?}", p.keys);
        }
        rows.push(row(
            format!(
                "{} keys, sealed with the oldest: private-key ops per value",
                p.keys
            ),
            format!("{:.2}", per_value[0]),
            format!("{:.2}", per_value[1]),
            "1",
        ));
        rows.push(row(
            format!(
                "{} keys: time to all Ready ({} objects)",
                p.keys, p.keys_objects
            ),
            secs(times[0]),
            secs(times[1]),
            "",
        ));
    }

    // 4: memory with many SealedSecrets, without and with unrelated Secrets; quiet afterwards.
    if wants("rss") {
        let mut without = Vec::new();
        for &n in &p.rss_sealed {
            for per in [0, p.rss_unrelated_per] {
                let m = memory_at(&key, &cert, n, n * per, p.quiet_window).await;
                rows.push(row(
                    format!(
                        "{n} SealedSecrets + {} unrelated Secrets: controller VmRSS / VmHWM",
                        n * per
                    ),
                    format!("{:.1} / {:.1} MiB", mib(m.rss), mib(m.hwm)),
                    "",
                    match (n, per) {
                        (_, 0) => "",
                        (20_000, _) => "< 64 MiB",
                        _ if p.quick => "n/a (< 64 MiB is for 20,000 + 100,000)",
                        _ => "",
                    },
                ));
                rows.push(row(
                    format!(
                        "API writes in {} s after convergence ({n} + {})",
                        p.quiet_window.as_secs(),
                        n * per
                    ),
                    m.writes.to_string(),
                    "",
                    "0",
                ));
                if per == 0 {
                    without.push((n, m));
                } else if let Some((_, base)) = without.last() {
                    // What the unrelated Secrets added, per Secret.
                    let per_secret =
                        |a: u64, b: u64| (a as f64 - b as f64) * 1024.0 / (n * per) as f64;
                    rows.push(row(
                        format!("bytes per unrelated Secret, VmRSS / VmHWM (at {n})"),
                        format!(
                            "{:.0} / {:.0}",
                            per_secret(m.rss, base.rss),
                            per_secret(m.hwm, base.hwm)
                        ),
                        "",
                        // A few thousand Secrets move RSS by less than its noise.
                        if n >= 10_000 {
                            "< 100"
                        } else {
                            "n/a (< 100 is for N >= 10,000)"
                        },
                    ));
                }
            }
        }
        // What each SealedSecret adds: the slope between consecutive sizes, without unrelated
        // Secrets (the fixed cost, binary and runtime, cancels out).
        for pair in without.windows(2) {
            let ((n0, m0), (n1, m1)) = (&pair[0], &pair[1]);
            let slope = |a: u64, b: u64| (b as f64 - a as f64) * 1024.0 / (n1 - n0) as f64;
            rows.push(row(
                format!("bytes per SealedSecret, VmRSS / VmHWM ({n0} -> {n1})"),
                format!(
                    "{:.0} / {:.0}",
                    slope(m0.rss, m1.rss),
                    slope(m0.hwm, m1.hwm)
                ),
                "",
                "",
            ));
        }
    }

    // 5: apply -> Ready latency while idle.
    if wants("latency") {
        let env = Env::new(&[(&key, &cert)]).await;
        let ctl = Controller::spawn(&env, Mode::Sealant);
        ctl.wait_ready().await;
        let api: Api<SealedSecret> = Api::namespaced(env.client.clone(), NS);
        let mut samples = Vec::new();
        for (i, ss) in sealed_objects(&cert, "lat", p.latency_samples, p.values)
            .into_iter()
            .enumerate()
        {
            let name = format!("lat{i}");
            let t0 = Instant::now();
            api.create(&PostParams::default(), &ss).await.unwrap();
            loop {
                let got = api.get(&name).await.unwrap();
                if is_ready(&got) {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(60), "{name} never Ready");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples.push(t0.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ctl.stop().await;
        samples.sort();
        let pct = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        rows.push(row(
            format!(
                "apply -> Ready while idle, p50 / p99 ({} samples, {} values)",
                p.latency_samples, p.values
            ),
            format!("{:.1} / {:.1} ms", ms(pct(0.5)), ms(pct(0.99))),
            "",
            "",
        ));
    }

    print_table(&p, &rows, started.elapsed());
}

fn print_table(p: &Params, rows: &[Row], total: Duration) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!(
        "sealant-controller scale benchmark ({}; {cpus} CPUs; RSA-4096; fake-apiserver in-process on loopback; total {:.0} s)",
        if p.quick { "QUICK" } else { "full" },
        total.as_secs_f64()
    );
    println!(
        "naive = --bench-naive --workers 1 (upstream's strategy: serial, trial decryption, decrypt on every start)"
    );
    if p.quick {
        println!(
            "QUICK run: smaller than the sizes the targets are set for; rows whose target says n/a \
             are neither a pass nor a miss"
        );
    }
    let w0 = rows
        .iter()
        .map(|r| r.scenario.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let w1 = rows
        .iter()
        .map(|r| r.sealant.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let w2 = rows.iter().map(|r| r.naive.len()).max().unwrap_or(0).max(5);
    let w3 = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "| {:w0$} | {:>w1$} | {:>w2$} | {:w3$} |",
        "scenario", "sealant", "naive", "target"
    );
    println!(
        "|{}|{}:|{}:|{}|",
        "-".repeat(w0 + 2),
        "-".repeat(w1 + 1),
        "-".repeat(w2 + 1),
        "-".repeat(w3 + 2)
    );
    for r in rows {
        println!(
            "| {:w0$} | {:>w1$} | {:>w2$} | {:w3$} |",
            r.scenario, r.sealant, r.naive, r.target
        );
    }
}

/// Memory of the controller once `sealed` objects (one value each) are Ready among `unrelated`
/// plain Secrets, and its API writes in the quiet window after.
struct Memory {
    /// VmRSS and VmHWM, KiB.
    rss: u64,
    hwm: u64,
    writes: u64,
}

async fn memory_at(
    key: &PrivateKey,
    cert: &Certificate,
    sealed: usize,
    unrelated: usize,
    quiet: Duration,
) -> Memory {
    let env = Env::new(&[(key, cert)]).await;
    let plain = (0..unrelated)
        .map(|i| plain_secret(&format!("other{}", i % 10), &format!("unrelated-{i}")));
    create_all_secrets(&env.client, plain.collect()).await;
    create_all(&env.client, sealed_objects(cert, "m", sealed, 1)).await;
    let ctl = Controller::spawn(&env, Mode::Sealant);
    let t = wait_all_ready(&env, sealed, Duration::from_secs(3600)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.server.reset_counts();
    tokio::time::sleep(quiet).await;
    let writes = env.server.write_count();
    let (rss, hwm) = ctl.memory();
    eprintln!(
        "memory: {sealed} + {unrelated} converged in {t:?}; VmRSS {rss} KiB, VmHWM {hwm} KiB"
    );
    ctl.stop().await;
    Memory { rss, hwm, writes }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn raw_unseal_rate(key: &PrivateKey, cert: &Certificate, n: usize) -> f64 {
    let label = Scope::Strict.label(NS, "raw");
    let sealed: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            sealant_crypto::seal(key.public_key(), format!("value-{i}").as_bytes(), &label).unwrap()
        })
        .collect();
    let mut keyring = Keyring::new();
    keyring.insert(KeyEntry::new(key.clone(), Some(cert.clone())));
    let hint = [cert.key_id().clone()];
    // Warm up, then time three batches and keep the fastest: a batch slowed by something else on
    // the machine would flatter every ratio computed against this rate.
    for s in sealed.iter().take(5) {
        keyring.unseal(s, &label, &hint).unwrap();
    }
    let batch = n.div_ceil(3).max(1);
    sealed
        .chunks(batch)
        .map(|chunk| {
            let t = Instant::now();
            for s in chunk {
                keyring.unseal(s, &label, &hint).unwrap();
            }
            chunk.len() as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// The raw loop of [`raw_unseal_rate`] on every core at once: the machine's ceiling.
fn raw_unseal_rate_all_cores(key: &PrivateKey, cert: &Certificate, n: usize) -> f64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..cpus)
            .map(|_| s.spawn(|| raw_unseal_rate(key, cert, n)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// Raw unseal rates (values/s) a cold start is compared with.
#[derive(Debug, Clone, Copy)]
struct Rates {
    one_core: f64,
    all_cores: f64,
}

impl Rates {
    fn measure(key: &PrivateKey, cert: &Certificate, n: usize) -> Self {
        Rates {
            one_core: raw_unseal_rate(key, cert, n),
            all_cores: raw_unseal_rate_all_cores(key, cert, n),
        }
    }

    /// The mean of two measurements (one before a cold start, one after it).
    fn and(self, later: Rates) -> Self {
        Rates {
            one_core: (self.one_core + later.one_core) / 2.0,
            all_cores: (self.all_cores + later.all_cores) / 2.0,
        }
    }
}

/// `n` RSA-4096 keys with certificates an hour apart, oldest first.
fn many_keys(n: usize) -> Vec<(PrivateKey, Certificate)> {
    let now = OffsetDateTime::now_utc();
    let threads = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut out: Vec<Option<(PrivateKey, Certificate)>> = vec![None; n];
    std::thread::scope(|s| {
        for (t, chunk) in out.chunks_mut(n.div_ceil(threads).max(1)).enumerate() {
            let base = t * n.div_ceil(threads).max(1);
            s.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    let i = base + j;
                    let key = PrivateKey::generate(4096).unwrap();
                    let at = now - time::Duration::hours((n - i) as i64);
                    let cert = Certificate::self_signed(&key, &CertOptions::default(), at).unwrap();
                    *slot = Some((key, cert));
                }
            });
        }
    });
    out.into_iter().map(|k| k.unwrap()).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Sealant,
    Naive,
}

#[derive(Debug, Default)]
struct ColdRestart {
    cold: Duration,
    cold_ops: u64,
    /// CPU seconds during the cold start: decryption threads, the rest of the controller, and
    /// this process (the fake API server).
    cold_cpu: (f64, f64, f64),
    restart_measured: bool,
    restart: Duration,
    restart_ops: u64,
    restart_writes: u64,
}

/// A cold start over `n` objects; then, with `restart`, a restart over them once synced.
async fn cold_and_restart(
    env: &Env,
    mode: Mode,
    n: usize,
    values: usize,
    restart: bool,
) -> ColdRestart {
    env.server.reset_counts();
    let bench_cpu = cpu_seconds(Path::new("/proc/self/stat"));
    let ctl = Controller::spawn(env, mode);
    let cold = wait_all_ready(env, n, Duration::from_secs(3600)).await;
    let (unseal, other) = ctl.cpu_split();
    let cold_cpu = (
        unseal,
        other,
        cpu_seconds(Path::new("/proc/self/stat")) - bench_cpu,
    );
    if std::env::var("SEALANT_BENCH_COUNTS").is_ok() {
        eprintln!("requests during cold start: {:?}", env.server.counts());
        eprintln!(
            "decryptions during cold start: {}",
            ctl.metric("sealed_secrets_controller_unseal_requests_total")
                .await
        );
        eprintln!(
            "reconcile passes during cold start: {}",
            ctl.metric("sealant_reconciles_total").await
        );
    }
    let cold_ops = ctl.metric("sealant_private_key_operations_total").await as u64;
    ctl.stop().await;
    if !restart {
        return ColdRestart {
            cold,
            cold_ops,
            cold_cpu,
            ..ColdRestart::default()
        };
    }
    env.server.reset_counts();

    let t0 = Instant::now();
    let ctl = Controller::spawn(env, mode);
    let want_ops = match mode {
        Mode::Sealant => 0.0,
        Mode::Naive => (n * values) as f64,
    };
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        // Every object reconciled by this process has its Ready series (unseal_requests counts
        // decryptions only, which a restart of objects in sync does not do).
        let reconciled = ctl.ready_series().await;
        let ops = ctl.try_metric("sealant_private_key_operations_total").await;
        if reconciled.is_some_and(|r| r >= n) && ops.is_some_and(|o| o >= want_ops) {
            break;
        }
        assert!(Instant::now() < deadline, "restart never settled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restart = t0.elapsed();
    // Anything still to come (it should not) shows up here.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restart_ops = ctl.metric("sealant_private_key_operations_total").await as u64;
    let restart_writes = env.server.write_count();
    ctl.stop().await;
    ColdRestart {
        cold,
        cold_ops,
        cold_cpu,
        restart_measured: true,
        restart,
        restart_ops,
        restart_writes,
    }
}

/// A fake API server with the CRD, the bench namespaces and the given key Secrets.
struct Env {
    server: FakeApiServer,
    client: Client,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Env {
    async fn new(keys: &[(&PrivateKey, &Certificate)]) -> Self {
        let server = FakeApiServer::start().await.expect("fake API server");
        let client = server.kube_client().await.unwrap();
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &sealant_api::crd())
            .await
            .unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut names = vec![NS.to_owned(), KEY_NS.to_owned()];
        names.extend((0..10).map(|i| format!("other{i}")));
        for ns in names {
            let mut n = Namespace::default();
            n.metadata.name = Some(ns);
            let _ = namespaces.create(&PostParams::default(), &n).await;
        }
        for (i, (key, cert)) in keys.iter().enumerate() {
            let mut s = key_secret(key, cert, KEY_NS, "sealed-secrets-key");
            s.metadata.generate_name = None;
            s.metadata.name = Some(format!("bench-key-{i:02}"));
            Api::<Secret>::namespaced(client.clone(), KEY_NS)
                .create(&PostParams::default(), &s)
                .await
                .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        server.reset_counts();
        Env {
            server,
            client,
            _dir: dir,
            kubeconfig,
        }
    }
}

fn plain_secret(ns: &str, name: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "payload".to_owned(),
            ByteString(vec![b'x'; 256]),
        )])),
        ..Default::default()
    }
}

fn sealed_objects(cert: &Certificate, prefix: &str, n: usize, values: usize) -> Vec<SealedSecret> {
    (0..n)
        .map(|i| {
            let mut s = plain_secret(NS, &format!("{prefix}{i}"));
            s.data = Some(
                (0..values)
                    .map(|v| {
                        (
                            format!("v{v}"),
                            ByteString(format!("value {v} of {i}").into_bytes()),
                        )
                    })
                    .collect(),
            );
            seal_secret(&s, cert, &SealOptions::default()).unwrap()
        })
        .collect()
}

async fn create_all(client: &Client, objects: Vec<SealedSecret>) {
    let api: Api<SealedSecret> = Api::namespaced(client.clone(), NS);
    futures_util::stream::iter(objects)
        .map(|ss| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &ss).await.unwrap() }
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
}

async fn create_all_secrets(client: &Client, objects: Vec<Secret>) {
    futures_util::stream::iter(objects)
        .map(|s| {
            let api: Api<Secret> =
                Api::namespaced(client.clone(), s.metadata.namespace.as_deref().unwrap());
            async move { api.create(&PostParams::default(), &s).await.unwrap() }
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
}

fn is_ready(ss: &SealedSecret) -> bool {
    ss.status.as_ref().is_some_and(|st| {
        st.observed_generation == ss.metadata.generation
            && st
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Waits until `n` objects in the bench namespace are Ready; returns the time from the call.
/// The fake API server's own counter of status writes says when to look, and its store is then
/// checked in-process: both are free. Anything over the API would load the server that shares the
/// cores with the controller under test (a watch serializes every status change once more; a list
/// of 5,000 objects costs a fair part of a second; polling with lists once took 40% of the CPU).
async fn wait_all_ready(env: &Env, n: usize, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        if env.server.count(Verb::Update, "sealedsecrets/status") >= n as u64
            && env
                .server
                .count_matching((sealant_api::GROUP, "sealedsecrets"), NS, is_ready_json)
                >= n
        {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < limit, "objects never all Ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// [`is_ready`] on the stored JSON.
fn is_ready_json(ss: &serde_json::Value) -> bool {
    let status = &ss["status"];
    status["observedGeneration"] == ss["metadata"]["generation"]
        && status["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// utime + stime of a `/proc/.../stat` file, in seconds (USER_HZ is 100; 0 if unreadable).
fn cpu_seconds(stat: &Path) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

/// The controller binary as a child process.
struct Controller {
    child: Child,
    api: SocketAddr,
    metrics: SocketAddr,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Controller {
    fn spawn(env: &Env, mode: Mode) -> Self {
        Self::spawn_with(&env.kubeconfig, mode)
    }

    fn spawn_with(kubeconfig: &Path, mode: Mode) -> Self {
        let api = free_port();
        let metrics = free_port();
        // Diagnostics: `SEALANT_BENCH_WRAP=<program>` runs the controller under it (e.g.
        // `heaptrack`); memory and CPU figures are then read from the controller process below it.
        let bin = env!("CARGO_BIN_EXE_sealant-controller");
        let mut cmd = match std::env::var("SEALANT_BENCH_WRAP") {
            Ok(wrap) if !wrap.trim().is_empty() => {
                let mut words = wrap.split_whitespace();
                let mut c = Command::new(words.next().unwrap_or_default());
                c.args(words).arg(bin);
                c
            }
            _ => Command::new(bin),
        };
        cmd.env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", KEY_NS)
            .args(["--kubeclient-qps", "0", "--key-renew-period", "0"])
            .args(["--listen-addr", &format!("127.0.0.1:{api}")])
            .args(["--listen-metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if mode == Mode::Naive {
            cmd.args(["--bench-naive", "--workers", "1"]);
        }
        Controller {
            child: cmd.spawn().expect("spawn sealant-controller"),
            api: format!("127.0.0.1:{api}").parse().unwrap(),
            metrics: format!("127.0.0.1:{metrics}").parse().unwrap(),
        }
    }

    async fn wait_ready(&self) {
        let t0 = Instant::now();
        loop {
            if let Some((200, _)) = get(self.api, "/readyz").await {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "controller not ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn try_metric(&self, name: &str) -> Option<f64> {
        let (code, body) = get(self.metrics, "/metrics").await?;
        if code != 200 {
            return None;
        }
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
    }

    /// How many SealedSecrets this process has reported Ready (`condition_info` series).
    async fn ready_series(&self) -> Option<usize> {
        let (code, body) = get(self.metrics, "/metrics").await?;
        (code == 200).then(|| {
            body.lines()
                .filter(|l| {
                    l.starts_with("sealed_secrets_controller_condition_info{")
                        && l.contains("condition=\"Ready\"")
                        && l.ends_with("} 1")
                })
                .count()
        })
    }

    async fn metric(&self, name: &str) -> f64 {
        self.try_metric(name)
            .await
            .unwrap_or_else(|| panic!("metric {name} unavailable"))
    }

    /// CPU seconds of the controller's unseal threads and of all its other threads.
    fn cpu_split(&self) -> (f64, f64) {
        let (mut unseal, mut other) = (0.0, 0.0);
        let tasks = format!("/proc/{}/task", self.pid());
        for t in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
            let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let cpu = cpu_seconds(&t.path().join("stat"));
            if name.starts_with("sealant-unseal") {
                unseal += cpu;
            } else {
                other += cpu;
            }
        }
        (unseal, other)
    }

    /// The controller's process id: the child's, or with `SEALANT_BENCH_WRAP` that of the
    /// first descendant running the controller binary.
    fn pid(&self) -> u32 {
        let mut queue = vec![self.child.id()];
        while let Some(pid) = queue.pop() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.starts_with("sealant-contr") {
                return pid;
            }
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            queue.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        self.child.id()
    }

    /// (VmRSS, VmHWM) in KiB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let t0 = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET: (status, body), or `None` if the listener is not up yet.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}
