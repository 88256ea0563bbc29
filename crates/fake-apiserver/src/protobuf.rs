//! Kubernetes' protobuf wire format for the built-in kinds the server stores: request bodies
//! (what kubectl's typed commands such as `kubectl create namespace|secret|configmap` send) and
//! responses for clients that ask for `application/vnd.kubernetes.protobuf` first.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` whose `typeMeta` names the
//! kind and whose `raw` holds the object's own message. The messages are `k8s-pb`'s generated
//! types; the mapping between them and the JSON the store keeps is written once per message
//! below with [`message!`]. JSON `omitempty` is followed when decoding: empty strings, zero
//! numbers and `false` of plain Go fields are left out, while the pointer fields marked `keep`
//! keep their zero value.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_pb::api::authentication::v1 as authentication;
use k8s_pb::api::authorization::v1 as authorization;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Conversion between a message and its JSON form.
trait Json: Sized {
    /// `None`: left out of the JSON object.
    fn to_json(&self) -> Option<Value>;
    /// From a JSON value (`null` or absent fields never reach this).
    fn from_json(v: &Value, path: &str) -> Result<Self, String>;
    /// As an element of a list, where a zero value is written out (`""` stays `""`).
    fn item_json(&self) -> Value {
        self.to_json().unwrap_or(Value::Null)
    }
}

fn type_error(path: &str, want: &str) -> String {
    format!("{path}: expected {want}")
}

impl Json for String {
    fn to_json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| Value::String(self.clone()))
    }
    fn item_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| type_error(path, "a string"))
    }
}

impl Json for i64 {
    fn to_json(&self) -> Option<Value> {
        (*self != 0).then(|| Value::from(*self))
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        v.as_i64().ok_or_else(|| type_error(path, "an integer"))
    }
}

impl Json for i32 {
    fn to_json(&self) -> Option<Value> {
        (*self != 0).then(|| Value::from(*self))
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        v.as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| type_error(path, "a 32-bit integer"))
    }
}

impl Json for bool {
    fn to_json(&self) -> Option<Value> {
        self.then_some(Value::Bool(true))
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        v.as_bool().ok_or_else(|| type_error(path, "a boolean"))
    }
}

impl<T: Json> Json for Option<T> {
    fn to_json(&self) -> Option<Value> {
        self.as_ref().and_then(Json::to_json)
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        T::from_json(v, path).map(Some)
    }
}

impl<T: Json> Json for Vec<T> {
    fn to_json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| Value::Array(self.iter().map(Json::item_json).collect()))
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        let a = v.as_array().ok_or_else(|| type_error(path, "a list"))?;
        a.iter()
            .enumerate()
            .map(|(i, x)| T::from_json(x, &format!("{path}[{i}]")))
            .collect()
    }
}

/// `map<string, string>`.
impl Json for BTreeMap<String, String> {
    fn to_json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| {
            Value::Object(
                self.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        })
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        let m = v.as_object().ok_or_else(|| type_error(path, "a map"))?;
        m.iter()
            .map(|(k, x)| Ok((k.clone(), String::from_json(x, &format!("{path}.{k}"))?)))
            .collect()
    }
}

/// `map<string, bytes>`: base64 in JSON.
impl Json for BTreeMap<String, Vec<u8>> {
    fn to_json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| {
            Value::Object(
                self.iter()
                    .map(|(k, v)| (k.clone(), Value::String(STANDARD.encode(v))))
                    .collect(),
            )
        })
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        let m = v.as_object().ok_or_else(|| type_error(path, "a map"))?;
        m.iter()
            .map(|(k, x)| {
                let s = x
                    .as_str()
                    .ok_or_else(|| type_error(&format!("{path}.{k}"), "a base64 string"))?;
                let b = STANDARD
                    .decode(s)
                    .map_err(|e| format!("{path}.{k}: illegal base64 data: {e}"))?;
                Ok((k.clone(), b))
            })
            .collect()
    }
}

/// `map<string, ExtraValue>`: a list of strings per key in JSON.
macro_rules! extra_map {
    ($ty:ty) => {
        impl Json for BTreeMap<String, $ty> {
            fn to_json(&self) -> Option<Value> {
                (!self.is_empty()).then(|| {
                    Value::Object(
                        self.iter()
                            .map(|(k, v)| (k.clone(), json_strings(&v.items)))
                            .collect(),
                    )
                })
            }
            fn from_json(v: &Value, path: &str) -> Result<Self, String> {
                let m = v.as_object().ok_or_else(|| type_error(path, "a map"))?;
                m.iter()
                    .map(|(k, x)| {
                        let items = Vec::<String>::from_json(x, &format!("{path}.{k}"))?;
                        Ok((k.clone(), <$ty>::from_items(items)))
                    })
                    .collect()
            }
        }
    };
}

