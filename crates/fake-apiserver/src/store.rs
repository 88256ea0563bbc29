//! The object store: one global resourceVersion, bounded event history, watchers, the write
//! pipeline (status subresource, generation, managed fields, no-op detection), deletion with
//! finalizers, namespace and CRD cascades and ownerReference garbage collection.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::decode::{self, Directive, FieldCheck, Source};
use crate::errors::{ApiError, ApiResult};
use crate::fields::{self, Entry};
use crate::resources::{Registry, ResKey, ResourceType, crd_resources};
use crate::selectors::Selector;
use crate::{secrets, util};

/// A stored object (shared between store, history and watchers).
pub type Obj = Arc<Value>;

/// An object as served at a requested version: `apiVersion` replaced on the way out, so the
/// stored object is serialized in place instead of copied first.
pub struct Served<'a> {
    /// The object.
    pub obj: &'a Value,
    /// The `apiVersion` to show.
    pub api_version: &'a str,
}

impl Served<'_> {
    /// The group a served Event is shown in, if this is one.
    fn event_view(&self) -> Option<&str> {
        if self.obj.get("kind").and_then(Value::as_str) != Some("Event") {
            return None;
        }
        match self.api_version {
            "v1" => Some(""),
            "events.k8s.io/v1" => Some(crate::events::GROUP),
            _ => None,
        }
    }

    /// An owned copy as served.
    pub fn to_value(&self) -> Value {
        let mut v = match self.event_view() {
            Some(group) => crate::events::present(self.obj, group),
            None => self.obj.clone(),
        };
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(self.api_version));
        }
        v
    }
}

impl serde::Serialize for Served<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.event_view().is_some() {
            return self.to_value().serialize(s);
        }
        let Some(fields) = self.obj.as_object() else {
            return self.obj.serialize(s);
        };
        let missing = !fields.contains_key("apiVersion");
        let mut map = s.serialize_map(Some(fields.len() + usize::from(missing)))?;
        if missing {
            map.serialize_entry("apiVersion", self.api_version)?;
        }
        for (k, v) in fields {
            if k == "apiVersion" {
                map.serialize_entry(k, self.api_version)?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// One page of a list: the stored objects, serialized in place (see [`Served`]).
pub struct ListPage {
    /// `<Kind>List`.
    pub kind: String,
    /// The version listed.
    pub api_version: String,
    /// `resourceVersion`, `continue`, `remainingItemCount`.
    pub metadata: Value,
    /// The objects, as stored.
    pub items: Vec<Obj>,
}

impl ListPage {
    /// The items as served (copies; for the table and delete-collection paths).
    pub fn presented_items(&self) -> Vec<Value> {
        self.items
            .iter()
            .map(|obj| {
                Served {
                    obj,
                    api_version: &self.api_version,
                }
                .to_value()
            })
            .collect()
    }
}

impl serde::Serialize for ListPage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Items<'a>(&'a [Obj], &'a str);
        impl serde::Serialize for Items<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|obj| Served {
                    obj,
                    api_version: self.1,
                }))
            }
        }
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("kind", &self.kind)?;
        map.serialize_entry("apiVersion", &self.api_version)?;
        map.serialize_entry("metadata", &self.metadata)?;
        map.serialize_entry("items", &Items(&self.items, &self.api_version))?;
        map.end()
    }
}

/// Kind of change recorded in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Which resource.
    pub key: ResKey,
    /// What happened.
    pub etype: EventType,
    /// Object after the change (the last state for deletions).
    pub obj: Obj,
    /// Object before the change.
    pub old: Option<Obj>,
}

/// What a watch stream is sent.
#[derive(Debug)]
pub enum WatchMsg {
    /// `ADDED`/`MODIFIED`/`DELETED` with the object.
    Event(&'static str, Obj),
    /// `BOOKMARK` at a resourceVersion (`true`: marks the end of initial events).
    Bookmark(u64, bool),
    /// `ERROR` with a Status; the stream ends after it.
    Error(ApiError),
}

struct Watcher {
    key: ResKey,
    ns: Option<String>,
    sel: Selector,
    bookmarks: bool,
    tx: mpsc::UnboundedSender<WatchMsg>,
}

impl Watcher {
    fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.ns
            && obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns.as_str())
        {
            return false;
        }
        self.sel.matches(obj)
    }

    /// Sends the event as this watcher sees it; `false` when the receiver is gone.
    fn deliver(&self, ev: &Event) -> bool {
        if ev.key != self.key {
            return true;
        }
        let now = self.matches(&ev.obj);
        let before = ev.old.as_ref().is_some_and(|o| self.matches(o));
        let t = match ev.etype {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => (now || before).then_some("DELETED"),
            EventType::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        };
        match t {
            Some(t) => self.tx.send(WatchMsg::Event(t, ev.obj.clone())).is_ok(),
            None => !self.tx.is_closed(),
        }
    }
}

