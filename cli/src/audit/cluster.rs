//! The audit of a cluster, read-only, through the user's kubeconfig: SealedSecrets and their
//! status, the sealing keys and their renewal, Secrets no SealedSecret owns, and who may read
//! the controller's Secrets (`SubjectAccessReview`s for broad groups; without the right to
//! create those, a `SelfSubjectRulesReview` of the auditor's own access).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::report::{KeyInfo, Level, Renewal, Report};
use crate::kubecfg::{Cluster, status_message};
use sealant_api::{Certificate, LABEL_SEALED_SECRETS_KEY};

/// Items read per page, and in all per list.
const PAGE: usize = 100;
const MAX_ITEMS: usize = 200_000;

/// Secret types that tools generate and nobody seals: not reported as unmanaged.
const GENERATED_TYPES: [&str; 3] = [
    "kubernetes.io/service-account-token",
    "helm.sh/release.v1",
    "bootstrap.kubernetes.io/token",
];

/// Groups that stand for "everyone" of some kind, probed with `SubjectAccessReview`s.
const BROAD_GROUPS: [&str; 3] = [
    "system:authenticated",
    "system:unauthenticated",
    "system:serviceaccounts",
];

/// The controller's default `--key-renew-period`.
const DEFAULT_RENEW_PERIOD: &str = "720h";

