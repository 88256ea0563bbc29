//! The `SealedSecret` custom resource type (`bitnami.com/v1alpha1`) and its CRD.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lenient;

/// API group of the resource.
pub const GROUP: &str = "bitnami.com";
/// API version of the resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of the resource.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// Kind of the resource.
pub const KIND: &str = "SealedSecret";

/// What a SealedSecret holds: the encrypted values and a template for the Secret to create.
///
/// The generated [`SealedSecret`] type wraps it with `metadata` and `status`. Printer columns:
/// `Status` and `Synced` come from the `Synced` condition (upstream reads `conditions[0]`, which
/// is `Synced` there too; sealant also writes `Ready`, `Reconciling` and `Stalled`, so the
/// columns select the condition by type), and `Age`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "bitnami.com",
    version = "v1alpha1",
    kind = "SealedSecret",
    plural = "sealedsecrets",
    singular = "sealedsecret",
    namespaced,
    status = "SealedSecretStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "SealedSecret is the K8s representation of a \"sealed Secret\" - a regular k8s Secret that has been sealed (encrypted) using the controller's key.",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Synced\")].message"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Synced\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = lenient::require_encrypted_data)]
pub struct SealedSecretSpec {
    /// Template for the Secret: metadata, type, immutability and Go-template `data`.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub template: SecretTemplateSpec,
    /// The sealed values: item name to standard base64 of the hybrid-encrypted value.
    ///
    /// Reading is lenient like upstream: entries whose value is not a string are dropped.
    #[serde(default, deserialize_with = "lenient::string_map_dropping_others")]
    #[schemars(schema_with = "lenient::encrypted_data_schema")]
    pub encrypted_data: BTreeMap<String, String>,
    /// Legacy v1 format: one hybrid-encrypted JSON `Secret`, standard base64. Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "lenient::byte_string_schema")]
    pub data: Option<String>,
}

/// Template for the Secret the controller creates (upstream's `SecretTemplateSpec`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplateSpec {
    /// Metadata copied to the Secret (name and namespace are forced to the SealedSecret's).
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    #[schemars(schema_with = "lenient::template_metadata_schema")]
    pub metadata: ObjectMeta,
    /// The Secret's `type`, e.g. `Opaque` or `kubernetes.io/tls`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Whether the Secret is immutable (set on create only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Go `text/template` sources rendered over the unsealed values (not yet supported by
    /// sealant's unseal: such objects fail with a clear error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "lenient::nullable_string_map_schema")]
    pub data: Option<BTreeMap<String, String>>,
}

/// Status of a SealedSecret as written by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// Conditions: upstream writes only `Synced`; sealant adds `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One status condition: `metav1.Condition`-like, plus upstream's `lastUpdateTime`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Synced` or `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason in CamelCase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Last time the condition was written (upstream field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// Last time `status` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// The `metadata.generation` this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The CustomResourceDefinition `sealedsecrets.bitnami.com`, generated from the Rust type.
pub fn crd() -> CustomResourceDefinition {
    SealedSecret::crd()
}

/// [`crd`] as YAML (`---`-prefixed, keys sorted), for the Helm chart and drift checks.
pub fn crd_yaml() -> String {
    let value = serde_json::to_value(crd()).unwrap_or_default();
    crate::output::value_to_yaml(&value).unwrap_or_default()
}
