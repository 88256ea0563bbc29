//! The seeded fault soak of issue 21 at length: more seeds, more objects and more rounds than
//! the test suite's `soak::` tests run, same scenario (`tests/soak/scenario.rs`).
//!
//! `cargo bench -p sealant-controller --bench soak` prints one row per seed and a summary, and
//! exits non-zero if any seed did not converge. `SEALANT_SOAK_SEEDS` (default 10),
//! `SEALANT_SOAK_OBJECTS` (default 1000) and `SEALANT_SOAK_ROUNDS` (default 5) resize it;
//! `SEALANT_SOAK_FIRST_SEED` (default 1) picks where the seeds start.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/soak/scenario.rs"]
mod scenario;

use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn config() -> sealant_controller::Config {
    sealant_controller::Config::try_from_args([
        "sealant-controller",
        "--namespace",
        "kube-system",
        "--listen-addr",
        "127.0.0.1:0",
        "--listen-metrics-addr",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--max-retry-delay",
        "1s",
    ])
    .expect("flags")
}

fn main() {
    let seeds = env("SEALANT_SOAK_SEEDS", 10);
    let first = env("SEALANT_SOAK_FIRST_SEED", 1);
    let objects = usize::try_from(env("SEALANT_SOAK_OBJECTS", 1000)).unwrap_or(1000);
    let rounds = usize::try_from(env("SEALANT_SOAK_ROUNDS", 5)).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "fault soak: {seeds} seeds x {rounds} rounds, {objects} SealedSecrets at the start, \
         10 creates / 20 updates / 5 deletes per round, --max-retry-delay 1s"
    );
    println!(
        "| seed | live at end | changes | faults hit | SealedSecret list pages | converged after, median / max | wall | result |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut failed = 0;
    let mut all_rounds: Vec<Duration> = Vec::new();
    for seed in first..first + seeds {
        let params = scenario::Params::new(seed, objects, rounds);
        let started = Instant::now();
        let result = rt.block_on(async {
            let server = fake_apiserver::FakeApiServer::start()
                .await
                .expect("fake API server");
            let result = scenario::run(&server, &params, |client| async move {
                let running = sealant_controller::start(config(), client)
                    .await
                    .expect("controller");
                running.keys.wait_loaded().await;
                running
            })
            .await;
            match result {
                Ok((report, running)) => {
                    running.shutdown().await;
                    Ok(report)
                }
                Err(e) => Err(e),
            }
        });
        let wall = started.elapsed();
        match result {
            Ok(report) => {
                let mut times = report.converged_after.clone();
                times.sort();
                let median = times.get(times.len() / 2).copied().unwrap_or_default();
                let max = times.last().copied().unwrap_or_default();
                all_rounds.extend(times);
                println!(
                    "| {seed} | {} | {} | {} | {} | {:.2} s / {:.2} s | {:.1} s | converged, quiet |",
                    report.live,
                    report.changes,
                    report.faults_hit,
                    report.list_pages,
                    median.as_secs_f64(),
                    max.as_secs_f64(),
                    wall.as_secs_f64()
                );
            }
            Err(e) => {
                failed += 1;
                println!(
                    "| {seed} | | | | | | {:.1} s | FAILED: {e} |",
                    wall.as_secs_f64()
                );
            }
        }
    }
    all_rounds.sort();
    let pick = |q: f64| {
        let i = ((all_rounds.len() as f64 - 1.0) * q).round() as usize;
        all_rounds.get(i).map_or(0.0, Duration::as_secs_f64)
    };
    println!(
        "\n{} of {seeds} seeds converged in every round; {} rounds, time to converge after the \
         faults cleared: median {:.2} s, p90 {:.2} s, max {:.2} s",
        seeds - failed,
        all_rounds.len(),
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
