//! Request routing: discovery, admin hooks, service proxy and the resource API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::apply::{self, ApplyReq};
use crate::auth::{self, UserInfo};
use crate::decode::{self, Directive, FieldCheck, Source};
use crate::errors::{ApiError, ApiResult, json_response};
use crate::hooks::{Delay, Fault, Verb};
use crate::media::{self, Body, Out};
use crate::patch;
use crate::rbac::{self, Attributes};
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector, Selector};
use crate::store::{DeleteOpts, Mode, Obj, Served, WriteCtx};
use crate::{
    Shared, events, openapi, openapi_v2, protobuf, reviews, secrets, strict, table, util, watch,
};

const MAX_BODY: usize = 32 * 1024 * 1024;

type Query = HashMap<String, String>;

fn parse_query(q: Option<&str>) -> Query {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn truthy(q: &Query, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

/// The single entry point.
pub async fn handle(AxState(shared): AxState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(format!("reading body: {e}")).into_response(),
    };
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match route(
        &shared,
        &parts.method,
        &path,
        &segs,
        parts.uri.query(),
        &query,
        &parts.headers,
        body,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

#[allow(clippy::too_many_arguments)]
async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    segs: &[&str],
    raw_query: Option<&str>,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if let ["fake", rest @ ..] = segs {
        return admin(shared, method, rest, &body);
    }
    let user = auth::authenticate(&shared.state(), headers)?;
    let resource_request = matches!(segs, ["api", _, _, ..] | ["apis", _, _, _, ..]);
    if !resource_request {
        let verb = method.as_str().to_ascii_lowercase();
        authorize(shared, &user, &Attributes::non_resource(&verb, path))?;
    }
    match segs {
        ["version"] => {
            return Ok(ok(&json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
            })));
        }
        ["openapi", rest @ ..] => return openapi_doc(shared, method, rest, headers),
        ["healthz"] | ["readyz"] | ["livez"] => {
            return Ok((StatusCode::OK, "ok").into_response());
        }
        ["api"] => {
            return Ok(ok(&json!({
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}],
            })));
        }
        ["apis"] => {
            let st = shared.state();
            return Ok(ok(&st.registry.api_group_list()));
        }
        ["apis", group] => {
            let st = shared.state();
            return st
                .registry
                .api_group(group)
                .map(|v| ok(&v))
                .ok_or_else(ApiError::no_route);
        }
        _ => {}
    }
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route()),
    };
    if rest.is_empty() {
        if *method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        let st = shared.state();
        return st
            .registry
            .api_resource_list(group, version)
            .map(|v| ok(&v))
            .ok_or_else(ApiError::no_route);
    }
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    // Namespaced path?
    let (ns, resource, name, sub, tail) = {
        let st = shared.state();
        match rest {
            ["namespaces", ns, res, more @ ..]
                if st
                    .registry
                    .get(group, version, res)
                    .is_some_and(|t| t.namespaced) =>
            {
                (
                    Some(ns.to_string()),
                    res.to_string(),
                    more.first().map(|s| s.to_string()),
                    more.get(1).map(|s| s.to_string()),
                    more.get(2..).unwrap_or_default().len(),
                )
            }
            [res, more @ ..] => (
                None,
                res.to_string(),
                more.first().map(|s| s.to_string()),
                more.get(1).map(|s| s.to_string()),
                more.get(2..).unwrap_or_default().len(),
            ),
            [] => return Err(ApiError::no_route()),
        }
    };
    let rt = {
        let st = shared.state();
        st.registry.get(group, version, &resource).cloned()
    };
    let Some(rt) = rt else {
        // As the real server: authorization comes before routing, so a user who may not make
        // the request learns nothing about which resources exist (403, not 404).
        let verb = match (method.as_str(), name.is_some()) {
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", false) => "deletecollection",
            ("DELETE", true) => "delete",
            _ => "get",
        };
        let mut attrs = Attributes::resource(
            verb,
            ns.as_deref().unwrap_or(""),
            group,
            &resource,
            name.as_deref().unwrap_or(""),
        );
        attrs.version = version.to_string();
        authorize(shared, &user, &attrs)?;
        return Err(ApiError::no_route());
    };

    // Service proxy.
    if sub.as_deref() == Some("proxy") && group.is_empty() && resource == "services" {
        let (Some(ns), Some(name)) = (&ns, &name) else {
            return Err(ApiError::no_route());
        };
        let verb = match *method {
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "get",
        };
        let mut attrs = Attributes::resource(verb, ns, "", "services", name);
        attrs.subresource = "proxy".into();
        authorize(shared, &user, &attrs)?;
        return proxy(shared, method, path, ns, name, raw_query, headers, body).await;
    }
    if rt.review {
        if *method != Method::POST || name.is_some() || sub.is_some() {
            return Err(ApiError::method_not_allowed());
        }
        let ns = ns.unwrap_or_default();
        let mut attrs = Attributes::resource("create", &ns, group, &rt.plural, "");
        attrs.version = version.to_string();
        authorize(shared, &user, &attrs)?;
        let (obj, _) = read_body(&rt, headers, &body)?;
        let answer = reviews::answer(&shared.state(), &rt, &user, &ns, obj)?;
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let fmt = media::response(&rt, accept)?;
        return Ok(media::respond(
            StatusCode::CREATED,
            fmt,
            &rt,
            &rt.kind,
            &answer,
        ));
    }
    if tail > 0 {
        return Err(ApiError::no_route());
    }
    let status = match sub.as_deref() {
        None => false,
        Some("status") if rt.status => true,
        Some(_) => return Err(ApiError::no_route()),
    };
    if rt.namespaced != ns.is_some() && (name.is_some() || *method != Method::GET) {
        return Err(ApiError::no_route());
    }
    if !rt.namespaced && ns.is_some() {
        return Err(ApiError::no_route());
    }
    let watching = legacy_watch || truthy(query, "watch");
    let verb = match (method, &name) {
        (&Method::GET, _) if watching => Verb::Watch,
        (&Method::GET, None) => Verb::List,
        (&Method::GET, Some(_)) => Verb::Get,
        (&Method::POST, None) => Verb::Create,
        (&Method::PUT, Some(_)) => Verb::Update,
        (&Method::PATCH, Some(_)) => Verb::Patch,
        (&Method::DELETE, Some(_)) => Verb::Delete,
        (&Method::DELETE, None) => Verb::DeleteCollection,
        _ => return Err(ApiError::method_not_allowed()),
    };
    if status && !matches!(verb, Verb::Get | Verb::Update | Verb::Patch) {
        return Err(ApiError::method_not_allowed());
    }
    {
        let mut attrs = Attributes::resource(
            verb.as_str(),
            ns.as_deref().unwrap_or(""),
            group,
            &rt.plural,
            name.as_deref().unwrap_or(""),
        );
        attrs.version = version.to_string();
        if status {
            attrs.subresource = "status".into();
        }
        authorize(shared, &user, &attrs)?;
    }
    let counted = if status {
        format!("{}/status", rt.plural)
    } else {
        rt.plural.clone()
    };
    let continued = verb == Verb::List && query.get("continue").is_some_and(|c| !c.is_empty());
    let (delay, fault) = shared.hooks().on_request(verb, &counted, continued);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(e) = fault {
        return Err(e);
    }
    let ns_str = ns.clone().unwrap_or_default();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let table_include = table::wants_table(accept).then(|| {
        query
            .get("includeObject")
            .cloned()
            .unwrap_or_else(|| "Metadata".into())
    });
    let meta_only = table_include.is_none() && table::wants_metadata(accept);
    let out = |v: Value| if meta_only { table::partial(&v) } else { v };
    let fmt = if table_include.is_some() || meta_only || verb == Verb::Watch {
        Out::Json
    } else {
        media::response(&rt, accept)?
    };
    let api_version = rt.api_version();
    let written = |code: StatusCode, obj: &Value| {
        let served = Served {
            obj,
            api_version: &api_version,
        };
        match fmt {
            _ if meta_only => json_response(code, &table::partial(obj)),
            Out::Protobuf => media::respond(code, fmt, &rt, &rt.kind, &served.to_value()),
            Out::Json => json_response(code, &served),
        }
    };
    let manager = query.get("fieldManager").cloned().unwrap_or_else(|| {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    });
    let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
    let options = match verb {
        Verb::Create => "CreateOptions",
        Verb::Update => "UpdateOptions",
        _ => "PatchOptions",
    };
    let check = FieldCheck {
        directive: if verb.is_write() && !matches!(verb, Verb::Delete | Verb::DeleteCollection) {
            Directive::parse(query.get("fieldValidation").map(String::as_str), options)?
        } else {
            Directive::Ignore
        },
        ..FieldCheck::default()
    };
    let mut ctx = WriteCtx {
        rt: rt.clone(),
        ns: ns_str.clone(),
        manager,
        dry_run,
        status,
        check,
    };
    let resp = match verb {
        Verb::Get => {
            let name = name.unwrap_or_default();
            let st = shared.state();
            let obj = st.get(&rt, &ns_str, &name)?;
            let v = st.present(&rt, &obj);
            Ok(match &table_include {
                Some(inc) => ok(&table::table(&rt, &[v], inc, true, json!({}))),
                None => media::respond(StatusCode::OK, fmt, &rt, &rt.kind, &out(v)),
            })
        }
        Verb::List => {
            let sel = selector(&rt, query)?;
            let limit = match query.get("limit") {
                Some(l) if !l.is_empty() => Some(
                    l.parse::<usize>()
                        .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
                ),
                _ => None,
            };
            let mut st = shared.state();
            let list = st.list(
                &rt,
                ns.as_deref(),
                &sel,
                limit,
                query.get("continue").map(String::as_str),
                query.get("resourceVersion").map(String::as_str),
                query.get("resourceVersionMatch").map(String::as_str),
            )?;
            Ok(match &table_include {
                Some(inc) => ok(&table::table(
                    &rt,
                    &list.presented_items(),
                    inc,
                    true,
                    list.metadata,
                )),
                None if meta_only => {
                    let items: Vec<Value> = list.items.iter().map(|o| table::partial(o)).collect();
                    ok(&json!({
                        "kind": "PartialObjectMetadataList",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": list.metadata,
                        "items": items,
                    }))
                }
                None if fmt == Out::Protobuf => {
                    let v = serde_json::to_value(&list).unwrap_or_default();
                    media::respond(StatusCode::OK, fmt, &rt, &rt.list_kind, &v)
                }
                None => json_response(StatusCode::OK, &list),
            })
        }
        Verb::Watch => {
            let mut sel = selector(&rt, query)?;
            if let Some(n) = &name {
                let mut f = query.get("fieldSelector").cloned().unwrap_or_default();
                if !f.is_empty() {
                    f.push(',');
                }
                f.push_str(&format!("metadata.name={n}"));
                sel.fields = FieldSelector::parse(&f)?;
            }
            let timeout = match query.get("timeoutSeconds") {
                Some(t) if !t.is_empty() => {
                    Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(format!("invalid timeoutSeconds: {t}"))
                    })?))
                }
                _ => None,
            };
            let rx = shared.state().watch(
                &rt,
                ns.as_deref(),
                sel,
                query.get("resourceVersion").map(String::as_str),
                truthy(query, "allowWatchBookmarks"),
                truthy(query, "sendInitialEvents"),
            )?;
            Ok(watch::response(
                rx,
                watch::StreamOpts {
                    rt,
                    table: table_include,
                    meta_only,
                    timeout,
                },
            ))
        }
        Verb::Create => {
            let (obj, dups) = read_body(&rt, headers, &body)?;
            ctx.check.duplicates = decode::duplicates(dups);
            let v = shared.state().create(&ctx, obj)?;
            Ok(written(StatusCode::CREATED, &v))
        }
        Verb::Update => {
            let (obj, dups) = read_body(&rt, headers, &body)?;
            ctx.check.duplicates = decode::duplicates(dups);
            let v = shared
                .state()
                .update(&ctx, &name.unwrap_or_default(), obj)?;
            Ok(written(StatusCode::OK, &v))
        }
        Verb::Patch => {
            let ctype = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let force = truthy(query, "force");
            let has_manager = query.get("fieldManager").is_some_and(|m| !m.is_empty());
            let (v, created) = do_patch(
                shared,
                &mut ctx,
                &name.unwrap_or_default(),
                &ctype,
                &body,
                force,
                has_manager,
            )?;
            Ok(written(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &v,
            ))
        }
        Verb::Delete => {
            let name = name.unwrap_or_default();
            let opts = delete_opts(query, &body)?;
            let (v, gone) = shared.state().delete(&rt, &ns_str, &name, &opts)?;
            if gone {
                let mut details = json!({"name": name, "kind": rt.plural});
                if !rt.group.is_empty() {
                    details["group"] = json!(rt.group);
                }
                if let Some(uid) = v.pointer("/metadata/uid") {
                    details["uid"] = uid.clone();
                }
                Ok(ok(&json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success", "details": details,
                })))
            } else {
                Ok(ok(&out(v)))
            }
        }
        Verb::DeleteCollection => {
            let sel = selector(&rt, query)?;
            let opts = delete_opts(query, &body)?;
            let mut st = shared.state();
            let list = st.list(&rt, ns.as_deref(), &sel, None, None, None, None)?;
            let mut deleted = Vec::new();
            for item in list.presented_items() {
                let n = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let o_ns = item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if let Ok((v, _)) = st.delete(&rt, o_ns, n, &opts) {
                    deleted.push(v);
                }
            }
            Ok(ok(&json!({
                "kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                "metadata": {"resourceVersion": st.current_rv().to_string()},
                "items": deleted,
            })))
        }
    };
    resp.map(|r| with_warnings(r, &ctx.check))
}

