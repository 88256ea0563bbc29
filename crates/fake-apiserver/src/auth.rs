//! Who a request is: every request (any bearer token, or none) is authenticated as one fixed
//! cluster administrator, [`ADMIN_USER`] in the groups `system:masters` and
//! `system:authenticated` (what a kubeadm `admin.conf` user used to be), and may impersonate
//! anyone with the `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
//! `Impersonate-Extra-*` headers (`kubectl --as`, `--as-group`), as the real server's
//! impersonation filter does: each impersonation is authorized (verb `impersonate` on `users`,
//! `groups`, `serviceaccounts`, `uids`, `userextras`), a service account gets its groups, and
//! `system:authenticated` (or `system:unauthenticated` for `system:anonymous`) is added.
//! Requests are then authorized by [`crate::rbac::authorize`]; the administrator is always
//! allowed, an impersonated user only what RBAC grants.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::errors::{ApiError, qualified};
use crate::rbac::{self, Attributes};
use crate::store::State;

/// The user every request is authenticated as.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// The group the privileged-group authorizer allows everything.
pub const MASTERS: &str = "system:masters";
/// Every authenticated user's group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group of anonymous requests.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The anonymous user.
pub const ANONYMOUS: &str = "system:anonymous";
const SA_PREFIX: &str = "system:serviceaccount:";

/// An authenticated identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID (may be empty).
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The fixed administrator.
    pub fn admin() -> Self {
        UserInfo {
            name: ADMIN_USER.into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            ..Default::default()
        }
    }

    /// Whether the privileged-group authorizer lets this user do anything.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    /// The `UserInfo` JSON of a `SelfSubjectReview`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.groups.is_empty() {
            v["groups"] = json!(self.groups);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The identity of a request: the administrator, or whom it impersonates (after checking
/// that the administrator may: RBAC is consulted as for any other request).
pub fn authenticate(st: &State, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let admin = UserInfo::admin();
    let user = header_values(headers, "impersonate-user");
    let groups: Vec<String> = header_values(headers, "impersonate-group")
        .into_iter()
        .map(str::to_string)
        .collect();
    let uid = header_values(headers, "impersonate-uid");
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(k) = name.as_str().strip_prefix("impersonate-extra-")
            && let Ok(v) = value.to_str()
        {
            let k: String = form_urlencoded::parse(format!("k={k}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            extra.entry(k).or_default().push(v.to_string());
        }
    }
    let Some(name) = user.first().map(|s| s.to_string()) else {
        if !groups.is_empty() || !uid.is_empty() || !extra.is_empty() {
            return Err(ApiError::new(
                500,
                "InternalError",
                "Internal error occurred: requested impersonation of groups, uid or extra without impersonating a user",
            ));
        }
        return Ok(admin);
    };
    let check = |attrs: Attributes| -> Result<(), ApiError> {
        let d = rbac::authorize(st, &admin, &attrs);
        if d.allowed {
            Ok(())
        } else {
            Err(forbidden(&admin, &attrs, &d.reason))
        }
    };
    let mut impersonated = UserInfo {
        name: name.clone(),
        ..Default::default()
    };
    if let Some(sa) = name.strip_prefix(SA_PREFIX)
        && let Some((ns, sa_name)) = sa.split_once(':')
    {
        check(Attributes::resource(
            "impersonate",
            ns,
            "",
            "serviceaccounts",
            sa_name,
        ))?;
        if groups.is_empty() {
            impersonated.groups = vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ];
        }
    } else {
        check(Attributes::resource("impersonate", "", "", "users", &name))?;
    }
    for g in &groups {
        check(Attributes::resource("impersonate", "", "", "groups", g))?;
        impersonated.groups.push(g.clone());
    }
    if let Some(u) = uid.first() {
        check(Attributes::resource(
            "impersonate",
            "",
            "authentication.k8s.io",
            "uids",
            u,
        ))?;
        impersonated.uid = u.to_string();
    }
    for (k, vs) in &extra {
        for v in vs {
            let mut attrs =
                Attributes::resource("impersonate", "", "authentication.k8s.io", "userextras", v);
            attrs.subresource = k.clone();
            check(attrs)?;
        }
    }
    impersonated.extra = extra;
    let has = |g: &str| impersonated.groups.iter().any(|x| x == g);
    if name == ANONYMOUS {
        if !has(UNAUTHENTICATED) {
            impersonated.groups.push(UNAUTHENTICATED.into());
        }
    } else if !has(AUTHENTICATED) && !has(UNAUTHENTICATED) {
        impersonated.groups.push(AUTHENTICATED.into());
    }
    Ok(impersonated)
}

/// The real server's 403 for a request `user` may not make.
pub fn forbidden(user: &UserInfo, attrs: &Attributes, reason: &str) -> ApiError {
    let what = match &attrs.path {
        Some(path) => format!(
            "User \"{}\" cannot {} path \"{path}\"",
            user.name, attrs.verb
        ),
        None => {
            let mut resource = attrs.resource.clone();
            if !attrs.subresource.is_empty() {
                resource = format!("{resource}/{}", attrs.subresource);
            }
            let scope = if attrs.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace \"{}\"", attrs.namespace)
            };
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
                user.name, attrs.verb, attrs.group
            )
        }
    };
    let what = if reason.is_empty() {
        what
    } else {
        format!("{what}: {reason}")
    };
    let message = match (&attrs.path, attrs.name.is_empty()) {
        (Some(_), _) => format!("forbidden: {what}"),
        (None, true) => format!(
            "{} is forbidden: {what}",
            qualified(&attrs.group, &attrs.resource)
        ),
        (None, false) => format!(
            "{} \"{}\" is forbidden: {what}",
            qualified(&attrs.group, &attrs.resource),
            attrs.name
        ),
    };
    let err = ApiError::new(403, "Forbidden", message);
    if attrs.path.is_some() {
        err
    } else {
        err.details(&attrs.group, &attrs.resource, &attrs.name)
    }
}
