//! A fixed pool of threads for private-key work, fed by a queue.
//!
//! Reconciles queue their decryptions here and wait on the async runtime. A thread takes the
//! next job the moment it finishes one, so while reconciles keep the queue filled the cores never
//! wait for an async task to be scheduled between two decryptions. (With `spawn_blocking` bounded
//! by a semaphore, that hand-over went through the busy runtime threads and left the cores idle
//! for about a third of a cold start.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Task = Box<dyn FnOnce() + Send>;

/// The pool; its threads exit once it is dropped and the queue is drained.
pub struct UnsealPool {
    jobs: mpsc::Sender<Task>,
}

/// The pool is gone, or the job panicked.
#[derive(Debug, thiserror::Error)]
#[error("the unseal job did not complete")]
pub struct JobLost;

impl UnsealPool {
    /// `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sealant-unseal-{i}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let queue = rx.lock().unwrap_or_else(|e| e.into_inner());
                            queue.recv()
                        };
                        match job {
                            // A panicking job drops its reply channel (the caller sees
                            // `JobLost`); the thread lives on.
                            Ok(job) => {
                                let _ = catch_unwind(AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an unseal thread");
            }
        }
        UnsealPool { jobs: tx }
    }

    /// Queues `f` to run on a pool thread; awaiting the returned job (now or later) gives its
    /// result.
    pub fn submit<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Job<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // If the pool is gone, the job is dropped with its sender: awaiting it says `JobLost`.
        let _ = self.jobs.send(Box::new(move || {
            let _ = tx.send(f());
        }));
        Job(rx)
    }
}

/// A queued job's result.
pub struct Job<T>(tokio::sync::oneshot::Receiver<T>);

impl<T> std::future::Future for Job<T> {
    type Output = Result<T, JobLost>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_err(|_| JobLost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn runs_jobs_in_parallel_on_named_threads() {
        let pool = Arc::new(UnsealPool::new(2));
        let started = Instant::now();
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.submit(|| {
                        std::thread::sleep(Duration::from_millis(200));
                        std::thread::current().name().map(str::to_owned)
                    })
                    .await
                })
            })
            .collect();
        let mut names = HashSet::new();
        for j in jobs {
            names.insert(j.await.unwrap().unwrap().unwrap());
        }
        let elapsed = started.elapsed();
        // Four 200 ms jobs on two threads: two rounds, not one and not four.
        assert!(elapsed >= Duration::from_millis(390), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(790), "{elapsed:?}");
        assert_eq!(
            names,
            HashSet::from(["sealant-unseal-0".to_owned(), "sealant-unseal-1".to_owned()])
        );
    }

    #[tokio::test]
    async fn a_panicking_job_is_reported_and_the_thread_survives() {
        let pool = UnsealPool::new(1);
        let lost = pool.submit(|| -> u8 { panic!("job failed") }).await;
        assert!(lost.is_err());
        assert_eq!(pool.submit(|| 7).await.unwrap(), 7);
    }
}