fn json_strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

trait FromItems {
    fn from_items(items: Vec<String>) -> Self;
}

impl FromItems for authorization::ExtraValue {
    fn from_items(items: Vec<String>) -> Self {
        authorization::ExtraValue { items }
    }
}

impl FromItems for authentication::ExtraValue {
    fn from_items(items: Vec<String>) -> Self {
        authentication::ExtraValue { items }
    }
}

extra_map!(authorization::ExtraValue);
extra_map!(authentication::ExtraValue);

fn time_to_json(seconds: Option<i64>, nanos: Option<i32>, micro: bool) -> Option<Value> {
    let (s, n) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    if s == 0 && n == 0 {
        return None;
    }
    let t = OffsetDateTime::from_unix_timestamp(s).ok()?;
    if micro {
        let base = t.format(&Rfc3339).ok()?;
        let micros = n.max(0) / 1000;
        Some(Value::String(format!(
            "{}.{micros:06}Z",
            base.trim_end_matches('Z')
        )))
    } else {
        t.format(&Rfc3339).ok().map(Value::String)
    }
}

fn time_from_json(v: &Value, path: &str) -> Result<(i64, i32), String> {
    let s = v
        .as_str()
        .ok_or_else(|| type_error(path, "an RFC 3339 time"))?;
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("{path}: {e}"))?;
    Ok((t.unix_timestamp(), t.nanosecond() as i32))
}

impl Json for meta::Time {
    fn to_json(&self) -> Option<Value> {
        time_to_json(self.seconds, self.nanos, false)
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        let (s, _) = time_from_json(v, path)?;
        Ok(meta::Time {
            seconds: Some(s),
            nanos: Some(0),
        })
    }
}

impl Json for meta::MicroTime {
    fn to_json(&self) -> Option<Value> {
        time_to_json(self.seconds, self.nanos, true)
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        let (s, n) = time_from_json(v, path)?;
        Ok(meta::MicroTime {
            seconds: Some(s),
            nanos: Some(n / 1000 * 1000),
        })
    }
}

/// `fieldsV1` is JSON carried as bytes.
impl Json for meta::FieldsV1 {
    fn to_json(&self) -> Option<Value> {
        self.raw
            .as_deref()
            .and_then(|r| serde_json::from_slice(r).ok())
    }
    fn from_json(v: &Value, _path: &str) -> Result<Self, String> {
        Ok(meta::FieldsV1 {
            raw: Some(v.to_string().into_bytes()),
        })
    }
}

impl Json for IntOrString {
    fn to_json(&self) -> Option<Value> {
        match self.r#type {
            Some(1) => self.str_val.clone().map(Value::String),
            _ => Some(Value::from(self.int_val.unwrap_or(0))),
        }
    }
    fn from_json(v: &Value, path: &str) -> Result<Self, String> {
        match v {
            Value::String(s) => Ok(IntOrString {
                r#type: Some(1),
                int_val: None,
                str_val: Some(s.clone()),
            }),
            _ => Ok(IntOrString {
                r#type: Some(0),
                int_val: Some(i32::from_json(v, path)?),
                str_val: None,
            }),
        }
    }
}

/// A scalar of a Go pointer field: set to its zero value, it is still written out.
trait Scalar: Json {
    fn always(&self) -> Value;
}

impl Scalar for bool {
    fn always(&self) -> Value {
        Value::Bool(*self)
    }
}

impl Scalar for i32 {
    fn always(&self) -> Value {
        Value::from(*self)
    }
}

impl Scalar for i64 {
    fn always(&self) -> Value {
        Value::from(*self)
    }
}

fn keep<T: Scalar>(v: &Option<T>) -> Option<Value> {
    v.as_ref().map(Scalar::always)
}

