//! Leader election with a `coordination.k8s.io/v1` Lease (`--leader-elect`).
//!
//! Every replica follows the key Secrets and serves the HTTP API and metrics; only the holder
//! of the Lease reconciles SealedSecrets and generates keys. The protocol is the usual one:
//!
//! - a candidate reads the Lease every `--leader-elect-retry-period`; it takes the Lease when
//!   there is none, when it has no holder (released), or when the holder's record has not
//!   changed for `leaseDurationSeconds` as measured on the candidate's own clock (so clock skew
//!   between machines does not matter);
//! - the leader renews `renewTime` every retry period; every write carries the
//!   `resourceVersion` that was read, so two candidates cannot both win (the loser gets 409);
//! - a leader that has not renewed successfully within `--leader-elect-renew-deadline` of the
//!   start of its last successful renewal steps down at once. Others can take the Lease only
//!   `leaseDurationSeconds` after they SAW that renewal, which is later, so the old leader has
//!   stopped writing before anyone else may start (renew deadline < lease duration);
//! - a graceful shutdown stops reconciling first, then releases the Lease (empty holder), so
//!   another replica takes over on its next retry.
//!
//! Without `--leader-elect` [`Leadership::always`] makes this replica the leader.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Whether this replica leads now; cheap to clone.
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    // Keeps the channel open for `always`.
    _tx: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// This replica always leads (no leader election).
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        Leadership {
            rx,
            _tx: Some(std::sync::Arc::new(tx)),
        }
    }

    /// Whether this replica leads right now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Waits until this replica leads (returns at once if it does).
    pub async fn wait_leader(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|l| *l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Waits until this replica does not lead (returns at once if it does not).
    pub async fn wait_follower(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|l| !*l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Lease timing and identity.
#[derive(Clone, Debug)]
pub struct ElectionOptions {
    /// Namespace of the Lease (the controller namespace).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (`holderIdentity`).
    pub identity: String,
    /// How long others wait after the last observed renewal before taking over.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl ElectionOptions {
    /// Checks that the timings make the protocol safe.
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("--leader-elect-retry-period must be greater than 0".to_owned());
        }
        if self.renew_deadline <= self.retry_period {
            return Err(
                "--leader-elect-renew-deadline must be greater than --leader-elect-retry-period"
                    .to_owned(),
            );
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(
                "--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline"
                    .to_owned(),
            );
        }
        if self.lease_duration.as_secs() < 1 || self.lease_duration.as_secs() > 86_400 {
            return Err("--leader-elect-lease-duration must be between 1s and 24h".to_owned());
        }
        Ok(())
    }
}

/// This replica's identity: env `POD_NAME`, else the host name plus a random suffix.
pub fn default_identity() -> String {
    if let Ok(name) = std::env::var("POD_NAME")
        && !name.is_empty()
    {
        return name;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "sealant-controller".to_owned());
    let mut suffix = [0u8; 4];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let _ = aws_lc_rs::rand::SecureRandom::fill(&rng, &mut suffix);
    format!("{host}_{}", hex::encode(suffix))
}

/// What was last seen of another holder's record, and when (on this replica's clock).
struct Observed {
    record: (Option<String>, Option<Timestamp>, Option<i32>),
    at: Instant,
}

/// Runs the election; publishes leadership through the returned [`Leadership`].
pub struct Elector {
    api: Api<Lease>,
    opts: ElectionOptions,
    tx: watch::Sender<bool>,
    metrics: std::sync::Arc<Metrics>,
    observed: Option<Observed>,
}

/// Why an attempt did not lead.
enum Attempt {
    Leading,
    HeldByOther,
}

impl Elector {
    /// An elector (not running yet) and the leadership it publishes (initially: follower).
    pub fn new(
        client: Client,
        opts: ElectionOptions,
        metrics: std::sync::Arc<Metrics>,
    ) -> (Self, Leadership) {
        let (tx, rx) = watch::channel(false);
        let api = Api::namespaced(client, &opts.namespace);
        (
            Elector {
                api,
                opts,
                tx,
                metrics,
                observed: None,
            },
            Leadership { rx, _tx: None },
        )
    }

    fn set_leader(&self, leader: bool) {
        self.metrics.leader.set(i64::from(leader));
        self.tx.send_if_modified(|l| {
            let changed = *l != leader;
            *l = leader;
            changed
        });
    }

