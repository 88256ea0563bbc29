//! The key manager: loads sealing keys from key Secrets, follows them at runtime, and
//! generates new keys (none present, renewal period, cutoff time, on request).
//!
//! Keys live in Secrets of the controller's namespace labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key=active` (plus upstream's legacy single-key
//! Secret named `<key-prefix>`), `tls.key` in PKCS#1 or PKCS#8 PEM with `tls.crt` beside it.
//! Both are watched, so keys added, relabelled or deleted take effect without a restart.
//!
//! A key Secret labelled `compromised` instead of `active` is never served, never seals and never
//! counts as the newest key, but still opens what was sealed with it ([`KeyState::opening`]), so
//! applications keep their Secrets while the team re-seals; the reconciler flags every
//! SealedSecret it opens (condition, event, metric). Keys are never deleted by the controller. A key Secret that does not parse
//! is logged, reported with a Warning event on that Secret, and skipped.
//!
//! The current keyring is published through a [`tokio::sync::watch`] channel ([`Keys`]); its
//! `version` changes whenever the set of keys changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::events::{Event as KubeEvent, EventType, Recorder};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use sealant_api::{LABEL_SEALED_SECRETS_KEY, key_secret};
use sealant_crypto::{CertOptions, Certificate, KeyEntry, Keyring, PrivateKey, parse_key_pair};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use crate::config::{Config, KeyOrderPriority};
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::wipe::Wiped;

/// The keys in force.
#[derive(Debug, Default)]
pub struct KeyState {
    /// Every active key, newest first: served, and the newest seals.
    pub keyring: Keyring,
    /// The active keys plus the compromised ones: what unsealing may use.
    pub opening: Keyring,
    /// Key ids of the keys labelled `compromised`.
    pub compromised: BTreeSet<String>,
    /// Bumped whenever the set or order of keys changes.
    pub version: u64,
    /// Whether the initial load (and any startup generation) is done.
    pub loaded: bool,
}

/// A handle on the current keys; cheap to clone.
#[derive(Clone, Debug)]
pub struct Keys(watch::Receiver<Arc<KeyState>>);

impl Keys {
    /// A fixed keyring (for tests and tools): already loaded.
    pub fn fixed(keyring: Keyring) -> Self {
        let (_tx, rx) = watch::channel(Arc::new(KeyState {
            opening: keyring.clone(),
            keyring,
            compromised: BTreeSet::new(),
            version: 1,
            loaded: true,
        }));
        Keys(rx)
    }

    /// The keys now.
    pub fn current(&self) -> Arc<KeyState> {
        self.0.borrow().clone()
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<KeyState>> {
        self.0.clone()
    }

    /// Waits until the initial load is done.
    pub async fn wait_loaded(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|s| s.loaded).await;
    }
}

/// How keys are found and made.
#[derive(Clone, Debug)]
pub struct KeyOptions {
    /// Namespace of the key Secrets.
    pub namespace: String,
    /// `generateName` of new key Secrets and name of the legacy key Secret.
    pub prefix: String,
    /// RSA size of new keys.
    pub bits: usize,
    /// Certificate validity and CN of new keys.
    pub cert: CertOptions,
    /// Renewal period (zero: off).
    pub renew_period: Duration,
    /// Generate at startup if the newest key is older than this.
    pub cutoff: Option<OffsetDateTime>,
    /// What orders keys.
    pub order: KeyOrderPriority,
    /// Extra labels on new key Secrets.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on new key Secrets.
    pub annotations: BTreeMap<String, String>,
}

impl KeyOptions {
    /// Options from the controller configuration.
    pub fn from_config(cfg: &Config) -> Self {
        KeyOptions {
            namespace: cfg.controller_namespace(),
            prefix: cfg.key_prefix.clone(),
            bits: cfg.key_size,
            cert: CertOptions {
                common_name: cfg.my_cn.clone(),
                validity: time::Duration::try_from(cfg.key_ttl)
                    .unwrap_or(time::Duration::hours(87_600)),
            },
            renew_period: cfg.key_renew_period,
            cutoff: cfg.key_cutoff_time,
            order: cfg.key_order_priority,
            labels: cfg.privatekey_labels.0.clone(),
            annotations: cfg.privatekey_annotations.0.clone(),
        }
    }
}

