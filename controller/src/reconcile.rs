//! The reconcile loop: SealedSecrets into Secrets (compat spec §3.4, §3.7), status, events.
//!
//! One `kube::runtime::Controller` per watched scope (all namespaces, or each listed
//! namespace) with a configurable number of parallel decryptions (`--workers`) and four times as many
//! reconciles in flight, so API round trips overlap decryption. Triggers ([`crate::triggers`]:
//! never read from a cached copy older than their event, also when a relist spans pages):
//! - SealedSecret changes (any metadata or spec change; the echo of this replica's own status
//!   write triggers nothing ([`crate::own_writes`]), other status-only writes cost one cheap
//!   pass), and every SealedSecret once a (re)list is complete;
//! - Secrets, watched as METADATA ONLY (no Secret data is ever cached): an event on a Secret
//!   owned by a SealedSecret or annotated `managed` reconciles the SealedSecret of the same
//!   name (not for the echo of this replica's own Secret write), so a deleted Secret is
//!   re-created; after a relist of Secrets, the SealedSecrets whose Secret changed or went while
//!   the watch was down;
//! - keyring changes: objects that failed with a key-related (permanent) unseal error are retried.
//!
//! A reconcile never decrypts when the Secret already carries the digest of this SealedSecret
//! ([`crate::secret_merge::ANNOTATION_UNSEALED_FROM`]), so restarts and no-op passes cost no
//! private-key operation and no write. Transient failures are retried with exponential backoff;
//! permanent ones wait for the object or the keys to change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::{Event as KubeEvent, EventType, Recorder};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use sealant_api::{
    ANNOTATION_MANAGED, SealedSecret, SealedSecretStatus, UnsealError, UnsealOptions, UnsealOutput,
    scope_from_annotations, unseal,
};
use tokio::sync::broadcast;

use crate::cache::CachedSealedSecret as Cached;
use crate::keys::{KeyState, Keys, truncate};
use crate::lean_writes;
use crate::metrics::{CONDITION_TYPES, Metrics};
use crate::own_writes::OwnWrites;
use crate::secret_merge::{
    ANNOTATION_UNSEALED_FROM, LABEL_UNSEALED, Plan, SecretIndex, labelled, may_write, plan,
    recorded_digest,
};
use crate::status::{self, Outcome};
use crate::wipe::Wiped;

/// Unexpected internal failures of a reconcile (API and unseal failures are outcomes instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A background task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The settings of reconciling, from the command line.
#[derive(Clone, Debug)]
pub struct ReconcileOptions {
    /// Accept deprecated v1 `spec.data`.
    pub accept_v1_data: bool,
    /// Write the status subresource.
    pub update_status: bool,
    /// Longest retry delay.
    pub max_retry_delay: Duration,
    /// Parallel decryptions (`--workers`).
    pub workers: u16,
    /// Refuse `spec.template.data` (`--disable-templates`).
    pub templates_disabled: bool,
}

/// What reconciles share.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Current keys.
    pub keys: Keys,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// How objects are reconciled.
    pub options: ReconcileOptions,
    retries: Mutex<HashMap<ObjectRef<Cached>, u32>>,
    /// The resourceVersion each object had when this replica last wrote its status, until a newer
    /// copy reaches the cache (see [`Context::superseded`]).
    status_written_over: Mutex<HashMap<ObjectRef<Cached>, String>>,
    /// Digests of Secrets sealant wrote, from the Secret watch.
    index: Arc<SecretIndex>,
    /// Whether the Secret watch (and so the index) runs.
    index_enabled: std::sync::atomic::AtomicBool,
    /// With leader election: writes happen only while this replica leads.
    leadership: Option<crate::leader::Leadership>,
    /// Benchmark-only naive strategy (`--bench-naive`).
    naive: bool,
    /// The threads that decrypt (`--workers`).
    unseal_pool: crate::unseal_pool::UnsealPool,
    /// Decryptions started while the initial list was still arriving (see [`Context::head_start`]).
    head_starts: Mutex<HashMap<ObjectRef<Cached>, HeadStart>>,
    /// Lets the objects of a complete list into the reconcile queue a few at a time.
    list_pacer: Arc<crate::triggers::ListPacer>,
    /// Objects whose last decryption failed for good, with what failed: the same spec with the
    /// same keys fails the same way, so the pass that the failure's own status write triggers
    /// (and any other before the spec or the keys change) does not decrypt again; when the keys
    /// change, these are the objects retried.
    unseal_failed: Mutex<HashMap<ObjectRef<Cached>, UnsealFailure>>,
    /// Status writes awaiting their echo through the SealedSecret watch.
    own_status_writes: Arc<OwnWrites>,
    /// Secret writes awaiting their echo through the Secret watch.
    own_secret_writes: Arc<OwnWrites>,
}

/// A decryption that failed for good: for this digest with these keys.
struct UnsealFailure {
    digest: String,
    keys: Arc<KeyState>,
    reason: String,
    message: String,
}

/// A decryption's result and how long it took.
type Unsealed = (Result<UnsealOutput, UnsealError>, Duration);