    /// Campaigns and renews until `stop` resolves; then steps down and waits for `released`
    /// (the reconcilers have stopped) before releasing the Lease if this replica holds it.
    pub async fn run(
        mut self,
        stop: impl std::future::Future<Output = ()>,
        released: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut last_renew: Option<Instant> = None;
        tracing::info!(
            lease = %format!("{}/{}", self.opts.namespace, self.opts.name),
            identity = %self.opts.identity,
            "leader election: campaigning"
        );
        loop {
            let started = Instant::now();
            let leading = self.tx.borrow().to_owned();
            // A renewal may not outlive the renew deadline.
            let bound = match (leading, last_renew) {
                (true, Some(t)) => {
                    (t + self.opts.renew_deadline).saturating_duration_since(started)
                }
                _ => self.opts.renew_deadline,
            };
            let attempt = tokio::select! {
                _ = &mut stop => break,
                r = tokio::time::timeout(bound, self.try_acquire_or_renew()) => r,
            };
            match attempt {
                Ok(Ok(Attempt::Leading)) => {
                    last_renew = Some(started);
                    if !leading {
                        tracing::info!(identity = %self.opts.identity, "leader election: now leading");
                        self.set_leader(true);
                    }
                }
                Ok(Ok(Attempt::HeldByOther)) => {
                    if leading {
                        tracing::warn!(
                            "leader election: the Lease was taken by another replica; stepping down"
                        );
                        self.set_leader(false);
                        last_renew = None;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "leader election: cannot read or write the Lease");
                }
                Err(_) => tracing::warn!("leader election: Lease request timed out"),
            }
            if self.tx.borrow().to_owned()
                && last_renew.is_none_or(|t| t.elapsed() >= self.opts.renew_deadline)
            {
                tracing::warn!(
                    "leader election: could not renew the Lease within the renew deadline; stepping down"
                );
                self.set_leader(false);
                last_renew = None;
            }
            let mut wait = self.opts.retry_period;
            if self.tx.borrow().to_owned()
                && let Some(t) = last_renew
            {
                wait = wait
                    .min((t + self.opts.renew_deadline).saturating_duration_since(Instant::now()));
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let was_leading = self.tx.borrow().to_owned();
        self.set_leader(false);
        released.await;
        if was_leading {
            match tokio::time::timeout(self.opts.renew_deadline, self.release()).await {
                Ok(Ok(true)) => tracing::info!("leader election: Lease released"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "leader election: cannot release the Lease")
                }
                Err(_) => tracing::warn!("leader election: releasing the Lease timed out"),
            }
        }
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let duration = i32::try_from(self.opts.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.opts.name).await? else {
            let mut lease = Lease::default();
            lease.metadata.name = Some(self.opts.name.clone());
            lease.metadata.namespace = Some(self.opts.namespace.clone());
            lease.spec = Some(LeaseSpec {
                holder_identity: Some(self.opts.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            });
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Leading),
                Err(e) if is_conflict(&e) => Ok(Attempt::HeldByOther),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| t.0),
            spec.lease_duration_seconds,
        );
        if holder.as_deref() == Some(self.opts.identity.as_str()) {
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(duration);
        } else {
            let seen_at = match &self.observed {
                Some(o) if o.record == record => o.at,
                _ => {
                    let at = Instant::now();
                    self.observed = Some(Observed { record, at });
                    at
                }
            };
            let their_duration = spec
                .lease_duration_seconds
                .and_then(|d| u64::try_from(d).ok())
                .map_or(self.opts.lease_duration, Duration::from_secs);
            if holder.is_some() && seen_at.elapsed() < their_duration {
                return Ok(Attempt::HeldByOther);
            }
            spec.holder_identity = Some(self.opts.identity.clone());
            spec.lease_duration_seconds = Some(duration);
            spec.acquire_time = Some(MicroTime(now));
            spec.renew_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        // The resourceVersion read above makes this write fail (409) if anyone wrote since.
        match self
            .api
            .replace(&self.opts.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Attempt::Leading),
            Err(e) if is_conflict(&e) => Ok(Attempt::HeldByOther),
            Err(e) => Err(e),
        }
    }

    /// Empties `holderIdentity` if this replica holds the Lease; returns whether it did.
    async fn release(&self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.opts.name).await? else {
            return Ok(false);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.opts.identity.as_str()) {
            return Ok(false);
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now.clone());
        spec.acquire_time = Some(now);
        self.api
            .replace(&self.opts.name, &PostParams::default(), &lease)
            .await?;
        Ok(true)
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
