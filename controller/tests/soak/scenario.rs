//! The seeded fault soak (issue 21), shared by the test suite (`soak::` in the integration
//! tests: bounded) and the benchmark-style long run (`cargo bench -p sealant-controller --bench
//! soak`).
//!
//! An in-process controller against the fake API server holds a few hundred SealedSecrets in
//! three namespaces, more than one page of its list. Each round, with the seed choosing counts,
//! objects and timings: Secret create/update/get answer 500, status writes 409 and event writes
//! 500 for a while; every watch is dropped and the history compacted (so the watches come back
//! through relists, whose later pages are held or fail); meanwhile SealedSecrets are created,
//! updated with new values and deleted; the watches are dropped again; then the faults are
//! cleared. After each round the cluster must converge: every SealedSecret Ready=True with
//! `observedGeneration == generation`, every Secret holding exactly what was last sealed, no
//! Secret for a deleted SealedSecret, and then no write at all during a quiet period.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_apiserver::{Delay, FakeApiServer, Fault, Verb};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sealant_api::{SealOptions, SealedSecret, key_secret, seal_secret};
use sealant_crypto::{Certificate, PrivateKey};

const KEY_NS: &str = "kube-system";
const NAMESPACES: [&str; 3] = ["soak-a", "soak-b", "soak-c"];
const KEY: &str = include_str!("../../../testdata/vectors/key-2048-pkcs8.pem");
const CERT: &str = include_str!("../../../testdata/vectors/cert-2048.pem");

/// One soak run.
#[derive(Clone, Debug)]
pub struct Params {
    /// Chooses every count, object and delay.
    pub seed: u64,
    /// Live SealedSecrets at the start (spread over three namespaces).
    pub objects: usize,
    /// Fault rounds.
    pub rounds: usize,
    /// Per round: created, updated and deleted SealedSecrets.
    pub creates: usize,
    /// See `creates`.
    pub updates: usize,
    /// See `creates`.
    pub deletes: usize,
    /// Longest wait for convergence after a round.
    pub converge_within: Duration,
    /// Quiet period after convergence: no write allowed.
    pub quiet: Duration,
}

impl Params {
    /// The mix (10 creates, 20 updates, 5 deletes per round).
    pub fn new(seed: u64, objects: usize, rounds: usize) -> Self {
        Params {
            seed,
            objects,
            rounds,
            creates: 10,
            updates: 20,
            deletes: 5,
            converge_within: Duration::from_secs(30),
            quiet: Duration::from_millis(1000),
        }
    }
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Time from clearing the faults to convergence, per round.
    pub converged_after: Vec<Duration>,
    /// Requests answered with an injected error.
    pub faults_hit: u64,
    /// SealedSecret list requests (pages of relists included).
    pub list_pages: u64,
    /// Live SealedSecrets at the end.
    pub live: usize,
    /// Created, updated and deleted over all rounds.
    pub changes: usize,
}

/// `(namespace, name)`.
type Key = (String, String);

/// What the cluster must hold: per live SealedSecret its value, and the deleted names.
#[derive(Default)]
struct Expected {
    live: BTreeMap<Key, String>,
    deleted: Vec<Key>,
    next: usize,
}

struct Soak {
    client: Client,
    cert: Certificate,
    rng: StdRng,
    expected: Expected,
}

