//! Templates through the controller: the oracle property end to end (status, events, logs and
//! metrics are the same for two plaintexts of the same length) and `--disable-templates`.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use kube::api::{Api, ListParams};
use sealant_crypto::Scope;

/// Templates an attacker who can edit SealedSecrets (but not read Secrets) would try: each
/// either renders (Ready) or is refused (Stalled), for reasons that must not depend on `.pw`.
const ATTACKS: &[(&str, &str)] = &[
    ("b64", "{{ .pw | trimPrefix \"a\" | b64dec }}"),
    (
        "branch",
        "{{ if eq .pw \"aGVsbG8=\" }}{{ .pw | b64dec }}{{ else }}x{{ end }}",
    ),
    (
        "fail",
        "{{ if hasPrefix \"a\" .pw }}{{ fail \"x\" }}{{ end }}",
    ),
    ("index", "{{ index (splitList \"=\" .pw) 3 }}"),
    ("count", "{{ repeat (len (splitList \"a\" .pw)) .pw }}"),
    ("json", "{{ (fromJson .pw).x.y }}"),
    ("atoi", "{{ repeat (atoi .pw) \"x\" }}"),
    (
        "deep",
        "{{ ((((((((((((((((((((((((((((((((((((((((\"x\")))))))))))))))))))))))))))))))))))))))) }}",
    ),
    (
        "position",
        "{{ range $i, $c := splitList \"\" .pw }}{{ if eq $c \"=\" }}{{ $i }}{{ end }}{{ end }}",
    ),
    ("div", "{{ div 100 (len (trimAll \"a\" .pw)) }}"),
];

/// What someone who cannot read Secrets sees, with volatile parts (times, uids, versions) left
/// out.
#[derive(Debug, PartialEq)]
struct Observed {
    statuses: BTreeMap<String, Vec<String>>,
    events: BTreeSet<String>,
    metrics: BTreeSet<String>,
    logs: BTreeSet<String>,
}

const NS: &str = "ns2";

async fn observe(pw: &str) -> (Observed, BTreeMap<String, Option<Vec<u8>>>) {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let log_start = logs().len();
    let ctl = controller(&client, &[]).await;
    for (name, t) in ATTACKS {
        let mut ss = seal(&cert, NS, name, &[("pw", pw)], Scope::Strict);
        ss.spec.template.data = Some(BTreeMap::from([("out".to_owned(), (*t).to_owned())]));
        create(&client, &ss).await;
    }
    let mut statuses = BTreeMap::new();
    let mut rendered = BTreeMap::new();
    for (name, _) in ATTACKS {
        let ss = settled(&client, NS, name).await;
        let ready = condition(&ss, "Ready").is_some_and(|c| c.status == "True");
        let reason = if ready { "Unsealed" } else { "ErrUnsealFailed" };
        await_events(&client, name, reason).await;
        let conditions = ss
            .status
            .as_ref()
            .map(|s| {
                s.conditions
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} {:?} {:?} {:?}",
                            c.type_, c.status, c.reason, c.message, c.observed_generation
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        statuses.insert((*name).to_owned(), conditions);
        let secret = secret_api(&client, NS).get_opt(name).await.unwrap();
        rendered.insert(
            (*name).to_owned(),
            secret
                .and_then(|s| s.data)
                .and_then(|d| d.get("out").map(|v| v.0.clone())),
        );
    }
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), NS);
    let events = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| {
            format!(
                "{:?} {:?} {:?} {:?}",
                e.regarding.and_then(|r| r.name),
                e.type_,
                e.reason,
                e.note
            )
        })
        .collect();
    let (_, _, body) = http(ctl.metrics_addr, "GET", "/metrics", &[], b"").await;
    let metrics = body
        .lines()
        .filter(|l| l.contains(NS) && !l.contains("duration") && !l.contains("_bucket"))
        .map(str::to_owned)
        .collect();
    let logs = logs()[log_start..]
        .lines()
        .filter(|l| l.contains(NS))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("timestamp");
                o.remove("span");
                o.remove("spans");
                o.remove("threadId");
            }
            if let Some(f) = v.get_mut("fields").and_then(|f| f.as_object_mut()) {
                for volatile in ["elapsed", "took", "resource_version", "rv", "delay", "uid"] {
                    f.remove(volatile);
                }
            }
            v.to_string()
        })
        .collect();
    ctl.shutdown().await;
    (
        Observed {
            statuses,
            events,
            metrics,
            logs,
        },
        rendered,
    )
}