/// Writes the JSON mapping of a message: `rust_field => "jsonName"` per field, `keep` for Go
/// pointer fields whose zero value is meaningful.
macro_rules! message {
    ($ty:ty { $($field:ident $(($keep:ident))? => $name:literal),* $(,)? }) => {
        impl Json for $ty {
            fn to_json(&self) -> Option<Value> {
                let mut m = Map::new();
                $(
                    if let Some(v) = message!(@to self.$field $(, $keep)?) {
                        m.insert($name.to_string(), v);
                    }
                )*
                Some(Value::Object(m))
            }
            fn from_json(v: &Value, path: &str) -> Result<Self, String> {
                let m = v.as_object().ok_or_else(|| type_error(path, "an object"))?;
                let mut out = <$ty>::default();
                $(
                    if let Some(x) = m.get($name).filter(|x| !x.is_null()) {
                        out.$field = Json::from_json(x, &format!("{path}.{}", $name))?;
                    }
                )*
                Ok(out)
            }
        }
    };
    (@to $e:expr) => { Json::to_json(&$e) };
    (@to $e:expr, keep) => { keep(&$e) };
}

message!(meta::ObjectMeta {
    name => "name", generate_name => "generateName", namespace => "namespace",
    self_link => "selfLink", uid => "uid", resource_version => "resourceVersion",
    generation => "generation", creation_timestamp => "creationTimestamp",
    deletion_timestamp => "deletionTimestamp",
    deletion_grace_period_seconds(keep) => "deletionGracePeriodSeconds",
    labels => "labels", annotations => "annotations", owner_references => "ownerReferences",
    finalizers => "finalizers", managed_fields => "managedFields",
});
message!(meta::ListMeta {
    self_link => "selfLink", resource_version => "resourceVersion", r#continue => "continue",
    remaining_item_count(keep) => "remainingItemCount",
});
message!(meta::OwnerReference {
    api_version => "apiVersion", kind => "kind", name => "name", uid => "uid",
    controller(keep) => "controller", block_owner_deletion(keep) => "blockOwnerDeletion",
});
message!(meta::ManagedFieldsEntry {
    manager => "manager", operation => "operation", api_version => "apiVersion",
    time => "time", fields_type => "fieldsType", fields_v1 => "fieldsV1",
    subresource => "subresource",
});
message!(meta::Condition {
    r#type => "type", status => "status", observed_generation => "observedGeneration",
    last_transition_time => "lastTransitionTime", reason => "reason", message => "message",
});
message!(core::Namespace { metadata => "metadata", spec => "spec", status => "status" });
message!(core::NamespaceSpec { finalizers => "finalizers" });
message!(core::NamespaceStatus { phase => "phase", conditions => "conditions" });
message!(core::NamespaceCondition {
    r#type => "type", status => "status", last_transition_time => "lastTransitionTime",
    reason => "reason", message => "message",
});
message!(core::Secret {
    metadata => "metadata", immutable(keep) => "immutable", data => "data",
    string_data => "stringData", r#type => "type",
});
message!(core::ConfigMap {
    metadata => "metadata", immutable(keep) => "immutable", data => "data",
    binary_data => "binaryData",
});
message!(core::ServiceAccount {
    metadata => "metadata", secrets => "secrets", image_pull_secrets => "imagePullSecrets",
    automount_service_account_token(keep) => "automountServiceAccountToken",
});
message!(core::ObjectReference {
    kind => "kind", namespace => "namespace", name => "name", uid => "uid",
    api_version => "apiVersion", resource_version => "resourceVersion", field_path => "fieldPath",
});
message!(core::LocalObjectReference { name => "name" });
message!(core::Service { metadata => "metadata", spec => "spec", status => "status" });
message!(core::ServiceSpec {
    ports => "ports", selector => "selector", cluster_ip => "clusterIP",
    cluster_ips => "clusterIPs", r#type => "type", external_ips => "externalIPs",
    session_affinity => "sessionAffinity", load_balancer_ip => "loadBalancerIP",
    load_balancer_source_ranges => "loadBalancerSourceRanges", external_name => "externalName",
    external_traffic_policy => "externalTrafficPolicy",
    health_check_node_port => "healthCheckNodePort",
    publish_not_ready_addresses => "publishNotReadyAddresses",
    session_affinity_config => "sessionAffinityConfig", ip_families => "ipFamilies",
    ip_family_policy => "ipFamilyPolicy",
    allocate_load_balancer_node_ports(keep) => "allocateLoadBalancerNodePorts",
    load_balancer_class => "loadBalancerClass",
    internal_traffic_policy => "internalTrafficPolicy",
    traffic_distribution => "trafficDistribution",
});
message!(core::ServicePort {
    name => "name", protocol => "protocol", app_protocol => "appProtocol", port => "port",
    target_port => "targetPort", node_port => "nodePort",
});
message!(core::SessionAffinityConfig { client_ip => "clientIP" });
message!(core::ClientIpConfig { timeout_seconds(keep) => "timeoutSeconds" });
message!(core::ServiceStatus { load_balancer => "loadBalancer", conditions => "conditions" });
message!(core::LoadBalancerStatus { ingress => "ingress" });
message!(core::LoadBalancerIngress {
    ip => "ip", hostname => "hostname", ip_mode => "ipMode", ports => "ports",
});
message!(core::PortStatus { port => "port", protocol => "protocol", error => "error" });
message!(core::Event {
    metadata => "metadata", involved_object => "involvedObject", reason => "reason",
    message => "message", source => "source", first_timestamp => "firstTimestamp",
    last_timestamp => "lastTimestamp", count => "count", r#type => "type",
    event_time => "eventTime", series => "series", action => "action", related => "related",
    reporting_component => "reportingComponent", reporting_instance => "reportingInstance",
});
message!(core::EventSource { component => "component", host => "host" });
message!(core::EventSeries { count => "count", last_observed_time => "lastObservedTime" });
message!(events::Event {
    metadata => "metadata", event_time => "eventTime", series => "series",
    reporting_controller => "reportingController", reporting_instance => "reportingInstance",
    action => "action", reason => "reason", regarding => "regarding", related => "related",
    note => "note", r#type => "type", deprecated_source => "deprecatedSource",
    deprecated_first_timestamp => "deprecatedFirstTimestamp",
    deprecated_last_timestamp => "deprecatedLastTimestamp",
    deprecated_count => "deprecatedCount",
});
message!(events::EventSeries { count => "count", last_observed_time => "lastObservedTime" });
message!(coordination::Lease { metadata => "metadata", spec => "spec" });
message!(coordination::LeaseSpec {
    holder_identity => "holderIdentity", lease_duration_seconds(keep) => "leaseDurationSeconds",
    acquire_time => "acquireTime", renew_time => "renewTime",
    lease_transitions(keep) => "leaseTransitions", strategy => "strategy",
    preferred_holder => "preferredHolder",
});
message!(meta::LabelSelector { match_labels => "matchLabels", match_expressions => "matchExpressions" });
message!(meta::LabelSelectorRequirement { key => "key", operator => "operator", values => "values" });
message!(meta::FieldSelectorRequirement { key => "key", operator => "operator", values => "values" });
message!(rbac::PolicyRule {
    verbs => "verbs", api_groups => "apiGroups", resources => "resources",
    resource_names => "resourceNames", non_resource_ur_ls => "nonResourceURLs",
});
message!(rbac::Subject { kind => "kind", api_group => "apiGroup", name => "name", namespace => "namespace" });
message!(rbac::RoleRef { api_group => "apiGroup", kind => "kind", name => "name" });
message!(rbac::AggregationRule { cluster_role_selectors => "clusterRoleSelectors" });
message!(rbac::Role { metadata => "metadata", rules => "rules" });
message!(rbac::ClusterRole { metadata => "metadata", rules => "rules", aggregation_rule => "aggregationRule" });
message!(rbac::RoleBinding { metadata => "metadata", subjects => "subjects", role_ref => "roleRef" });
message!(rbac::ClusterRoleBinding { metadata => "metadata", subjects => "subjects", role_ref => "roleRef" });
message!(rbac::RoleList { metadata => "metadata", items => "items" });
message!(rbac::ClusterRoleList { metadata => "metadata", items => "items" });
message!(rbac::RoleBindingList { metadata => "metadata", items => "items" });
message!(rbac::ClusterRoleBindingList { metadata => "metadata", items => "items" });
message!(authorization::ResourceAttributes {
    namespace => "namespace", verb => "verb", group => "group", version => "version",
    resource => "resource", subresource => "subresource", name => "name",
    field_selector => "fieldSelector", label_selector => "labelSelector",
});
message!(authorization::FieldSelectorAttributes { raw_selector => "rawSelector", requirements => "requirements" });
message!(authorization::LabelSelectorAttributes { raw_selector => "rawSelector", requirements => "requirements" });
message!(authorization::NonResourceAttributes { path => "path", verb => "verb" });
message!(authorization::SelfSubjectAccessReviewSpec {
    resource_attributes => "resourceAttributes", non_resource_attributes => "nonResourceAttributes",
});
message!(authorization::SubjectAccessReviewSpec {
    resource_attributes => "resourceAttributes", non_resource_attributes => "nonResourceAttributes",
    user => "user", groups => "groups", extra => "extra", uid => "uid",
});
message!(authorization::SubjectAccessReviewStatus {
    allowed(keep) => "allowed", denied => "denied", reason => "reason",
    evaluation_error => "evaluationError",
});
message!(authorization::SelfSubjectRulesReviewSpec { namespace => "namespace" });
message!(authorization::ResourceRule {
    verbs => "verbs", api_groups => "apiGroups", resources => "resources",
    resource_names => "resourceNames",
});
message!(authorization::NonResourceRule { verbs => "verbs", non_resource_ur_ls => "nonResourceURLs" });
message!(authorization::SubjectRulesReviewStatus {
    resource_rules => "resourceRules", non_resource_rules => "nonResourceRules",
    incomplete(keep) => "incomplete", evaluation_error => "evaluationError",
});
message!(authorization::SelfSubjectAccessReview { metadata => "metadata", spec => "spec", status => "status" });
message!(authorization::SubjectAccessReview { metadata => "metadata", spec => "spec", status => "status" });
message!(authorization::LocalSubjectAccessReview { metadata => "metadata", spec => "spec", status => "status" });
message!(authorization::SelfSubjectRulesReview { metadata => "metadata", spec => "spec", status => "status" });
message!(authentication::UserInfo { username => "username", uid => "uid", groups => "groups", extra => "extra" });
message!(authentication::SelfSubjectReviewStatus { user_info => "userInfo" });
message!(authentication::SelfSubjectReview { metadata => "metadata", status => "status" });
message!(core::SecretList { metadata => "metadata", items => "items" });
message!(core::ConfigMapList { metadata => "metadata", items => "items" });
message!(core::NamespaceList { metadata => "metadata", items => "items" });
message!(core::ServiceList { metadata => "metadata", items => "items" });
message!(core::ServiceAccountList { metadata => "metadata", items => "items" });
message!(core::EventList { metadata => "metadata", items => "items" });
message!(events::EventList { metadata => "metadata", items => "items" });
message!(coordination::LeaseList { metadata => "metadata", items => "items" });