struct Snapshot {
    items: Arc<Vec<Obj>>,
    rv: u64,
    offset: usize,
}

/// Parameters shared by all writes of one request.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    /// The resource written (the version requested).
    pub rt: ResourceType,
    /// Namespace (`""` for cluster-scoped).
    pub ns: String,
    /// Field manager for managedFields.
    pub manager: String,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Write to the `status` subresource.
    pub status: bool,
    /// `fieldValidation` and what decoding found.
    pub check: FieldCheck,
}

/// How managedFields are produced for a write.
pub enum Mode {
    /// Non-apply write: the writer takes the fields it changed.
    Update,
    /// Server-side apply already computed the entries.
    Preset(Vec<Entry>),
}

/// `DeleteOptions` that matter here.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `Orphan` leaves dependents alone; anything else deletes them (background).
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub rv: Option<String>,
    /// `gracePeriodSeconds`.
    pub grace: Option<i64>,
    /// `dryRun`.
    pub dry_run: bool,
}

enum Deleted {
    Removed(Value),
    Terminating(Value),
}

/// Everything behind the server's lock.
pub struct State {
    /// Served resources.
    pub registry: Registry,
    rv: u64,
    objects: BTreeMap<ResKey, BTreeMap<(String, String), Obj>>,
    uids: HashMap<String, (ResKey, String, String)>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    compacted: u64,
    watchers: Vec<Watcher>,
    snapshots: BTreeMap<u64, Snapshot>,
    next_snapshot: u64,
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

fn rv_of(obj: &Value) -> u64 {
    meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        // Set to an object just above.
        _ => unreachable!("metadata is an object"),
    }
}

/// Whether the real server keeps `metadata.generation` for this resource: its strategy sets it
/// for custom resources and kinds with a spec (workloads, policies, CRDs), never for core-group
/// objects such as Secrets, ConfigMaps, Namespaces or Services, nor for RBAC, Leases or Events.
fn tracks_generation(rt: &ResourceType) -> bool {
    rt.custom
        || matches!(
            rt.group.as_str(),
            "apps" | "batch" | "policy" | "networking.k8s.io" | "apiextensions.k8s.io"
        )
}

/// Whether two objects differ outside metadata and status: what `generation` tracks.
fn spec_differs(a: &Value, b: &Value) -> bool {
    const NOT_SPEC: [&str; 4] = ["metadata", "status", "apiVersion", "kind"];
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a != b;
    };
    fn spec(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
        m.iter()
            .filter(|(k, _)| !NOT_SPEC.contains(&k.as_str()))
            .collect()
    }
    let (sa, sb) = (spec(a), spec(b));
    sa.len() != sb.len() || sa.iter().any(|(k, v)| b.get(*k) != Some(*v))
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

