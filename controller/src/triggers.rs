//! What makes a SealedSecret reconcile, from the two watches, such that a reconcile never reads
//! a cached copy older than the event that triggered it.
//!
//! kube-runtime's reflector fills a side buffer during a (re)list and swaps it into the store
//! only at `InitDone`, while its `applied_objects()`/`touched_objects()` hand every `InitApply`
//! to the controller at once. The controller reads the object to reconcile from the store, so
//! when a relist spans several pages (100 SealedSecrets per page here), the objects of the
//! first pages are reconciled from the store of before the relist: an object updated while the
//! watch was down was found "in sync" at its old generation, one created meanwhile was not in
//! the store and was dropped, and a retry was skipped as superseded, each with nothing left to
//! trigger it again (issue 21). kube-runtime's own shared-store dispatcher does what this
//! module does: objects of a list trigger only once the list is complete, all at once, from the
//! swapped store.
//!
//! For Secrets the same holds for the [`SecretIndex`]: a Secret deleted or changed while the
//! watch was down produces no event of its own in the relist, so once the relist is complete
//! the SealedSecrets whose Secret entry differs from before are reconciled.

use std::sync::Arc;

use futures_util::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use sealant_api::ANNOTATION_MANAGED;

use crate::cache::CachedSealedSecret as Cached;

use crate::secret_merge::{ANNOTATION_UNSEALED_FROM, SecretIndex};

/// Triggers from a reflected SealedSecret watch: each applied object, and every object in the
/// store when a (re)list completes. Objects of an unfinished list trigger nothing yet.
pub fn sealed_secrets<S>(
    events: S,
    store: Store<Cached>,
) -> impl Stream<Item = Arc<Cached>> + Send + 'static
where
    S: Stream<Item = Result<Event<Cached>, watcher::Error>> + Send + 'static,
{
    events.flat_map(move |ev| {
        let objects = match ev {
            Ok(Event::Apply(obj)) => vec![Arc::new(obj)],
            Ok(Event::InitDone) => store.state(),
            Ok(Event::Init | Event::InitApply(_) | Event::Delete(_)) => Vec::new(),
            Err(e) => {
                tracing::debug!(error = %e, "SealedSecret watch failed; it is retried");
                Vec::new()
            }
        };
        stream::iter(objects)
    })
}

/// Triggers from the Secret watch (metadata only), which also feeds `index`: the SealedSecret
/// of each changed or deleted Secret ([`sealed_secret_for`]), and when a relist completes the
/// SealedSecrets whose Secret the relist found changed, gone or new.
pub fn secrets<S>(
    events: S,
    index: Arc<SecretIndex>,
    store: Store<Cached>,
) -> impl Stream<Item = ObjectRef<Cached>> + Send + 'static
where
    S: Stream<Item = Result<Event<PartialObjectMeta<Secret>>, watcher::Error>> + Send + 'static,
{
    events.flat_map(move |ev| {
        let refs = match ev {
            Ok(ev) => {
                let relisted = index.observe(&ev);
                match ev {
                    Event::Apply(s) | Event::Delete(s) => {
                        sealed_secret_for(&s, &store).into_iter().collect()
                    }
                    Event::InitDone => store
                        .state()
                        .iter()
                        .filter(|ss| {
                            relisted.changed(
                                ss.metadata.namespace.as_deref().unwrap_or_default(),
                                ss.metadata.name.as_deref().unwrap_or_default(),
                            )
                        })
                        .map(|ss| ObjectRef::from_obj(&**ss))
                        .collect(),
                    Event::Init | Event::InitApply(_) => Vec::new(),
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "Secret watch failed; it is retried");
                Vec::new()
            }
        };
        stream::iter(refs)
    })
}

