//! A fixed pool of threads for private-key work, fed by a queue.
//!
//! Reconciles queue their decryptions here and wait on the async runtime. A thread takes the
//! next job the moment it finishes one, so while reconciles keep the queue filled the cores never
//! wait for an async task to be scheduled between two decryptions. (With `spawn_blocking` bounded
//! by a semaphore, that hand-over went through the busy runtime threads and left the cores idle
//! for about a third of a cold start.)
//!
//! Results are handed back in batches while more jobs wait in the queue: a result is held until
//! `batch` are ready or a thread finishes a job with none left queued (at most one decryption
//! later). During a cold start the reconciles then make their
//! API requests several at a time instead of one by one, and the API server and the controller
//! each handle several per wake-up (against the fake API server, eight Secret creates in flight
//! cost each side about half the CPU per request of one at a time); a lone decryption (an apply
//! while idle) is handed back at once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Hands a finished job's result to its waiter.
type Delivery = Box<dyn FnOnce() + Send>;
type Task = Box<dyn FnOnce() -> Delivery + Send>;

/// The pool; its threads exit once it is dropped and the queue is drained.
pub struct UnsealPool {
    jobs: mpsc::Sender<Task>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Jobs submitted and not yet taken by a thread.
    queued: AtomicUsize,
    /// Results held back until `batch` are ready or a job finishes with none queued.
    held: Mutex<Vec<Delivery>>,
    batch: usize,
}

impl Shared {
    /// Holds `delivery`, then hands back everything held if the batch is full or no job waits.
    fn finished(&self, delivery: Option<Delivery>) {
        let ready = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.extend(delivery);
            if held.len() >= self.batch || self.queued.load(Ordering::SeqCst) == 0 {
                std::mem::take(&mut *held)
            } else {
                Vec::new()
            }
        };
        for deliver in ready {
            deliver();
        }
    }
}

/// The pool is gone, or the job panicked.
#[derive(Debug, thiserror::Error)]
#[error("the unseal job did not complete")]
pub struct JobLost;

impl UnsealPool {
    /// `threads` threads (at least one), handing results back `batch` at a time (at least one)
    /// while jobs wait.
    pub fn new(threads: usize, batch: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            held: Mutex::new(Vec::new()),
            batch: batch.max(1),
        });
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let shared = shared.clone();
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
                                shared.queued.fetch_sub(1, Ordering::SeqCst);
                                shared.finished(catch_unwind(AssertUnwindSafe(job)).ok());
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an unseal thread");
            }
        }
        UnsealPool { jobs: tx, shared }
    }

    /// Queues `f` to run on a pool thread; awaiting the returned job (now or later) gives its
    /// result.
    pub fn submit<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Job<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        // If the pool is gone, the job is dropped with its sender: awaiting it says `JobLost`.
        let sent = self.jobs.send(Box::new(move || {
            let result = f();
            Box::new(move || {
                let _ = tx.send(result);
            }) as Delivery
        }));
        if sent.is_err() {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        }
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
        let pool = Arc::new(UnsealPool::new(2, 1));
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
    async fn results_wait_for_a_batch_while_jobs_are_queued_and_come_at_once_otherwise() {
        let pool = UnsealPool::new(1, 3);
        let started = Instant::now();
        // Alone in the queue: handed back as soon as it is done.
        pool.submit(|| std::thread::sleep(Duration::from_millis(100)))
            .await
            .unwrap();
        let alone = started.elapsed();
        assert!(alone < Duration::from_millis(190), "{alone:?}");
        // Three queued at once: the first is held until the third is done (the batch is full).
        let started = Instant::now();
        let jobs: Vec<_> = (0..3)
            .map(|_| pool.submit(|| std::thread::sleep(Duration::from_millis(100))))
            .collect();
        let mut jobs = jobs.into_iter();
        jobs.next().unwrap().await.unwrap();
        let first = started.elapsed();
        assert!(first >= Duration::from_millis(290), "{first:?}");
        for j in jobs {
            j.await.unwrap();
        }
        // Two queued with a batch of three: the queue empties first, and that hands them back.
        let started = Instant::now();
        let a = pool.submit(|| std::thread::sleep(Duration::from_millis(100)));
        let b = pool.submit(|| std::thread::sleep(Duration::from_millis(100)));
        a.await.unwrap();
        let held = started.elapsed();
        assert!(held >= Duration::from_millis(190), "{held:?}");
        assert!(held < Duration::from_millis(290), "{held:?}");
        b.await.unwrap();
    }

    #[tokio::test]
    async fn a_panicking_job_in_a_batch_loses_only_itself() {
        let pool = UnsealPool::new(1, 2);
        let ok = pool.submit(|| 1u8);
        let lost = pool.submit(|| -> u8 { panic!("job failed") });
        let after = pool.submit(|| 3u8);
        assert_eq!(ok.await.unwrap(), 1);
        assert!(lost.await.is_err());
        assert_eq!(after.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_panicking_job_is_reported_and_the_thread_survives() {
        let pool = UnsealPool::new(1, 1);
        let lost = pool.submit(|| -> u8 { panic!("job failed") }).await;
        assert!(lost.is_err());
        assert_eq!(pool.submit(|| 7).await.unwrap(), 7);
    }
}
