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

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use sealant_api::ANNOTATION_MANAGED;
use tokio::sync::Notify;

use crate::cache::CachedSealedSecret as Cached;
use crate::own_writes::OwnWrites;

use crate::secret_merge::{ANNOTATION_UNSEALED_FROM, SecretIndex};

/// Triggers from a reflected SealedSecret watch: each applied object but the echoes of this
/// replica's status writes (`own`), and every object in the store when a (re)list completes.
/// Objects of an unfinished list trigger nothing yet; those of a complete list are let through
/// `pacer` a few at a time, while applied objects go at once.
pub fn sealed_secrets<S>(
    events: S,
    store: Store<Cached>,
    pacer: Arc<ListPacer>,
    own: Arc<OwnWrites>,
) -> impl Stream<Item = Arc<Cached>> + Send + 'static
where
    S: Stream<Item = Result<Event<Cached>, watcher::Error>> + Send + 'static,
{
    Paced {
        events: Box::pin(events),
        events_done: false,
        store,
        pacer,
        own,
        list: VecDeque::new(),
        admitting: None,
    }
}

/// Bounds how many objects of a complete list wait in kube-runtime's scheduler at once.
///
/// Handing it a list of N objects at once makes it hold N requests (each object's reference
/// twice, in a map and a delay queue, then in its pending set once all reconcile slots are busy),
/// in tables that keep their size afterwards: about 15 MB at 20,000 SealedSecrets, for a queue
/// that the decryption threads drain at about 1,300 objects a second anyway. Paced, the
/// scheduler holds at most `limit` of them; a reconcile that starts ([`ListPacer::started`])
/// lets the next one in.
pub struct ListPacer {
    waiting: Mutex<HashSet<ObjectRef<Cached>>>,
    started: Notify,
    limit: usize,
}

/// How long admission waits for a reconcile to start before it checks for objects that were
/// deleted before theirs did (kube-runtime never reconciles those, so they would hold a place).
const PACER_RECHECK: Duration = Duration::from_millis(500);

impl ListPacer {
    /// A pacer letting `limit` (at least 1) objects wait for a reconcile at once.
    pub fn new(limit: usize) -> Self {
        ListPacer {
            waiting: Mutex::new(HashSet::new()),
            started: Notify::new(),
            limit: limit.max(1),
        }
    }

    /// A reconcile of `obj` started: it no longer waits.
    pub fn started(&self, obj: &ObjectRef<Cached>) {
        let removed = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(obj);
        if removed {
            self.started.notify_waiters();
        }
    }

    /// Objects admitted and not yet reconciled.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits until fewer than `limit` objects wait, then counts `obj` as waiting.
    async fn admit(self: Arc<Self>, obj: ObjectRef<Cached>, store: Store<Cached>) {
        loop {
            let notified = self.started.notified();
            tokio::pin!(notified);
            // Registered before the check, so a start between the check and the wait wakes it.
            notified.as_mut().enable();
            {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                if waiting.len() < self.limit || waiting.contains(&obj) {
                    waiting.insert(obj);
                    return;
                }
            }
            if tokio::time::timeout(PACER_RECHECK, notified).await.is_err() {
                self.waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|o| store.get(o).is_some());
            }
        }
    }
}

/// The stream [`sealed_secrets`] returns.
struct Paced {
    events: Pin<Box<dyn Stream<Item = Result<Event<Cached>, watcher::Error>> + Send>>,
    events_done: bool,
    store: Store<Cached>,
    pacer: Arc<ListPacer>,
    own: Arc<OwnWrites>,
    /// The rest of the last complete list, to trigger.
    list: VecDeque<Arc<Cached>>,
    /// The admission of `list`'s first object, once started.
    admitting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Stream for Paced {
    type Item = Arc<Cached>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Arc<Cached>>> {
        let this = &mut *self;
        while !this.events_done {
            match this.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(Event::Apply(obj)))) => {
                    if !this.own.is_echo(&obj.metadata, obj.resource_version()) {
                        return Poll::Ready(Some(Arc::new(obj)));
                    }
                }
                Poll::Ready(Some(Ok(Event::Delete(obj)))) => this.own.forget(&obj.metadata),
                Poll::Ready(Some(Ok(Event::InitDone))) => {
                    this.own.clear();
                    // A newer list replaces what is left of the last one (an admission in
                    // progress has not counted its object yet, so dropping it is exact).
                    this.list = this.store.state().into();
                    this.admitting = None;
                }
                Poll::Ready(Some(Ok(Event::Init | Event::InitApply(_)))) => {}
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "SealedSecret watch failed; it is retried");
                }
                Poll::Ready(None) => this.events_done = true,
                Poll::Pending => break,
            }
        }
        if let Some(first) = this.list.front() {
            let admitting = this.admitting.get_or_insert_with(|| {
                Box::pin(
                    this.pacer
                        .clone()
                        .admit(ObjectRef::from_obj(&**first), this.store.clone()),
                )
            });
            return match admitting.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.admitting = None;
                    Poll::Ready(this.list.pop_front())
                }
                Poll::Pending => Poll::Pending,
            };
        }
        if this.events_done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// Triggers from the Secret watch (metadata only), which also feeds `index`: the SealedSecret