/// The SealedSecret of the same name as `secret`, for Secrets owned by a SealedSecret, annotated
/// `managed` or written by sealant (so deleted ones are re-created), and for any other Secret
/// only if such a SealedSecret exists (so removing a Secret that was in the way heals a
/// `SecretConflict` without touching the SealedSecret).
pub fn sealed_secret_for(
    secret: &PartialObjectMeta<Secret>,
    store: &Store<Cached>,
) -> Option<ObjectRef<Cached>> {
    let name = secret.metadata.name.as_ref()?;
    let ns = secret.metadata.namespace.as_ref()?;
    let obj = ObjectRef::new(name).within(ns);
    let owned = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == sealant_api::KIND && o.api_version.starts_with(sealant_api::GROUP));
    let annotations = secret.metadata.annotations.as_ref();
    let managed = annotations
        .and_then(|a| a.get(ANNOTATION_MANAGED))
        .is_some_and(|v| v == "true")
        || annotations.is_some_and(|a| a.contains_key(ANNOTATION_UNSEALED_FROM));
    (owned || managed || store.get(&obj).is_some()).then_some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use kube::runtime::WatchStreamExt;
    use kube::runtime::reflector;

    fn ss(name: &str, generation: i64) -> Cached {
        let mut s: sealant_api::SealedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": name, "namespace": "ns", "generation": generation},
            "spec": {"encryptedData": {}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        s.metadata.uid = Some(format!("uid-{name}"));
        Cached::new(&s, false)
    }

    /// What the controller would read from the store for each trigger, in order.
    async fn seen(events: Vec<Event<Cached>>) -> Vec<(String, i64)> {
        let (reader, writer) = reflector::store();
        let events = stream::iter(events.into_iter().map(Ok)).reflect(writer);
        let read = reader.clone();
        sealed_secrets(events, reader)
            .map(move |obj| {
                let cached = read.get(&ObjectRef::from_obj(&*obj));
                let cached =
                    cached.unwrap_or_else(|| panic!("{:?} not in the store", obj.metadata.name));
                (
                    cached.metadata.name.clone().unwrap_or_default(),
                    cached.metadata.generation.unwrap_or_default(),
                )
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_relist_triggers_only_once_complete_and_from_the_new_store() {
        let mut got = seen(vec![
            Event::Init,
            Event::InitApply(ss("a", 1)),
            Event::InitDone,
            Event::Apply(ss("a", 2)),
            // A relist after a 410: "a" changed, "b" is new, while the cache has "a" at 2.
            Event::Init,
            Event::InitApply(ss("a", 3)),
            Event::InitApply(ss("b", 1)),
            Event::InitDone,
            Event::Delete(ss("b", 1)),
        ])
        .await;
        // (Objects of one list come in the store's order.)
        got.sort();
        assert_eq!(
            got,
            [
                ("a".into(), 1),
                ("a".into(), 2),
                ("a".into(), 3),
                ("b".into(), 1)
            ]
        );
    }

    fn secret_meta(name: &str, digest: Option<&str>) -> PartialObjectMeta<Secret> {
        let mut m = PartialObjectMeta::<Secret>::default();
        m.metadata.name = Some(name.into());
        m.metadata.namespace = Some("ns".into());
        if let Some(d) = digest {
            m.metadata.annotations =
                Some([(ANNOTATION_UNSEALED_FROM.to_owned(), d.to_owned())].into());
        }
        m
    }

    #[tokio::test]
    async fn a_secret_relist_triggers_the_sealed_secrets_whose_secret_changed_or_went() {
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for name in ["kept", "gone", "edited", "unmanaged"] {
            writer.apply_watcher_event(&Event::InitApply(ss(name, 1)));
        }
        writer.apply_watcher_event(&Event::InitDone);
        let index = Arc::new(SecretIndex::default());
        let events = vec![
            Event::Init,
            Event::InitApply(secret_meta("kept", Some("d"))),
            Event::InitApply(secret_meta("gone", Some("d"))),
            Event::InitApply(secret_meta("edited", Some("d"))),
            Event::InitDone,
            // Relist: "gone" was deleted and "edited" lost its digest meanwhile.
            Event::Init,
            Event::InitApply(secret_meta("kept", Some("d"))),
            Event::InitApply(secret_meta("edited", None)),
            Event::InitApply(secret_meta("unmanaged", None)),
            Event::InitDone,
        ];
        let got: Vec<String> = secrets(stream::iter(events.into_iter().map(Ok)), index, reader)
            .map(|r| r.name)
            .collect()
            .await;
        let mut got = got;
        got.sort();
        // The first list triggers nothing (the SealedSecret list does), list items none either.
        assert_eq!(got, ["edited", "gone"]);
    }
}
