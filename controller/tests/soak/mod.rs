//! The seeded fault soak (issue 21) at test size: a few hundred SealedSecrets over three list
//! pages, two fault rounds per seed, several seeds. `cargo bench -p sealant-controller --bench
//! soak` runs the same scenario longer.

mod scenario;

use std::time::Duration;

use crate::common::args;

async fn soak(seed: u64) {
    let server = fake_apiserver::FakeApiServer::start().await.unwrap();
    let params = scenario::Params::new(seed, 250, 2);
    let started = std::time::Instant::now();
    let result = scenario::run(&server, &params, |client| async move {
        let running = sealant_controller::start(args(&[]), client).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), running.keys.wait_loaded())
            .await
            .expect("keys loaded");
        running
    })
    .await;
    match result {
        Ok((report, running)) => {
            running.shutdown().await;
            assert_eq!(report.converged_after.len(), 2);
            assert!(report.faults_hit > 0, "no fault bit: {report:?}");
            assert!(
                report.list_pages >= 6,
                "the relists were not paged: {report:?}"
            );
            eprintln!("soak seed {seed}: {report:?} in {:?}", started.elapsed());
        }
        Err(e) => panic!("soak seed {seed}: {e}"),
    }
}

#[tokio::test]
async fn seed_1() {
    soak(1).await;
}

#[tokio::test]
async fn seed_2() {
    soak(2).await;
}

#[tokio::test]
async fn seed_3() {
    soak(3).await;
}