/// A decryption queued before its reconcile, valid for this spec and these keys only.
struct HeadStart {
    digest: String,
    keys: Arc<KeyState>,
    job: crate::unseal_pool::Job<Unsealed>,
    started: Instant,
}

/// How long a head start is kept for an object the cache does not have. The cache gets the
/// initial list only once all of it has arrived, so a young head start of an object it lacks is
/// normal; an old one is for an object deleted before its reconcile, and goes (with its result).
const HEAD_START_GRACE: Duration = Duration::from_secs(60);

/// Most decryptions queued ahead of their reconciles, per decryption thread. The initial list of
/// 5,000 objects takes about 0.3 s to arrive, and reconciles start only once it is complete;
/// 64 per thread (about 0.3 s of RSA-4096 work) keeps the threads busy through that and bounds
/// what is held.
const HEAD_STARTS_PER_WORKER: usize = 64;

impl Context {
    /// A context whose `options.workers` threads decrypt (at most that many decryptions at once).
    pub fn new(
        client: Client,
        keys: Keys,
        metrics: Arc<Metrics>,
        recorder: Recorder,
        options: ReconcileOptions,
    ) -> Self {
        Context {
            client,
            keys,
            metrics,
            recorder,
            // Results in batches of half the reconciles in flight: those write together while the
            // other half wait for their decryption, so the threads never run dry.
            unseal_pool: crate::unseal_pool::UnsealPool::new(
                usize::from(options.workers),
                usize::from(options.workers) * usize::from(IN_FLIGHT_PER_WORKER) / 2,
            ),
            // Twice the reconciles in flight: a free slot always finds one waiting.
            list_pacer: Arc::new(crate::triggers::ListPacer::new(
                usize::from(options.workers) * usize::from(IN_FLIGHT_PER_WORKER) * 2,
            )),
            options,
            retries: Mutex::new(HashMap::new()),
            unseal_failed: Mutex::new(HashMap::new()),
            status_written_over: Mutex::new(HashMap::new()),
            index: Arc::new(SecretIndex::default()),
            index_enabled: std::sync::atomic::AtomicBool::new(false),
            leadership: None,
            naive: false,
            head_starts: Mutex::new(HashMap::new()),
            own_status_writes: Default::default(),
            own_secret_writes: Default::default(),
        }
    }

    /// Writes only while `leadership` says this replica leads (checked right before each write,
    /// so a leader that steps down stops writing even mid-reconcile).
    pub fn with_leadership(mut self, leadership: crate::leader::Leadership) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Benchmark-only naive strategy: key-id hints ignored (every key tried, newest first) and
    /// the recorded digest ignored (every object decrypted on every start).
    pub fn with_naive(mut self, naive: bool) -> Self {
        self.naive = naive;
        self
    }

    fn leading(&self) -> bool {
        self.leadership.as_ref().is_none_or(|l| l.is_leader())
    }