/// Runs the soak against `server` with a controller started by `start_controller` (after the
/// CRD, namespaces and key exist). Errors say what did not converge.
pub async fn run<F, Fut, R>(
    server: &FakeApiServer,
    params: &Params,
    start_controller: F,
) -> Result<(Report, R), String>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let client = server.kube_client().await.map_err(|e| e.to_string())?;
    prepare(&client).await?;
    let controller = start_controller(client.clone()).await;
    let mut soak = Soak {
        client,
        cert: Certificate::from_pem(CERT.as_bytes()).map_err(|e| e.to_string())?,
        rng: StdRng::seed_from_u64(params.seed),
        expected: Expected::default(),
    };
    let mut report = Report::default();
    soak.create_many(params.objects).await?;
    soak.converge(server, params, "initial objects").await?;

    for round in 1..=params.rounds {
        let what = format!("round {round} of seed {}", params.seed);
        server.reset_counts();
        let faults = soak.faults();
        for f in &faults {
            server.inject_fault(f.clone());
        }
        let delays = soak.delays();
        for d in &delays {
            server.inject_delay(d.clone());
        }
        // The watches go down, and their re-watches are held long enough for the changes and
        // the compaction to happen meanwhile: they come back through relists.
        server.drop_watches();
        for _ in 0..params.creates {
            soak.create().await?;
        }
        for _ in 0..params.updates {
            soak.update().await?;
        }
        for _ in 0..params.deletes {
            soak.delete().await?;
        }
        server.compact();
        report.changes += params.creates + params.updates + params.deletes;
        // The relists run and the changes are reconciled while the faults still bite; the
        // watches drop again meanwhile.
        let relisting = Instant::now() + Duration::from_secs(10);
        while server.count(Verb::List, "sealedsecrets") == 0 && Instant::now() < relisting {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(soak.rng.random_range(0..1000))).await;
        server.drop_watches();
        tokio::time::sleep(Duration::from_millis(soak.rng.random_range(0..500))).await;
        let pending: u64 = server
            .pending_faults()
            .iter()
            .map(|f| u64::from(f.count))
            .sum();
        server.clear_faults();
        let injected: u64 = faults.iter().map(|f| u64::from(f.count)).sum();
        report.faults_hit += injected.saturating_sub(pending);
        let cleared = Instant::now();
        report.list_pages += soak.converge(server, params, &what).await?;
        report.converged_after.push(cleared.elapsed());
    }
    report.live = soak.expected.live.len();
    Ok((report, controller))
}

async fn prepare(client: &Client) -> Result<(), String> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &sealant_api::crd())
        .await
        .map_err(|e| format!("CRD: {e}"))?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in NAMESPACES {
        let mut n = Namespace::default();
        n.metadata.name = Some(ns.to_owned());
        namespaces
            .create(&PostParams::default(), &n)
            .await
            .map_err(|e| format!("namespace {ns}: {e}"))?;
    }
    let key = PrivateKey::from_pem(KEY.as_bytes()).map_err(|e| e.to_string())?;
    let cert = Certificate::from_pem(CERT.as_bytes()).map_err(|e| e.to_string())?;
    let mut s = key_secret(&key, &cert, KEY_NS, "sealed-secrets-key");
    s.metadata.generate_name = None;
    s.metadata.name = Some("soak-key".to_owned());
    Api::<Secret>::namespaced(client.clone(), KEY_NS)
        .create(&PostParams::default(), &s)
        .await
        .map_err(|e| format!("key Secret: {e}"))?;
    Ok(())
}