/// 403 unless `user` may make the request (the administrator always may).
fn authorize(shared: &Arc<Shared>, user: &UserInfo, attrs: &Attributes) -> ApiResult<()> {
    if user.is_privileged() {
        return Ok(());
    }
    let decision = rbac::authorize(&shared.state(), user, attrs);
    if decision.allowed {
        Ok(())
    } else {
        Err(auth::forbidden(user, attrs, &decision.reason))
    }
}

/// `/openapi/v2`, `/openapi/v3` and `/openapi/v3/{api/v1|apis/G/V}`.
fn openapi_doc(
    shared: &Arc<Shared>,
    method: &Method,
    rest: &[&str],
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if *method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let registry = shared.state().registry.clone();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match rest {
        ["v2"] => openapi_v2::respond(&openapi::v2(&registry), accept),
        ["v3"] => Ok(ok(&openapi::v3_index(&registry))),
        ["v3", "api", v] => openapi::v3_group_version(&registry, "", v)
            .map(|d| ok(&d))
            .ok_or_else(ApiError::no_route),
        ["v3", "apis", g, v] => openapi::v3_group_version(&registry, g, v)
            .map(|d| ok(&d))
            .ok_or_else(ApiError::no_route),
        _ => Err(ApiError::no_route()),
    }
}

