//! Kubernetes Events (`events.k8s.io/v1`) about SealedSecrets and key Secrets.
//!
//! kube-runtime's `Recorder` keeps every event it published for six minutes, to turn repeats
//! into a series, and scans that whole cache on every publish: with thousands of SealedSecrets
//! a cold start holds one cached event per object (megabytes) and each publish costs time linear
//! in the object count. sealant never repeats an event in a loop (it publishes `Unsealed` only
//! after a write and warnings only when the status changes), so this recorder keeps nothing:
//! one create per event.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::ObjectMeta;
pub use kube::runtime::events::{Event, EventType, Reporter};

/// Publishes events as `reporter`.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    reporter: Reporter,
}

impl Recorder {
    /// A recorder; events about cluster-scoped objects go to the `default` namespace.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder { client, reporter }
    }

    /// The event object for `ev` about `regarding`, at `now`.
    pub fn event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let base = regarding
            .name
            .as_deref()
            .unwrap_or(&self.reporter.controller);
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: Some(namespace_of(regarding).to_owned()),
                name: Some(format!("{base}.{:x}", now.as_nanosecond())),
                ..Default::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            ..Default::default()
        }
    }

    /// Creates the event.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let event = self.event(ev, regarding, Timestamp::now());
        crate::lean_writes::create(&self.client, namespace_of(regarding), &event)
            .await
            .map(|_| ())
    }
}

fn namespace_of(regarding: &ObjectReference) -> &str {
    regarding
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(instance: Option<&str>) -> Recorder {
        // A client is needed only to publish; `event` never touches it.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap_or_default());
        let client = Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"));
        Recorder::new(
            client,
            Reporter {
                controller: "sealant-controller".to_owned(),
                instance: instance.map(str::to_owned),
            },
        )
    }

    fn regarding(ns: Option<&str>) -> ObjectReference {
        ObjectReference {
            api_version: Some("bitnami.com/v1alpha1".to_owned()),
            kind: Some("SealedSecret".to_owned()),
            name: Some("db".to_owned()),
            namespace: ns.map(str::to_owned),
            uid: Some("u-1".to_owned()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn event_fields() {
        let ev = Event {
            type_: EventType::Warning,
            reason: "ErrUnsealFailed".to_owned(),
            note: Some("no key could decrypt it".to_owned()),
            action: "Unseal".to_owned(),
            secondary: None,
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap_or_default();
        let e = recorder(Some("pod-a")).event(&ev, &regarding(Some("app")), now);
        assert_eq!(e.metadata.namespace.as_deref(), Some("app"));
        assert_eq!(
            e.metadata.name.as_deref(),
            Some(format!("db.{:x}", now.as_nanosecond()).as_str())
        );
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.reason.as_deref(), Some("ErrUnsealFailed"));
        assert_eq!(e.action.as_deref(), Some("Unseal"));
        assert_eq!(e.note.as_deref(), Some("no key could decrypt it"));
        assert_eq!(
            e.reporting_controller.as_deref(),
            Some("sealant-controller")
        );
        assert_eq!(e.reporting_instance.as_deref(), Some("pod-a"));
        assert_eq!(e.regarding, Some(regarding(Some("app"))));
        assert_eq!(e.event_time, Some(MicroTime(now)));
        assert!(e.series.is_none());

        let normal = Event {
            type_: EventType::Normal,
            ..ev
        };
        let e = recorder(None).event(&normal, &regarding(None), now);
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(e.reporting_instance.as_deref(), Some("sealant-controller"));
    }
}
