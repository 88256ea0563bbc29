//! Test hooks: request counters, fault injection and service proxy targets.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::errors::ApiError;

/// API verbs, as counted and as matched by faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH (any patch type, including server-side apply).
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    #[serde(rename = "deletecollection")]
    DeleteCollection,
}

impl Verb {
    /// Lowercase name (`get`, `list`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Whether the verb writes.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        )
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fail the next `count` requests matching `verb` and `resource` with `code`/`reason`.
///
/// `resource` is the plural (`secrets`, `sealedsecrets`), or `plural/status` for the status
/// subresource; `None` matches any verb or resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Verb to match (`None`: any).
    #[serde(default)]
    pub verb: Option<Verb>,
    /// Resource to match (`None`: any).
    #[serde(default)]
    pub resource: Option<String>,
    /// HTTP code returned.
    pub code: u16,
    /// Status reason; empty means derived from the code.
    #[serde(default)]
    pub reason: String,
    /// How many requests fail.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault with the usual reason for `code` (500 InternalError, 503 ServiceUnavailable,
    /// 429 TooManyRequests, 409 Conflict, 403 Forbidden, 404 NotFound, 410 Expired, ...).
    pub fn new(verb: Option<Verb>, resource: Option<&str>, code: u16, count: u32) -> Self {
        Fault {
            verb,
            resource: resource.map(str::to_string),
            code,
            reason: String::new(),
            count,
        }
    }

    fn matches(&self, verb: Verb, resource: &str) -> bool {
        self.count > 0
            && self.verb.is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }

    fn error(&self, verb: Verb, resource: &str) -> ApiError {
        let reason = if self.reason.is_empty() {
            match self.code {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                410 => "Expired",
                422 => "Invalid",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "InternalError",
            }
        } else {
            self.reason.as_str()
        };
        ApiError::new(
            self.code,
            reason,
            format!(
                "injected fault: {verb} {resource} failed with {}",
                self.code
            ),
        )
    }
}

/// Counters, faults and proxy targets.
#[derive(Debug, Default)]
pub struct Hooks {
    /// Requests per (verb, resource).
    pub counts: BTreeMap<(Verb, String), u64>,
    /// Pending faults, first match wins.
    pub faults: Vec<Fault>,
    /// `(namespace, service)` -> target address.
    pub proxies: HashMap<(String, String), SocketAddr>,
}

impl Hooks {
    /// Counts the request and returns the injected error, if a fault matches.
    pub fn on_request(&mut self, verb: Verb, resource: &str) -> Option<ApiError> {
        *self.counts.entry((verb, resource.to_string())).or_insert(0) += 1;
        let f = self.faults.iter_mut().find(|f| f.matches(verb, resource))?;
        f.count -= 1;
        let e = f.error(verb, resource);
        self.faults.retain(|f| f.count > 0);
        Some(e)
    }
}
