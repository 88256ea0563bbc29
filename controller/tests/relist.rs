//! Relists that span several list pages (issue 21): whatever changed while the watch was down
//! is reconciled from the copy the relist brought, never concluded "in sync" from the copy the
//! cache held before it.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use fake_apiserver::{Delay, Fault, Verb};
use kube::api::{ListParams, PostParams};
use sealant_api::{SealOptions, SealedSecret, merge_into};
use sealant_crypto::Scope;

/// More than one page of the controller's SealedSecret list (100 per page).
const OBJECTS: usize = 150;

/// Waits until every SealedSecret in `ns` is Ready for its current generation.
async fn all_ready(client: &kube::Client, ns: &str, count: usize) {
    let api = ss_api(client, ns);
    eventually(60, &format!("{count} SealedSecrets Ready"), || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let ready = list
                .items
                .iter()
                .filter(|ss| {
                    ss.status.as_ref().and_then(|s| s.observed_generation) == ss.metadata.generation
                        && condition(ss, "Ready").is_some_and(|c| c.status == "True")
                })
                .count();
            (ready == count && list.items.len() == count).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn changes_made_while_the_watch_was_down_survive_a_paged_relist() {
    let (server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    let api = ss_api(&client, "app");
    for i in 0..OBJECTS {
        let name = format!("o{i:03}");
        create(
            &client,
            &seal(&cert, "app", &name, &[("k", "before")], Scope::Strict),
        )
        .await;
    }
    all_ready(&client, "app", OBJECTS).await;

    // The SealedSecret watch goes down and cannot come back until the test says so.
    server.reset_counts();
    server.inject_fault(Fault::new(
        Some(Verb::Watch),
        Some("sealedsecrets"),
        500,
        u32::MAX,
    ));
    server.drop_watches();
    eventually(10, "a refused re-watch", || async {
        (server.count(Verb::Watch, "sealedsecrets") > 0).then_some(())
    })
    .await;

    // Meanwhile, on the first list page: an update (new value, generation 2) and a create.
    let mut updated = api.get("o000").await.unwrap();
    merge_into(
        &mut updated,
        &secret("app", "o000", &[("k", "after")]),
        &cert,
        &SealOptions::default(),
    )
    .unwrap();
    let updated = api
        .replace("o000", &PostParams::default(), &updated)
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, Some(2));
    let created: SealedSecret = create(
        &client,
        &seal(&cert, "app", "a-new", &[("k", "new")], Scope::Strict),
    )
    .await;
    assert!(!created.status_written());

    // History is compacted, so the watch comes back through a relist, whose second page is
    // late: the first page's objects arrive while the cache still holds the old list.
    server.compact();
    server.clear_faults();
    server.inject_delay(Delay::new(Some(Verb::List), Some("sealedsecrets"), 1500, 1).continued());

    let done = ready(&client, "app", "o000").await;
    assert_eq!(done.status.unwrap().observed_generation, Some(2));
    secret_where(&client, "app", "o000", |s| item(s, "k") == "after").await;
    ready(&client, "app", "a-new").await;
    secret_where(&client, "app", "a-new", |s| item(s, "k") == "new").await;
    // The relist really was paged and delayed.
    assert!(server.count(Verb::List, "sealedsecrets") >= 2);
    all_ready(&client, "app", OBJECTS + 1).await;
    ctl.shutdown().await;
}

#[tokio::test]
async fn a_secret_deleted_while_the_secret_watch_was_down_is_recreated() {
    let (server, client, ctl) = setup().await;
    let (_, cert) = test_key();
    for name in ["s1", "s2", "s3"] {
        create(
            &client,
            &seal(&cert, "app", name, &[("k", name)], Scope::Strict),
        )
        .await;
    }
    all_ready(&client, "app", 3).await;

    // Only the Secret watch stays down (the SealedSecret one resumes before the compaction).
    server.reset_counts();
    server.inject_fault(Fault::new(
        Some(Verb::Watch),
        Some("secrets"),
        500,
        u32::MAX,
    ));
    server.drop_watches();
    eventually(10, "a resumed and a refused watch", || async {
        (server.count(Verb::Watch, "sealedsecrets") > 0 && server.count(Verb::Watch, "secrets") > 0)
            .then_some(())
    })
    .await;
    secret_api(&client, "app")
        .delete("s2", &Default::default())
        .await
        .unwrap();
    server.compact();
    server.clear_faults();

    // The relist of Secrets has no event for the deleted one; it is re-created all the same.
    secret_where(&client, "app", "s2", |s| item(s, "k") == "s2").await;
    assert_eq!(
        server.count(Verb::List, "sealedsecrets"),
        0,
        "no SealedSecret relist"
    );
    ctl.shutdown().await;
}