/// Where a key Secret was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    Labelled,
    Legacy,
}

/// Watches key Secrets and generates keys; publishes [`KeyState`].
pub struct KeyManager {
    api: Api<Secret>,
    opts: KeyOptions,
    tx: watch::Sender<Arc<KeyState>>,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    labelled: BTreeMap<String, Secret>,
    legacy: BTreeMap<String, Secret>,
    init_buf: HashMap<Source, BTreeMap<String, Secret>>,
    synced: HashSet<Source>,
    /// Parsed keys by Secret name: (resourceVersion, entry or error).
    parsed: HashMap<String, (String, Option<KeyEntry>)>,
    /// Keys generated here and not yet seen through the watch.
    pending: Vec<(String, KeyEntry)>,
    /// Precise generation times of keys made by this process (certificates have second
    /// resolution; a key generated now must sort before one made earlier in the same second).
    generated: HashMap<String, OffsetDateTime>,
    ids: Vec<String>,
    version: u64,
    loaded: bool,
    retry_generation: Option<tokio::time::Instant>,
    leadership: Leadership,
}

impl KeyManager {
    /// A manager and the handle its keys are published through.
    pub fn new(
        client: Client,
        opts: KeyOptions,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        leadership: Leadership,
    ) -> (Self, Keys) {
        let (tx, rx) = watch::channel(Arc::new(KeyState::default()));
        let api = Api::namespaced(client, &opts.namespace);
        (
            KeyManager {
                api,
                opts,
                tx,
                recorder,
                metrics,
                labelled: BTreeMap::new(),
                legacy: BTreeMap::new(),
                init_buf: HashMap::new(),
                synced: HashSet::new(),
                parsed: HashMap::new(),
                pending: Vec::new(),
                generated: HashMap::new(),
                ids: Vec::new(),
                version: 0,
                loaded: false,
                retry_generation: None,
                leadership,
            },
            Keys(rx),
        )
    }

