//! Annotation and label names shared with upstream, and reading scope and key ids from them.

use std::collections::BTreeMap;

use sealant_crypto::{KeyId, Scope};

/// `"true"` makes a SealedSecret (top-level metadata) or input Secret cluster-wide.
pub const ANNOTATION_CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// `"true"` makes a SealedSecret (top-level metadata) or input Secret namespace-wide.
pub const ANNOTATION_NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// `"true"` on an existing Secret lets the controller take it over.
pub const ANNOTATION_MANAGED: &str = "sealedsecrets.bitnami.com/managed";
/// `"true"` on an existing Secret makes the controller merge into it instead of replacing it.
pub const ANNOTATION_PATCH: &str = "sealedsecrets.bitnami.com/patch";
/// `"true"` in `spec.template.metadata.annotations`: no ownerReference on the produced Secret.
pub const ANNOTATION_SKIP_SET_OWNER_REFERENCES: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";
/// Label on key Secrets; value `active` means the key is loaded.
pub const LABEL_SEALED_SECRETS_KEY: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// kubectl's last-applied annotation, stripped from templates when sealing (it holds the secret).
pub const ANNOTATION_KUBECTL_LAST_APPLIED: &str =
    "kubectl.kubernetes.io/last-applied-configuration";
/// kubecfg's last-applied annotation, stripped from templates when sealing.
pub const ANNOTATION_KUBECFG_LAST_APPLIED: &str = "kubecfg.ksonnet.io/last-applied-configuration";
/// sealant's own annotation on a SealedSecret's top-level metadata: the comma-separated,
/// de-duplicated ids of the keys its values were sealed with, newest first (usually one).
///
/// It is only a hint to save private-key operations: values are still authenticated by
/// decryption, and a wrong or missing list only costs time.
pub const ANNOTATION_KEY_IDS: &str = "sealant.dev/key-ids";

/// At most this many entries of [`ANNOTATION_KEY_IDS`] are read or written.
pub const MAX_KEY_ID_HINTS: usize = 8;

/// sealant's annotation on a SealedSecret's top-level metadata: a short, non-secret fingerprint
/// of the scope and the OAEP label (namespace/name) its values were sealed for, written by
/// [`sealed_for`]. Offline checks compare it with the object's current name, namespace and
/// scope annotations (see [`check_sealed_for`]) to catch objects renamed, moved or re-scoped
/// after sealing, without any private key.
///
/// Like [`ANNOTATION_KEY_IDS`] it is only a hint: it does not authenticate anything (anyone can
/// edit it), and the controller ignores it.
pub const ANNOTATION_SEALED_FOR: &str = "sealant.dev/sealed-for";

/// Prefix (format version) of [`ANNOTATION_SEALED_FOR`] values.
const SEALED_FOR_PREFIX: &str = "v1:";