impl State {
    /// A store with `default`, `kube-system` and `kube-public` namespaces and the bootstrap
    /// RBAC policy ([`crate::rbac::bootstrap_policy`]).
    pub fn new(history_limit: usize) -> Self {
        let mut s = State {
            registry: Registry::builtin(),
            rv: 0,
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            watchers: Vec::new(),
            snapshots: BTreeMap::new(),
            next_snapshot: 1,
        };
        if let Some(rt) = s.registry.get("", "v1", "namespaces").cloned() {
            for ns in ["default", "kube-system", "kube-public"] {
                let ctx = WriteCtx {
                    rt: rt.clone(),
                    ns: String::new(),
                    manager: "kube-apiserver".into(),
                    dry_run: false,
                    status: false,
                    check: FieldCheck::default(),
                };
                // Cannot fail: fixed, valid input.
                let _ = s.create(&ctx, json!({"metadata": {"name": ns}}));
            }
        }
        for (plural, obj) in crate::rbac::bootstrap_policy() {
            if let Some(rt) = s.registry.get(crate::rbac::GROUP, "v1", plural).cloned() {
                let ctx = WriteCtx {
                    rt,
                    ns: String::new(),
                    manager: "kube-apiserver".into(),
                    dry_run: false,
                    status: false,
                    check: FieldCheck::default(),
                };
                // Cannot fail: fixed, valid input.
                let _ = s.create(&ctx, obj);
            }
        }
        s
    }

    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Forgets all history: watches and lists from older versions get 410 Expired.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
        self.snapshots.clear();
    }

    /// Closes every open watch stream.
    pub fn drop_watches(&mut self) {
        self.watchers.clear();
    }

    /// Number of open watches.
    pub fn watch_count(&self) -> usize {
        self.watchers.iter().filter(|w| !w.tx.is_closed()).count()
    }

    /// Sends a BOOKMARK at the current version to every watcher that asked for them.
    pub fn bookmark_tick(&mut self) {
        let rv = self.rv;
        self.watchers.retain(|w| {
            if w.bookmarks {
                w.tx.send(WatchMsg::Bookmark(rv, false)).is_ok()
            } else {
                !w.tx.is_closed()
            }
        });
    }

    fn store_ns(rt: &ResourceType, ns: &str) -> String {
        if rt.namespaced {
            ns.to_string()
        } else {
            String::new()
        }
    }

    fn lookup(&self, key: &ResKey, ns: &str, name: &str) -> Option<Obj> {
        self.objects
            .get(key)
            .and_then(|b| b.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// Reads one object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<Obj> {
        self.lookup(&rt.key(), &Self::store_ns(rt, ns), name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// Whether a namespace object exists.
    pub fn namespace_exists(&self, ns: &str) -> bool {
        let key = ResKey {
            group: String::new(),
            plural: "namespaces".into(),
        };
        self.lookup(&key, "", ns).is_some()
    }

    fn notify(&mut self, ev: Event) {
        let ev = Arc::new(ev);
        self.watchers.retain(|w| w.deliver(&ev));
        self.history.push_back(ev);
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
    }

    fn put(&mut self, key: &ResKey, ns: &str, name: &str, obj: Value, old: Option<Obj>) -> Obj {
        let obj = Arc::new(obj);
        if let Some(uid) = meta_str(&obj, "uid") {
            self.uids.insert(
                uid.to_string(),
                (key.clone(), ns.to_string(), name.to_string()),
            );
        }
        self.objects
            .entry(key.clone())
            .or_default()
            .insert((ns.to_string(), name.to_string()), obj.clone());
        let etype = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.notify(Event {
            rv: self.rv,
            key: key.clone(),
            etype,
            obj: obj.clone(),
            old,
        });
        obj
    }

    /// Creates an object (POST).
    pub fn create(&mut self, ctx: &WriteCtx, mut body: Value) -> ApiResult<Obj> {
        let rt = &ctx.rt;
        if !body.is_object() {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: the body must be a JSON object",
                rt.kind, rt.version, rt.kind
            )));
        }
        check_type_meta(rt, &body)?;
        let meta = meta_mut(&mut body);
        if rt.namespaced
            && let Some(ns) = meta.get("namespace").and_then(Value::as_str)
            && !ns.is_empty()
            && ns != ctx.ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(g) if !g.is_empty() => {
                    // The real server caps the prefix so the result stays a valid name.
                    let prefix: String = g.chars().take(58).collect();
                    format!("{prefix}{}", util::random_suffix(5))
                }
                _ => {
                    return Err(ApiError::invalid(
                        &rt.group,
                        &rt.kind,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        if rt.namespaced && !self.namespace_exists(&ctx.ns) {
            return Err(ApiError::not_found("", "namespaces", &ctx.ns));
        }
        let ns = Self::store_ns(rt, &ctx.ns);
        if self.lookup(&rt.key(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        self.commit(ctx, &name, None, body, Mode::Update)
    }

    /// Replaces an object (PUT). Without `metadata.resourceVersion` the update is unconditional.
    pub fn update(&mut self, ctx: &WriteCtx, name: &str, mut body: Value) -> ApiResult<Obj> {
        let rt = &ctx.rt;
        if !body.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        check_type_meta(rt, &body)?;
        let meta = meta_mut(&mut body);
        if let Some(n) = meta.get("name").and_then(Value::as_str)
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced
            && let Some(ns) = meta.get("namespace").and_then(Value::as_str)
            && !ns.is_empty()
            && ns != ctx.ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let old = self.get(rt, &ctx.ns, name)?;
        check_rv_precondition(rt, name, &body, &old)?;
        self.commit(ctx, name, Some(old), body, Mode::Update)
    }

    /// Commits an already patched object (PATCH); `old` is `None` only for create-on-apply.
    pub fn commit_patched(
        &mut self,
        ctx: &WriteCtx,
        name: &str,
        old: Option<Obj>,
        new: Value,
        mode: Mode,
    ) -> ApiResult<Obj> {
        let rt = &ctx.rt;
        match &old {
            Some(o) => check_rv_precondition(rt, name, &new, o)?,
            None => {
                if rt.namespaced && !self.namespace_exists(&ctx.ns) {
                    return Err(ApiError::not_found("", "namespaces", &ctx.ns));
                }
            }
        }
        self.commit(ctx, name, old, new, mode)
    }

    /// The write pipeline shared by create, update and patch.
    fn commit(
        &mut self,
        ctx: &WriteCtx,
        name: &str,
        old: Option<Obj>,
        mut new: Value,
        mode: Mode,
    ) -> ApiResult<Obj> {
        let rt = &ctx.rt;
        let key = rt.key();
        let ns = Self::store_ns(rt, &ctx.ns);
        let now = util::now();
        if !new.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        // Decoding drops unknown fields; `fieldValidation` says whether that is an error.
        let before = (ctx.check.directive == Directive::Strict
            && ctx.check.source == Source::Patch)
            .then(|| new.to_string());
        let unknown = decode::prune_unknown(rt, &mut new);
        if ctx.check.source != Source::Apply {
            ctx.check
                .settle(rt, &unknown, || before.unwrap_or_default())?;
        }
        // Events are stored in their core form, whichever API wrote them.
        if crate::events::is_event(&rt.group, &rt.plural) {
            if rt.group == crate::events::GROUP {
                new = crate::events::to_core(new);
            }
            crate::events::strip_placeholders(&mut new);
        }
        // Status subresource semantics.
        if ctx.status {
            let Some(o) = &old else {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            };
            let mut merged = (**o).clone();
            match new.get("status") {
                Some(s) if !s.is_null() => merged["status"] = s.clone(),
                _ => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new = merged;
        } else if rt.status
            && let Some(m) = new.as_object_mut()
        {
            match old.as_ref().and_then(|o| o.get("status")) {
                Some(s) => {
                    m.insert("status".into(), s.clone());
                }
                None => {
                    m.remove("status");
                }
            }
        }
        // Identity and system metadata.
        if let Some(m) = new.as_object_mut() {
            m.insert("apiVersion".into(), json!(rt.api_version()));
            m.insert("kind".into(), json!(rt.kind));
        }
        {
            let meta = meta_mut(&mut new);
            meta.insert("name".into(), json!(name));
            if rt.namespaced {
                meta.insert("namespace".into(), json!(ns));
            } else {
                meta.remove("namespace");
            }
            meta.remove("selfLink");
            meta.remove("managedFields");
            meta.retain(|_, v| !v.is_null());
            let sys = [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
            ];
            match &old {
                Some(o) => {
                    for f in sys {
                        match o.get("metadata").and_then(|m| m.get(f)) {
                            Some(v) => {
                                meta.insert(f.into(), v.clone());
                            }
                            None => {
                                meta.remove(f);
                            }
                        }
                    }
                }
                None => {
                    for f in sys {
                        meta.remove(f);
                    }
                    meta.insert("uid".into(), json!(util::uuid()));
                    meta.insert("creationTimestamp".into(), json!(now));
                    if tracks_generation(rt) {
                        meta.insert("generation".into(), json!(1));
                    }
                }
            }
        }
        check_metadata_types(rt, &new)?;
        // Structural defaulting (a missing `status` is defaulted after create dropped it, as
        // the real server's read from storage does).
        if let Some(schema) = &rt.structural {
            schema.default(&mut new);
        }
        // Per-resource rules.
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "secrets") if !ctx.status => {
                secrets::prepare(&mut new, old.as_deref(), name)?;
            }
            ("", "namespaces") if new.pointer("/status/phase").is_none() => {
                new["status"] = json!({"phase": "Active"});
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") if !ctx.status => {
                prepare_crd(&mut new, name)?;
            }
            _ => {}
        }
        let checked = if rt.group == crate::rbac::GROUP {
            util::validate_path_segment_name(name)
        } else {
            util::validate_name(name, rt.plural == "namespaces" && rt.group.is_empty())
        };
        if old.is_none()
            && let Err(cause) = checked
        {
            return Err(ApiError::invalid(&rt.group, &rt.kind, name, &cause));
        }
        // Generation: bumps on changes outside metadata and status only.
        if let Some(o) = &old
            && tracks_generation(rt)
            && spec_differs(o, &new)
        {
            let g = o
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        // Managed fields.
        let entries = match mode {
            Mode::Update => fields::record_update(
                old.as_deref(),
                &new,
                &ctx.manager,
                ctx.status.then_some("status"),
                &rt.api_version(),
                &now,
            ),
            Mode::Preset(e) => e,
        };
        // A main-resource write owns no status field (the status a create is defaulted to is
        // the server's, not the writer's).
        let mut entries = entries;
        if rt.status && !ctx.status {
            for e in entries.iter_mut().filter(|e| e.subresource.is_none()) {
                e.fields
                    .retain(|p| p.first().map(String::as_str) != Some("f:status"));
            }
            entries.retain(|e| !e.fields.is_empty());
        }
        fields::write_entries(&mut new, &entries);
        // No-op writes change nothing.
        if let Some(o) = &old
            && new == **o
        {
            return Ok(o.clone());
        }
        // Removing the last finalizer of a terminating object deletes it.
        if old.is_some()
            && new.pointer("/metadata/deletionTimestamp").is_some()
            && !has_finalizers(&new)
        {
            if ctx.dry_run {
                return Ok(Arc::new(new));
            }
            let obj = self.remove(&key, &ns, name, new);
            return Ok(Arc::new(obj));
        }
        if ctx.dry_run {
            if old.is_none() {
                meta_mut(&mut new).remove("resourceVersion");
            }
            return Ok(Arc::new(new));
        }
        self.rv += 1;
        meta_mut(&mut new).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let is_crd = rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
        let stored = self.put(&key, &ns, name, new, old);
        // The real garbage collector also finds a dependent written after all its owners were
        // deleted (a writer acting on a stale cache) and deletes it shortly after the write.
        if self.owners_all_gone(&owner_uids(&stored)) {
            self.delete_object(&key, &ns, name, &DeleteOpts::default());
        }
        if is_crd && let Ok(types) = crd_resources(&stored) {
            if let Some(t) = types.first() {
                self.registry.remove_custom(&t.key());
            }
            let storage = storage_version(&stored);
            let storage_type = types
                .iter()
                .find(|t| Some(t.version.as_str()) == storage.as_deref())
                .cloned();
            for t in types {
                self.registry.insert(t);
            }
            if let Some(t) = storage_type {
                self.reread(&t);
            }
        }
        Ok(stored)
    }

    /// After a CRD changed: the stored objects as a read from storage now presents them
    /// (pruned and defaulted by the storage version's schema). Like the real server's read
    /// path this changes no resourceVersion and sends no watch event.
    fn reread(&mut self, rt: &ResourceType) {
        let Some(schema) = rt.structural.clone() else {
            return;
        };
        let Some(bucket) = self.objects.get_mut(&rt.key()) else {
            return;
        };
        for obj in bucket.values_mut() {
            let mut v = (**obj).clone();
            if let Some(meta) = v.get_mut("metadata") {
                crate::openapi::object_meta_schema().prune(meta, "metadata");
            }
            schema.prune_resource(&mut v);
            schema.prune_nulls(&mut v);
            schema.default(&mut v);
            if v != **obj {
                *obj = Arc::new(v);
            }
        }
    }

    /// The object as served at the requested version.
    pub fn present(&self, rt: &ResourceType, obj: &Obj) -> Value {
        Served {
            obj,
            api_version: &rt.api_version(),
        }
        .to_value()
    }

    /// Removes an object for good: bumps the version, emits DELETED, runs cascades.
    fn remove(&mut self, key: &ResKey, ns: &str, name: &str, mut last: Value) -> Value {
        self.rv += 1;
        meta_mut(&mut last).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let old = self
            .objects
            .get_mut(key)
            .and_then(|b| b.remove(&(ns.to_string(), name.to_string())));
        let uid = meta_str(&last, "uid").map(str::to_string);
        if let Some(u) = &uid {
            self.uids.remove(u);
        }
        let obj = Arc::new(last);
        self.notify(Event {
            rv: self.rv,
            key: key.clone(),
            etype: EventType::Deleted,
            obj: obj.clone(),
            old,
        });
        // Cascades.
        if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
            if let Ok(types) = crd_resources(&obj)
                && let Some(t) = types.first()
            {
                let ck = t.key();
                let names: Vec<(String, String)> = self
                    .objects
                    .get(&ck)
                    .map(|b| b.keys().cloned().collect())
                    .unwrap_or_default();
                for (n_ns, n_name) in names {
                    if let Some(o) = self.lookup(&ck, &n_ns, &n_name) {
                        self.remove(&ck, &n_ns, &n_name, (*o).clone());
                    }
                }
                self.objects.remove(&ck);
                self.registry.remove_custom(&ck);
            }
        } else if key.group.is_empty() && key.plural == "namespaces" {
            let mut victims = Vec::new();
            for (k, b) in &self.objects {
                for (o_ns, o_name) in b.keys() {
                    if o_ns == name {
                        victims.push((k.clone(), o_ns.clone(), o_name.clone()));
                    }
                }
            }
            for (k, o_ns, o_name) in victims {
                self.delete_object(&k, &o_ns, &o_name, &DeleteOpts::default());
            }
        }
        if let Some(u) = uid {
            self.collect_garbage(u);
        }
        (*obj).clone()
    }

    /// Whether an object with these owner uids is garbage: it has owners and none exists.
    fn owners_all_gone(&self, owners: &[String]) -> bool {
        !owners.is_empty() && owners.iter().all(|u| !self.uids.contains_key(u))
    }

    /// Deletes dependents all of whose owners are gone (background propagation).
    fn collect_garbage(&mut self, gone_uid: String) {
        let mut dependents = Vec::new();
        for (k, b) in &self.objects {
            for ((o_ns, o_name), o) in b {
                let owners = owner_uids(o);
                if owners.contains(&gone_uid) && self.owners_all_gone(&owners) {
                    dependents.push((k.clone(), o_ns.clone(), o_name.clone()));
                }
            }
        }
        for (k, o_ns, o_name) in dependents {
            self.delete_object(&k, &o_ns, &o_name, &DeleteOpts::default());
        }
    }

    /// Deletes honouring finalizers; `None` if the object is gone already.
    fn delete_object(
        &mut self,
        key: &ResKey,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Option<Deleted> {
        let o = self.lookup(key, ns, name)?;
        if has_finalizers(&o) {
            if o.pointer("/metadata/deletionTimestamp").is_some() {
                return Some(Deleted::Terminating((*o).clone()));
            }
            let mut new = (*o).clone();
            let meta = meta_mut(&mut new);
            meta.insert("deletionTimestamp".into(), json!(util::now()));
            meta.insert(
                "deletionGracePeriodSeconds".into(),
                json!(opts.grace.unwrap_or(0)),
            );
            if opts.dry_run {
                return Some(Deleted::Terminating(new));
            }
            self.rv += 1;
            meta_mut(&mut new).insert("resourceVersion".into(), json!(self.rv.to_string()));
            let stored = self.put(key, ns, name, new, Some(o));
            return Some(Deleted::Terminating((*stored).clone()));
        }
        if opts.dry_run {
            return Some(Deleted::Removed((*o).clone()));
        }
        Some(Deleted::Removed(self.remove(key, ns, name, (*o).clone())))
    }

    /// DELETE of one object. Returns the object (terminating, or its last state) and whether
    /// it is gone.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<(Value, bool)> {
        let o = self.get(rt, ns, name)?;
        if let Some(uid) = &opts.uid
            && meta_str(&o, "uid") != Some(uid.as_str())
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    crate::errors::qualified(&rt.group, &rt.plural),
                    meta_str(&o, "uid").unwrap_or("")
                ),
            )
            .details(&rt.group, &rt.plural, name));
        }
        if let Some(rv) = &opts.rv
            && meta_str(&o, "resourceVersion") != Some(rv.as_str())
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        let key = rt.key();
        let sns = Self::store_ns(rt, ns);
        if opts.propagation.as_deref() == Some("Orphan") && !opts.dry_run {
            // Orphan: strip the owner from dependents' ownerReferences so GC leaves them.
            if let Some(uid) = meta_str(&o, "uid").map(str::to_string) {
                self.orphan_dependents(&uid);
            }
        }
        match self.delete_object(&key, &sns, name, opts) {
            Some(Deleted::Removed(v)) => Ok((self.present(rt, &Arc::new(v)), true)),
            Some(Deleted::Terminating(v)) => Ok((self.present(rt, &Arc::new(v)), false)),
            None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
        }
    }

    fn orphan_dependents(&mut self, uid: &str) {
        let mut deps = Vec::new();
        for (k, b) in &self.objects {
            for ((o_ns, o_name), o) in b {
                if owner_uids(o).iter().any(|u| u == uid) {
                    deps.push((k.clone(), o_ns.clone(), o_name.clone(), o.clone()));
                }
            }
        }
        for (k, o_ns, o_name, o) in deps {
            let mut new = (*o).clone();
            if let Some(refs) = new
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                if refs.is_empty()
                    && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    m.remove("ownerReferences");
                }
            }
            self.rv += 1;
            meta_mut(&mut new).insert("resourceVersion".into(), json!(self.rv.to_string()));
            self.put(&k, &o_ns, &o_name, new, Some(o));
        }
    }

    /// The objects a list or watch with these filters sees, in key order.
    /// Stored objects of `key` in `ns` (all namespaces: `None`), shared, not copied.
    pub fn objects(&self, key: &ResKey, ns: Option<&str>) -> Vec<Obj> {
        self.matching(key, ns, &Selector::default())
    }

    fn matching(&self, key: &ResKey, ns: Option<&str>, sel: &Selector) -> Vec<Obj> {
        self.objects
            .get(key)
            .map(|b| {
                b.iter()
                    .filter(|((o_ns, _), _)| ns.is_none_or(|n| n == o_ns))
                    .filter(|(_, o)| sel.matches(o))
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A list (`limit`/`continue` pages are served from a snapshot taken by the first page).
    #[allow(clippy::too_many_arguments)]
    pub fn list(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        sel: &Selector,
        limit: Option<usize>,
        cont: Option<&str>,
        rv: Option<&str>,
        rv_match: Option<&str>,
    ) -> ApiResult<ListPage> {
        let (items, list_rv, offset) = match cont.filter(|c| !c.is_empty()) {
            Some(token) => {
                let id: u64 = token.parse().map_err(|_| {
                    ApiError::bad_request(format!("continue key is not valid: {token}"))
                })?;
                let snap = self.snapshots.get(&id).ok_or_else(|| {
                    ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
                })?;
                (snap.items.clone(), snap.rv, snap.offset)
            }
            None => {
                if let Some(rv) = rv.filter(|r| !r.is_empty()) {
                    let n: u64 = rv.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "resourceVersion: Invalid value: \"{rv}\": must be a non-negative integer"
                        ))
                    })?;
                    if rv_match == Some("Exact") && n != self.rv {
                        return Err(ApiError::expired(format!(
                            "too old resource version: {n} ({})",
                            self.rv
                        )));
                    }
                }
                let key = rt.key();
                (Arc::new(self.matching(&key, ns, sel)), self.rv, 0)
            }
        };
        let end = match limit.filter(|l| *l > 0) {
            Some(l) => offset.saturating_add(l).min(items.len()),
            None => items.len(),
        };
        let page = items.get(offset..end).unwrap_or_default().to_vec();
        let mut meta = json!({"resourceVersion": list_rv.to_string()});
        if end < items.len() {
            let id = self.next_snapshot;
            self.next_snapshot += 1;
            self.snapshots.insert(
                id,
                Snapshot {
                    items: items.clone(),
                    rv: list_rv,
                    offset: end,
                },
            );
            while self.snapshots.len() > 256 {
                self.snapshots.pop_first();
            }
            meta["continue"] = json!(id.to_string());
            meta["remainingItemCount"] = json!(items.len() - end);
        }
        Ok(ListPage {
            kind: format!("{}List", rt.kind),
            api_version: rt.api_version(),
            metadata: meta,
            items: page,
        })
    }

    /// Starts a watch. Initial events (synthetic ADDED, or the history replay after `rv`) are
    /// queued before the watcher is registered, all under the lock, so nothing is missed.
    pub fn watch(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        sel: Selector,
        rv: Option<&str>,
        bookmarks: bool,
        send_initial_events: bool,
    ) -> ApiResult<mpsc::UnboundedReceiver<WatchMsg>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let w = Watcher {
            key: rt.key(),
            ns: ns.map(str::to_string),
            sel,
            bookmarks,
            tx,
        };
        let from = match rv.filter(|r| !r.is_empty() && *r != "0") {
            None => None,
            Some(r) => Some(r.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "resourceVersion: Invalid value: \"{r}\": must be a non-negative integer"
                ))
            })?),
        };
        match from {
            Some(n) if !send_initial_events => {
                if n < self.compacted {
                    let _ = w.tx.send(WatchMsg::Error(ApiError::expired(format!(
                        "too old resource version: {n} ({})",
                        self.compacted + 1
                    ))));
                    return Ok(rx);
                }
                for ev in self.history.iter().filter(|e| e.rv > n) {
                    w.deliver(ev);
                }
            }
            _ => {
                for o in self.matching(&w.key, ns, &w.sel) {
                    let _ = w.tx.send(WatchMsg::Event("ADDED", o));
                }
                if send_initial_events {
                    let _ = w.tx.send(WatchMsg::Bookmark(self.rv, true));
                }
            }
        }
        if bookmarks && !send_initial_events {
            let _ = w.tx.send(WatchMsg::Bookmark(self.rv, false));
        }
        self.watchers.push(w);
        Ok(rx)
    }
}