    /// Runs until `shutdown` resolves. `generate` requests a new key (SIGUSR1).
    pub async fn run(
        mut self,
        mut generate: mpsc::Receiver<()>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let labelled = watcher::watcher(
            self.api.clone(),
            watcher::Config::default().labels(LABEL_SEALED_SECRETS_KEY),
        )
        .default_backoff()
        .map(|e| (Source::Labelled, e));
        let legacy = watcher::watcher(
            self.api.clone(),
            watcher::Config::default().fields(&format!("metadata.name={}", self.opts.prefix)),
        )
        .default_backoff()
        .map(|e| (Source::Legacy, e));
        let mut events = std::pin::pin!(futures_util::stream::select(labelled, legacy));
        tokio::pin!(shutdown);
        let mut generate_open = true;
        let mut lead_rx = self.leadership.subscribe();
        let mut lead_open = true;
        loop {
            let wake = self.next_generation_at();
            tokio::select! {
                _ = &mut shutdown => break,
                ev = events.next() => {
                    let Some((src, ev)) = ev else { break };
                    match ev {
                        Ok(ev) => {
                            if self.handle(src, ev) {
                                self.on_change().await;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "watching key Secrets failed; retrying"),
                    }
                }
                changed = lead_rx.changed(), if lead_open => {
                    if changed.is_err() {
                        lead_open = false;
                    } else if self.leading() {
                        self.leader_checks().await;
                    } else {
                        self.retry_generation = None;
                    }
                }
                req = generate.recv(), if generate_open => {
                    match req {
                        Some(()) if !self.leading() => tracing::info!("key generation requested on a replica that does not lead; ignored"),
                        Some(()) if self.loaded => self.generate("requested").await,
                        Some(()) => tracing::info!("key generation requested before keys were loaded; ignored"),
                        None => generate_open = false,
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => {
                    let retry = self.retry_generation.take().is_some();
                    if retry || self.renewal_due() {
                        self.generate("renewal").await;
                    }
                }
            }
        }
    }

    /// Applies one watch event; returns whether the key Secrets changed.
    fn handle(&mut self, src: Source, ev: Event<Secret>) -> bool {
        let store = match src {
            Source::Labelled => &mut self.labelled,
            Source::Legacy => &mut self.legacy,
        };
        match ev {
            Event::Init => {
                self.init_buf.insert(src, BTreeMap::new());
                false
            }
            Event::InitApply(s) => {
                if let Some(name) = s.metadata.name.clone() {
                    self.init_buf.entry(src).or_default().insert(name, s);
                }
                false
            }
            Event::InitDone => {
                let old = std::mem::replace(store, self.init_buf.remove(&src).unwrap_or_default());
                old.into_values()
                    .for_each(|mut s| crate::wipe::secret(&mut s));
                self.synced.insert(src);
                true
            }
            Event::Apply(s) => {
                if let Some(name) = s.metadata.name.clone()
                    && let Some(mut old) = store.insert(name, s)
                {
                    crate::wipe::secret(&mut old);
                }
                true
            }
            Event::Delete(mut s) => {
                if let Some(name) = s.metadata.name.as_ref()
                    && let Some(mut old) = store.remove(name)
                {
                    crate::wipe::secret(&mut old);
                }
                crate::wipe::secret(&mut s);
                true
            }
        }
    }

    async fn on_change(&mut self) {
        if self.synced.len() < 2 {
            return;
        }
        self.rebuild().await;
        self.leader_checks().await;
    }

    fn leading(&self) -> bool {
        self.leadership.is_leader()
    }

    /// After a change of keys or of leadership: the leader generates a key when there is none
    /// (at start, or because every key Secret was deleted or relabelled) or, at start, when the
    /// newest is older than the cutoff; the keys count as loaded once this is done (leader) or
    /// once there is a key (follower: the leader generates the first one).
    async fn leader_checks(&mut self) {
        if self.synced.len() < 2 {
            return;
        }
        if self.leading() {
            let newest = self.tx.borrow().keyring.newest().map(|e| e.ordering_time);
            let reason = match (newest, self.opts.cutoff) {
                (None, _) if !self.loaded => Some("no keys found"),
                (None, _) if self.retry_generation.is_none() => Some("keyring is empty"),
                (Some(t), Some(cutoff)) if !self.loaded && t < cutoff => {
                    Some("newest key is older than --key-cutoff-time")
                }
                _ => None,
            };
            if let Some(reason) = reason {
                self.generate(reason).await;
            }
        }
        if !self.loaded && (self.leading() || !self.tx.borrow().keyring.is_empty()) {
            self.loaded = true;
            let n = self.tx.borrow().keyring.len();
            tracing::info!(keys = n, namespace = %self.opts.namespace, "sealing keys loaded");
            self.publish(true);
        }
    }

    /// Rebuilds the keyring from the watched Secrets and pending generated keys.
    async fn rebuild(&mut self) {
        let mut keyring = Keyring::new();
        let mut seen = HashSet::new();
        // Copies (the parsing below needs `&mut self`), wiped when dropped: they hold `tls.key`.
        let secrets: Vec<Wiped> = self
            .labelled
            .values()
            .filter(|s| label(s) == Some("active"))
            .chain(
                self.legacy
                    .values()
                    .filter(|s| label(s).is_none_or(|v| v == "active")),
            )
            .cloned()
            .map(Wiped)
            .collect();
        let retired: Vec<Wiped> = self
            .labelled
            .values()
            .chain(self.legacy.values())
            .filter(|s| label(s) == Some("compromised"))
            .cloned()
            .map(Wiped)
            .collect();
        let mut compromised_keys = Vec::new();
        for secret in retired {
            let name = secret.metadata.name.clone().unwrap_or_default();
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(entry) = self.parse_cached(&secret).await {
                compromised_keys.push(entry);
            }
        }
        let compromised: BTreeSet<String> = compromised_keys
            .iter()
            .map(|e| e.key_id().as_str().to_owned())
            .collect();
        for secret in secrets {
            let name = secret.metadata.name.clone().unwrap_or_default();
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(mut entry) = self.parse_cached(&secret).await {
                if let Some(t) = self.generated.get(entry.key_id().as_str()) {
                    entry.ordering_time = entry.ordering_time.max(*t);
                }
                // The same key also labelled compromised elsewhere: compromised.
                if !compromised.contains(entry.key_id().as_str()) {
                    keyring.insert(entry);
                }
            }
        }
        self.pending.retain(|(name, _)| !seen.contains(name));
        for (_, entry) in &self.pending {
            keyring.insert(entry.clone());
        }
        let mut opening = keyring.clone();
        for entry in compromised_keys {
            opening.insert(entry);
        }
        self.parsed.retain(|name, _| seen.contains(name));
        let ids: Vec<String> = keyring
            .iter()
            .map(|e| e.key_id().as_str().to_owned())
            .chain(compromised.iter().map(|id| format!("compromised:{id}")))
            .collect();
        if ids != self.ids {
            if !self.ids.is_empty() || self.loaded {
                tracing::info!(keys = keyring.len(), compromised = compromised.len(), newest = ?ids.first(), "keyring changed");
            }
            self.ids = ids;
            self.version += 1;
        }
        self.metrics
            .keys_loaded
            .set(i64::try_from(keyring.len()).unwrap_or(i64::MAX));
        self.metrics
            .compromised_keys
            .set(i64::try_from(compromised.len()).unwrap_or(i64::MAX));
        let loaded = self.loaded;
        self.tx.send_replace(Arc::new(KeyState {
            keyring,
            opening,
            compromised,
            version: self.version,
            loaded,
        }));
    }

    fn publish(&mut self, loaded: bool) {
        let current = self.tx.borrow().clone();
        self.tx.send_replace(Arc::new(KeyState {
            keyring: current.keyring.clone(),
            opening: current.opening.clone(),
            compromised: current.compromised.clone(),
            version: self.version,
            loaded,
        }));
    }

    async fn parse_cached(&mut self, secret: &Secret) -> Option<KeyEntry> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let rv = secret.metadata.resource_version.clone().unwrap_or_default();
        if let Some((cached_rv, entry)) = self.parsed.get(&name)
            && *cached_rv == rv
        {
            return entry.clone();
        }
        let entry = match parse_key_secret(secret, self.opts.order) {
            Ok(entry) => Some(entry),
            Err(message) => {
                tracing::warn!(
                    secret = %name,
                    namespace = %self.opts.namespace,
                    error = %message,
                    "skipping key Secret that cannot be read"
                );
                let ev = KubeEvent {
                    type_: EventType::Warning,
                    reason: "ErrInvalidKey".to_owned(),
                    note: Some(truncate(format!(
                        "key Secret skipped: {message}; fix it or remove the label {LABEL_SEALED_SECRETS_KEY}"
                    ))),
                    action: "LoadKey".to_owned(),
                    secondary: None,
                };
                if let Err(e) = self.recorder.publish(&ev, &secret.object_ref(&())).await {
                    tracing::warn!(error = %e, "cannot publish event");
                }
                None
            }
        };
        self.parsed.insert(name, (rv, entry.clone()));
        entry
    }

    /// When the next key is due: a failed generation's retry, else newest + renew period.
    fn next_generation_at(&self) -> Option<tokio::time::Instant> {
        if !self.leading() {
            return None;
        }
        if let Some(at) = self.retry_generation {
            return Some(at);
        }
        if !self.loaded || self.opts.renew_period.is_zero() {
            return None;
        }
        let state = self.tx.borrow();
        let newest = state.keyring.newest()?.ordering_time;
        let period = time::Duration::try_from(self.opts.renew_period).ok()?;
        // Waits are capped (and re-evaluated on waking) so huge periods cannot overflow.
        const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);
        let wait = match newest.checked_add(period) {
            Some(due) => {
                Duration::try_from(due - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO)
            }
            None => MAX_WAIT,
        };
        Some(tokio::time::Instant::now() + wait.min(MAX_WAIT))
    }

    /// Whether the newest key is older than the renewal period.
    fn renewal_due(&self) -> bool {
        if self.opts.renew_period.is_zero() {
            return false;
        }
        let state = self.tx.borrow();
        let Some(newest) = state.keyring.newest() else {
            return true;
        };
        let Ok(period) = time::Duration::try_from(self.opts.renew_period) else {
            return false;
        };
        newest
            .ordering_time
            .checked_add(period)
            .is_some_and(|due| due <= OffsetDateTime::now_utc())
    }

    /// Generates a key, stores it as a key Secret and adds it to the keyring.
    async fn generate(&mut self, why: &str) {
        if !self.leading() {
            return;
        }
        tracing::info!(
            reason = why,
            bits = self.opts.bits,
            "generating a new sealing key"
        );
        match self.try_generate().await {
            Ok(name) => {
                tracing::info!(secret = %name, namespace = %self.opts.namespace, "new sealing key stored");
                self.retry_generation = None;
                self.rebuild().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "key generation failed; retrying in 10s");
                self.retry_generation = Some(tokio::time::Instant::now() + Duration::from_secs(10));
            }
        }
    }

