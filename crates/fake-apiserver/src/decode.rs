//! What the real server's decoders do to a written object before anything else: unknown fields
//! are dropped (built-in kinds: as Go's struct decoding does; custom resources: pruned by the
//! CRD's structural schema, then `null`s the schema forbids dropped), and, per the request's
//! `fieldValidation` (`Strict`, `Warn` — the default — or `Ignore`), unknown and duplicate fields
//! fail the request (400, or 422 for a patch) or come back as `Warning` headers.

use std::cell::RefCell;

use serde_json::Value;

use crate::errors::{ApiError, ApiResult};
use crate::openapi;
use crate::resources::ResourceType;

/// The `fieldValidation` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Directive {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them with a warning each (the default).
    #[default]
    Warn,
    /// Fail the request.
    Strict,
}

impl Directive {
    /// Parses the query parameter; `options` is `CreateOptions`, `UpdateOptions` or
    /// `PatchOptions` for the error.
    pub fn parse(value: Option<&str>, options: &str) -> ApiResult<Self> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Directive::Warn),
            "Ignore" => Ok(Directive::Ignore),
            "Strict" => Ok(Directive::Strict),
            other => Err(ApiError::invalid(
                "meta.k8s.io",
                &format!("{options}.meta.k8s.io"),
                "",
                &format!(
                    "fieldValidation: Unsupported value: \"{other}\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
                ),
            )
            .details("meta.k8s.io", options, "")),
        }
    }
}

/// How the written object reached the server (the error of a strict failure differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// POST/PUT body.
    #[default]
    Body,
    /// JSON merge, JSON or strategic merge patch.
    Patch,
    /// Server-side apply (checked before the merge, see [`apply_unknown_fields`]).
    Apply,
}

/// Field validation state of one write request.
#[derive(Debug, Default)]
pub struct FieldCheck {
    /// The directive.
    pub directive: Directive,
    /// Where the object came from.
    pub source: Source,
    /// Duplicate keys in the request body, worded (`duplicate field "a.b"`).
    pub duplicates: Vec<String>,
    /// Warnings for the response's `Warning` headers.
    pub warnings: RefCell<Vec<String>>,
}

impl Clone for FieldCheck {
    fn clone(&self) -> Self {
        FieldCheck {
            directive: self.directive,
            source: self.source,
            duplicates: self.duplicates.clone(),
            warnings: RefCell::new(self.warnings.borrow().clone()),
        }
    }
}

/// Words duplicate-key paths as the strict decoder does.
pub fn duplicates(paths: Vec<String>) -> Vec<String> {
    paths
        .into_iter()
        .map(|p| format!("duplicate field \"{p}\""))
        .collect()
}

/// Drops the fields of `obj` the schema of `rt` does not know; returns their paths.
pub fn prune_unknown(rt: &ResourceType, obj: &mut Value) -> Vec<String> {
    if rt.custom {
        let mut unknown = Vec::new();
        if let Some(meta) = obj.get_mut("metadata") {
            unknown.extend(openapi::object_meta_schema().prune(meta, "metadata"));
        }
        if let Some(s) = &rt.structural {
            unknown.extend(s.prune_resource(obj));
            s.prune_nulls(obj);
        }
        unknown
    } else {
        match openapi::builtin_schema(&rt.group, &rt.kind) {
            Some(s) => s.prune(obj, ""),
            None => Vec::new(),
        }
    }
}

impl FieldCheck {
    /// Applies the directive to what decoding found. `patched` renders the object as the
    /// client's patch left it (only needed for a strict patch failure).
    pub fn settle(
        &self,
        rt: &ResourceType,
        unknown: &[String],
        patched: impl FnOnce() -> String,
    ) -> ApiResult<()> {
        let problems: Vec<String> = self
            .duplicates
            .iter()
            .cloned()
            .chain(unknown.iter().map(|p| format!("unknown field \"{p}\"")))
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        match self.directive {
            Directive::Ignore => Ok(()),
            Directive::Warn => {
                self.warnings.borrow_mut().extend(problems);
                Ok(())
            }
            Directive::Strict => {
                let err = format!("strict decoding error: {}", problems.join(", "));
                Err(match self.source {
                    Source::Patch => ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            " \"\" is invalid: patch: Invalid value: {}: {err}",
                            serde_json::to_string(&patched()).unwrap_or_default()
                        ),
                    )
                    .details("", "", ""),
                    _ => ApiError::bad_request(format!(
                        "{} in version \"{}\" cannot be handled as a {}: {err}",
                        rt.kind, rt.version, rt.kind
                    )),
                })
            }
        }
    }
}

/// Server-side apply converts the applied configuration to the type first: a field the schema
/// does not declare fails the request whatever `fieldValidation` says (a 500 with no reason,
/// as the real server answers).
pub fn apply_unknown_fields(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    applied: &Value,
) -> ApiResult<()> {
    let mut probe = applied.clone();
    let unknown = prune_unknown(rt, &mut probe);
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let gvk = format!("{}/{}, Kind={}", rt.group, rt.version, rt.kind);
    Err(ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({ns}/{name}; {gvk}): .{first}: field not declared in schema"
        ),
    ))
}

/// A `Warning` header value: `299 - "text"`, ASCII only.
pub fn warning_header(text: &str) -> String {
    let mut out = String::from("299 - \"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_and_headers() {
        assert_eq!(
            Directive::parse(None, "CreateOptions").unwrap(),
            Directive::Warn
        );
        assert_eq!(
            Directive::parse(Some("Strict"), "CreateOptions").unwrap(),
            Directive::Strict
        );
        let e = Directive::parse(Some("strict"), "PatchOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains("Unsupported value: \"strict\""),
            "{}",
            e.message
        );
        assert_eq!(
            warning_header("unknown field \"spec.x\" é"),
            "299 - \"unknown field \\\"spec.x\\\" \\u00e9\""
        );
    }
}