    fn next_delay(&self, obj: &ObjectRef<Cached>) -> Duration {
        let mut r = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        let n = r.entry(obj.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let base = Duration::from_millis(250);
        let exp = base.saturating_mul(1u32 << (*n - 1).min(16));
        exp.min(self.options.max_retry_delay.max(base))
    }

    fn settled(&self, obj: &ObjectRef<Cached>, key_related: bool) {
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(obj);
        if !key_related {
            self.unseal_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(obj);
        }
    }

    /// Whether `rv` is the version this replica already wrote a status over, i.e. the cached copy
    /// is older than the cluster's. That happens when another trigger (the Secret this reconcile
    /// created) runs the next reconcile before the watch delivered the status write; acting on the
    /// old copy would write the same status again and fail with a conflict. The newer copy is on
    /// its way and triggers its own reconcile; the caller requeues in case it does not.
    fn superseded(&self, obj: &ObjectRef<Cached>, rv: Option<&str>) -> bool {
        let mut w = self
            .status_written_over
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match w.get(obj) {
            Some(old) if rv == Some(old.as_str()) => true,
            Some(_) => {
                w.remove(obj);
                false
            }
            None => false,
        }
    }

    /// Starts decrypting `ss` as it arrives in the initial list, before its reconcile can run
    /// (kube-runtime runs none until the whole list is in, which left the decryption threads
    /// idle for the length of the list). Only for objects that would be decrypted anyway: never
    /// reconciled (no status) and without a Secret in the synced index. The reconcile takes the
    /// result if the spec and keys are still the same, and decrypts afresh otherwise.
    fn head_start(&self, ss: SealedSecret, cached: &Cached, workers: usize) {
        if self.naive
            || cached.status_written()
            || !self
                .index_enabled
                .load(std::sync::atomic::Ordering::Relaxed)
            || !self.index.is_synced()
        {
            return;
        }
        let namespace = cached.namespace().unwrap_or_default();
        let name = cached.name_any();
        if self.index.knows(&namespace, &name) {
            return;
        }
        let mut starts = self.head_starts.lock().unwrap_or_else(|e| e.into_inner());
        if starts.len() >= workers.saturating_mul(HEAD_STARTS_PER_WORKER) {
            return;
        }
        let keys = self.keys.current();
        let job = self.submit_unseal(ss, keys.clone());
        self.metrics.unseal_head_starts.inc();
        starts.insert(
            ObjectRef::from_obj(cached),
            HeadStart {
                digest: cached.digest().to_owned(),
                keys,
                job,
                started: Instant::now(),
            },
        );
    }

    /// The head start of `obj`, if it decrypted this `digest` with these `keys`; any other one is
    /// dropped (its result is discarded when it completes).
    fn take_head_start(
        &self,
        obj: &ObjectRef<Cached>,
        digest: &str,
        keys: &Arc<KeyState>,
    ) -> Option<crate::unseal_pool::Job<Unsealed>> {
        let start = self
            .head_starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(obj)?;
        (start.digest == digest && Arc::ptr_eq(&start.keys, keys)).then_some(start.job)
    }

    /// Queues the decryption of `ss` with `keys` on the decryption threads.
    fn submit_unseal(
        &self,
        ss: SealedSecret,
        keys: Arc<KeyState>,
    ) -> crate::unseal_pool::Job<Unsealed> {
        let opts = UnsealOptions {
            accept_v1_data: self.options.accept_v1_data,
            templates_disabled: self.options.templates_disabled,
        };
        let mut owned = ss;
        if self.naive
            && let Some(a) = owned.metadata.annotations.as_mut()
        {
            a.remove(sealant_api::ANNOTATION_KEY_IDS);
        }
        self.unseal_pool.submit(move || {
            let started = Instant::now();
            (unseal(&owned, &keys.opening, &opts), started.elapsed())
        })
    }

    fn status_written(&self, obj: &ObjectRef<Cached>, over: Option<&str>) {
        if let Some(rv) = over {
            self.status_written_over
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(obj.clone(), rv.to_owned());
        }
    }

    /// The objects whose last decryption failed for good: what a new keyring may open. Their
    /// entries stay (they no longer match the new keys); each retry replaces or removes its own.
    fn key_failed(&self) -> Vec<ObjectRef<Cached>> {
        self.unseal_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

/// What one sync pass found, plus the event to emit.
struct Pass {
    outcome: Outcome,
    /// `(type, reason, note)` of an event to publish if the status changed (warnings) or
    /// unconditionally (`Unsealed` after a write).
    event: Option<(EventType, &'static str, String)>,
    /// Failed for a reason a keyring change might fix.
    key_related: bool,
    /// Failed because of a Secret the Secret watch does not see (not sealant's, so not
    /// labelled): whether it went or became `managed` is found by reading it again later.
    poll: bool,
    /// Whether this pass decrypted the object (else `compromised` is unknown, not empty).
    decrypted: bool,
    /// Ids of the keys labelled `compromised` that opened the values.
    compromised: Vec<String>,
}

impl Pass {
    fn ready(wrote: bool) -> Self {
        Pass {
            outcome: Outcome::Ready,
            event: wrote.then(|| {
                (
                    EventType::Normal,
                    "Unsealed",
                    "SealedSecret unsealed successfully".to_owned(),
                )
            }),
            key_related: false,
            poll: false,
            decrypted: false,
            compromised: Vec::new(),
        }
    }

    /// A Secret this SealedSecret may not write is in the way.
    fn conflict(name: &str) -> Self {
        let mut pass = Pass::failed(
            true,
            "SecretConflict",
            "ErrUpdateFailed",
            format!(
                "Resource \"{name}\" already exists and is not managed by SealedSecret: delete \
                 it, or annotate it {ANNOTATION_MANAGED}: \"true\" to let the controller take it \
                 over"
            ),
        );
        pass.poll = true;
        pass
    }

    /// The target Secret is immutable and would change.
    fn immutable(namespace: &str, name: &str) -> Self {
        Pass::failed(
            true,
            "SecretImmutable",
            "ErrUpdateFailed",
            format!(
                "Error updating {namespace}/{name}: the target Secret is immutable. Once a Secret \
                 is marked as immutable, it is not possible to revert this change nor to mutate \
                 the contents of the data field. You can only delete and recreate the Secret."
            ),
        )
    }

    fn failed(permanent: bool, reason: &str, event: &'static str, message: String) -> Self {
        let outcome = if permanent {
            Outcome::Stalled {
                reason: reason.to_owned(),
                message: message.clone(),
            }
        } else {
            Outcome::Retrying {
                reason: reason.to_owned(),
                message: message.clone(),
            }
        };
        Pass {
            outcome,
            event: Some((EventType::Warning, event, message)),
            key_related: false,
            poll: false,
            decrypted: false,
            compromised: Vec::new(),
        }
    }
}

/// A digest of everything the Secret is derived from: identity, scope, spec and options.
pub fn digest(ss: &SealedSecret, accept_v1_data: bool) -> String {
    let top = ss.metadata.annotations.clone().unwrap_or_default();
    let input = serde_json::json!({
        "v": 1,
        "namespace": ss.metadata.namespace,
        "name": ss.metadata.name,
        "uid": ss.metadata.uid,
        "scope": scope_from_annotations(&top).as_str(),
        "acceptV1": accept_v1_data,
        "spec": ss.spec,
    });
    let bytes = serde_json::to_vec(&input).unwrap_or_default();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    format!("sha256:{}", hex::encode(&d.as_ref()[..16]))
}

/// Reconciles one SealedSecret.
pub async fn reconcile(ss: Arc<Cached>, ctx: Arc<Context>) -> Result<Action, Error> {
    let obj = ObjectRef::from_obj(&*ss);
    ctx.metrics.reconciles.inc();
    ctx.list_pacer.started(&obj);
    if ss.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if ctx.superseded(&obj, ss.resource_version()) {
        // Normally the newer copy's own event comes first; the requeue covers a watch that is
        // down meanwhile, so this pass is never the last one.
        return Ok(Action::requeue(ctx.next_delay(&obj)));
    }
    let namespace = ss.namespace().unwrap_or_default();
    let pass = sync(&ss, &ctx).await;
    // A head start this pass did not take (the Secret turned out to exist, say) is stale now.
    ctx.head_starts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&obj);
    let pass = pass?;
    if !ctx.leading() {
        return Ok(Action::await_change());
    }

    // Which compromised keys opened it: known after a decryption; otherwise what the last
    // decryption found (forgotten whenever the set of compromised keys changes).
    let compromised = if pass.decrypted {
        ctx.metrics
            .compromised_use
            .set(&namespace, &ss.name_any(), &pass.compromised);
        pass.compromised.clone()
    } else {
        ctx.metrics.compromised_use.get(&namespace, &ss.name_any())
    };
    let now = Time(Timestamp::now());
    let old = ss.status();
    let new_status = status::desired(
        old.as_ref(),
        ss.metadata.generation,
        &pass.outcome,
        &compromised,
        &now,
    );
    let changed = status::needs_write(old.as_ref(), &new_status);
    // Before the status write, so a client that sees the new status also sees the gauges.
    set_condition_gauges(&ctx, &ss, &new_status);
    let mut status_ok = true;
    if changed && ctx.options.update_status {
        match lean_writes::replace_status::<SealedSecret, _>(
            &ctx.client,
            &namespace,
            &ss.name_any(),
            ss.resource_version(),
            &new_status,
        )
        .await
        {
            Ok(written) => {
                ctx.status_written(&obj, ss.resource_version());
                if !ctx.naive {
                    ctx.own_status_writes.record(&written);
                }
            }
            Err(e) => {
                status_ok = false;
                ctx.metrics.error("status", &namespace);
                tracing::warn!(sealedsecret = %obj, error = %e, "cannot update status; retrying");
            }
        }
    }
    let flagged = |st: Option<&SealedSecretStatus>| {
        st.and_then(|st| {
            st.conditions
                .iter()
                .find(|c| c.type_ == status::KEY_COMPROMISED)
        })
        .and_then(|c| c.message.clone())
    };
    if changed && !compromised.is_empty() && flagged(old.as_ref()) != flagged(Some(&new_status)) {
        publish(
            &ctx,
            &ss,
            EventType::Warning,
            status::REASON_COMPROMISED,
            &status::compromised_message(&compromised),
        )
        .await;
    }
    match &pass.event {
        Some((EventType::Normal, reason, note)) => {
            publish(&ctx, &ss, EventType::Normal, reason, note).await
        }
        Some((EventType::Warning, reason, note)) if changed => {
            publish(&ctx, &ss, EventType::Warning, reason, note).await
        }
        _ => {}
    }

    let action = match (&pass.outcome, status_ok) {
        (_, false) => Action::requeue(ctx.next_delay(&obj)),
        (Outcome::Ready, true) => {
            tracing::debug!(sealedsecret = %obj, "in sync");
            ctx.settled(&obj, false);
            Action::await_change()
        }
        (Outcome::Stalled { reason, message }, true) => {
            if changed {
                tracing::warn!(sealedsecret = %obj, reason = %reason, "{message}");
            }
            if pass.poll {
                // Nothing will trigger a pass when the Secret in the way goes or is annotated
                // `managed` (it is outside the Secret watch), so look again, ever less often.
                Action::requeue(ctx.next_delay(&obj))
            } else {
                ctx.settled(&obj, pass.key_related);
                Action::await_change()
            }
        }
        (Outcome::Retrying { reason, message }, true) => {
            let delay = ctx.next_delay(&obj);
            tracing::warn!(sealedsecret = %obj, reason = %reason, retry_in = ?delay, "{message}");
            Action::requeue(delay)
        }
    };
    Ok(action)
}

async fn publish(ctx: &Context, ss: &Cached, type_: EventType, reason: &str, note: &str) {
    let ev = KubeEvent {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note.to_owned())),
        action: "Unseal".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &ss.reference()).await {
        tracing::warn!(error = %e, "cannot publish event");
    }
}

fn set_condition_gauges(ctx: &Context, ss: &Cached, st: &SealedSecretStatus) {
    let instance = ss.instance();
    let values = CONDITION_TYPES.map(|t| {
        st.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map_or(0, |c| status::gauge_value(&c.status))
            .clamp(-1, 1) as i8
    });
    ctx.metrics.condition_info.set(
        ss.metadata.namespace.as_deref().unwrap_or_default(),
        ss.metadata.name.as_deref().unwrap_or_default(),
        instance,
        values,
    );
}

/// Drops what is kept per SealedSecret (`condition_info` series, status-write versions, head
/// starts) for objects that no longer exist.
fn prune_per_object_state(ctx: &Context, stores: &[Store<Cached>]) {
    let exists = |obj: &ObjectRef<Cached>| stores.iter().any(|s| s.get(obj).is_some());
    ctx.metrics
        .condition_info
        .retain(|namespace, name| exists(&ObjectRef::new(name).within(namespace)));
    ctx.metrics
        .compromised_use
        .retain(|namespace, name| exists(&ObjectRef::new(name).within(namespace)));
    ctx.status_written_over
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|obj, _| exists(obj));
    ctx.head_starts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|obj, h| h.started.elapsed() < HEAD_START_GRACE || exists(obj));
    ctx.unseal_failed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|obj, _| exists(obj));
}

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Whether an API error on a Secret write can go away by retrying.
fn transient(e: &kube::Error) -> bool {
    match api_code(e) {
        Some(400 | 404 | 422) => false,
        Some(_) | None => true,
    }
}

