//! An in-memory Kubernetes API server on loopback, for tests.
//!
//! `fake-apiserver` speaks enough of the real API server's protocol (JSON, YAML and protobuf
//! bodies, OpenAPI documents, tables) that the `kube` client, `kube::runtime::watcher` and the
//! real `kubectl`, typed as a user types it, work against it unchanged, and it keeps the
//! semantics controllers depend on, so tests that pass here mean something.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_apiserver::{FakeApiServer, Fault, Verb};
//! let server = FakeApiServer::start().await?;          // 127.0.0.1:0
//! server.write_kubeconfig("/tmp/kubeconfig")?;          // for kubectl / binaries
//! # #[cfg(feature = "client")]
//! let client = server.kube_client().await?;            // feature "client"
//! server.inject_fault(Fault::new(Some(Verb::Update), Some("secrets"), 500, 1));
//! // ... run the code under test ...
//! server.reset_counts();
//! // ... wait for convergence, then assert quiet:
//! assert_eq!(server.write_count(), 0);
//! server.compact();        // older resourceVersions now get 410 Expired
//! server.drop_watches();   // every open watch stream ends
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The binary (`fake-apiserver --listen 127.0.0.1:0 --kubeconfig PATH [--proxy NS/NAME=ADDR]...
//! [--history N]`) writes a kubeconfig once listening, prints the URL on stdout and runs until
//! SIGTERM/SIGINT. The same hooks are served over HTTP: `GET /fake/counts`,
//! `POST /fake/reset-counts`, `POST /fake/faults` (a JSON [`Fault`]), `POST /fake/delays` (a
//! JSON [`Delay`]), `DELETE /fake/faults` (faults and delays), `POST /fake/drop-watches`,
//! `POST /fake/compact`,
//! `POST /fake/proxies` (`{"namespace","name","address"}`).
//!
//! # What is implemented
//!
//! - **Transport**: HTTP/1.1 on loopback (no TLS, no authn/authz: any or no token is accepted).
//!   Paths `/api/v1/...`, `/apis/{group}/{version}/...`, namespaced and cluster-wide
//!   collections, the legacy `/watch/` prefix. Request bodies in JSON, YAML
//!   (`application/yaml`) or, for the built-in kinds, Kubernetes protobuf
//!   (`application/vnd.kubernetes.protobuf`: magic `k8s\0` + `runtime.Unknown`, decoded with
//!   `k8s-pb`'s generated types), which kubectl's typed generators (`create namespace`,
//!   `create secret generic|tls|docker-registry`, `create configmap|serviceaccount|service`)
//!   send. Responses are JSON, or protobuf when a client lists it first in `Accept` and the
//!   kind has a protobuf form (watches are always JSON). Other body types are 415
//!   `UnsupportedMediaType` and unanswerable `Accept`s 406, with the real server's wording.
//! - **Resources**: namespaces, secrets, configmaps, services, serviceaccounts, events (one
//!   store, two views: core `v1` and `events.k8s.io/v1`, converted with Kubernetes' field
//!   mapping, field selectors of either view included, see `events.rs`),
//!   `coordination.k8s.io/v1` leases, `apiextensions.k8s.io/v1` CustomResourceDefinitions;
//!   and, stored only (nothing runs), what installing a controller creates: `apps/v1`
//!   deployments, `rbac.authorization.k8s.io/v1` roles, rolebindings, clusterroles and
//!   clusterrolebindings, `policy/v1` poddisruptionbudgets, `networking.k8s.io/v1`
//!   networkpolicies and ingresses. Creating a CRD immediately serves every served version of its resource (namespaced or
//!   cluster), with a `status` subresource if the version declares one, lists it in discovery,
//!   and sets the CRD's `NamesAccepted`/`Established` conditions. Deleting the CRD deletes its
//!   objects.
//! - **Users and RBAC**: every request is the administrator `kubernetes-admin`
//!   (`system:masters`), who may impersonate (`kubectl --as`, `--as-group`); an impersonated
//!   user's requests are authorized from the stored Roles, ClusterRoles and bindings with the
//!   real server's 403 messages (`auth.rs`, `rbac.rs`; a new store holds the bootstrap
//!   policy's `cluster-admin`, `system:discovery`, `system:basic-user` and
//!   `system:public-info-viewer` roles and bindings). The review APIs answer from the same
//!   evaluation: `SelfSubjectAccessReview` (`kubectl auth can-i`), `SelfSubjectRulesReview`
//!   (`kubectl auth can-i --list`), `SubjectAccessReview`, `LocalSubjectAccessReview` and
//!   `SelfSubjectReview` (`kubectl auth whoami`); see `reviews.rs`. Not evaluated:
//!   aggregation rules, escalation checks on RBAC writes, real authentication of tokens.
//! - **Schemas**: custom resources are pruned by their version's structural schema
//!   (`x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`, `metadata`
//!   by ObjectMeta), stripped of `null`s the schema does not allow, and defaulted (missing
//!   fields and non-nullable `null`s), on every write; a CRD change re-reads the stored objects
//!   as the real server's read path presents them (pruned and defaulted, same
//!   resourceVersion, no watch event). Built-in kinds drop the fields their OpenAPI schema
//!   does not know, as Go's decoding does. `fieldValidation=Strict|Warn|Ignore` (default
//!   `Warn`) applies to unknown and duplicate fields with the real server's messages:
//!   `strict decoding error: unknown field "spec.x", duplicate field "a.b"` (400 for a body,
//!   422 for a patch), one `Warning: 299 - "..."` header each for `Warn`; server-side apply of
//!   an undeclared field is the real server's 500 `field not declared in schema`. Value
//!   validation (types, `required`, patterns, CEL) is not done.
//! - **OpenAPI**: `/openapi/v3` (an index with content-hashed URLs), `/openapi/v3/api/v1` and
//!   `/openapi/v3/apis/{g}/{v}` (OpenAPI 3.0), and `/openapi/v2` (Swagger 2.0, in JSON or in
//!   gnostic's protobuf form kubectl asks for first), for every built-in resource (schemas
//!   from `k8s-openapi`) and every served CRD version (its schema plus `apiVersion`, `kind`,
//!   `metadata`), with `x-kubernetes-group-version-kind`, and per resource the list, create,
//!   deletecollection, get, replace, patch (with `fieldValidation`), delete and `/status`
//!   operations. So kubectl's default validation, `kubectl explain` (v3, and v2 with
//!   `--output=plaintext-openapiv2`) and `kubectl apply` work without flags. The built-in
//!   schemas carry no `x-kubernetes-patch-*`/`list-type` extensions.
//! - **resourceVersion**: one global counter; every stored change bumps it by one. Lists return
//!   it in `metadata.resourceVersion`. `limit`/`continue` pages are served from a snapshot taken
//!   by the first page (same resourceVersion on every page; unknown or compacted tokens are
//!   410 `Expired`). `resourceVersionMatch=Exact` for anything but the current version is 410;
//!   other list versions return the current state.
//! - **Watch** (`watch=true|1`): newline-delimited `{"type","object"}` events over a chunked
//!   body. From `resourceVersion=N` every later event is replayed from a bounded history
//!   (default 10 000 events, [`Options::history`]), so list-then-watch has no gap; a version
//!   older than the history yields one `ERROR` event with a 410 `Expired` Status
//!   (`too old resource version: N (M)`). Without a version (or `0`), synthetic `ADDED`
//!   events for the current objects come first. `sendInitialEvents=true` is honoured
//!   (initial `ADDED`s, then a BOOKMARK annotated `k8s.io/initial-events-end`).
//!   `allowWatchBookmarks=true` gives a BOOKMARK at the start and then every
//!   [`Options::bookmark_interval`]. `timeoutSeconds` ends the stream. Label and field
//!   selectors filter watches like the real server: an object that starts matching arrives as
//!   `ADDED`, one that stops matching as `DELETED`.
//! - **Writes**: POST (409 `AlreadyExists`), PUT (409 `Conflict` on a stale
//!   `metadata.resourceVersion`; unconditional without one; no create-on-update), DELETE,
//!   deletecollection, PATCH with `application/merge-patch+json`, `application/json-patch+json`
//!   (RFC 6902, all six ops), `application/strategic-merge-patch+json` (**treated as a JSON
//!   merge patch**: lists are replaced whole and `$patch` directives ignored), and server-side
//!   apply (`application/apply-patch+yaml`, YAML or JSON body; `fieldManager` required,
//!   `force`, create on apply). A patch carrying `metadata.resourceVersion` is a precondition.
//!   `dryRun=All` runs all validation and returns the result without storing anything.
//!   **A write that changes nothing bumps nothing**: no resourceVersion, generation or
//!   managedFields change and no watch event.
//! - **Managed fields**: `metadata.managedFields` entries per (manager, operation,
//!   subresource) with `fieldsV1` in the real `f:` format for map keys and leaves. Apply: the
//!   manager owns what it applied; a different value for a field another manager owns is a
//!   409 conflict (`Apply failed with 1 conflict: conflict with "m" using v1: .data.k`) unless
//!   `force`, which transfers ownership; equal values are co-owned; fields a manager stops
//!   applying are removed unless someone else owns them. Update operations (PUT/merge/JSON
//!   patch, create) give the writer the fields it changed and take them from others. The
//!   non-apply manager is `fieldManager`, else the User-Agent prefix, else `unknown`.
//!   **Lists are atomic** (no `k:`/`v:` keys, no associative-list merging, including
//!   `finalizers` and `ownerReferences`); `managedFields` sent by clients are ignored.
//! - **Status subresource**: main writes keep the stored `.status` (and drop it on create);
//!   `/status` writes (PUT, any PATCH, apply) change only `.status`. Resources without the
//!   subresource store `.status` from main writes. `metadata.generation` starts at 1 and is
//!   bumped when anything outside `metadata` and `status` changes, for the kinds whose real
//!   strategy keeps it (custom resources, CRDs, apps, batch, policy, networking); Secrets,
//!   ConfigMaps and other core objects have none.
//! - **Secrets**: `stringData` folded into `data` (base64) and never stored (also for apply,
//!   where the fields are then owned as `data` keys); `type` defaults to `Opaque` and is
//!   immutable; `immutable: true` forbids data changes and unsetting; `data` values must be
//!   base64 (400) and keys must match `[-._a-zA-Z0-9]+` (422), with the real error texts.
//! - **Metadata**: random UUID `uid`, `creationTimestamp` (RFC 3339, seconds),
//!   `generateName` (+5 random chars), RFC 1123 name validation (422 `Invalid`), namespaces
//!   must exist for namespaced creates (404 `namespaces "x" not found`); `default`,
//!   `kube-system`, `kube-public` exist at start. Label selectors (`=`, `==`, `!=`, `in`,
//!   `notin`, `key`, `!key`) and field selectors (`=`, `==`, `!=` on any dotted path, e.g.
//!   `metadata.name`, `metadata.namespace`, `type`).
//! - **Deletion**: objects with finalizers get `deletionTimestamp` and
//!   `deletionGracePeriodSeconds` and stay until an update removes the last finalizer.
//!   Preconditions (`uid`, `resourceVersion`) are checked. Immediate deletes answer a
//!   `Status` Success; deferred ones the object. Garbage collection runs synchronously on
//!   delete: a dependent is deleted (DELETED event, recursively) once **none** of its
//!   ownerReference uids exist any more, and so is an object written (created or updated)
//!   with ownerReferences none of which exists: the client gets its write answered, watchers
//!   see it ADDED/MODIFIED and then DELETED, as the real collector does a moment later.
//!   `Foreground` is treated like `Background`; `Orphan` strips the ownerReference from
//!   dependents. Deleting a namespace deletes everything in it (objects with finalizers are
//!   left terminating) and removes the namespace at once.
//! - **Errors**: always `kind: Status` (`apiVersion: v1`, `status: Failure`, `message`,
//!   `reason`, `details{name,group,kind}`, `code`) with the matching HTTP code and the real
//!   server's wording (`secrets "x" not found`, `... already exists`, `Operation cannot be
//!   fulfilled on secrets "x": the object has been modified; ...`). No input panics the
//!   server; malformed bodies are 400.
//! - **Discovery**: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}` as
//!   plain APIVersions/APIGroupList/APIGroup/APIResourceList JSON (aggregated discovery is not
//!   served; kubectl falls back). `kubectl get` tables via `as=Table` with the real printers'
//!   columns (secrets, namespaces, configmaps, serviceaccounts, services, events, leases,
//!   CRDs; ages as `duration.HumanDuration`) and, for custom resources, the CRD's
//!   `additionalPrinterColumns` (RFC 9535 JSONPath per row, first match, typed cells; `Age`
//!   when there are none), and `as=PartialObjectMetadata[List]` responses for
//!   get/list/watch/writes (kube's `*_metadata` calls and `metadata_watcher`).
//! - **Service proxy**: `/api/v1/namespaces/{ns}/services/{name}/proxy/{path}` (also the
//!   `scheme:name:port` and `name:port` forms) is forwarded over HTTP/1.1 to the address given
//!   by [`FakeApiServer::add_proxy`] / `--proxy`, whether or not a Service object exists;
//!   unknown services are 404, unreachable targets 503.
//! - **Test hooks**: request counters per ([`Verb`], resource) with status writes counted as
//!   `plural/status` (discovery and proxy requests are not counted), [`Fault`] injection
//!   (note that kube's client itself retries 429/503/504, so use e.g. 500 to see a failure),
//!   [`Delay`]s that hold requests (both can target only the later pages of a list, so a
//!   client's paged list fails or stalls part-way), [`FakeApiServer::drop_watches`],
//!   [`FakeApiServer::compact`].
//!
//! # What is not implemented
//!
//! Admission (webhooks, quotas, built-in defaulting beyond the above), authentication of
//! credentials (see Users and RBAC above), schema value validation (types, `required`, formats, CEL rules) of custom
//! resources, CBOR bodies, protobuf for CRD objects and watches, YAML responses (JSON is sent
//! instead), cluster IP allocation for Services, aggregated discovery, multiple CRD versions
//! with conversion (all versions share one store), label value validation on objects,
//! selectors on fields other than string-comparable paths, `resourceVersion` reads of older
//! states, namespace `Terminating` phase, Pod/Deployment semantics, `Foreground` deletion
//! ordering, graceful deletion periods, ETags on OpenAPI documents.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod apply;
mod auth;
mod decode;
mod errors;
mod events;
mod fields;
mod hooks;
mod media;
mod openapi;
mod openapi_v2;
mod patch;
mod protobuf;
mod proxy;
mod rbac;
mod resources;
mod reviews;
mod routes;
mod schema;
mod secrets;
mod selectors;
mod store;
mod strict;
mod table;
mod util;
mod watch;

