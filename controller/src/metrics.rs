//! Prometheus metrics with upstream's names (`sealed_secrets_controller_*`), plus an unseal
//! latency histogram, served as OpenMetrics text on `/metrics`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The controller's version.
    pub revision: String,
}

/// Labels of `unseal_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `fetch`, `unseal`, `update`, `unmanaged` or `status`.
    pub reason: String,
    /// The SealedSecret's namespace.
    pub namespace: String,
}

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Request path.
    pub path: String,
    /// Response status code.
    pub code: String,
    /// Request method.
    pub method: String,
}

/// Labels of `http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpDurationLabels {
    /// Request path.
    pub path: String,
    /// Request method.
    pub method: String,
}

/// All metrics of the controller.
pub struct Metrics {
    registry: Registry,
    /// sealant's own metrics (`sealant_*`).
    own: Registry,
    /// Decryptions of SealedSecrets, successful or not.
    pub unseal_requests: Counter,
    /// Reconcile failures by reason.
    pub unseal_errors: Family<ErrorLabels, Counter>,
    /// −1 False / 0 Unknown / 1 True per SealedSecret condition.
    pub condition_info: Arc<ConditionInfo>,
    /// HTTP API requests.
    pub http_requests: Family<HttpLabels, Counter>,
    /// HTTP API latency.
    pub http_duration: Family<HttpDurationLabels, Histogram>,
    /// Time spent unsealing one SealedSecret (private-key operations included).
    pub unseal_duration: Histogram,
    /// Active keys loaded.
    pub keys_loaded: Gauge,
    /// `sealant_compromised_keys`: keys labelled `compromised` loaded (they only unseal).
    pub compromised_keys: Gauge,
    /// `sealant_sealed_with_compromised_key{namespace,name,key_id}`: the SealedSecrets last
    /// unsealed with a compromised key.
    pub compromised_use: Arc<CompromisedUse>,
    /// `sealant_leader`: 1 while this replica holds the leader Lease (always 1 without
    /// `--leader-elect`).
    pub leader: Gauge,
    /// `sealant_private_key_operations_total`: RSA private-key operations spent unsealing
    /// SealedSecrets (reconciles only; the HTTP API is not counted).
    pub private_key_operations: Counter,
    /// `sealant_unseal_head_starts_total`: decryptions started while the initial list was still
    /// arriving, ahead of their reconciles.
    pub unseal_head_starts: Counter,
    /// `sealant_reconciles_total`: reconcile passes over SealedSecrets.
    pub reconciles: Counter,
}

fn default_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Metrics {
    /// A fresh registry with every metric registered; `build_info` is set to 1.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("sealed_secrets_controller");
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                revision: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "Build information", build_info);
        let unseal_requests = Counter::default();
        registry.register(
            "unseal_requests",
            "SealedSecrets decrypted, successfully or not (reconciles of objects already in sync decrypt nothing and are not counted)",
            unseal_requests.clone(),
        );
        let unseal_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "unseal_errors",
            "Failed reconciles of SealedSecrets by reason: unseal (cannot decrypt), unmanaged (a Secret not ours is in the way), update (reading or writing the Secret), status (writing the status)",
            unseal_errors.clone(),
        );
        let condition_info = Arc::new(ConditionInfo::default());
        registry.register_collector(Box::new(condition_info.clone()));
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP API requests to /v1/ paths by path, code and method (health and readiness probes are not counted)",
            http_requests.clone(),
        );
        let http_duration = Family::<HttpDurationLabels, Histogram>::new_with_constructor(
            default_buckets as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Latency of HTTP API requests to /v1/ paths, in seconds",
            http_duration.clone(),
        );
        let unseal_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "unseal_duration_seconds",
            "Time spent decrypting one SealedSecret (one observation per decryption counted by unseal_requests), in seconds",
            unseal_duration.clone(),
        );
        let keys_loaded = Gauge::default();
        registry.register(
            "keys",
            "Sealing keys loaded (active keys: served and used for sealing)",
            keys_loaded.clone(),
        );
        let mut own = Registry::with_prefix("sealant");
        let compromised_keys = Gauge::default();
        own.register(
            "compromised_keys",
            "Sealing keys labelled compromised: never served or used for sealing, still used to unseal",
            compromised_keys.clone(),
        );
        let compromised_use = Arc::new(CompromisedUse::default());
        own.register_collector(Box::new(compromised_use.clone()));
        let leader = Gauge::default();
        own.register(
            "leader",
            "1 while this replica leads (reconciles and generates keys), else 0",
            leader.clone(),
        );
        let private_key_operations = Counter::default();
        own.register(
            "private_key_operations",
            "RSA private-key operations spent by reconciles on SealedSecrets that unsealed (not failed decryptions, not the HTTP API)",
            private_key_operations.clone(),
        );
        let unseal_head_starts = Counter::default();
        own.register(
            "unseal_head_starts",
            "Decryptions started while the initial list of SealedSecrets was still arriving",
            unseal_head_starts.clone(),
        );
        let reconciles = Counter::default();
        own.register(
            "reconciles",
            "Reconcile passes over SealedSecrets, whether or not they had anything to do (the echoes of the controller's own writes start none)",
            reconciles.clone(),
        );
        Arc::new(Metrics {
            registry,
            reconciles,
            own,
            leader,
            private_key_operations,
            unseal_head_starts,
            unseal_requests,
            unseal_errors,
            condition_info,
            http_requests,
            http_duration,
            unseal_duration,
            keys_loaded,
            compromised_keys,
            compromised_use,
        })
    }

    /// Counts a reconcile failure.
    pub fn error(&self, reason: &str, namespace: &str) {
        self.unseal_errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_owned(),
                namespace: namespace.to_owned(),
            })
            .inc();
    }

    /// OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        // One exposition, one `# EOF` (at the end of the second registry's output).
        if let Some(stripped) = out.strip_suffix("# EOF\n") {
            out.truncate(stripped.len());
        }
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.own);
        out
    }
}

