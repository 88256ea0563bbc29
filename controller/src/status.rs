//! The status contract, without I/O: conditions `Ready` and `Synced` (same status), `Reconciling`
//! while retrying, `Stalled` on errors a retry cannot fix, `KeyCompromised` while the values
//! were opened with a key labelled `compromised`, `observedGeneration` on every outcome.
//!
//! `lastTransitionTime` changes only when a condition's status flips; the status is written only
//! when it differs from the stored one ignoring timestamps ([`needs_write`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sealant_api::{Condition, SealedSecretStatus};

/// How a reconcile ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The Secret matches this generation.
    Ready,
    /// A transient failure; the reconcile is retried with backoff.
    Retrying {
        /// CamelCase reason.
        reason: String,
        /// What went wrong (never a secret value).
        message: String,
    },
    /// A failure a retry cannot fix; waits for the object (or the keys) to change.
    Stalled {
        /// CamelCase reason.
        reason: String,
        /// What went wrong and what to do (never a secret value).
        message: String,
    },
}

/// Condition types written by the controller.
pub const READY: &str = "Ready";
/// Mirror of `Ready` for Argo CD and upstream-era Flux expressions.
pub const SYNCED: &str = "Synced";
/// True while a failure is being retried.
pub const RECONCILING: &str = "Reconciling";
/// True on a failure a retry cannot fix.
pub const STALLED: &str = "Stalled";

/// True while the values were unsealed with a key labelled `compromised`.
pub const KEY_COMPROMISED: &str = "KeyCompromised";

/// Reason of `Ready`/`Synced` on success.
pub const REASON_UNSEALED: &str = "Unsealed";

/// Reason of `Ready`/`Synced` on success with a compromised key, and of `KeyCompromised`.
pub const REASON_COMPROMISED: &str = "UnsealedWithCompromisedKey";

/// What to tell the owner of a SealedSecret opened with the compromised keys `ids`.
pub fn compromised_message(ids: &[String]) -> String {
    format!(
        "unsealed with compromised key {}: whoever holds that key can read these values; change \
         the secret values and seal them again with the current key",
        ids.join(", ")
    )
}

/// The status the object should have after `outcome`.
/// `compromised`: ids of the keys labelled `compromised` that opened the values (empty: none).
pub fn desired(
    old: Option<&SealedSecretStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    compromised: &[String],
    now: &Time,
) -> SealedSecretStatus {
    let previous = |t: &str| {
        old.and_then(|s| s.conditions.iter().find(|c| c.type_ == t))
            .cloned()
    };
    let cond = |t: &str, status: &str, reason: &str, message: Option<String>| {
        let transition = previous(t)
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time)
            .unwrap_or_else(|| now.clone());
        Condition {
            type_: t.to_owned(),
            status: status.to_owned(),
            reason: Some(reason.to_owned()),
            message,
            last_update_time: Some(now.clone()),
            last_transition_time: Some(transition),
            observed_generation: generation,
        }
    };
    let mut conditions = Vec::new();
    match outcome {
        Outcome::Ready if compromised.is_empty() => {
            conditions.push(cond(
                READY,
                "True",
                REASON_UNSEALED,
                Some("the Secret is up to date".to_owned()),
            ));
            conditions.push(cond(SYNCED, "True", REASON_UNSEALED, None));
        }
        Outcome::Ready => {
            // Still Ready (the application keeps working), with the warning where
            // `kubectl get sealedsecrets` shows it (the Synced message).
            let message = format!(
                "the Secret is up to date, but {}",
                compromised_message(compromised)
            );
            conditions.push(cond(
                READY,
                "True",
                REASON_COMPROMISED,
                Some(message.clone()),
            ));
            conditions.push(cond(SYNCED, "True", REASON_COMPROMISED, Some(message)));
        }
        Outcome::Retrying { reason, message } => {
            conditions.push(cond(READY, "False", reason, Some(message.clone())));
            conditions.push(cond(SYNCED, "False", reason, Some(message.clone())));
            conditions.push(cond(
                RECONCILING,
                "True",
                "ProgressingWithRetry",
                Some(format!("retrying: {message}")),
            ));
        }
        Outcome::Stalled { reason, message } => {
            conditions.push(cond(READY, "False", reason, Some(message.clone())));
            conditions.push(cond(SYNCED, "False", reason, Some(message.clone())));
            conditions.push(cond(STALLED, "True", reason, Some(message.clone())));
        }
    }
    if !compromised.is_empty() {
        conditions.push(cond(
            KEY_COMPROMISED,
            "True",
            REASON_COMPROMISED,
            Some(compromised_message(compromised)),
        ));
    }
    SealedSecretStatus {
        conditions,
        observed_generation: generation,
    }
}