pub use auth::ADMIN_USER;
pub use errors::ApiError;
pub use hooks::{Delay, Fault, Verb};

/// State shared by all request handlers.
pub(crate) struct Shared {
    state: Mutex<store::State>,
    hooks: Mutex<hooks::Hooks>,
    addr: SocketAddr,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, store::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn hooks(&self) -> MutexGuard<'_, hooks::Hooks> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Server options for [`FakeApiServer::start_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Number of events kept for watch replay (default 10 000); older versions get 410.
    pub history: usize,
    /// Interval of BOOKMARK events to watches that allow them (default 1 s).
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            history: 10_000,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

/// A running fake API server. Dropping it stops the server (without waiting).
pub struct FakeApiServer {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: JoinHandle<()>,
}

impl FakeApiServer {
    /// Starts a server on `127.0.0.1:0` with default options.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with the given options.
    pub async fn start_with(opts: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(store::State::new(opts.history)),
            hooks: Mutex::new(hooks::Hooks::default()),
            addr,
        });
        let app = axum::Router::new()
            .fallback(routes::handle)
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let weak = Arc::downgrade(&shared);
        let interval = opts.bookmark_interval.max(Duration::from_millis(10));
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(s) => s.state().bookmark_tick(),
                    None => break,
                }
            }
        });
        Ok(FakeApiServer {
            shared,
            shutdown: Some(tx),
            server: Some(server),
            ticker,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A kubeconfig for this server (context `fake`, namespace `default`, dummy token).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A `kube::Client` for this server (default namespace `default`).
    #[cfg(feature = "client")]
    pub async fn kube_client(&self) -> Result<kube::Client, kube::Error> {
        let url = self
            .url()
            .parse()
            .map_err(|e| kube::Error::Service(Box::new(e)))?;
        let config = kube::Config::new(url);
        kube::Client::try_from(config)
    }

    /// Sends `services/{name}/proxy/...` requests in `namespace` to `target`.
    pub fn add_proxy(&self, namespace: &str, name: &str, target: SocketAddr) {
        self.shared
            .hooks()
            .proxies
            .insert((namespace.to_string(), name.to_string()), target);
    }

    /// Requests so far per (verb, resource); status writes count as `plural/status`.
    pub fn counts(&self) -> BTreeMap<(Verb, String), u64> {
        self.shared.hooks().counts.clone()
    }

    /// Requests so far for one verb and resource.
    pub fn count(&self, verb: Verb, resource: &str) -> u64 {
        self.shared
            .hooks()
            .counts
            .get(&(verb, resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Write requests so far (create, update, patch, delete, deletecollection), any resource.
    pub fn write_count(&self) -> u64 {
        self.shared
            .hooks()
            .counts
            .iter()
            .filter(|((v, _), _)| v.is_write())
            .map(|(_, n)| n)
            .sum()
    }

    /// Zeroes all counters.
    pub fn reset_counts(&self) {
        self.shared.hooks().counts.clear();
    }

    /// Makes matching requests fail (see [`Fault`]).
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.hooks().faults.push(fault);
    }

    /// Faults not yet used up (with what is left of their counts).
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.shared.hooks().faults.clone()
    }

    /// Holds matching requests before serving them (see [`Delay`]).
    pub fn inject_delay(&self, delay: Delay) {
        self.shared.hooks().delays.push(delay);
    }

    /// Removes all pending faults and delays.
    pub fn clear_faults(&self) {
        let mut hooks = self.shared.hooks();
        hooks.faults.clear();
        hooks.delays.clear();
    }

    /// Closes every open watch stream (clients see the stream end).
    pub fn drop_watches(&self) {
        self.shared.state().drop_watches();
    }

    /// Open watch streams.
    pub fn open_watches(&self) -> usize {
        self.shared.state().watch_count()
    }

    /// Forgets the event history: watches from any older version get a 410 `Expired` event,
    /// and outstanding `continue` tokens expire.
    pub fn compact(&self) {
        self.shared.state().compact();
    }

    /// How many stored objects of `group`/`plural` in `namespace` satisfy `pred`: an in-process
    /// look at the store, with no request and no copy (for benchmarks that must not load the
    /// server whose client they measure).
    pub fn count_matching(
        &self,
        (group, plural): (&str, &str),
        namespace: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> usize {
        let key = resources::ResKey {
            group: group.to_string(),
            plural: plural.to_string(),
        };
        let objects = self.shared.state().objects(&key, Some(namespace));
        objects.iter().filter(|o| pred(o)).count()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.state().current_rv()
    }

    /// Stops accepting requests, closes watches and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shared.state().drop_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.ticker.abort();
        self.shared.state().drop_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

/// A kubeconfig pointing at `url` (cluster/user/context `fake`, namespace `default`).
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: fake
  user:
    token: fake-token
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
preferences: {{}}
"
    )
}
