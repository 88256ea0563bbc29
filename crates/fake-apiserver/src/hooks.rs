//! Test hooks: request counters, fault injection and service proxy targets.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

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
    /// Match only requests for a later page of a list (those carrying a `continue` token).
    #[serde(default)]
    pub continued: bool,
}

fn one() -> u32 {
    1
}

/// Which requests a [`Fault`] or [`Delay`] applies to.
fn matches(
    (verb, resource, continued): (Option<Verb>, Option<&str>, bool),
    req: (Verb, &str, bool),
) -> bool {
    verb.is_none_or(|v| v == req.0) && resource.is_none_or(|r| r == req.1) && (!continued || req.2)
}

/// Hold the next `count` requests matching `verb` and `resource` for `millis` milliseconds
/// before serving them (a slow API server, or a list whose later pages arrive late).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delay {
    /// Verb to match (`None`: any).
    #[serde(default)]
    pub verb: Option<Verb>,
    /// Resource to match (`None`: any), as for [`Fault`].
    #[serde(default)]
    pub resource: Option<String>,
    /// Match only requests for a later page of a list (those carrying a `continue` token).
    #[serde(default)]
    pub continued: bool,
    /// How long each matching request is held.
    pub millis: u64,
    /// How many requests are held.
    #[serde(default = "one")]
    pub count: u32,
}

impl Delay {
    /// Holds the next `count` requests matching `verb` and `resource` for `millis` ms.
    pub fn new(verb: Option<Verb>, resource: Option<&str>, millis: u64, count: u32) -> Self {
        Delay {
            verb,
            resource: resource.map(str::to_string),
            continued: false,
            millis,
            count,
        }
    }

    /// Only for later pages of a list (requests with a `continue` token).
    pub fn continued(mut self) -> Self {
        self.continued = true;
        self
    }
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
            continued: false,
        }
    }

    /// Only for later pages of a list (requests with a `continue` token): the client's list
    /// fails part-way through.
    pub fn continued(mut self) -> Self {
        self.continued = true;
        self
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
    /// Pending delays, first match wins.
    pub delays: Vec<Delay>,
    /// `(namespace, service)` -> target address.
    pub proxies: HashMap<(String, String), SocketAddr>,
}

impl Hooks {
    /// Counts the request; returns how long to hold it, if a delay matches, and the injected
    /// error, if a fault matches. `continued`: a list request for a later page.
    pub fn on_request(
        &mut self,
        verb: Verb,
        resource: &str,
        continued: bool,
    ) -> (Option<Duration>, Option<ApiError>) {
        *self.counts.entry((verb, resource.to_string())).or_insert(0) += 1;
        let req = (verb, resource, continued);
        let delay = self
            .delays
            .iter_mut()
            .find(|d| d.count > 0 && matches((d.verb, d.resource.as_deref(), d.continued), req));
        let delay = delay.map(|d| {
            d.count -= 1;
            Duration::from_millis(d.millis)
        });
        self.delays.retain(|d| d.count > 0);
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.count > 0 && matches((f.verb, f.resource.as_deref(), f.continued), req));
        let error = fault.map(|f| {
            f.count -= 1;
            f.error(verb, resource)
        });
        self.faults.retain(|f| f.count > 0);
        (delay, error)
    }
}