/// The condition types `condition_info` reports, in label order.
pub const CONDITION_TYPES: [&str; 4] = [
    crate::status::READY,
    crate::status::SYNCED,
    crate::status::RECONCILING,
    crate::status::STALLED,
];

/// `condition_info{namespace, name, condition, ss_app_kubernetes_io_instance}`: one series per
/// SealedSecret and condition type, made at scrape time from one small entry per SealedSecret
/// (its `app.kubernetes.io/instance` label and four values) instead of four stored label sets
/// and gauges. A SealedSecret's series are replaced together, so a changed instance label leaves
/// no stale series behind.
#[derive(Debug, Default)]
pub struct ConditionInfo {
    objects: RwLock<HashMap<ObjectKey, ConditionEntry>>,
}

/// `(namespace, name)`.
type ObjectKey = (Box<str>, Box<str>);

#[derive(Debug)]
struct ConditionEntry {
    instance: Box<str>,
    values: [i8; 4],
}

impl ConditionInfo {
    /// Sets the series of `namespace/name`: `values` in [`CONDITION_TYPES`] order.
    pub fn set(&self, namespace: &str, name: &str, instance: &str, values: [i8; 4]) {
        let mut objects = self.objects.write().unwrap_or_else(|e| e.into_inner());
        let key = (Box::<str>::from(namespace), Box::<str>::from(name));
        match objects.get_mut(&key) {
            Some(e) if *e.instance == *instance => e.values = values,
            _ => {
                objects.insert(
                    key,
                    ConditionEntry {
                        instance: instance.into(),
                        values,
                    },
                );
            }
        }
    }

    /// Keeps the series of the SealedSecrets for which `keep(namespace, name)` holds.
    pub fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.objects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(namespace, name), _| keep(namespace, name));
    }
}

impl Collector for ConditionInfo {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.objects.read().unwrap_or_else(|e| e.into_inner());
        if objects.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true).",
            None,
            MetricType::Gauge,
        )?;
        for ((namespace, name), e) in objects.iter() {
            for (condition, value) in CONDITION_TYPES.iter().zip(e.values) {
                let labels = [
                    ("namespace", &**namespace),
                    ("name", &**name),
                    ("condition", condition),
                    ("ss_app_kubernetes_io_instance", &*e.instance),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_gauge(&i64::from(value))?;
            }
        }
        Ok(())
    }
}

/// `sealant_sealed_with_compromised_key{namespace, name, key_id}` = 1 for each SealedSecret whose
/// last decryption used a key labelled `compromised`, and which key: the list of objects to
/// re-seal (and of secret values to change).
#[derive(Debug, Default)]
pub struct CompromisedUse {
    objects: RwLock<HashMap<ObjectKey, Vec<String>>>,
}

impl CompromisedUse {
    /// Records the compromised keys that opened `namespace/name` (none: drops its series).
    pub fn set(&self, namespace: &str, name: &str, key_ids: &[String]) {
        let mut objects = self.objects.write().unwrap_or_else(|e| e.into_inner());
        let key = (Box::<str>::from(namespace), Box::<str>::from(name));
        if key_ids.is_empty() {
            objects.remove(&key);
        } else {
            objects.insert(key, key_ids.to_vec());
        }
    }

    /// The compromised keys that last opened `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Vec<String> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(Box::<str>::from(namespace), Box::<str>::from(name)))
            .cloned()
            .unwrap_or_default()
    }

    /// Keeps the series of the SealedSecrets for which `keep(namespace, name)` holds.
    pub fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.objects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(namespace, name), _| keep(namespace, name));
    }

    /// Drops every series (the compromised keys changed: each object is decrypted again).
    pub fn clear(&self) {
        self.objects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Collector for CompromisedUse {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let objects = self.objects.read().unwrap_or_else(|e| e.into_inner());
        if objects.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "sealed_with_compromised_key",
            "1 for each SealedSecret last unsealed with a key labelled compromised (label key_id): re-seal it and change its values",
            None,
            MetricType::Gauge,
        )?;
        for ((namespace, name), ids) in objects.iter() {
            for id in ids {
                let labels = [
                    ("namespace", &**namespace),
                    ("name", &**name),
                    ("key_id", id.as_str()),
                ];
                metric.encode_family(&labels)?.encode_gauge(&1i64)?;
            }
        }
        Ok(())
    }
}

/// Router serving `/metrics`.
pub fn router(metrics: Arc<Metrics>) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    )
}