    async fn try_generate(&mut self) -> Result<String, String> {
        let bits = self.opts.bits;
        let cert_opts = self.opts.cert.clone();
        let (key, cert) = tokio::task::spawn_blocking(move || {
            let key = PrivateKey::generate(bits).map_err(|e| e.to_string())?;
            let cert = Certificate::self_signed(&key, &cert_opts, OffsetDateTime::now_utc())
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((key, cert))
        })
        .await
        .map_err(|e| e.to_string())??;
        let mut secret = key_secret(&key, &cert, &self.opts.namespace, &self.opts.prefix);
        if !self.opts.labels.is_empty() {
            secret
                .metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(self.opts.labels.clone());
        }
        if !self.opts.annotations.is_empty() {
            secret
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(self.opts.annotations.clone());
        }
        // Key generation takes a while: leadership may have moved meanwhile.
        if !self.leading() {
            return Err("this replica stopped leading; key not stored".to_owned());
        }
        let created = self
            .api
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| format!("cannot create key Secret: {e}"))?;
        let name = created.metadata.name.clone().unwrap_or_default();
        let mut entry = KeyEntry::new(key, Some(cert));
        if self.opts.order == KeyOrderPriority::SecretCreationTimestamp
            && let Some(t) = creation_time(&created)
        {
            entry.ordering_time = t;
        }
        let now = OffsetDateTime::now_utc().max(entry.ordering_time);
        entry.ordering_time = now;
        self.generated
            .insert(entry.key_id().as_str().to_owned(), now);
        self.pending.push((name.clone(), entry));
        Ok(name)
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn label(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SEALED_SECRETS_KEY))
        .map(String::as_str)
}

fn creation_time(secret: &Secret) -> Option<OffsetDateTime> {
    let t = secret.metadata.creation_timestamp.as_ref()?;
    OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok()
}

/// Reads one key Secret (`tls.key` PKCS#1 or PKCS#8, optional `tls.crt`).
pub fn parse_key_secret(secret: &Secret, order: KeyOrderPriority) -> Result<KeyEntry, String> {
    let data = secret.data.as_ref();
    let key = data
        .and_then(|d| d.get("tls.key"))
        .ok_or_else(|| "it has no data item tls.key".to_owned())?;
    let cert = data.and_then(|d| d.get("tls.crt"));
    let (key, cert) = parse_key_pair(&key.0, cert.map(|c| c.0.as_slice()))
        .map_err(|e| format!("tls.key/tls.crt: {e}"))?;
    let mut entry = KeyEntry::new(key, cert);
    if order == KeyOrderPriority::SecretCreationTimestamp
        && let Some(t) = creation_time(secret)
    {
        entry.ordering_time = t;
    }
    Ok(entry)
}

/// Event notes are limited to 1 kB.
pub(crate) fn truncate(mut s: String) -> String {
    const MAX: usize = 1000;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