/// The [`ANNOTATION_SEALED_FOR`] value for values sealed under `scope` for `namespace`/`name`:
/// `v1:` and the first 8 bytes of SHA-256 over
/// `"sealant.dev/sealed-for\0" || scope || "\0" || label`, in lower-case hex.
///
/// The label is what the scope makes of the names (`namespace/name`, `namespace`, or empty),
/// so names a scope ignores do not change the fingerprint.
pub fn sealed_for(scope: Scope, namespace: &str, name: &str) -> String {
    let mut input = Vec::with_capacity(64);
    input.extend_from_slice(ANNOTATION_SEALED_FOR.as_bytes());
    input.push(0);
    input.extend_from_slice(scope.as_str().as_bytes());
    input.push(0);
    input.extend_from_slice(&scope.label(namespace, name));
    let hash = sealant_crypto::sha256(&input);
    let mut out = String::from(SEALED_FOR_PREFIX);
    for b in &hash[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What [`check_sealed_for`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedForCheck {
    /// No (readable) [`ANNOTATION_SEALED_FOR`]: sealed by upstream, raw-sealed by hand, or
    /// merged into an object that had none; nothing can be said offline.
    NotRecorded,
    /// The fingerprint matches the current scope, namespace and name.
    Matches,
    /// The fingerprint matches the current namespace and name under another scope: the scope
    /// annotations were changed after sealing.
    ScopeChanged {
        /// The scope the values were sealed for.
        sealed_as: Scope,
        /// The scope the annotations declare now.
        declared: Scope,
    },
    /// No scope matches: the object was renamed or moved to another namespace after sealing
    /// (or the annotation was edited).
    Moved,
}

/// Compares [`ANNOTATION_SEALED_FOR`] in `annotations` (top-level metadata) with the object's
/// current `namespace`, `name` and scope annotations.
pub fn check_sealed_for(
    annotations: &BTreeMap<String, String>,
    namespace: &str,
    name: &str,
) -> SealedForCheck {
    let Some(recorded) = annotations
        .get(ANNOTATION_SEALED_FOR)
        .map(|v| v.trim())
        .filter(|v| v.len() == SEALED_FOR_PREFIX.len() + 16 && v.starts_with(SEALED_FOR_PREFIX))
    else {
        return SealedForCheck::NotRecorded;
    };
    let declared = scope_from_annotations(annotations);
    if sealed_for(declared, namespace, name) == recorded {
        return SealedForCheck::Matches;
    }
    match Scope::ALL
        .into_iter()
        .find(|s| *s != declared && sealed_for(*s, namespace, name) == recorded)
    {
        Some(sealed_as) => SealedForCheck::ScopeChanged {
            sealed_as,
            declared,
        },
        None => SealedForCheck::Moved,
    }
}

/// The scope declared by annotations, as upstream: `cluster-wide: "true"` first, then
/// `namespace-wide: "true"` (exact string match), else strict.
pub fn scope_from_annotations(annotations: &BTreeMap<String, String>) -> Scope {
    let is_true = |key: &str| annotations.get(key).is_some_and(|v| v == "true");
    if is_true(ANNOTATION_CLUSTER_WIDE) {
        Scope::ClusterWide
    } else if is_true(ANNOTATION_NAMESPACE_WIDE) {
        Scope::NamespaceWide
    } else {
        Scope::Strict
    }
}

/// The key ids listed in [`ANNOTATION_KEY_IDS`]: invalid entries are ignored, duplicates
/// dropped, and at most [`MAX_KEY_ID_HINTS`] entries of the list are looked at.
pub fn key_ids_from_annotations(annotations: &BTreeMap<String, String>) -> Vec<KeyId> {
    annotations
        .get(ANNOTATION_KEY_IDS)
        .map(|list| parse_key_ids(list))
        .unwrap_or_default()
}

pub(crate) fn parse_key_ids(list: &str) -> Vec<KeyId> {
    let mut ids: Vec<KeyId> = Vec::new();
    for id in list
        .split(',')
        .take(MAX_KEY_ID_HINTS)
        .filter_map(|s| KeyId::parse(s.trim()))
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Formats key ids for [`ANNOTATION_KEY_IDS`]: de-duplicated, at most [`MAX_KEY_ID_HINTS`].
pub(crate) fn format_key_ids<'a>(ids: impl IntoIterator<Item = &'a KeyId>) -> String {
    let mut seen: Vec<&KeyId> = Vec::new();
    for id in ids {
        if !seen.contains(&id) && seen.len() < MAX_KEY_ID_HINTS {
            seen.push(id);
        }
    }
    seen.iter()
        .map(|id| id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Removes both scope annotations and sets the one `scope` needs (none for strict), as
/// upstream's `UpdateScopeAnnotations`.
pub(crate) fn set_scope_annotations(annotations: &mut BTreeMap<String, String>, scope: Scope) {
    annotations.remove(ANNOTATION_CLUSTER_WIDE);
    annotations.remove(ANNOTATION_NAMESPACE_WIDE);
    match scope {
        Scope::Strict => {}
        Scope::NamespaceWide => {
            annotations.insert(ANNOTATION_NAMESPACE_WIDE.to_owned(), "true".to_owned());
        }
        Scope::ClusterWide => {
            annotations.insert(ANNOTATION_CLUSTER_WIDE.to_owned(), "true".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn scope_precedence_and_exact_true() {
        assert_eq!(scope_from_annotations(&map(&[])), Scope::Strict);
        assert_eq!(
            scope_from_annotations(&map(&[(ANNOTATION_NAMESPACE_WIDE, "true")])),
            Scope::NamespaceWide
        );
        assert_eq!(
            scope_from_annotations(&map(&[
                (ANNOTATION_NAMESPACE_WIDE, "true"),
                (ANNOTATION_CLUSTER_WIDE, "true")
            ])),
            Scope::ClusterWide
        );
        assert_eq!(
            scope_from_annotations(&map(&[(ANNOTATION_CLUSTER_WIDE, "True")])),
            Scope::Strict
        );
    }

    #[test]
    fn sealed_for_detects_rename_move_and_rescope() {
        let fp = sealed_for(Scope::Strict, "prod", "db");
        assert!(fp.starts_with("v1:") && fp.len() == 19, "{fp}");
        assert_ne!(fp, sealed_for(Scope::Strict, "prod", "db2"));
        assert_ne!(fp, sealed_for(Scope::NamespaceWide, "prod", "db"));
        // Names a scope ignores do not change the fingerprint.
        assert_eq!(
            sealed_for(Scope::NamespaceWide, "prod", "a"),
            sealed_for(Scope::NamespaceWide, "prod", "b")
        );
        assert_eq!(
            sealed_for(Scope::ClusterWide, "x", "a"),
            sealed_for(Scope::ClusterWide, "", "")
        );

        let ann = map(&[(ANNOTATION_SEALED_FOR, &fp)]);
        assert_eq!(
            check_sealed_for(&ann, "prod", "db"),
            SealedForCheck::Matches
        );
        assert_eq!(
            check_sealed_for(&ann, "prod", "other"),
            SealedForCheck::Moved
        );
        assert_eq!(check_sealed_for(&ann, "dev", "db"), SealedForCheck::Moved);
        let widened = map(&[
            (ANNOTATION_SEALED_FOR, &fp),
            (ANNOTATION_CLUSTER_WIDE, "true"),
        ]);
        assert_eq!(
            check_sealed_for(&widened, "prod", "db"),
            SealedForCheck::ScopeChanged {
                sealed_as: Scope::Strict,
                declared: Scope::ClusterWide
            }
        );
        assert_eq!(
            check_sealed_for(&map(&[]), "prod", "db"),
            SealedForCheck::NotRecorded
        );
        assert_eq!(
            check_sealed_for(&map(&[(ANNOTATION_SEALED_FOR, "junk")]), "prod", "db"),
            SealedForCheck::NotRecorded
        );
    }

    #[test]
    fn key_ids_are_parsed_leniently_and_capped() {
        let a = "0123456789abcdef";
        let b = "fedcba9876543210";
        let list = format!("{a}, junk,{b},{a}");
        let ids = key_ids_from_annotations(&map(&[(ANNOTATION_KEY_IDS, &list)]));
        assert_eq!(
            ids.iter().map(KeyId::as_str).collect::<Vec<_>>(),
            vec![a, b]
        );
        let many = vec![a; 20].join(",") + "," + b;
        let ids = key_ids_from_annotations(&map(&[(ANNOTATION_KEY_IDS, &many)]));
        assert_eq!(ids.len(), 1, "entries beyond the cap are not read");
        assert_eq!(
            format_key_ids(&[KeyId::parse(a).unwrap(), KeyId::parse(a).unwrap()]),
            a
        );
    }
}