/// of each changed or deleted Secret ([`sealed_secret_for`]) but the echoes of this replica's
/// Secret writes (`own`), and when a relist completes the SealedSecrets whose Secret the relist
/// found changed, gone or new.
pub fn secrets<S>(
    events: S,
    index: Arc<SecretIndex>,
    store: Store<Cached>,
    own: Arc<OwnWrites>,
) -> impl Stream<Item = ObjectRef<Cached>> + Send + 'static
where
    S: Stream<Item = Result<Event<PartialObjectMeta<Secret>>, watcher::Error>> + Send + 'static,
{
    events.flat_map(move |ev| {
        let refs = match ev {
            Ok(ev) => {
                let relisted = index.observe(&ev);
                match ev {
                    Event::Apply(s)
                        if own.is_echo(&s.metadata, s.metadata.resource_version.as_deref()) =>
                    {
                        Vec::new()
                    }
                    Event::Apply(s) => sealed_secret_for(&s, &store).into_iter().collect(),
                    Event::Delete(s) => {
                        own.forget(&s.metadata);
                        sealed_secret_for(&s, &store).into_iter().collect()
                    }
                    Event::InitDone => {
                        own.clear();
                        store
                            .state()
                            .iter()
                            .filter(|ss| {
                                relisted.changed(
                                    ss.metadata.namespace.as_deref().unwrap_or_default(),
                                    ss.metadata.name.as_deref().unwrap_or_default(),
                                )
                            })
                            .map(|ss| ObjectRef::from_obj(&**ss))
                            .collect()
                    }
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
        seen_with(events, Default::default()).await
    }

    async fn seen_with(events: Vec<Event<Cached>>, own: Arc<OwnWrites>) -> Vec<(String, i64)> {
        let (reader, writer) = reflector::store();
        let events = stream::iter(events.into_iter().map(Ok)).reflect(writer);
        let read = reader.clone();
        sealed_secrets(events, reader, Arc::new(ListPacer::new(16)), own)
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
        ])
        .await;
        // (Objects of one list come in the store's order.) Events arrive faster than the first
        // list is let through, so "a"'s applied version 2 comes before it, and the relist
        // replaces what was left of the first list: every trigger reads the newest copy.
        got.sort();
        assert_eq!(got, [("a".into(), 2), ("a".into(), 3), ("b".into(), 1)]);
    }

    fn at(obj: Cached, rv: &str) -> Cached {
        let mut ss = obj.to_sealed_secret();
        ss.metadata.resource_version = Some(rv.into());
        Cached::new(&ss, false)
    }

    fn written(name: &str, rv: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn the_echo_of_a_status_write_triggers_nothing_and_other_changes_do() {
        let own = Arc::new(OwnWrites::default());
        own.record(&written("a", "5"));
        own.record(&written("b", "5"));
        own.record(&written("c", "9"));
        let got = seen_with(
            vec![
                // "a": the echo, then someone's change.
                Event::Apply(at(ss("a", 1), "5")),
                Event::Apply(at(ss("a", 2), "6")),
                // "b": a change before the echo (both trigger).
                Event::Apply(at(ss("b", 2), "4")),
                Event::Apply(at(ss("b", 2), "5")),
                // "c": deleted; a copy of the same name at that version later is not an echo.
                Event::Delete(at(ss("c", 1), "10")),
                Event::Apply(at(ss("c", 1), "9")),
            ],
            own.clone(),
        )
        .await;
        assert_eq!(
            got,
            [
                ("a".into(), 2),
                ("b".into(), 2),
                ("b".into(), 2),
                ("c".into(), 1)
            ]
        );
        assert_eq!(own.pending(), 0);
        // Naive mode records nothing: every event triggers.
        let got = seen(vec![
            Event::Init,
            Event::InitDone,
            Event::Apply(at(ss("a", 1), "5")),
        ])
        .await;
        assert_eq!(got, [("a".into(), 1)]);
    }

    #[tokio::test]
    async fn a_relist_forgets_the_writes_awaiting_an_echo() {
        let own = Arc::new(OwnWrites::default());
        own.record(&written("a", "5"));
        let got = seen_with(
            vec![
                Event::Init,
                Event::InitApply(at(ss("a", 1), "5")),
                Event::InitDone,
            ],
            own.clone(),
        )
        .await;
        assert_eq!(got, [("a".into(), 1)]);
        assert_eq!(own.pending(), 0);
    }

    #[tokio::test]
    async fn a_complete_list_waits_in_the_scheduler_a_few_at_a_time() {
        let (reader, mut writer) = reflector::store();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let rx = stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|ev| (ev, rx)) },
        );
        let events = rx.map(move |ev| {
            writer.apply_watcher_event(&ev);
            Ok(ev)
        });
        let pacer = Arc::new(ListPacer::new(3));
        let mut triggers = Box::pin(sealed_secrets(
            events,
            reader.clone(),
            pacer.clone(),
            Default::default(),
        ));
        let send = |ev| tx.send(ev).unwrap_or_else(|e| panic!("{e}"));
        send(Event::Init);
        for i in 0..10 {
            send(Event::InitApply(ss(&format!("o{i}"), 1)));
        }
        send(Event::InitDone);
        let next = |t: &mut Pin<Box<_>>| futures_util::FutureExt::now_or_never(StreamExt::next(t));
        let mut got: Vec<Arc<Cached>> = Vec::new();
        for _ in 0..3 {
            got.push(
                next(&mut triggers)
                    .flatten()
                    .unwrap_or_else(|| panic!("admitted")),
            );
        }
        // Three wait; the fourth waits for a reconcile to start.
        assert!(next(&mut triggers).is_none());
        assert_eq!(pacer.waiting(), 3);
        // An applied object is not held behind the list.
        send(Event::Apply(ss("new", 1)));
        let applied = next(&mut triggers)
            .flatten()
            .unwrap_or_else(|| panic!("applied"));
        assert_eq!(applied.metadata.name.as_deref(), Some("new"));
        pacer.started(&ObjectRef::from_obj(&*got[0]));
        got.push(
            StreamExt::next(&mut triggers)
                .await
                .unwrap_or_else(|| panic!("admitted")),
        );
        assert!(next(&mut triggers).is_none());
        // An object deleted before its reconcile started frees its place after a while.
        let deleted = got[1].clone();
        send(Event::Delete((*deleted).clone()));
        assert!(next(&mut triggers).is_none());
        got.push(
            StreamExt::next(&mut triggers)
                .await
                .unwrap_or_else(|| panic!("admitted")),
        );
        // The rest, as reconciles start.
        while got.len() < 10 {
            pacer.started(&ObjectRef::from_obj(&*got[got.len() - 3]));
            got.push(
                StreamExt::next(&mut triggers)
                    .await
                    .unwrap_or_else(|| panic!("admitted")),
            );
        }
        let mut names: Vec<_> = got.iter().filter_map(|o| o.metadata.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 10);
        // A relist replaces what is left of the list; the stream ends with the watch.
        drop(tx);
        assert!(StreamExt::next(&mut triggers).await.is_none());
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
    async fn the_echo_of_a_secret_write_triggers_nothing_and_a_deletion_always_does() {
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for name in ["a", "b"] {
            writer.apply_watcher_event(&Event::InitApply(ss(name, 1)));
        }
        writer.apply_watcher_event(&Event::InitDone);
        let own = Arc::new(OwnWrites::default());
        let with_rv = |name: &str, rv: &str| {
            let mut m = secret_meta(name, Some("d"));
            m.metadata.resource_version = Some(rv.into());
            m
        };
        own.record(&with_rv("a", "5").metadata);
        own.record(&with_rv("b", "5").metadata);
        let events = vec![
            Event::Apply(with_rv("a", "5")),
            Event::Apply(with_rv("a", "6")),
            Event::Delete(with_rv("b", "5")),
        ];
        let index = Arc::new(SecretIndex::default());
        let got: Vec<String> = secrets(
            stream::iter(events.into_iter().map(Ok)),
            index.clone(),
            reader,
            own.clone(),
        )
        .map(|r| r.name)
        .collect()
        .await;
        assert_eq!(got, ["a", "b"]);
        assert_eq!(own.pending(), 0);
        // The echo still feeds the index.
        assert!(index.knows("ns", "a"));
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
        let got: Vec<String> = secrets(
            stream::iter(events.into_iter().map(Ok)),
            index,
            reader,
            Default::default(),
        )
        .map(|r| r.name)
        .collect()
        .await;
        let mut got = got;
        got.sort();
        // The first list triggers nothing (the SealedSecret list does), list items none either.
        assert_eq!(got, ["edited", "gone"]);
    }
}
