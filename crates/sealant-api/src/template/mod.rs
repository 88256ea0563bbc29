//! `spec.template.data`: Go `text/template` with Sprig's generic functions, rendered over the
//! unsealed values, bounded and free of plaintext oracles by construction.
//!
//! Rendering one SealedSecret's templates goes in three steps:
//!
//! 1. [`parse`](parse::parse) each template (iteratively lexed, recursion depth-limited);
//!    unknown, refused or misused functions and undefined variables or templates are errors;
//! 2. [`check`](check::check) every node of every template with abstract values built from the
//!    item names and the value LENGTHS only: Go's content-independent errors, and upper bounds
//!    on output bytes and work, compared with the [`limits`];
//! 3. [`render`](eval::render): cannot fail on a value, since every function is total and no
//!    limit can be reached any more.
//!
//! So whether rendering succeeds, and every error message, depends only on the template text,
//! the item names and the value lengths: two plaintexts of the same lengths give the same
//! outcome. The differences from Go and Sprig this needs are listed in the README.

mod abs;
mod check;
mod encode;
mod eval;
mod funcs;
mod gofmt;
mod lexer;
pub mod limits;
mod parse;
mod value;

use std::collections::BTreeMap;

pub use funcs::SUPPORTED as FUNCTIONS;

use abs::Abs;
use value::Value;

/// Why templates could not be rendered. The message names the limit or construct, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl TemplateError {
    fn at(src: &str, pos: usize, msg: &str) -> TemplateError {
        TemplateError(format!("{}: {msg}", lexer::position(src, pos)))
    }

    fn plain(msg: impl Into<String>) -> TemplateError {
        TemplateError(msg.into())
    }
}

/// A failure of one template item, or of the templates as a whole (`item` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFailure {
    /// The `spec.template.data` key, if the failure is that item's.
    pub item: Option<String>,
    /// What is wrong.
    pub error: TemplateError,
}

/// Renders every template of one SealedSecret over `values` (the unsealed items).
///
/// Returns the rendered items, or every failure. Failures depend only on the templates, the item
/// names and the value lengths (see the module doc). `values` that a template overrides still
/// count for nothing in the Secret size; the others count with their length.
pub fn render_all(
    templates: &BTreeMap<String, String>,
    values: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, Vec<TemplateFailure>> {
    let mut failures = Vec::new();
    let mut parsed = Vec::new();
    for (item, src) in templates {
        if src.len() > limits::MAX_SOURCE {
            failures.push(TemplateFailure {
                item: Some(item.clone()),
                error: TemplateError::plain(format!(
                    "template is {} bytes, more than the {}-byte limit (template size limit)",
                    src.len(),
                    limits::MAX_SOURCE
                )),
            });
            continue;
        }
        match parse::parse(src) {
            Ok(p) => parsed.push((item, src, p)),
            Err(error) => failures.push(TemplateFailure {
                item: Some(item.clone()),
                error,
            }),
        }
    }
    let data_abs = data_abs(values);
    let mut steps = 0u64;
    let mut costs = BTreeMap::new();
    for (item, src, p) in &parsed {
        match check::check(p, src, &data_abs, &mut steps) {
            Ok(cost) => {
                costs.insert((*item).clone(), cost);
            }
            Err(error) => failures.push(TemplateFailure {
                item: Some((*item).clone()),
                error,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let work = costs.values().fold(0u64, |s, c| abs::add(s, c.work));
    let bcrypt = costs.values().fold(0u64, |s, c| abs::add(s, c.bcrypt));
    let mut secret_bytes = 0u64;
    for (k, v) in values {
        if !templates.contains_key(k) {
            secret_bytes = abs::add(secret_bytes, (k.len() + v.len()) as u64);
        }
    }
    for (k, c) in &costs {
        secret_bytes = abs::add(secret_bytes, abs::add(k.len() as u64, c.out));
    }
    let too_much = |what: String| {
        Err(vec![TemplateFailure {
            item: None,
            error: TemplateError::plain(what),
        }])
    };
    if work > limits::MAX_WORK {
        return too_much(format!(
            "rendering may take up to {} units of work (bytes processed), more than the limit of {} (work limit); decided from the value lengths, before rendering",
            show(work),
            limits::MAX_WORK
        ));
    }
    if secret_bytes > limits::MAX_SECRET_BYTES {
        return too_much(format!(
            "the rendered Secret may hold up to {} bytes of data, more than the {}-byte Secret limit (output size limit); decided from the value lengths, before rendering",
            show(secret_bytes),
            limits::MAX_SECRET_BYTES
        ));
    }
    if bcrypt > limits::MAX_BCRYPT_CALLS {
        return too_much(format!(
            "the templates may call htpasswd (bcrypt) up to {} times, more than {} (htpasswd limit)",
            show(bcrypt),
            limits::MAX_BCRYPT_CALLS
        ));
    }
    let data = data_value(values);
    let mut out = BTreeMap::new();
    for (item, _, p) in &parsed {
        let cost = costs.get(*item).copied().unwrap_or_default();
        match eval::render(p, &data, cost.work, cost.out) {
            Ok(r) => {
                out.insert((*item).clone(), r.output);
            }
            Err(eval::BoundExceeded) => failures.push(TemplateFailure {
                item: Some((*item).clone()),
                error: TemplateError::plain(
                    "internal error: rendering exceeded the bound computed before it (a bug in sealant; please report it)",
                ),
            }),
        }
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(failures)
    }
}

fn show(n: u64) -> String {
    if n >= abs::HUGE {
        "an unbounded number of".to_owned()
    } else {
        n.to_string()
    }
}

/// `.` and `$`: the items as a `map[string]string`.
fn data_value(values: &BTreeMap<String, Vec<u8>>) -> Value {
    Value::dict(
        values
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v.as_slice())))
            .collect(),
        true,
    )
}

/// What `check` knows of the data: the item names and the value lengths.
fn data_abs(values: &BTreeMap<String, Vec<u8>>) -> Abs {
    let fields: BTreeMap<Vec<u8>, Abs> = values
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), Abs::string(v.len() as u64)))
        .collect();
    let weight = data_value_weight(values);
    let longest = values.values().map(Vec::len).max().unwrap_or(0) as u64;
    let mut a = Abs::dict(weight, Abs::string(longest), true);
    a.fields = Some(std::rc::Rc::new(fields));
    a
}

fn data_value_weight(values: &BTreeMap<String, Vec<u8>>) -> u64 {
    values.iter().fold(5u64, |w, (k, v)| {
        abs::add(w, (k.len() + 1 + v.len()) as u64 + value::ITEM_WEIGHT)
    })
}

/// The outcome of rendering `templates` as the values would see it, for tests: output bytes or
/// the failure messages.
#[cfg(test)]
pub(crate) fn render_one(src: &str, values: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    let templates = BTreeMap::from([("t".to_owned(), src.to_owned())]);
    let values: BTreeMap<String, Vec<u8>> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect();
    render_all(&templates, &values)
        .map(|mut m| m.remove("t").unwrap_or_default())
        .map_err(|f| {
            f.into_iter()
                .map(|f| f.error.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

#[cfg(test)]
mod tests;
