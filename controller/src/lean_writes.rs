//! Writes whose answer the controller needs only the metadata of.
//!
//! `kube::Api` parses the whole object the API server echoes back after every write. For the
//! three writes of a cold start (Secret create, status update, event) that echo is the Secret's
//! data, the SealedSecret's ciphertext or the event, none of which the controller reads; parsing
//! them into typed objects cost more CPU than building the request. These helpers send the same
//! requests (same verbs, paths and bodies as far as the API server is concerned) and parse only
//! `metadata`, skipping the rest of the response without building it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::core::Request;
use kube::{Client, Resource};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct MetadataOnly {
    #[serde(default)]
    metadata: ObjectMeta,
}

fn request<K: Resource<DynamicType = ()>>(namespace: &str) -> Request {
    Request::new(K::url_path(&(), Some(namespace)))
}

async fn send(
    client: &Client,
    req: axum::http::Request<Vec<u8>>,
) -> Result<ObjectMeta, kube::Error> {
    Ok(client.request::<MetadataOnly>(req).await?.metadata)
}

fn body<T: Serialize>(obj: &T) -> Result<Vec<u8>, kube::Error> {
    serde_json::to_vec(obj).map_err(kube::Error::SerdeError)
}

/// `POST`s `obj` into `namespace`; the created object's metadata.
pub async fn create<K>(client: &Client, namespace: &str, obj: &K) -> Result<ObjectMeta, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let req = request::<K>(namespace)
        .create(&PostParams::default(), body(obj)?)
        .map_err(kube::Error::BuildRequest)?;
    send(client, req).await
}

/// `PUT`s `obj` over `name`; the stored object's metadata.
pub async fn replace<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    obj: &K,
) -> Result<ObjectMeta, kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let req = request::<K>(namespace)
        .replace(name, &PostParams::default(), body(obj)?)
        .map_err(kube::Error::BuildRequest)?;
    send(client, req).await
}

/// `PUT`s `status` to the status subresource of `name`, conditional on `resource_version`.
///
/// The body carries only type, identity, version and status: the status subresource takes
/// nothing else from it (the API server keeps the stored spec and metadata), so sending the
/// whole object, ciphertext included, only cost serialising and parsing it.
pub async fn replace_status<K, S>(
    client: &Client,
    namespace: &str,
    name: &str,
    resource_version: Option<&str>,
    status: &S,
) -> Result<ObjectMeta, kube::Error>
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    let obj = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": resource_version,
        },
        "status": status,
    });
    let req = request::<K>(namespace)
        .replace_subresource("status", name, &PostParams::default(), body(&obj)?)
        .map_err(kube::Error::BuildRequest)?;
    send(client, req).await
}