#[tokio::test]
async fn equal_length_plaintexts_look_the_same_from_outside() {
    // Two 8-byte values that take different branches of every attack above.
    let (a, rendered_a) = observe("aGVsbG8=").await;
    let (b, rendered_b) = observe("b,c=d{}9").await;
    // The attacks are not vacuous: some render, some are refused, and what they render differs.
    let ready = a
        .statuses
        .values()
        .filter(|c| c.iter().any(|l| l.starts_with("Ready True")))
        .count();
    assert!(ready >= 5 && ready < ATTACKS.len(), "{:#?}", a.statuses);
    assert_ne!(rendered_a["branch"], rendered_b["branch"]);
    assert_ne!(rendered_a["b64"], rendered_b["b64"]);
    assert!(!a.events.is_empty() && !a.metrics.is_empty() && !a.logs.is_empty());
    assert_eq!(a.statuses, b.statuses);
    assert_eq!(a.events, b.events);
    assert_eq!(a.metrics, b.metrics);
    assert_eq!(a.logs, b.logs);
}

#[tokio::test]
async fn disabled_templates_stall_and_never_render() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let _ctl = controller(&client, &["--disable-templates"]).await;
    let mut t = seal(&cert, "ns1", "tpl", &[("user", "off-user")], Scope::Strict);
    t.spec.template.data = Some(BTreeMap::from([("x".to_owned(), "{{ .user }}".to_owned())]));
    create(&client, &t).await;
    create(
        &client,
        &seal(
            &cert,
            "ns1",
            "plain",
            &[("user", "plain-user")],
            Scope::Strict,
        ),
    )
    .await;
    let bad = stalled(&client, "ns1", "tpl").await;
    let c = condition(&bad, "Stalled").unwrap();
    assert_eq!(c.reason.as_deref(), Some("TemplatesDisabled"));
    assert!(
        c.message
            .as_deref()
            .unwrap_or_default()
            .contains("--disable-templates")
    );
    ready(&client, "ns1", "plain").await;
    assert!(
        secret_api(&client, "ns1")
            .get_opt("tpl")
            .await
            .unwrap()
            .is_none(),
        "nothing rendered"
    );
}

/// Over an immutable Secret, a changed template is refused whether or not its new rendering
/// equals the old one (that equality depends on the values: an oracle otherwise).
#[tokio::test]
async fn immutable_templated_secrets_refuse_every_change() {
    let (_server, client) = server().await;
    let (key, cert) = test_key();
    put_key(&client, "k", &key, &cert).await;
    let _ctl = controller(&client, &[]).await;
    let mut ss = seal(&cert, "ns1", "imm", &[("pw", "abc-secret")], Scope::Strict);
    ss.spec.template.immutable = Some(true);
    ss.spec.template.data = Some(BTreeMap::from([("out".to_owned(), "{{ .pw }}".to_owned())]));
    create(&client, &ss).await;
    ready(&client, "ns1", "imm").await;
    // The guess is right: the new template renders exactly what the Secret holds.
    let mut cur = ss_api(&client, "ns1").get("imm").await.unwrap();
    cur.spec.template.data = Some(BTreeMap::from([(
        "out".to_owned(),
        "{{ if hasPrefix \"a\" .pw }}{{ .pw }}{{ else }}x{{ end }}".to_owned(),
    )]));
    ss_api(&client, "ns1")
        .replace("imm", &kube::api::PostParams::default(), &cur)
        .await
        .unwrap();
    let bad = stalled(&client, "ns1", "imm").await;
    assert_eq!(
        condition(&bad, "Stalled").unwrap().reason.as_deref(),
        Some("SecretImmutable")
    );
    assert_no_plaintext(&client, &["abc-secret"]).await;
}