/// Decodes the raw message of `kind` in `group` into JSON.
fn raw_to_json<T: Message + Default + Json>(raw: &[u8]) -> Result<Value, String> {
    let m = T::decode(raw).map_err(|e| format!("cannot decode the protobuf body: {e}"))?;
    m.to_json().ok_or_else(|| "empty object".to_string())
}

fn json_to_raw<T: Message + Json>(v: &Value) -> Result<Vec<u8>, String> {
    Ok(T::from_json(v, "")?.encode_to_vec())
}

/// Applies `$f::<MessageType>` for a `(group, kind)` the codec knows.
macro_rules! by_kind {
    ($group:expr, $kind:expr, $f:ident, $arg:expr) => {
        match ($group, $kind) {
            ("", "Namespace") => Some($f::<core::Namespace>($arg)),
            ("", "NamespaceList") => Some($f::<core::NamespaceList>($arg)),
            ("", "Secret") => Some($f::<core::Secret>($arg)),
            ("", "SecretList") => Some($f::<core::SecretList>($arg)),
            ("", "ConfigMap") => Some($f::<core::ConfigMap>($arg)),
            ("", "ConfigMapList") => Some($f::<core::ConfigMapList>($arg)),
            ("", "Service") => Some($f::<core::Service>($arg)),
            ("", "ServiceList") => Some($f::<core::ServiceList>($arg)),
            ("", "ServiceAccount") => Some($f::<core::ServiceAccount>($arg)),
            ("", "ServiceAccountList") => Some($f::<core::ServiceAccountList>($arg)),
            ("", "Event") => Some($f::<core::Event>($arg)),
            ("", "EventList") => Some($f::<core::EventList>($arg)),
            ("events.k8s.io", "Event") => Some($f::<events::Event>($arg)),
            ("events.k8s.io", "EventList") => Some($f::<events::EventList>($arg)),
            ("coordination.k8s.io", "Lease") => Some($f::<coordination::Lease>($arg)),
            ("coordination.k8s.io", "LeaseList") => Some($f::<coordination::LeaseList>($arg)),
            ("rbac.authorization.k8s.io", "Role") => Some($f::<rbac::Role>($arg)),
            ("rbac.authorization.k8s.io", "RoleList") => Some($f::<rbac::RoleList>($arg)),
            ("rbac.authorization.k8s.io", "ClusterRole") => Some($f::<rbac::ClusterRole>($arg)),
            ("rbac.authorization.k8s.io", "ClusterRoleList") => {
                Some($f::<rbac::ClusterRoleList>($arg))
            }
            ("rbac.authorization.k8s.io", "RoleBinding") => Some($f::<rbac::RoleBinding>($arg)),
            ("rbac.authorization.k8s.io", "RoleBindingList") => {
                Some($f::<rbac::RoleBindingList>($arg))
            }
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
                Some($f::<rbac::ClusterRoleBinding>($arg))
            }
            ("rbac.authorization.k8s.io", "ClusterRoleBindingList") => {
                Some($f::<rbac::ClusterRoleBindingList>($arg))
            }
            ("authorization.k8s.io", "SelfSubjectAccessReview") => {
                Some($f::<authorization::SelfSubjectAccessReview>($arg))
            }
            ("authorization.k8s.io", "SelfSubjectRulesReview") => {
                Some($f::<authorization::SelfSubjectRulesReview>($arg))
            }
            ("authorization.k8s.io", "SubjectAccessReview") => {
                Some($f::<authorization::SubjectAccessReview>($arg))
            }
            ("authorization.k8s.io", "LocalSubjectAccessReview") => {
                Some($f::<authorization::LocalSubjectAccessReview>($arg))
            }
            ("authentication.k8s.io", "SelfSubjectReview") => {
                Some($f::<authentication::SelfSubjectReview>($arg))
            }
            _ => None,
        }
    };
}