async fn sync(ss: &Cached, ctx: &Context) -> Result<Pass, Error> {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let uid = ss.uid().to_owned();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let digest = ss.digest();

    // Templates switched off: refused before any request or decryption, also when a Secret
    // rendered earlier (with templates on) is still there.
    if ctx.options.templates_disabled && ss.templated() {
        let cause = sealant_api::FailureCause::TemplatesDisabled;
        ctx.metrics.error("unseal", &namespace);
        return Ok(Pass::failed(
            true,
            cause.reason(),
            "ErrUnsealFailed",
            format!("cannot unseal {namespace}/{name}: spec.template.data: {cause}"),
        ));
    }

    // Known in sync from the Secret watch: no request, no decryption. At startup, wait (briefly)
    // for the first list of Secrets so a restart over synced objects costs no request at all.
    if ctx.index_enabled.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = tokio::time::timeout(Duration::from_secs(10), ctx.index.wait_synced()).await;
    }
    // While a key is labelled compromised, only a decryption tells which objects it opens, so
    // objects in sync are decrypted too (and not rewritten: the write plan finds them unchanged).
    let trust_digest = !ctx.naive && ctx.keys.current().compromised.is_empty();
    if trust_digest && ctx.index.in_sync(&namespace, &name, digest, &uid) {
        return Ok(Pass::ready(false));
    }
    // A SealedSecret nobody has reconciled yet, whose name the synced index does not know,
    // almost never has a Secret: skip the read and create directly. If one exists after all,
    // the create answers 409 and the usual read-then-plan path runs (at the cost of this one
    // decryption, once per object).
    let assume_absent = !ctx.naive
        && !ss.status_written()
        && ctx.index.is_synced()
        && !ctx.index.knows(&namespace, &name);
    let existing = if assume_absent {
        None
    } else {
        match read_existing(&secrets, ss, digest, trust_digest, ctx).await {
            Ok(existing) => existing,
            Err(pass) => return Ok(*pass),
        }
    };

    let keys = ctx.keys.current();
    let obj = ObjectRef::from_obj(ss);
    if !ctx.naive {
        let failed = ctx.unseal_failed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = failed.get(&obj)
            && f.digest == digest
            && Arc::ptr_eq(&f.keys, &keys)
        {
            let mut pass = Pass::failed(true, &f.reason, "ErrUnsealFailed", f.message.clone());
            pass.key_related = true;
            return Ok(pass);
        }
    }
    let job = match ctx.take_head_start(&obj, digest, &keys) {
        Some(job) => job,
        None => ctx.submit_unseal(ss.to_sealed_secret(), keys.clone()),
    };
    let (result, took) = job.await.map_err(|e| Error::Internal(e.to_string()))?;
    ctx.metrics.unseal_requests.inc();
    ctx.metrics.unseal_duration.observe(took.as_secs_f64());
    let out = match result {
        Ok(out) => {
            ctx.metrics
                .private_key_operations
                .inc_by(u64::try_from(out.rsa_ops).unwrap_or(u64::MAX));
            out
        }
        Err(e) => {
            ctx.metrics.error("unseal", &namespace);
            let permanent = e.is_permanent();
            let mut failed = ctx.unseal_failed.lock().unwrap_or_else(|e| e.into_inner());
            if permanent {
                failed.insert(
                    obj,
                    UnsealFailure {
                        digest: digest.to_owned(),
                        keys: keys.clone(),
                        reason: e.reason().to_owned(),
                        message: e.to_string(),
                    },
                );
            } else {
                failed.remove(&obj);
            }
            let mut pass = Pass::failed(permanent, e.reason(), "ErrUnsealFailed", e.to_string());
            pass.key_related = permanent;
            return Ok(pass);
        }
    };
    ctx.unseal_failed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&obj);
    let compromised: Vec<String> = out
        .key_ids
        .iter()
        .map(|id| id.as_str().to_owned())
        .filter(|id| keys.compromised.contains(id))
        .collect();
    let decrypted = |mut pass: Pass| {
        pass.decrypted = true;
        pass.compromised = compromised.clone();
        pass
    };
    let mut desired = out.secret;
    desired
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(ANNOTATION_UNSEALED_FROM.to_owned(), digest.to_owned());
    desired
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(LABEL_UNSEALED.to_owned(), "true".to_owned());

    if !ctx.leading() {
        return Ok(Pass::failed(
            false,
            "NotLeader",
            "ErrUpdateFailed",
            "this replica stopped leading".to_owned(),
        ));
    }
    // A copy for the create-found-one-after-all path, wiped when dropped.
    let retry = assume_absent.then(|| Wiped(desired.clone()));
    let target = (namespace.as_str(), name.as_str());
    let templated = ss.templated();
    let pass = write(target, existing.as_deref(), desired, (&uid, templated), ctx).await;
    match retry {
        Some(mut desired) if pass.already_exists => {
            tracing::debug!(namespace = %namespace, name = %name, "Secret exists after all; reading it");
            let existing = match read_existing(&secrets, ss, digest, trust_digest, ctx).await {
                Ok(existing) => existing,
                Err(pass) => return Ok(decrypted(*pass)),
            };
            Ok(decrypted(
                write(
                    target,
                    existing.as_deref(),
                    std::mem::take(&mut *desired),
                    (&uid, templated),
                    ctx,
                )
                .await
                .pass,
            ))
        }
        _ => Ok(decrypted(pass.pass)),
    }
}