/// Whether `new` differs from the stored `old` in anything but timestamps.
///
/// A condition's `observedGeneration` counts only where the stored condition has one: upstream's
/// CRD has no such field, so while it is installed the API server prunes it from every write and
/// comparing it would rewrite the status on every pass. `status.observedGeneration`, which every
/// schema keeps, still makes each new generation a write.
pub fn needs_write(old: Option<&SealedSecretStatus>, new: &SealedSecretStatus) -> bool {
    let Some(old) = old else {
        return true;
    };
    let strip = |s: &SealedSecretStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_update_time = None;
            c.last_transition_time = None;
        }
        s
    };
    let mut new = strip(new);
    for c in &mut new.conditions {
        let pruned = old
            .conditions
            .iter()
            .find(|o| o.type_ == c.type_)
            .is_some_and(|o| o.observed_generation.is_none());
        if pruned {
            c.observed_generation = None;
        }
    }
    strip(old) != new
}

/// Gauge value of a condition status: 1 True, −1 False, 0 otherwise.
pub fn gauge_value(status: &str) -> i64 {
    match status {
        "True" => 1,
        "False" => -1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn ready_then_unchanged_then_failure_flips() {
        let s1 = desired(None, Some(1), &Outcome::Ready, &[], &t(10));
        assert_eq!(s1.conditions.len(), 2);
        assert!(needs_write(None, &s1));
        let s2 = desired(Some(&s1), Some(1), &Outcome::Ready, &[], &t(20));
        assert!(
            !needs_write(Some(&s1), &s2),
            "timestamps alone do not cause a write"
        );
        assert_eq!(s2.conditions[0].last_transition_time, Some(t(10)));

        let stalled = Outcome::Stalled {
            reason: "NoKeyMatches".into(),
            message: "m".into(),
        };
        let s3 = desired(Some(&s2), Some(2), &stalled, &[], &t(30));
        assert!(needs_write(Some(&s2), &s3));
        assert_eq!(s3.conditions[0].status, "False");
        assert_eq!(s3.conditions[0].last_transition_time, Some(t(30)));
        assert!(
            s3.conditions
                .iter()
                .any(|c| c.type_ == STALLED && c.status == "True")
        );
        assert_eq!(s3.observed_generation, Some(2));

        let s4 = desired(Some(&s3), Some(3), &Outcome::Ready, &[], &t(40));
        assert!(
            s4.conditions.iter().all(|c| c.type_ != STALLED),
            "a fixed failure clears"
        );
    }

    /// What the API server stores under upstream's CRD: conditions without observedGeneration.
    fn pruned(s: &SealedSecretStatus) -> SealedSecretStatus {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.observed_generation = None;
        }
        s
    }

    #[test]
    fn converges_when_the_server_prunes_condition_generations() {
        let stored = pruned(&desired(None, Some(1), &Outcome::Ready, &[], &t(10)));
        let again = desired(Some(&stored), Some(1), &Outcome::Ready, &[], &t(20));
        assert!(
            !needs_write(Some(&stored), &again),
            "a pruned field must not cause a write on every pass"
        );
        // A new generation is still a write (status.observedGeneration is kept by every schema)...
        let next = desired(Some(&stored), Some(2), &Outcome::Ready, &[], &t(30));
        assert!(needs_write(Some(&stored), &next));
        // ...and so is any real change.
        let stalled = Outcome::Stalled {
            reason: "NoKeyMatches".into(),
            message: "m".into(),
        };
        let failed = desired(Some(&stored), Some(1), &stalled, &[], &t(40));
        assert!(needs_write(Some(&stored), &failed));
        // Where the server keeps it, a condition's generation is compared as before.
        let kept = desired(None, Some(1), &Outcome::Ready, &[], &t(10));
        let mut stale = kept.clone();
        stale.conditions[0].observed_generation = Some(0);
        assert!(needs_write(Some(&stale), &kept));
    }

    #[test]
    fn a_compromised_key_keeps_ready_and_adds_the_warning() {
        let ids = vec!["abc123".to_owned()];
        let s = desired(None, Some(1), &Outcome::Ready, &ids, &t(1));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some(REASON_COMPROMISED));
        let synced = s.conditions.iter().find(|c| c.type_ == SYNCED).unwrap();
        assert!(synced.message.as_deref().unwrap().contains("abc123"));
        let flag = s
            .conditions
            .iter()
            .find(|c| c.type_ == KEY_COMPROMISED)
            .unwrap();
        assert_eq!(flag.status, "True");
        // Re-sealed: the warning goes, and that is a status change.
        let clean = desired(Some(&s), Some(2), &Outcome::Ready, &[], &t(2));
        assert!(clean.conditions.iter().all(|c| c.type_ != KEY_COMPROMISED));
        assert!(needs_write(Some(&s), &clean));
    }

    #[test]
    fn retrying_sets_reconciling() {
        let o = Outcome::Retrying {
            reason: "UpdateFailed".into(),
            message: "m".into(),
        };
        let s = desired(None, Some(1), &o, &[], &t(1));
        assert!(
            s.conditions
                .iter()
                .any(|c| c.type_ == RECONCILING && c.status == "True")
        );
        assert!(s.conditions.iter().all(|c| c.type_ != STALLED));
    }
}