/// Whether `(group, kind)` (an object or list kind) has a protobuf form here.
pub fn supports(group: &str, kind: &str) -> bool {
    fn known<T>(_: ()) {}
    by_kind!(group, kind, known, ()).is_some()
}

/// Decodes a protobuf request body of `kind` in `group` into its JSON form (with `apiVersion`
/// and `kind` from the envelope).
pub fn decode(group: &str, kind: &str, body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the protobuf magic number")?;
    let unknown = Unknown::decode(rest).map_err(|e| format!("cannot decode the envelope: {e}"))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let body_kind = tm.kind.unwrap_or_default();
    if !body_kind.is_empty() && body_kind != kind {
        return Err(format!(
            "the kind in the data ({body_kind}) does not match the expected kind ({kind})"
        ));
    }
    let raw = unknown.raw.unwrap_or_default();
    let mut v = by_kind!(group, kind, raw_to_json, &raw)
        .ok_or_else(|| format!("no protobuf form for {kind}"))??;
    if let Some(m) = v.as_object_mut() {
        if let Some(av) = tm.api_version.filter(|a| !a.is_empty()) {
            m.insert("apiVersion".into(), Value::String(av));
        }
        m.insert("kind".into(), Value::String(kind.to_string()));
    }
    Ok(v)
}