/// Reads the target Secret. `Err` carries the finished pass: the read failed, the Secret is not
/// ours to write, or it already carries this SealedSecret's digest.
async fn read_existing(
    secrets: &Api<Secret>,
    ss: &Cached,
    digest: &str,
    trust_digest: bool,
    ctx: &Context,
) -> Result<Option<Wiped>, Box<Pass>> {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let uid = ss.uid();
    // It holds the values in plaintext: wiped when dropped.
    let existing = match secrets.get_opt(&name).await {
        Ok(e) => e.map(Wiped),
        Err(e) => {
            ctx.metrics.error("update", &namespace);
            return Err(Box::new(Pass::failed(
                false,
                "UpdateFailed",
                "ErrUpdateFailed",
                format!("cannot read Secret {namespace}/{name}: {e}"),
            )));
        }
    };
    if let Some(ex) = &existing {
        if !may_write(ex, uid) {
            ctx.metrics.error("unmanaged", &namespace);
            return Err(Box::new(Pass::conflict(&name)));
        }
        if trust_digest && recorded_digest(ex) == Some(digest) {
            return Err(Box::new(label_if_missing(ex, ctx).await));
        }
    }
    Ok(existing)
}

/// The pass for a Secret that already carries this SealedSecret's digest. Written by a sealant
/// that did not label its Secrets yet (or the label was removed by hand), it is outside the
/// Secret watch: a deletion would go unnoticed and every pass would read it. So it gets the
/// label, once, with an update of the Secret as read (no decryption; `update` is in upstream's
/// RBAC, `patch` is not); the watch then brings it into the index.
async fn label_if_missing(existing: &Secret, ctx: &Context) -> Pass {
    if labelled(&existing.metadata) || !ctx.index_enabled.load(std::sync::atomic::Ordering::Relaxed)
    {
        return Pass::ready(false);
    }
    let namespace = existing.metadata.namespace.as_deref().unwrap_or_default();
    let name = existing.metadata.name.as_deref().unwrap_or_default();
    if !ctx.leading() {
        return Pass::failed(
            false,
            "NotLeader",
            "ErrUpdateFailed",
            "this replica stopped leading".to_owned(),
        );
    }
    let mut with_label = Wiped(existing.clone());
    with_label
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(LABEL_UNSEALED.to_owned(), "true".to_owned());
    match lean_writes::replace(&ctx.client, namespace, name, &*with_label).await {
        Ok(written) => {
            ctx.index.record_written(&written);
            tracing::info!(namespace = %namespace, name = %name, "Secret labelled {LABEL_UNSEALED}");
            Pass::ready(false)
        }
        Err(e) => {
            ctx.metrics.error("update", namespace);
            // A 404 means the Secret went since it was read: the next pass creates it. It is
            // not under the watch, so nothing else would bring that pass.
            Pass::failed(
                !transient(&e) && api_code(&e) != Some(404),
                "UpdateFailed",
                "ErrUpdateFailed",
                format!("cannot label Secret {namespace}/{name}: {e}"),
            )
        }
    }
}