impl Soak {
    fn sealed(&self, ns: &str, name: &str, value: &str) -> Result<SealedSecret, String> {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(ns.to_owned()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "k".to_owned(),
                ByteString(value.as_bytes().to_vec()),
            )])),
            ..Default::default()
        };
        seal_secret(&secret, &self.cert, &SealOptions::default()).map_err(|e| e.to_string())
    }

    /// A new SealedSecret (name, namespace and value chosen by the seed), not yet stored.
    fn new_object(&mut self) -> Result<(SealedSecret, String), String> {
        let n = self.expected.next;
        self.expected.next += 1;
        let ns = NAMESPACES[self.rng.random_range(0..NAMESPACES.len())];
        // Names spread over the whole list (not only appended at its end).
        let name = format!("s{:04}-{n}", self.rng.random_range(0..10_000));
        let value = format!("v{n}-{}", self.rng.random::<u32>());
        Ok((self.sealed(ns, &name, &value)?, value))
    }

    async fn store(&mut self, ss: SealedSecret, value: String) -> Result<(), String> {
        let ns = ss.metadata.namespace.clone().unwrap_or_default();
        let name = ss.metadata.name.clone().unwrap_or_default();
        Api::<SealedSecret>::namespaced(self.client.clone(), &ns)
            .create(&PostParams::default(), &ss)
            .await
            .map_err(|e| format!("create {ns}/{name}: {e}"))?;
        self.expected.live.insert((ns, name), value);
        Ok(())
    }

    async fn create(&mut self) -> Result<(), String> {
        let (ss, value) = self.new_object()?;
        self.store(ss, value).await
    }

    /// Creates `n` SealedSecrets, eight requests at a time.
    async fn create_many(&mut self, n: usize) -> Result<(), String> {
        use futures_util::StreamExt;
        let objects = (0..n)
            .map(|_| self.new_object())
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client.clone();
        let created: Vec<Result<(Key, String), String>> = futures_util::stream::iter(objects)
            .map(|(ss, value)| {
                let client = client.clone();
                async move {
                    let ns = ss.metadata.namespace.clone().unwrap_or_default();
                    let name = ss.metadata.name.clone().unwrap_or_default();
                    Api::<SealedSecret>::namespaced(client, &ns)
                        .create(&PostParams::default(), &ss)
                        .await
                        .map_err(|e| format!("create {ns}/{name}: {e}"))?;
                    Ok(((ns, name), value))
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for c in created {
            let (key, value) = c?;
            self.expected.live.insert(key, value);
        }
        Ok(())
    }

    fn pick(&mut self) -> Option<Key> {
        let n = self.expected.live.len();
        (n > 0).then(|| {
            let i = self.rng.random_range(0..n);
            self.expected.live.keys().nth(i).cloned()
        })?
    }

    async fn update(&mut self) -> Result<(), String> {
        let Some((ns, name)) = self.pick() else {
            return Ok(());
        };
        let value = format!("u{}-{}", self.expected.next, self.rng.random::<u32>());
        self.expected.next += 1;
        let ss = self.sealed(&ns, &name, &value)?;
        let patch = serde_json::json!({"spec": {"encryptedData": ss.spec.encrypted_data}});
        Api::<SealedSecret>::namespaced(self.client.clone(), &ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| format!("update {ns}/{name}: {e}"))?;
        self.expected.live.insert((ns, name), value);
        Ok(())
    }

    async fn delete(&mut self) -> Result<(), String> {
        let Some(key) = self.pick() else {
            return Ok(());
        };
        Api::<SealedSecret>::namespaced(self.client.clone(), &key.0)
            .delete(&key.1, &DeleteParams::default())
            .await
            .map_err(|e| format!("delete {}/{}: {e}", key.0, key.1))?;
        self.expected.live.remove(&key);
        self.expected.deleted.push(key);
        Ok(())
    }

    /// The round's fault mix: each kind fails a seeded number of requests.
    fn faults(&mut self) -> Vec<Fault> {
        let n = |rng: &mut StdRng| rng.random_range(1..=10);
        let rng = &mut self.rng;
        let mut faults = vec![
            Fault::new(Some(Verb::Create), Some("secrets"), 500, n(rng)),
            Fault::new(Some(Verb::Update), Some("secrets"), 500, n(rng)),
            Fault::new(Some(Verb::Get), Some("secrets"), 500, n(rng)),
            Fault::new(
                Some(Verb::Update),
                Some("sealedsecrets/status"),
                409,
                n(rng),
            ),
            Fault::new(Some(Verb::Create), Some("events"), 500, n(rng)),
        ];
        // Sometimes a relist fails part-way and starts over.
        if rng.random_bool(0.5) {
            faults.push(Fault::new(Some(Verb::List), Some("sealedsecrets"), 500, 1).continued());
        }
        faults
    }

    /// Re-watches are held (an outage without an error, so kube's watch backoff does not grow
    /// round after round), and later list pages arrive late, so reconciles could start from a
    /// half-arrived relist.
    fn delays(&mut self) -> Vec<Delay> {
        let outage = self.rng.random_range(1000..1500);
        let page = self.rng.random_range(50..600);
        let pages = self.rng.random_range(1..4);
        vec![
            Delay::new(Some(Verb::Watch), Some("sealedsecrets"), outage, 1),
            // Two Secret watches: the key manager's and the controller's.
            Delay::new(Some(Verb::Watch), Some("secrets"), outage, 2),
            Delay::new(Some(Verb::List), Some("sealedsecrets"), page, pages).continued(),
        ]
    }

    /// Waits for the cluster to hold what is expected, then for a quiet period without writes.
    /// Returns the SealedSecret list requests since the counters were last reset.
    async fn converge(
        &self,
        server: &FakeApiServer,
        params: &Params,
        what: &str,
    ) -> Result<u64, String> {
        let deadline = Instant::now() + params.converge_within;
        loop {
            match self.check().await {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "{what}: not converged after {:?}: {e}",
                        params.converge_within
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let lists = server.count(Verb::List, "sealedsecrets");
        server.reset_counts();
        tokio::time::sleep(params.quiet).await;
        let writes: Vec<_> = server
            .counts()
            .into_iter()
            .filter(|((v, _), _)| v.is_write())
            .collect();
        if !writes.is_empty() {
            return Err(format!("{what}: writes after convergence: {writes:?}"));
        }
        // Nothing regressed during the quiet period either.
        self.check()
            .await
            .map_err(|e| format!("{what}: after the quiet period: {e}"))?;
        Ok(lists)
    }

    /// Whether the cluster holds what is expected; the first few differences otherwise.
    async fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let all: Api<SealedSecret> = Api::all(self.client.clone());
        let list = all
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let mut seen = 0;
        for ss in &list.items {
            let key = (
                ss.metadata.namespace.clone().unwrap_or_default(),
                ss.metadata.name.clone().unwrap_or_default(),
            );
            if !self.expected.live.contains_key(&key) {
                continue;
            }
            seen += 1;
            let status = ss.status.as_ref();
            let observed = status.and_then(|s| s.observed_generation);
            let cond = |t: &str| {
                status
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == t))
                    .map(|c| c.status.as_str())
            };
            if observed != ss.metadata.generation
                || cond("Ready") != Some("True")
                || cond("Reconciling").is_some()
            {
                problems.push(format!(
                    "{}/{}: generation {:?}, observedGeneration {observed:?}, Ready {:?}",
                    key.0,
                    key.1,
                    ss.metadata.generation,
                    cond("Ready")
                ));
            }
        }
        if seen != self.expected.live.len() {
            problems.push(format!(
                "{} SealedSecrets missing",
                self.expected.live.len() - seen
            ));
        }
        let mut secrets = BTreeMap::new();
        for ns in NAMESPACES {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
            for s in api
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
            {
                let value = s
                    .data
                    .as_ref()
                    .and_then(|d| d.get("k"))
                    .map(|v| String::from_utf8_lossy(&v.0).into_owned());
                secrets.insert((ns.to_owned(), s.metadata.name.unwrap_or_default()), value);
            }
        }
        for (key, value) in &self.expected.live {
            match secrets.get(key) {
                Some(Some(v)) if v == value => {}
                Some(_) => problems.push(format!("Secret {}/{}: stale value", key.0, key.1)),
                None => problems.push(format!("Secret {}/{}: missing", key.0, key.1)),
            }
        }
        for key in &self.expected.deleted {
            if secrets.contains_key(key) {
                problems.push(format!(
                    "Secret {}/{}: exists for a deleted SealedSecret",
                    key.0, key.1
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let n = problems.len();
            problems.truncate(5);
            Err(format!("{n} problems, first: {}", problems.join("; ")))
        }
    }
}
