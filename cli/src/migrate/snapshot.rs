//! Reading the cluster for `migrate check`: list and get requests only, Secrets and ConfigMaps as
//! metadata (their contents are never fetched), every list paged and bounded.

use anyhow::{Result, anyhow, bail};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::core::ObjectList;
use serde_json::Value;

use super::inventory::{
    CRD_NAME, KEY_LABEL, KINDS, Kind, SEALANT_SELECTOR, Snapshot, UPSTREAM_SELECTORS,
};

/// SealedSecrets, counted (metadata only).
const SEALED_SECRETS: Kind = Kind {
    kind: "SealedSecret",
    group: "bitnami.com",
    version: "v1alpha1",
    plural: "sealedsecrets",
    namespaced: true,
    metadata_only: true,
    list_all: true,
    optional: false,
    delete_order: 0,
};

/// Objects per page.
const PAGE: u32 = 500;
/// Objects read per list at most (a cluster with more is refused rather than read unbounded).
const MAX_OBJECTS: usize = 200_000;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn what(kind: &str, selector: Option<&str>) -> String {
    match selector {
        Some(s) => format!("{kind} objects ({s})"),
        None => format!("{kind} objects"),
    }
}

fn list_error(e: kube::Error, what: &str, server: &str) -> anyhow::Error {
    match e {
        kube::Error::Api(s) if s.code == 403 => anyhow!(
            "cannot list {what} at {server}: forbidden ({}); migrate check reads the whole cluster: run it with cluster-wide read access",
            s.message
        ),
        kube::Error::Api(s) => {
            anyhow!("cannot list {what} at {server}: {} ({})", s.message, s.code)
        }
        other => anyhow!("cannot list {what} at {server}: {other}"),
    }
}

/// Lists every page; `Ok(None)` when the API does not serve the kind and it is optional.
async fn list_all(
    api: &Api<DynamicObject>,
    kind: &Kind,
    selector: Option<&str>,
    server: &str,
) -> Result<Option<Vec<Value>>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page: std::result::Result<Vec<Value>, kube::Error> = if kind.metadata_only {
            api.list_metadata(&lp).await.map(|l| {
                token = l.metadata.continue_.clone();
                l.items
                    .into_iter()
                    .filter_map(|i| serde_json::to_value(i).ok())
                    .collect()
            })
        } else {
            api.list(&lp).await.map(|l: ObjectList<DynamicObject>| {
                token = l.metadata.continue_.clone();
                l.items
                    .into_iter()
                    .filter_map(|i| serde_json::to_value(i).ok())
                    .collect()
            })
        };
        match page {
            Ok(items) => out.extend(items),
            Err(kube::Error::Api(s)) if s.code == 404 && kind.optional => return Ok(None),
            Err(e) => return Err(list_error(e, &what(kind.plural, selector), server)),
        }
        if out.len() > MAX_OBJECTS {
            bail!(
                "more than {MAX_OBJECTS} {} at {server}; refusing to read an unbounded list",
                what(kind.plural, selector)
            );
        }
        if token.as_deref().is_none_or(str::is_empty) {
            return Ok(Some(out));
        }
    }
}

/// Reads what [`super::inventory::assess`] needs.
pub async fn read(client: &kube::Client, server: &str) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    for kind in KINDS {
        let api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &resource(kind.group, kind.version, kind.kind, kind.plural),
        );
        let selectors: Vec<Option<&str>> = if kind.list_all {
            vec![None]
        } else {
            UPSTREAM_SELECTORS.iter().map(|s| Some(*s)).collect()
        };
        for selector in selectors {
            match list_all(&api, kind, selector, server).await? {
                Some(items) => snap.objects.extend(items.into_iter().map(|o| (kind, o))),
                None => break,
            }
        }
        if kind.kind == "Deployment" {
            snap.sealant_deployments = list_all(&api, kind, Some(SEALANT_SELECTOR), server)
                .await?
                .unwrap_or_default();
        }
    }

    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
    );
    snap.crd = match crds.get_opt(CRD_NAME).await {
        Ok(crd) => crd.and_then(|c| serde_json::to_value(c).ok()),
        Err(e) => return Err(list_error(e, "customresourcedefinitions", server)),
    };
    if snap.crd.is_some() {
        let api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &resource("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets"),
        );
        snap.sealed_secrets = list_all(&api, &SEALED_SECRETS, None, server)
            .await?
            .map_or(0, |v| v.len());
    }

    let secrets_kind = KINDS
        .iter()
        .find(|k| k.kind == "Secret")
        .ok_or_else(|| anyhow!("internal: no Secret kind"))?;
    let secrets: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource("", "v1", "Secret", "secrets"));
    let mut keys = list_all(&secrets, secrets_kind, Some(KEY_LABEL), server)
        .await?
        .unwrap_or_default();
    // The legacy single-key Secret of old installs: named like the key prefix, not labelled.
    let mut lp = ListParams::default().fields("metadata.name=sealed-secrets-key");
    lp.limit = Some(PAGE);
    let legacy = secrets
        .list_metadata(&lp)
        .await
        .map_err(|e| list_error(e, "secrets (metadata.name=sealed-secrets-key)", server))?;
    keys.extend(
        legacy
            .items
            .into_iter()
            .filter_map(|i| serde_json::to_value(i).ok()),
    );
    for k in keys {
        let ns = k.pointer("/metadata/namespace").and_then(Value::as_str);
        let name = k.pointer("/metadata/name").and_then(Value::as_str);
        if let (Some(ns), Some(name)) = (ns, name) {
            let entry = (ns.to_owned(), name.to_owned());
            if !snap.key_secrets.contains(&entry) {
                snap.key_secrets.push(entry);
            }
        }
    }
    Ok(snap)
}
