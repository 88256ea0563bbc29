//! The crate's error type.

use sealant_crypto::Scope;

use crate::UnsealError;

/// Everything that can go wrong reading, sealing, unsealing or printing objects.
///
/// Messages never contain secret values. Errors about input documents name the document
/// (1-based) and the field; the caller prefixes the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A document of an input stream is invalid.
    #[error("{}{}{message}", doc_prefix(.document), path_prefix(.path))]
    Document {
        /// 1-based position of the document in the stream (for a `List` item, the position of
        /// the `List`); `None` when the object was not read from a stream.
        document: Option<usize>,
        /// Field path inside the document, e.g. `data.password`, if known.
        path: Option<String>,
        /// What is wrong and, where possible, what to do.
        message: String,
    },
    /// The whole input is larger than allowed.
    #[error("input is {size} bytes, more than the {limit}-byte limit")]
    InputTooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input holds no objects at all.
    #[error("no secrets found. Ensure the input is valid and UTF-8 encoded")]
    NoSecrets,
    /// Neither `data` nor `stringData` has an item (upstream's text).
    #[error(
        "secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used"
    )]
    EmptyData,
    /// The input Secret has no name and none was given.
    #[error("missing metadata.name in input Secret")]
    MissingName,
    /// An explicit namespace disagrees with the input's.
    #[error(
        "namespace mismatch: input secret is in namespace {input:?} but {specified:?} was specified"
    )]
    NamespaceMismatch {
        /// The input Secret's namespace.
        input: String,
        /// The namespace given by the caller.
        specified: String,
    },
    /// Raw mode without the namespace its scope needs.
    #[error("must provide the --namespace flag with --raw and --scope {scope}")]
    RawMissingNamespace {
        /// The sealing scope.
        scope: Scope,
    },
    /// Raw strict mode without a name.
    #[error("must provide the --name flag with --raw and --scope strict")]
    RawMissingName,
    /// `--merge-into` with a scope other than the existing object's.
    #[error(
        "cannot merge into {object}: it is {existing}, but scope {requested} was asked for; values must be sealed with the scope of the SealedSecret they go into"
    )]
    MergeScopeConflict {
        /// `namespace/name` of the existing SealedSecret.
        object: String,
        /// The existing object's scope.
        existing: Scope,
        /// The scope asked for.
        requested: Scope,
    },
    /// The SealedSecret given to merge into cannot be used.
    #[error("cannot merge into this SealedSecret: {0}")]
    MergeTarget(String),
    /// An output format name that is neither `json` nor `yaml`.
    #[error("unsupported output format: {0}")]
    UnsupportedFormat(String),
    /// An object could not be serialized.
    #[error("cannot serialize: {0}")]
    Serialize(String),
    /// A sealing or key operation failed.
    #[error(transparent)]
    Crypto(#[from] sealant_crypto::Error),
    /// Unsealing failed (see [`UnsealError`] for the per-item causes).
    #[error(transparent)]
    Unseal(#[from] UnsealError),
}

fn doc_prefix(document: &Option<usize>) -> String {
    document
        .map(|d| format!("document {d}: "))
        .unwrap_or_default()
}

fn path_prefix(path: &Option<String>) -> String {
    path.as_ref().map(|p| format!("{p}: ")).unwrap_or_default()
}

impl Error {
    pub(crate) fn doc(document: usize, message: impl Into<String>) -> Self {
        Error::Document {
            document: Some(document),
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn field(
        document: usize,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Document {
            document: Some(document),
            path: Some(path.into()),
            message: message.into(),
        }
    }
}