/// The outcome of [`write`]; `already_exists` when a create found a Secret in the way.
struct Written {
    pass: Pass,
    already_exists: bool,
}

/// Writes `desired` over `existing` as [`plan`] says. `templated`: the data was rendered from
/// `spec.template.data`.
async fn write(
    (namespace, name): (&str, &str),
    existing: Option<&Secret>,
    desired: Secret,
    (uid, templated): (&str, bool),
    ctx: &Context,
) -> Written {
    let done = |pass| Written {
        pass,
        already_exists: false,
    };
    // Over an immutable Secret, whether a new rendering equals the old one depends on the
    // values; so that the outcome does not, a changed templated SealedSecret (the digest differs,
    // or this write would not happen) is refused without comparing data.
    if templated && existing.is_some_and(|e| e.immutable == Some(true) && may_write(e, uid)) {
        ctx.metrics.error("update", namespace);
        return done(Pass::immutable(namespace, name));
    }
    let result = match plan(existing, desired, uid) {
        Plan::Unchanged => return done(Pass::ready(false)),
        Plan::Conflict => {
            ctx.metrics.error("unmanaged", namespace);
            return done(Pass::conflict(name));
        }
        Plan::Immutable => {
            ctx.metrics.error("update", namespace);
            return done(Pass::immutable(namespace, name));
        }
        // The planned Secret holds the plaintext: wiped once the request is made.
        Plan::Create(s) => {
            let s = crate::wipe::Wiped(*s);
            lean_writes::create(&ctx.client, namespace, &*s).await
        }
        Plan::Update(s) => {
            let s = crate::wipe::Wiped(*s);
            lean_writes::replace(&ctx.client, namespace, name, &*s).await
        }
    };
    match result {
        Ok(written) => {
            if ctx.index_enabled.load(std::sync::atomic::Ordering::Relaxed) {
                ctx.index.record_written(&written);
            }
            if !ctx.naive {
                ctx.own_secret_writes.record(&written);
            }
            tracing::info!(namespace = %namespace, name = %name, "Secret written");
            done(Pass::ready(true))
        }
        Err(e) if existing.is_none() && api_code(&e) == Some(409) => Written {
            pass: Pass::failed(
                false,
                "UpdateFailed",
                "ErrUpdateFailed",
                format!("cannot create Secret {namespace}/{name}: it appeared meanwhile"),
            ),
            already_exists: true,
        },
        Err(e) => {
            ctx.metrics.error("update", namespace);
            let text = e.to_string();
            if text.contains("field is immutable when `immutable` is set") {
                return done(Pass::immutable(namespace, name));
            }
            done(Pass::failed(
                !transient(&e),
                "UpdateFailed",
                "ErrUpdateFailed",
                format!("cannot write Secret {namespace}/{name}: {text}"),
            ))
        }
    }
}

