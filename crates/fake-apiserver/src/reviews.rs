//! The review APIs: `authorization.k8s.io/v1` `SelfSubjectAccessReview` (`kubectl auth
//! can-i`), `SelfSubjectRulesReview` (`kubectl auth can-i --list`), `SubjectAccessReview`,
//! `LocalSubjectAccessReview`, and `authentication.k8s.io/v1` `SelfSubjectReview` (`kubectl
//! auth whoami`). Create-only, nothing stored: the answer is the request with its `status`
//! filled in from [`crate::rbac`], 201 Created, with the real server's validation messages.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::errors::{ApiError, ApiResult};
use crate::rbac::{self, Attributes};
use crate::resources::ResourceType;
use crate::store::State;

const AUTHZ: &str = "authorization.k8s.io";
const AUTHN: &str = "authentication.k8s.io";

/// The review resources, for the registry.
pub fn resource_types() -> Vec<ResourceType> {
    vec![
        ResourceType::review(
            AUTHZ,
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
        ),
        ResourceType::review(
            AUTHZ,
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
        ),
        ResourceType::review(AUTHZ, "subjectaccessreviews", "SubjectAccessReview", false),
        ResourceType::review(
            AUTHZ,
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
        ),
        ResourceType::review(AUTHN, "selfsubjectreviews", "SelfSubjectReview", false),
    ]
}

fn invalid(rt: &ResourceType, causes: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("{}.{} \"\" is invalid: {causes}", rt.kind, rt.group),
    )
    .details(&rt.group, &rt.kind, "")
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The attributes a review spec asks about (exactly one of resource and non-resource).
fn spec_attributes(rt: &ResourceType, spec: &Value) -> ApiResult<Attributes> {
    let res = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    match (res, non) {
        (Some(_), Some(n)) => Err(invalid(
            rt,
            &format!(
                "spec.nonResourceAttributes: Invalid value: \"{}\": cannot be specified in combination with resourceAttributes",
                n
            ),
        )),
        (None, None) => Err(invalid(
            rt,
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        (Some(r), None) => Ok(Attributes {
            verb: str_at(r, "/verb").into(),
            namespace: str_at(r, "/namespace").into(),
            group: str_at(r, "/group").into(),
            version: str_at(r, "/version").into(),
            resource: str_at(r, "/resource").into(),
            subresource: str_at(r, "/subresource").into(),
            name: str_at(r, "/name").into(),
            path: None,
        }),
        (None, Some(n)) => Ok(Attributes::non_resource(
            str_at(n, "/verb"),
            str_at(n, "/path"),
        )),
    }
}

fn status(d: &rbac::Decision) -> Value {
    let mut s = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        s["reason"] = json!(d.reason);
    }
    s
}

/// The user a `SubjectAccessReview` spec names (groups as given: nothing is added).
fn spec_user(rt: &ResourceType, spec: &Value) -> ApiResult<UserInfo> {
    let strs = |field: &str| -> Vec<String> {
        spec.get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let user = UserInfo {
        name: str_at(spec, "/user").into(),
        uid: str_at(spec, "/uid").into(),
        groups: strs("groups"),
        extra: spec
            .get("extra")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let vs = v
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (k.clone(), vs)
                    })
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
    };
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(invalid(
            rt,
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    Ok(user)
}

/// Answers one review created by `user` in namespace `ns` (for the namespaced one).
pub fn answer(
    st: &State,
    rt: &ResourceType,
    user: &UserInfo,
    ns: &str,
    mut body: Value,
) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "{} in version \"v1\" cannot be handled as a {}: the body is not an object",
            rt.kind, rt.kind
        )));
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let result = match rt.kind.as_str() {
        "SelfSubjectAccessReview" => {
            let attrs = spec_attributes(rt, &spec)?;
            status(&rbac::authorize(st, user, &attrs))
        }
        "SubjectAccessReview" => {
            let attrs = spec_attributes(rt, &spec)?;
            let subject = spec_user(rt, &spec)?;
            status(&rbac::authorize(st, &subject, &attrs))
        }
        "LocalSubjectAccessReview" => {
            let attrs = spec_attributes(rt, &spec)?;
            if attrs.path.is_some() {
                return Err(invalid(
                    rt,
                    "spec.nonResourceAttributes: Invalid value: \"\": disallowed on this kind of request",
                ));
            }
            if attrs.namespace != ns {
                return Err(invalid(
                    rt,
                    &format!(
                        "spec.resourceAttributes.namespace: Invalid value: \"{}\": must match metadata.namespace",
                        attrs.namespace
                    ),
                ));
            }
            let subject = spec_user(rt, &spec)?;
            status(&rbac::authorize(st, &subject, &attrs))
        }
        "SelfSubjectRulesReview" => {
            let namespace = str_at(&spec, "/namespace");
            if namespace.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            let rules = rbac::rules_for(st, user, namespace);
            let mut s = json!({
                "resourceRules": rules.resource,
                "nonResourceRules": rules.non_resource,
                "incomplete": false,
            });
            if !rules.error.is_empty() {
                s["evaluationError"] = json!(rules.error);
            }
            s
        }
        "SelfSubjectReview" => json!({"userInfo": user.to_json()}),
        _ => return Err(ApiError::no_route()),
    };
    body["apiVersion"] = json!(rt.api_version());
    body["kind"] = json!(rt.kind);
    let meta = body
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    body["metadata"] = meta;
    if rt.namespaced {
        body["metadata"]["namespace"] = json!(ns);
    }
    body["status"] = result;
    Ok(body)
}
