//! This replica's own writes, so that the watch event echoing one triggers no reconcile.
//!
//! Every write comes back through a watch: the Secret a reconcile created, the status it wrote.
//! The reconcile such an echo triggers reads exactly what the writing reconcile left behind and
//! has nothing to do, yet during a cold start those two passes per object cost about as much
//! of the controller's CPU as the pass that did the work. The API server gives every change a
//! resource version of its own, so an event carrying the version a write returned is that
//! write's echo and nothing else.
//!
//! An entry goes at the first event for its object, echo or not, and on deletion; all go when a
//! relist completes (the relist triggers what it needs) or when the table is full. A write whose
//! echo arrives before its response is recorded too late and its echo triggers as before: every
//! miss costs at most a pass that changes nothing, never a pass that was needed.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Most writes awaiting their echo; beyond that the table is emptied (a cold start has about
/// as many writes awaiting an echo as reconciles in flight).
const MOST_PENDING: usize = 4096;

/// The resource version of this replica's last write to each object, until its echo.
#[derive(Debug, Default)]
pub struct OwnWrites {
    pending: Mutex<HashMap<(String, String), String>>,
}

impl OwnWrites {
    /// Records a write, from the metadata the API server answered it with.
    pub fn record(&self, written: &ObjectMeta) {
        let (Some(ns), Some(name), Some(rv)) = (
            written.namespace.clone(),
            written.name.clone(),
            written.resource_version.clone(),
        ) else {
            return;
        };
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MOST_PENDING {
            pending.clear();
        }
        pending.insert((ns, name), rv);
    }

    /// Whether a watch event's object (its metadata, and its version `rv`, which the cache keeps
    /// apart from the metadata) is the echo of the last recorded write to it; its entry goes
    /// either way.
    pub fn is_echo(&self, seen: &ObjectMeta, rv: Option<&str>) -> bool {
        self.take(seen)
            .is_some_and(|written| Some(written.as_str()) == rv)
    }

    /// Drops the entry of a deleted object.
    pub fn forget(&self, gone: &ObjectMeta) {
        self.take(gone);
    }

    fn take(&self, meta: &ObjectMeta) -> Option<String> {
        let key = (
            meta.namespace.as_deref().unwrap_or_default().to_owned(),
            meta.name.as_deref().unwrap_or_default().to_owned(),
        );
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key)
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Writes awaiting their echo.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(w: &OwnWrites, ns: &str, name: &str, rv: &str) -> bool {
        w.is_echo(&meta(ns, name, rv), Some(rv))
    }

    fn meta(ns: &str, name: &str, rv: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_version_written_is_an_echo_and_only_once() {
        let w = OwnWrites::default();
        w.record(&meta("ns", "a", "7"));
        assert!(!echo(&w, "ns", "b", "7"), "another object");
        assert!(!echo(&w, "other", "a", "7"), "another namespace");
        assert!(echo(&w, "ns", "a", "7"));
        assert!(!echo(&w, "ns", "a", "7"), "an entry serves once");
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn any_other_event_for_the_object_drops_the_entry() {
        let w = OwnWrites::default();
        w.record(&meta("ns", "a", "7"));
        // Someone else's change arrived first: it triggers, and so does the echo after it.
        assert!(!echo(&w, "ns", "a", "6"));
        assert!(!echo(&w, "ns", "a", "7"));
        w.record(&meta("ns", "a", "9"));
        w.forget(&meta("ns", "a", "10"));
        assert!(!echo(&w, "ns", "a", "9"), "deleted meanwhile");
        w.record(&meta("ns", "a", "11"));
        w.clear();
        assert!(!echo(&w, "ns", "a", "11"), "cleared by a relist");
    }

    #[test]
    fn incomplete_metadata_is_never_an_echo() {
        let w = OwnWrites::default();
        let mut no_rv = meta("ns", "a", "1");
        no_rv.resource_version = None;
        w.record(&no_rv);
        assert_eq!(w.pending(), 0);
        assert!(!w.is_echo(&no_rv, None));
        w.record(&meta("ns", "a", "1"));
        assert!(
            !w.is_echo(&no_rv, None),
            "an event without a version is not the write's"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let w = OwnWrites::default();
        for i in 0..MOST_PENDING + 10 {
            w.record(&meta("ns", &format!("o{i}"), "1"));
        }
        assert!(w.pending() <= MOST_PENDING);
        assert!(echo(&w, "ns", &format!("o{}", MOST_PENDING + 9), "1"));
    }
}