/// Requeue policy for unexpected errors.
pub fn error_policy(_ss: Arc<Cached>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::error!(error = %err, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// Reconciles in flight per decryption slot: while some wait on API round trips (read, write,
/// status, event), others decrypt, so the cores stay busy. Measured with the scale benchmark:
/// with one reconcile per slot, the cores idle for a quarter of a cold start.
const IN_FLIGHT_PER_WORKER: u16 = 4;

/// What the controllers watch.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// `None`: all namespaces.
    pub namespaces: Option<Vec<String>>,
    /// Label selector on SealedSecrets and Secrets.
    pub label_selector: Option<String>,
    /// Do not watch Secrets.
    pub skip_recreate: bool,
    /// Parallel decryptions; reconciles in flight are [`IN_FLIGHT_PER_WORKER`] times this
    /// (exactly this in the serial naive benchmark mode).
    pub workers: u16,
}

/// Runs the controllers until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    opts: WatchOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    // Keyring changes: retry the objects that failed for key reasons; when the set of
    // compromised keys changes, every object (only a decryption tells which key opens it).
    let (trigger_tx, _) = broadcast::channel::<ObjectRef<Cached>>(1024);
    let (recheck_tx, _) = broadcast::channel::<()>(4);
    let key_watch = {
        let ctx = ctx.clone();
        let tx = trigger_tx.clone();
        let recheck = recheck_tx.clone();
        let mut rx = ctx.keys.subscribe();
        let mut seen = rx.borrow().version;
        let mut seen_compromised = rx.borrow().compromised.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let (version, compromised) = {
                    let keys = rx.borrow();
                    (keys.version, keys.compromised.clone())
                };
                if version == seen {
                    continue;
                }
                seen = version;
                if compromised != seen_compromised {
                    tracing::info!(
                        compromised = compromised.len(),
                        "compromised keys changed; checking every SealedSecret"
                    );
                    seen_compromised = compromised;
                    ctx.metrics.compromised_use.clear();
                    let _ = recheck.send(());
                }
                let failed = ctx.key_failed();
                if !failed.is_empty() {
                    tracing::info!(
                        objects = failed.len(),
                        "keyring changed; retrying SealedSecrets that failed for key reasons"
                    );
                }
                for obj in failed {
                    let _ = tx.send(obj);
                }
            }
        })
    };

    let scopes: Vec<Option<String>> = match &opts.namespaces {
        None => vec![None],
        Some(list) => list.iter().cloned().map(Some).collect(),
    };
    let mut tasks = Vec::new();
    let mut stores = Vec::new();
    for scope in scopes {
        let (ss_api, secret_api): (Api<SealedSecret>, Api<PartialObjectMeta<Secret>>) = match &scope
        {
            None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
            Some(ns) => (
                Api::namespaced(ctx.client.clone(), ns),
                Api::namespaced(ctx.client.clone(), ns),
            ),
        };
        let mut wc = watcher::Config::default();
        if let Some(sel) = opts.label_selector.as_deref().filter(|s| !s.is_empty()) {
            wc = wc.labels(sel);
        }
        let (reader, writer) = kube::runtime::reflector::store();
        let early = ctx.clone();
        let workers = usize::from(opts.workers);
        let sealed = watcher::watcher(ss_api, wc.clone().page_size(SEALED_SECRET_PAGE_SIZE))
            .default_backoff()
            .map(move |ev| ev.map(|ev| cache_event(ev, &early, workers)))
            .reflect(writer);
        let in_flight = if ctx.naive {
            opts.workers
        } else {
            opts.workers.saturating_mul(IN_FLIGHT_PER_WORKER)
        };
        let mut controller = Controller::for_shared_stream(
            crate::triggers::sealed_secrets(
                sealed,
                reader.clone(),
                ctx.list_pacer.clone(),
                ctx.own_status_writes.clone(),
            ),
            reader,
        )
        .with_config(ControllerConfig::default().concurrency(in_flight));
        if !opts.skip_recreate {
            ctx.index_enabled
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let secrets = watcher::watcher(
                secret_api,
                watcher::Config::default().labels(&secret_selector(opts.label_selector.as_deref())),
            )
            .default_backoff();
            let store = controller.store();
            controller = controller.reconcile_on(crate::triggers::secrets(
                secrets,
                ctx.index.clone(),
                store,
                ctx.own_secret_writes.clone(),
            ));
        }
        let rx = trigger_tx.subscribe();
        let key_triggers = futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(obj) => return Some((obj, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let recheck = futures_util::stream::unfold(recheck_tx.subscribe(), |mut rx| async move {
            match rx.recv().await {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some(((), rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        stores.push(controller.store());
        let controller = controller
            .reconcile_on(key_triggers)
            .reconcile_all_on(recheck)
            .graceful_shutdown_on(shutdown.clone());
        let ctx = ctx.clone();
        let label = scope.clone().unwrap_or_else(|| "all namespaces".to_owned());
        let store = controller.store();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            tracing::info!(scope = %label, "watching SealedSecrets");
            let run = controller
                .run(reconcile, error_policy, ctx)
                .for_each(|res| async move {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "controller event");
                    }
                });
            // kube-runtime's graceful shutdown stops the watches and lets reconciles in flight
            // finish, but before the first list is complete it waits for that list, which with
            // the watches stopped never comes. No reconcile has run then: stop at once.
            let before_first_list = async {
                stop.await;
                if futures_util::FutureExt::now_or_never(store.wait_until_ready()).is_none() {
                    return;
                }
                std::future::pending::<()>().await;
            };
            tokio::select! {
                _ = run => {}
                _ = before_first_list => {}
            }
        }));
    }
    let pruner = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_INTERVAL);
            loop {
                tick.tick().await;
                prune_per_object_state(&ctx, &stores);
            }
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    pruner.abort();
    key_watch.abort();
}