/// Encodes a JSON object (or list) of `kind` as a protobuf response body.
pub fn encode(api_version: &str, kind: &str, group: &str, v: &Value) -> Result<Vec<u8>, String> {
    let raw = by_kind!(group, kind, json_to_raw, v)
        .ok_or_else(|| format!("no protobuf form for {kind}"))??;
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_string()),
            kind: Some(kind.to_string()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    unknown
        .encode(&mut out)
        .map_err(|e| format!("cannot encode: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What `kubectl create namespace foo` sent (captured from kubectl 1.33).
    const KUBECTL_NAMESPACE: &[u8] = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x1b\x0a\x13\x0a\x03foo\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x008\x00B\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";

    #[test]
    fn decodes_what_kubectl_sends() {
        let v = decode("", "Namespace", KUBECTL_NAMESPACE).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}, "spec": {}, "status": {}})
        );
        assert!(decode("", "Secret", KUBECTL_NAMESPACE).is_err());
        assert!(decode("", "Namespace", b"k8s").is_err());
        assert!(decode("", "Namespace", b"{}").is_err());
    }

    #[test]
    fn round_trips_through_the_generated_types() {
        let secret = json!({
            "metadata": {
                "name": "s", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "creationTimestamp": "2024-01-02T03:04:05Z", "labels": {"a": "b"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "x", "controller": false}],
                "managedFields": [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}],
            },
            "data": {"k": "aHVudGVyMg=="}, "type": "Opaque", "immutable": false,
        });
        let bytes = encode("v1", "Secret", "", &secret).unwrap();
        let back = decode("", "Secret", &bytes).unwrap();
        let mut expected = secret.clone();
        expected["apiVersion"] = json!("v1");
        expected["kind"] = json!("Secret");
        assert_eq!(back, expected);

        let event = json!({
            "metadata": {"name": "e.1"},
            "eventTime": "2024-01-02T03:04:05.123456Z",
            "regarding": {"kind": "SealedSecret", "name": "x", "apiVersion": "bitnami.com/v1alpha1"},
            "reason": "Unsealed", "note": "ok", "type": "Normal", "action": "Unseal",
            "reportingController": "sealant", "reportingInstance": "sealant-0",
            "series": {"count": 2, "lastObservedTime": "2024-01-02T03:04:06.000001Z"},
        });
        let bytes = encode("events.k8s.io/v1", "Event", "events.k8s.io", &event).unwrap();
        let back = decode("events.k8s.io", "Event", &bytes).unwrap();
        assert_eq!(back["eventTime"], event["eventTime"]);
        assert_eq!(back["series"], event["series"]);
        assert_eq!(back["regarding"], event["regarding"]);

        let svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}], "selector": {"app": "a"}, "type": "ClusterIP"}});
        let back = decode("", "Service", &encode("v1", "Service", "", &svc).unwrap()).unwrap();
        assert_eq!(back["spec"], svc["spec"]);

        let list = json!({"metadata": {"resourceVersion": "9", "continue": "c"}, "items": [{"metadata": {"name": "a"}, "data": {"x": "y"}}]});
        let back = decode(
            "",
            "ConfigMapList",
            &encode("v1", "ConfigMapList", "", &list).unwrap(),
        )
        .unwrap();
        assert_eq!(back["items"], list["items"]);
        assert_eq!(back["metadata"], list["metadata"]);
    }

    /// What `kubectl auth can-i get secrets -n kube-system` sent (kubectl 1.33).
    const KUBECTL_SSAR: &[u8] = b"k8s\x00\x0a\x32\x0a\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12\x43\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x008\x00B\x00\x12\x25\x0a\x23\x0a\x0bkube-system\x12\x03get\x1a\x00\x22\x00\x2a\x07secrets2\x00\x3a\x00\x1a\x08\x08\x00\x12\x00\x1a\x00\x20\x00\x1a\x00\x22\x00";

    #[test]
    fn decodes_kubectl_reviews_and_rbac_lists_of_empty_strings() {
        let v = decode(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            KUBECTL_SSAR,
        )
        .unwrap();
        assert_eq!(
            v["spec"],
            json!({"resourceAttributes": {"namespace": "kube-system", "verb": "get", "resource": "secrets"}})
        );
        // The core group is "" and must stay "" inside a list (not null).
        let role = json!({
            "metadata": {"name": "system:r"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["a", ""]}],
        });
        let back = decode(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            &encode(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "rbac.authorization.k8s.io",
                &role,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back["rules"], role["rules"]);
        let review = json!({
            "spec": {"user": "u", "groups": ["g"], "extra": {"scopes": ["a", "b"]}},
            "status": {"allowed": false, "reason": "r"},
        });
        let back = decode(
            "authorization.k8s.io",
            "SubjectAccessReview",
            &encode(
                "authorization.k8s.io/v1",
                "SubjectAccessReview",
                "authorization.k8s.io",
                &review,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back["spec"], review["spec"]);
        assert_eq!(back["status"], review["status"]);
    }

    #[test]
    fn bad_json_is_refused_by_field() {
        let e = encode("v1", "Secret", "", &json!({"data": {"k": "!!"}})).unwrap_err();
        assert!(e.contains(".data.k"), "{e}");
        let e = encode(
            "v1",
            "Secret",
            "",
            &json!({"metadata": {"labels": {"a": 1}}}),
        )
        .unwrap_err();
        assert!(e.contains(".metadata.labels.a"), "{e}");
        assert!(encode("v1", "Pod", "", &json!({})).is_err());
        assert!(supports("", "SecretList") && !supports("", "Pod"));
    }
}
