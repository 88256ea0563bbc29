//! Where the controller's memory goes, per structure: the heap bytes and blocks each SealedSecret
//! costs in every structure the controller keeps for it, counted with the `dhat` heap profiler
//! around building that structure from realistic objects, the way the controller builds it.
//!
//! `cargo bench -p sealant-controller --features bench-heap --bench heap` (about a minute);
//! `SEALANT_BENCH_QUICK=1` uses 1,000 objects instead of 10,000. The scale bench's `rss`
//! scenario gives the process's figures (VmHWM per SealedSecret); what this bench does not find
//! there is the allocator's overhead (glibc: 8 bytes of header per block, sizes rounded up to
//! 16) and what is transient (list pages, decryption, requests in flight).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::PartialObjectMeta;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use sealant_api::{SealOptions, SealedSecret, seal_secret};
use sealant_controller::cache::CachedSealedSecret;
use sealant_controller::metrics::ConditionInfo;
use sealant_controller::secret_merge::{ANNOTATION_UNSEALED_FROM, LABEL_UNSEALED, SecretIndex};
use sealant_controller::status::{Outcome, desired};
use sealant_crypto::Certificate;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const NS: &str = "bench";
const VECTOR_CERT: &str = include_str!("../../testdata/vectors/cert-4096.pem");

/// Live heap bytes and blocks.
#[derive(Clone, Copy)]
struct Live {
    bytes: usize,
    blocks: usize,
}

fn live() -> Live {
    let s = dhat::HeapStats::get();
    Live {
        bytes: s.curr_bytes,
        blocks: s.curr_blocks,
    }
}

/// Heap bytes and blocks per object that `build` leaves allocated (what it returns included).
fn per_object<T>(n: usize, build: impl FnOnce() -> T) -> (T, f64, f64) {
    let before = live();
    let kept = build();
    let after = live();
    let per = |a: usize, b: usize| (a as f64 - b as f64) / n as f64;
    (
        kept,
        per(after.bytes, before.bytes),
        per(after.blocks, before.blocks),
    )
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// `n` SealedSecrets of one RSA-4096 value each, as the watch delivers them once the controller
/// has written their status: server-set metadata (uid, resourceVersion, generation,
/// creationTimestamp, a managedFields entry per writer) and a Ready status.
fn sealed_secrets(n: usize, values: usize) -> Vec<SealedSecret> {
    let cert = Certificate::from_pem(VECTOR_CERT.as_bytes()).expect("vector cert");
    let at = now();
    (0..n)
        .map(|i| {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(format!("app-secret-{i}")),
                    namespace: Some(NS.to_owned()),
                    ..Default::default()
                },
                data: Some(
                    (0..values)
                        .map(|v| {
                            (
                                format!("value-{v}"),
                                ByteString(format!("a secret value {v} of {i}").into_bytes()),
                            )
                        })
                        .collect(),
                ),
                ..Default::default()
            };
            let mut ss = seal_secret(&secret, &cert, &SealOptions::default()).unwrap();
            let mut v = serde_json::to_value(&ss).unwrap();
            let m = &mut v["metadata"];
            m["uid"] = format!("0b6c3f0e-5d1a-4c2e-9f7b-{i:012}").into();
            m["resourceVersion"] = (100_000 + i).to_string().into();
            m["generation"] = 1.into();
            m["creationTimestamp"] = "2026-12-07T00:00:00Z".into();
            m["labels"] = serde_json::json!({"app.kubernetes.io/instance": "shop"});
            m["managedFields"] = serde_json::json!([
                {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "bitnami.com/v1alpha1",
                 "time": "2026-12-07T00:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/instance": {}}},
                              "f:spec": {"f:encryptedData": {"f:value-0": {}}, "f:template": {"f:metadata": {"f:name": {}, "f:namespace": {}}}}}},
                {"manager": "sealant-controller", "operation": "Update", "apiVersion": "bitnami.com/v1alpha1",
                 "time": "2026-12-07T00:00:01Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:observedGeneration": {}}}}
            ]);
            ss = serde_json::from_value(v).unwrap();
            ss.status = Some(desired(None, Some(1), &Outcome::Ready, &[], &at));
            ss
        })
        .collect()
}