/// Adds one `Warning` header per decoding warning of a write.
fn with_warnings(mut r: Response, check: &FieldCheck) -> Response {
    for w in check.warnings.borrow().iter() {
        if let Ok(v) = header::HeaderValue::from_str(&decode::warning_header(w)) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

fn selector(rt: &ResourceType, q: &Query) -> ApiResult<Selector> {
    let mut fields =
        FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))?;
    if rt.group == events::GROUP && events::is_event(&rt.group, &rt.plural) {
        fields.rename_paths(events::core_path);
    }
    Ok(Selector {
        labels: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        fields,
    })
}

/// Reads a create or update body (JSON, YAML or protobuf); returns the object and the paths
/// of duplicate keys (JSON only).
fn read_body(
    rt: &ResourceType,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(Value, Vec<String>)> {
    let cannot = |e: String| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
    };
    match media::request_body(rt, headers)? {
        Body::Json => parse_json(rt, body),
        Body::Yaml => Ok((apply::parse_body(body)?, Vec::new())),
        Body::Protobuf => Ok((
            protobuf::decode(&rt.group, &rt.kind, body).map_err(cannot)?,
            Vec::new(),
        )),
    }
}

/// Parses a JSON body; returns the value and the paths of duplicate keys.
fn parse_json(rt: &ResourceType, body: &[u8]) -> ApiResult<(Value, Vec<String>)> {
    strict::parse(body).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
    })
}