/// The cache's form of a SealedSecret watch event. An object of the initial list that will
/// need decrypting is queued for it here, while its full copy is at hand ([`Context::head_start`]).
fn cache_event(
    ev: watcher::Event<SealedSecret>,
    ctx: &Context,
    workers: usize,
) -> watcher::Event<Cached> {
    use watcher::Event;
    let accept_v1 = ctx.options.accept_v1_data;
    match ev {
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
        Event::InitApply(ss) => {
            let cached = Cached::new(&ss, accept_v1);
            ctx.head_start(ss, &cached, workers);
            Event::InitApply(cached)
        }
        Event::Apply(ss) => Event::Apply(Cached::new(&ss, accept_v1)),
        Event::Delete(ss) => Event::Delete(Cached::new(&ss, accept_v1)),
    }
}

/// The Secrets watched: those sealant wrote (labelled [`LABEL_UNSEALED`]), narrowed by
/// `--label-selector` as upstream narrows its Secret informer.
fn secret_selector(user: Option<&str>) -> String {
    let ours = format!("{LABEL_UNSEALED}=true");
    match user.map(str::trim).filter(|s| !s.is_empty()) {
        Some(user) => format!("{ours},{user}"),
        None => ours,
    }
}

/// How often per-object state of deleted SealedSecrets is dropped.
const PRUNE_INTERVAL: Duration = Duration::from_secs(2);

/// SealedSecrets per list page. A page is held in full while it is decoded, managedFields and
/// ciphertext included (about 9 KiB per object before `slim_for_cache`), and that transient peak
/// stays in the allocator as free but unreturned memory; the default of 500 made it 4.5 MB.
const SEALED_SECRET_PAGE_SIZE: u32 = 100;