/// The metadata of the Secret sealant wrote for `ss`, as the (label-selected) Secret watch
/// delivers it.
fn written_secret(ss: &SealedSecret) -> PartialObjectMeta<Secret> {
    let m = &ss.metadata;
    PartialObjectMeta {
        types: None,
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: Some("7d0e2b1a-0c4f-4a51-8e3d-000000000000".to_owned()),
            resource_version: Some("200000".to_owned()),
            labels: Some(BTreeMap::from([(
                LABEL_UNSEALED.to_owned(),
                "true".to_owned(),
            )])),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_UNSEALED_FROM.to_owned(),
                format!("sha256:{:032x}", 7),
            )])),
            owner_references: Some(vec![OwnerReference {
                api_version: "bitnami.com/v1alpha1".to_owned(),
                kind: "SealedSecret".to_owned(),
                name: m.name.clone().unwrap_or_default(),
                uid: m.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        _phantom: Default::default(),
    }
}

struct Row {
    what: String,
    bytes: f64,
    blocks: f64,
}

fn main() {
    let quick = std::env::var("SEALANT_BENCH_QUICK").is_ok_and(|v| v == "1");
    let n = if quick { 1_000 } else { 10_000 };
    let objects = sealed_secrets(n, 1);
    let secrets: Vec<_> = objects.iter().map(written_secret).collect();
    let three = sealed_secrets(n.min(1_000), 3);

    // Profiling starts here: everything above is input, not counted.
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut rows = Vec::new();

    // The SealedSecret cache: kube-runtime's reflector store (a map from an object reference,
    // with uid and resourceVersion, to an `Arc` of the entry) of flat entries.
    for (what, input, count) in [
        (
            "SealedSecret cache, 1 value (flat entry in the reflector store)",
            &objects,
            n,
        ),
        (
            "SealedSecret cache, 3 values (flat entry in the reflector store)",
            &three,
            three.len(),
        ),
    ] {
        let (kept, bytes, blocks) = per_object(count, || {
            let (reader, mut writer) = reflector::store::<CachedSealedSecret>();
            for ss in input {
                writer.apply_watcher_event(&Event::Apply(CachedSealedSecret::new(ss, true)));
            }
            (reader, writer)
        });
        drop(kept);
        rows.push(Row {
            what: what.to_owned(),
            bytes,
            blocks,
        });
    }
    // For comparison: the same objects parsed whole, without managedFields (what the cache held
    // before the flat entry).
    let (kept, bytes, blocks) = per_object(n, || {
        let (reader, mut writer) = reflector::store::<SealedSecret>();
        for ss in &objects {
            let mut ss = ss.clone();
            ss.metadata.managed_fields = None;
            writer.apply_watcher_event(&Event::Apply(ss));
        }
        (reader, writer)
    });
    drop(kept);
    rows.push(Row {
        what: "(before: whole SealedSecret without managedFields, 1 value)".to_owned(),
        bytes,
        blocks,
    });

    // The Secret index: one fingerprint entry per Secret sealant wrote.
    let (kept, bytes, blocks) = per_object(n, || {
        let index = SecretIndex::default();
        index.observe(&Event::<PartialObjectMeta<Secret>>::Init);
        for s in &secrets {
            index.observe(&Event::InitApply(s.clone()));
        }
        index.observe(&Event::<PartialObjectMeta<Secret>>::InitDone);
        index
    });
    drop(kept);
    rows.push(Row {
        what: "Secret index (one entry per Secret sealant wrote)".to_owned(),
        bytes,
        blocks,
    });

    // condition_info: one small entry per SealedSecret.
    let (kept, bytes, blocks) = per_object(n, || {
        let info = ConditionInfo::default();
        for ss in &objects {
            info.set(
                NS,
                ss.metadata.name.as_deref().unwrap_or_default(),
                "shop",
                [1, 1, -1, -1],
            );
        }
        info
    });
    drop(kept);
    rows.push(Row {
        what: "condition_info metric entry".to_owned(),
        bytes,
        blocks,
    });

    println!();
    println!(
        "sealant-controller heap per SealedSecret ({}; N = {n}; dhat counted bytes; RSA-4096)",
        if quick { "QUICK" } else { "full" }
    );
    println!("| structure | heap bytes | blocks | with glibc overhead (est.) |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.1} | {:.0} |",
            r.what,
            r.bytes,
            r.blocks,
            r.bytes + 16.0 * r.blocks
        );
    }
    println!(
        "Inline sizes: a cache entry {} bytes (of which ObjectMeta, mostly empty fields, {}); a \
         store key (ObjectRef) {}.",
        std::mem::size_of::<CachedSealedSecret>(),
        std::mem::size_of::<ObjectMeta>(),
        std::mem::size_of::<reflector::ObjectRef<CachedSealedSecret>>(),
    );
    println!(
        "Unrelated Secrets: not listed or watched (the Secret watch selects {LABEL_UNSEALED}=true \
         on the API server), so none of these structures holds anything for them."
    );
}