/// Rejects metadata the real server could not decode (400, like a JSON decoding error).
fn check_metadata_types(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let bad = |what: &str| {
        Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {what}",
            rt.kind, rt.version, rt.kind
        )))
    };
    let Some(meta) = obj.get("metadata").and_then(Value::as_object) else {
        return Ok(());
    };
    for f in ["labels", "annotations"] {
        if let Some(v) = meta.get(f)
            && !v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string))
        {
            return bad(&format!("metadata.{f} must be a map of strings"));
        }
    }
    if let Some(v) = meta.get("finalizers")
        && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        return bad("metadata.finalizers must be a list of strings");
    }
    if let Some(v) = meta.get("ownerReferences")
        && !v.as_array().is_some_and(|a| a.iter().all(Value::is_object))
    {
        return bad("metadata.ownerReferences must be a list of objects");
    }
    Ok(())
}

fn check_type_meta(rt: &ResourceType, body: &Value) -> ApiResult<()> {
    if let Some(k) = body.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
    {
        let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        if group != rt.group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
    }
    Ok(())
}

fn check_rv_precondition(rt: &ResourceType, name: &str, new: &Value, old: &Value) -> ApiResult<()> {
    if let Some(rv) = meta_str(new, "resourceVersion")
        && !rv.is_empty()
        && rv_of(old).to_string() != rv
    {
        return Err(ApiError::conflict(&rt.group, &rt.plural, name));
    }
    Ok(())
}

/// The name of a CRD's storage version.
fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// Validates a CRD and fills in the status the real CRD controllers would set.
fn prepare_crd(crd: &mut Value, name: &str) -> ApiResult<()> {
    let invalid =
        |c: &str| ApiError::invalid("apiextensions.k8s.io", "CustomResourceDefinition", name, c);
    let types = crd_resources(crd).map_err(|c| invalid(&c))?;
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != format!("{plural}.{group}") {
        return Err(invalid(&format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        )));
    }
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    if storage.len() != 1 {
        return Err(invalid(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        ));
    }
    let _ = types;
    let mut names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    if names.get("singular").is_none()
        && let Some(k) = names.get("kind").and_then(Value::as_str)
    {
        names["singular"] = json!(k.to_ascii_lowercase());
    }
    if names.get("listKind").is_none()
        && let Some(k) = names.get("kind").and_then(Value::as_str)
    {
        names["listKind"] = json!(format!("{k}List"));
    }
    let stamp = crd
        .pointer("/metadata/creationTimestamp")
        .cloned()
        .unwrap_or_else(|| json!(util::now()));
    crd["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": stamp},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": stamp},
        ],
        "storedVersions": storage,
    });
    Ok(())
}