fn delete_opts(q: &Query, body: &[u8]) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        o.propagation = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.grace = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        o.dry_run = v
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
        if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            o.propagation = Some("Orphan".into());
        }
    }
    if let Some(p) = q.get("propagationPolicy") {
        o.propagation = Some(p.clone());
    }
    if let Some(g) = q.get("gracePeriodSeconds") {
        o.grace = g.parse().ok();
    }
    if q.get("dryRun").is_some_and(|v| v == "All") {
        o.dry_run = true;
    }
    Ok(o)
}

fn do_patch(
    shared: &Arc<Shared>,
    ctx: &mut WriteCtx,
    name: &str,
    ctype: &str,
    body: &[u8],
    force: bool,
    has_manager: bool,
) -> ApiResult<(Obj, bool)> {
    let rt = &ctx.rt;
    // Custom resources have no strategic merge patch (no Go struct to read patch keys from).
    if rt.custom && ctype == "application/strategic-merge-patch+json" {
        return Err(media::unsupported_patch(rt));
    }
    match ctype {
        "application/apply-patch+yaml"
        | "application/apply-patch+json"
        | "application/apply-patch+cbor" => {
            if !has_manager {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let mut applied = apply::parse_body(body)?;
            if !applied.is_object() {
                return Err(ApiError::bad_request("apply body must be an object"));
            }
            if let Some(n) = applied.pointer("/metadata/name").and_then(Value::as_str)
                && n != name
            {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            if rt.namespaced
                && let Some(n) = applied
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                && !n.is_empty()
                && n != ctx.ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            if rt.group.is_empty() && rt.plural == "secrets" && !ctx.status {
                secrets::fold_string_data(&mut applied)?;
            }
            decode::apply_unknown_fields(rt, &ctx.ns, name, &applied)?;
            ctx.check.source = Source::Apply;
            let mut st = shared.state();
            let live = st.get(rt, &ctx.ns, name).ok();
            let now = util::now();
            // Events are patched in the form of the API the client uses.
            let live_view = live
                .as_ref()
                .filter(|_| events::is_event(&rt.group, &rt.plural))
                .map(|l| st.present(rt, l));
            let (merged, entries) = apply::apply(
                live_view.as_ref().or(live.as_deref()),
                applied,
                &ApplyReq {
                    manager: &ctx.manager,
                    force,
                    status: ctx.status,
                    has_status: rt.status,
                    api_version: &rt.api_version(),
                    now: &now,
                },
            )?;
            let created = live.is_none();
            let v = st.commit_patched(ctx, name, live, merged, Mode::Preset(entries))?;
            Ok((v, created))
        }
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => {
            let (p, dups) = strict::parse(body)
                .map_err(|e| ApiError::bad_request(format!("invalid patch body: {e}")))?;
            let prefix = if ctype == "application/json-patch+json" {
                "json patch "
            } else {
                ""
            };
            ctx.check.duplicates = decode::duplicates(dups)
                .into_iter()
                .map(|d| format!("{prefix}{d}"))
                .collect();
            ctx.check.source = Source::Patch;
            let mut st = shared.state();
            let live = st.get(rt, &ctx.ns, name)?;
            let mut new = if events::is_event(&rt.group, &rt.plural) {
                st.present(rt, &live)
            } else {
                (*live).clone()
            };
            if ctype == "application/json-patch+json" {
                patch::json_patch(&mut new, &p)?;
            } else {
                if !p.is_object() {
                    return Err(ApiError::bad_request(
                        "merge patch body must be a JSON object",
                    ));
                }
                patch::merge_patch(&mut new, &p);
            }
            let v = st.commit_patched(ctx, name, Some(live), new, Mode::Update)?;
            Ok((v, false))
        }
        _ => Err(media::unsupported_patch(rt)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    ns: &str,
    name: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let svc = crate::proxy::service_name(name).to_string();
    let target = shared
        .hooks()
        .proxies
        .get(&(ns.to_string(), svc.clone()))
        .copied();
    let Some(target) = target else {
        let exists = {
            let st = shared.state();
            st.registry
                .get("", "v1", "services")
                .cloned()
                .is_some_and(|rt| st.get(&rt, ns, &svc).is_ok())
        };
        if exists {
            return Err(ApiError::new(
                503,
                "ServiceUnavailable",
                format!("no endpoints available for service \"{name}\""),
            ));
        }
        return Err(ApiError::not_found("", "services", &svc));
    };
    let marker = format!("/services/{name}/proxy");
    let upstream = path
        .find(&marker)
        .map(|i| &path[i + marker.len()..])
        .unwrap_or("");
    let mut pq = if upstream.is_empty() {
        "/".to_string()
    } else {
        upstream.to_string()
    };
    if let Some(q) = raw_query {
        pq.push('?');
        pq.push_str(q);
    }
    Ok(crate::proxy::forward(target, method.clone(), pq, headers, body).await)
}

fn admin(shared: &Arc<Shared>, method: &Method, rest: &[&str], body: &[u8]) -> ApiResult<Response> {
    match (method, rest) {
        (&Method::GET, ["counts"]) => {
            let counts: Vec<Value> = shared
                .hooks()
                .counts
                .iter()
                .map(|((v, r), n)| json!({"verb": v.as_str(), "resource": r, "count": n}))
                .collect();
            Ok(ok(&Value::Array(counts)))
        }
        (&Method::POST, ["reset-counts"]) => {
            shared.hooks().counts.clear();
            Ok(ok(&json!({})))
        }
        (&Method::POST, ["faults"]) => {
            let f: Fault = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))?;
            shared.hooks().faults.push(f);
            Ok(ok(&json!({})))
        }
        (&Method::POST, ["delays"]) => {
            let d: Delay = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid delay: {e}")))?;
            shared.hooks().delays.push(d);
            Ok(ok(&json!({})))
        }
        (&Method::DELETE, ["faults"]) => {
            let mut hooks = shared.hooks();
            hooks.faults.clear();
            hooks.delays.clear();
            Ok(ok(&json!({})))
        }
        (&Method::POST, ["drop-watches"]) => {
            shared.state().drop_watches();
            Ok(ok(&json!({})))
        }
        (&Method::POST, ["compact"]) => {
            shared.state().compact();
            Ok(ok(&json!({})))
        }
        (&Method::POST, ["proxies"]) => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid proxy: {e}")))?;
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let addr = s("address")
                .parse()
                .map_err(|e| ApiError::bad_request(format!("invalid address: {e}")))?;
            shared
                .hooks()
                .proxies
                .insert((s("namespace"), s("name")), addr);
            Ok(ok(&json!({})))
        }
        _ => Err(ApiError::no_route()),
    }
}