/// An API answer other than 2xx: status and message.
struct Refused {
    status: u16,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

fn get(c: &Cluster, path: &str) -> Result<std::result::Result<Value, Refused>> {
    request(c, "GET", path, None)
}

fn request(
    c: &Cluster,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<std::result::Result<Value, Refused>> {
    let bytes = body.map(|b| b.to_string().into_bytes());
    let answer = c.api(method, path, bytes.as_deref())?;
    if !(200..300).contains(&answer.status) {
        return Ok(Err(Refused {
            status: answer.status,
            message: status_message(&answer.body),
        }));
    }
    match serde_json::from_slice(&answer.body) {
        Ok(v) => Ok(Ok(v)),
        Err(e) => bail!("{} {path}: the answer is not JSON: {e}", c.server),
    }
}

/// Every item of a list, page by page.
fn list(c: &Cluster, path: &str) -> Result<std::result::Result<Vec<Value>, Refused>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let mut url = format!("{path}{sep}limit={PAGE}");
        if !token.is_empty() {
            url.push_str("&continue=");
            url.push_str(&percent_encode(&token));
        }
        let page = match get(c, &url)? {
            Ok(page) => page,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Some(Value::Array(more)) = page.get("items") {
            items.extend(more.iter().cloned());
        }
        if items.len() > MAX_ITEMS {
            bail!("{path}: more than {MAX_ITEMS} objects; refusing to read more");
        }
        token = str_at(&page, "/metadata/continue").to_owned();
        if token.is_empty() {
            return Ok(Ok(items));
        }
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn object_name(v: &Value) -> String {
    format!(
        "{}/{}",
        str_at(v, "/metadata/namespace"),
        str_at(v, "/metadata/name")
    )
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Runs every check against the cluster.
pub fn audit(c: &Cluster, now: OffsetDateTime) -> Result<Report> {
    let mut report = Report {
        source: c.server.clone(),
        ..Report::default()
    };
    let keys = sealing_keys(c, now, &mut report)?;
    let sealed = match list(c, "/apis/bitnami.com/v1alpha1/sealedsecrets")? {
        Ok(items) => items,
        Err(refused) => {
            let message = if refused.status == 404 {
                "the SealedSecret CRD (bitnami.com/v1alpha1) is not installed".to_owned()
            } else {
                format!("cannot list SealedSecrets: {refused}")
            };
            report.add(Level::Error, "access", String::new(), message);
            Vec::new()
        }
    };
    report.sealed_secrets = sealed.len();
    for ss in &sealed {
        readiness(ss, &mut report);
    }
    key_usage(&sealed, keys.as_deref(), &mut report);
    unmanaged_secrets(c, &sealed, &mut report)?;
    broad_access(c, &mut report)?;
    report.sort();
    Ok(report)
}

/// `Ready` (sealant) or `Synced` (upstream) must be `True`.
fn readiness(ss: &Value, report: &mut Report) {
    let conditions = ss
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let find = |t: &str| conditions.iter().find(|c| str_at(c, "/type") == t);
    let Some(condition) = find("Ready").or_else(|| find("Synced")) else {
        report.add(
            Level::Warning,
            "not-ready",
            object_name(ss),
            "no status yet: no controller has reconciled it (is the controller running?)".into(),
        );
        return;
    };
    if str_at(condition, "/status") == "True" {
        return;
    }
    let reason = match str_at(condition, "/reason") {
        "" => "no reason given",
        r => r,
    };
    let message = str_at(condition, "/message");
    let message: String = message.chars().take(300).collect();
    report.add(
        Level::Error,
        "not-ready",
        object_name(ss),
        format!(
            "not Ready ({} {}): {reason}{}{message}",
            str_at(condition, "/type"),
            str_at(condition, "/status"),
            if message.is_empty() { "" } else { ": " }
        ),
    );
}

/// A sealing key read from its Secret.
struct Key {
    id: String,
    compromised: bool,
    newest: bool,
}

/// The key Secrets in the controller's namespace; `None` when they cannot be read.
fn sealing_keys(c: &Cluster, now: OffsetDateTime, report: &mut Report) -> Result<Option<Vec<Key>>> {
    let path = format!(
        "/api/v1/namespaces/{}/secrets?labelSelector={}",
        c.namespace,
        percent_encode(LABEL_SEALED_SECRETS_KEY)
    );
    let secrets = match list(c, &path)? {
        Ok(items) => items,
        Err(refused) => {
            report.add(
                Level::Warning,
                "keys",
                String::new(),
                format!(
                    "cannot list the sealing key Secrets in {}: {refused}; key checks skipped",
                    c.namespace
                ),
            );
            return Ok(None);
        }
    };
    let mut infos: Vec<(KeyInfo, OffsetDateTime)> = Vec::new();
    for secret in &secrets {
        let name = object_name(secret);
        let status = str_at(
            secret,
            &format!(
                "/metadata/labels/{}",
                LABEL_SEALED_SECRETS_KEY.replace('/', "~1")
            ),
        )
        .to_owned();
        let cert = STANDARD
            .decode(str_at(secret, "/data/tls.crt"))
            .ok()
            .and_then(|pem| Certificate::from_pem(&pem).ok());
        let Some(cert) = cert else {
            report.add(
                Level::Warning,
                "keys",
                name,
                "labelled as a sealing key but its tls.crt is not a readable certificate".into(),
            );
            continue;
        };
        let created = cert.not_before();
        infos.push((
            KeyInfo {
                key_id: cert.key_id().as_str().to_owned(),
                secret: name,
                status,
                created: rfc3339(created),
                age_days: (now - created).whole_days(),
                expires: rfc3339(cert.not_after()),
                newest: false,
            },
            created,
        ));
    }
    infos.sort_by_key(|k| std::cmp::Reverse(k.1));
    if let Some((newest, _)) = infos.iter_mut().find(|(k, _)| k.status == "active") {
        newest.newest = true;
    }
    let newest_created = infos.iter().find(|(k, _)| k.newest).map(|(_, t)| *t);
    if newest_created.is_none() {
        report.add(
            Level::Error,
            "keys",
            String::new(),
            format!(
                "no active sealing key in {}: the controller cannot unseal anything (is it installed there? --controller-namespace)",
                c.namespace
            ),
        );
    }
    for (key, _) in &infos {
        if key.status == "compromised" {
            report.add(
                Level::Info,
                "keys",
                key.secret.clone(),
                format!(
                    "key {} is marked compromised (used only to unseal)",
                    key.key_id
                ),
            );
        }
    }
    report.renewal = Some(renewal(c, newest_created, now, report)?);
    let keys = infos
        .iter()
        .map(|(k, _)| Key {
            id: k.key_id.clone(),
            compromised: k.status == "compromised",
            newest: k.newest,
        })
        .collect();
    report.keys = Some(infos.into_iter().map(|(k, _)| k).collect());
    Ok(Some(keys))
}

/// The renewal settings from the controller's Deployment (flags or environment), else the
/// defaults.
fn renewal(
    c: &Cluster,
    newest: Option<OffsetDateTime>,
    now: OffsetDateTime,
    report: &mut Report,
) -> Result<Renewal> {
    let path = format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}",
        c.namespace, c.name
    );
    let (settings, source) = match get(c, &path)? {
        Ok(deployment) => (
            controller_settings(&deployment),
            format!("from Deployment {}/{}", c.namespace, c.name),
        ),
        Err(refused) => (
            BTreeMap::new(),
            format!(
                "the controller's defaults: Deployment {}/{} not readable: {refused}",
                c.namespace, c.name
            ),
        ),
    };
    let period = settings
        .get("key-renew-period")
        .or_else(|| settings.get("rotate-period"))
        .cloned()
        .unwrap_or_else(|| DEFAULT_RENEW_PERIOD.to_owned());
    let cutoff = settings.get("key-cutoff-time").cloned();
    let mut out = Renewal {
        period: period.clone(),
        next: None,
        days_to_next: None,
        cutoff,
        source,
    };
    match (go_duration(&period), newest) {
        (Some(d), Some(created)) if !d.is_zero() => {
            let next = created + d;
            let days = (next - now).whole_days();
            out.next = Some(rfc3339(next));
            out.days_to_next = Some(days);
            // A day of slack: the controller renews on its own schedule.
            if next + time::Duration::days(1) < now {
                report.add(
                    Level::Warning,
                    "keys",
                    String::new(),
                    format!(
                        "key renewal is overdue by {} day(s): the newest key is older than the renewal period {period} (is the controller running?)",
                        -days
                    ),
                );
            }
        }
        (Some(_), _) => {}
        (None, _) => report.add(
            Level::Warning,
            "keys",
            String::new(),
            format!("the renewal period {period:?} is not a duration sealant understands"),
        ),
    }
    Ok(out)
}

/// `--flag=value` / `--flag value` arguments and `SEALANT_*` environment of the first
/// container, as flag names.
fn controller_settings(deployment: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let container = deployment.pointer("/spec/template/spec/containers/0");
    let Some(container) = container else {
        return out;
    };
    let env_names = [
        ("SEALANT_KEY_RENEW_PERIOD", "key-renew-period"),
        ("SEALANT_KEY_CUTOFF_TIME", "key-cutoff-time"),
    ];
    for env in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some((_, flag)) = env_names.iter().find(|(n, _)| *n == str_at(env, "/name")) {
            out.insert((*flag).to_owned(), str_at(env, "/value").to_owned());
        }
    }
    let args: Vec<&str> = ["command", "args"]
        .iter()
        .filter_map(|f| container.get(*f).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut i = 0;
    while i < args.len() {
        if let Some(flag) = args[i].strip_prefix("--") {
            match flag.split_once('=') {
                Some((k, v)) => {
                    out.insert(k.to_owned(), v.to_owned());
                }
                None => {
                    if let Some(v) = args.get(i + 1).filter(|v| !v.starts_with("--")) {
                        out.insert(flag.to_owned(), (*v).to_owned());
                        i += 1;
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// A Go duration (`720h`, `1h30m`, `90s`, `0`).
fn go_duration(text: &str) -> Option<time::Duration> {
    if text == "0" {
        return Some(time::Duration::ZERO);
    }
    let mut total = time::Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "h" => time::Duration::hours(number),
            "m" => time::Duration::minutes(number),
            "s" => time::Duration::seconds(number),
            "ms" => time::Duration::milliseconds(number),
            _ => return None,
        };
        total = total.checked_add(part)?;
    }
    Some(total)
}

/// Which key sealed each SealedSecret (the `sealant.dev/key-ids` annotation); re-seal
/// candidates and compromised keys.
fn key_usage(sealed: &[Value], keys: Option<&[Key]>, report: &mut Report) {
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ss in sealed {
        let annotations = string_map(ss.pointer("/metadata/annotations"));
        let ids = sealant_api::key_ids_from_annotations(&annotations);
        let name = object_name(ss);
        let Some(id) = ids.first() else {
            by_key.entry("unknown".into()).or_default().push(name);
            continue;
        };
        let id = id.as_str().to_owned();
        by_key.entry(id.clone()).or_default().push(name.clone());
        let Some(keys) = keys else {
            continue;
        };
        match keys.iter().find(|k| k.id == id) {
            Some(k) if k.compromised => report.add(
                Level::Error,
                "compromised-key",
                name,
                format!(
                    "sealed with compromised key {id}: change the secret values and seal them again"
                ),
            ),
            Some(k) if !k.newest => report.add(
                Level::Warning,
                "reseal",
                name,
                format!("sealed with key {id}, not the newest: re-seal it (sealant reseal)"),
            ),
            Some(_) => {}
            None => report.add(
                Level::Warning,
                "unknown-key",
                name,
                format!("sealed with key {id}, which the controller does not have"),
            ),
        }
    }
    report.set_key_usage(by_key, "sealant verify");
}

/// Secrets in namespaces holding SealedSecrets that no SealedSecret made.
fn unmanaged_secrets(c: &Cluster, sealed: &[Value], report: &mut Report) -> Result<()> {
    let mut names: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ss in sealed {
        names
            .entry(str_at(ss, "/metadata/namespace"))
            .or_default()
            .insert(str_at(ss, "/metadata/name"));
    }
    for (namespace, sealed_names) in names {
        if namespace.is_empty() || namespace.contains('/') {
            continue;
        }
        let secrets = match list(c, &format!("/api/v1/namespaces/{namespace}/secrets"))? {
            Ok(items) => items,
            Err(refused) => {
                report.add(
                    Level::Warning,
                    "unmanaged-secret",
                    format!("{namespace}/"),
                    format!("cannot list Secrets: {refused}"),
                );
                continue;
            }
        };
        for secret in &secrets {
            if let Some(owner) = unmanaged(secret, &sealed_names) {
                report.add(
                    Level::Warning,
                    "unmanaged-secret",
                    object_name(secret),
                    owner,
                );
            }
        }
    }
    Ok(())
}

/// Why a Secret is reported as not from a SealedSecret, or `None` when it is one's (or a
/// well-known generated kind).
fn unmanaged(secret: &Value, sealed_names: &BTreeSet<&str>) -> Option<String> {
    let kind = str_at(secret, "/type");
    if GENERATED_TYPES.contains(&kind) {
        return None;
    }
    let labels = string_map(secret.pointer("/metadata/labels"));
    if labels.contains_key(LABEL_SEALED_SECRETS_KEY) {
        return None;
    }
    let owners = secret
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if owners.iter().any(|o| str_at(o, "/kind") == "SealedSecret") {
        return None;
    }
    let annotations = string_map(secret.pointer("/metadata/annotations"));
    if annotations
        .get("sealedsecrets.bitnami.com/managed")
        .is_some_and(|v| v == "true")
        || sealed_names.contains(str_at(secret, "/metadata/name"))
    {
        return None;
    }
    let by = match owners.first() {
        Some(o) => format!(
            "created by {} {} (not a SealedSecret)",
            str_at(o, "/kind"),
            str_at(o, "/name")
        ),
        None => "no owner: managed by hand or by a tool".to_owned(),
    };
    Some(format!(
        "Secret of type {} with no SealedSecret in a namespace that uses SealedSecrets; {by}",
        if kind.is_empty() { "Opaque" } else { kind }
    ))
}

/// Whether broad groups may read the controller's Secrets (the sealing keys).
fn broad_access(c: &Cluster, report: &mut Report) -> Result<()> {
    let ns = &c.namespace;
    for group in BROAD_GROUPS {
        for verb in ["get", "list", "watch"] {
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": "sealant-audit:probe",
                    "groups": [group],
                    "resourceAttributes": {"verb": verb, "resource": "secrets", "namespace": ns},
                },
            });
            let answer = request(
                c,
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                Some(&review),
            )?;
            match answer {
                Ok(v) if v.pointer("/status/allowed") == Some(&Value::Bool(true)) => {
                    let reason = str_at(&v, "/status/reason");
                    report.add(
                        Level::Error,
                        "rbac",
                        format!("{ns}/"),
                        format!(
                            "every member of {group} may {verb} the Secrets in {ns}, the sealing keys among them{}{reason}",
                            if reason.is_empty() { "" } else { ": " }
                        ),
                    );
                    break;
                }
                Ok(_) => {}
                Err(refused) => {
                    report.add(
                        Level::Warning,
                        "rbac",
                        format!("{ns}/"),
                        format!(
                            "cannot check who may read the sealing keys: creating a SubjectAccessReview was refused: {refused}"
                        ),
                    );
                    return own_access(c, report);
                }
            }
        }
    }
    Ok(())
}

/// Without `SubjectAccessReview`s: whether the auditor's own rules reach the key Secrets.
fn own_access(c: &Cluster, report: &mut Report) -> Result<()> {
    let ns = &c.namespace;
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": ns},
    });
    let answer = request(
        c,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        Some(&review),
    )?;
    let Ok(v) = answer else {
        return Ok(());
    };
    let rules = v
        .pointer("/status/resourceRules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let has = |field: &str, want: &str, rule: &Value| {
        rule.get(field)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == want || x == "*"))
    };
    let reads = rules.iter().any(|r| {
        has("apiGroups", "", r)
            && has("resources", "secrets", r)
            && ["get", "list", "watch"].iter().any(|v| has("verbs", v, r))
            && r.get("resourceNames")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
    if reads {
        report.add(
            Level::Info,
            "rbac",
            format!("{ns}/"),
            format!("you may read the Secrets in {ns} (the sealing keys): keep this kubeconfig as safe as the keys"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("720h"), Some(time::Duration::hours(720)));
        assert_eq!(go_duration("1h30m"), Some(time::Duration::minutes(90)));
        assert_eq!(go_duration("0"), Some(time::Duration::ZERO));
        assert_eq!(go_duration("0s"), Some(time::Duration::ZERO));
        assert_eq!(go_duration("3d"), None);
        assert_eq!(go_duration(""), None);
        assert_eq!(go_duration("h"), None);
    }

    #[test]
    fn flags_and_environment_of_the_deployment() {
        let d = json!({"spec": {"template": {"spec": {"containers": [{
            "args": ["--key-renew-period=48h", "--key-cutoff-time", "Mon, 02 Jan 2006 15:04:05 -0700", "--update-status"],
            "env": [{"name": "SEALANT_KEY_RENEW_PERIOD", "value": "24h"}],
        }]}}}});
        let s = controller_settings(&d);
        assert_eq!(
            s["key-renew-period"], "48h",
            "flags win over the environment"
        );
        assert_eq!(s["key-cutoff-time"], "Mon, 02 Jan 2006 15:04:05 -0700");
    }

    #[test]
    fn which_secrets_are_unmanaged() {
        let names: BTreeSet<&str> = ["db"].into_iter().collect();
        let secret = |v: Value| v;
        assert!(
            unmanaged(
                &secret(json!({"metadata": {"name": "x"}, "type": "Opaque"})),
                &names
            )
            .is_some()
        );
        assert!(unmanaged(&secret(json!({"metadata": {"name": "db"}})), &names).is_none());
        assert!(unmanaged(&secret(json!({"metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"})), &names).is_none());
        assert!(unmanaged(&secret(json!({"metadata": {"name": "sh.helm.release.v1.x.v1"}, "type": "helm.sh/release.v1"})), &names).is_none());
        assert!(unmanaged(&secret(json!({"metadata": {"name": "y", "ownerReferences": [{"kind": "SealedSecret", "name": "y"}]}})), &names).is_none());
        let by_tool = unmanaged(
            &secret(
                json!({"metadata": {"name": "tls", "ownerReferences": [{"kind": "Certificate", "name": "web"}]}, "type": "kubernetes.io/tls"}),
            ),
            &names,
        );
        assert!(by_tool.is_some_and(|m| m.contains("Certificate web")));
    }
}
