//! Printing objects in `kubeseal`'s layout.
//!
//! YAML: `---\n`, then every mapping key sorted (as sigs.k8s.io/yaml does), block style, long
//! strings on one line, strings quoted only where YAML needs it. JSON: 2-space indent, Go struct
//! field order (`kind`, `apiVersion`, `metadata`, `spec`…), map keys sorted, `<`, `>`, `&`
//! escaped as Go does, trailing newline. Both print `creationTimestamp: null` in metadata like
//! kubeseal, so re-sealing the same input only changes ciphertexts.

use std::io;

use k8s_openapi::api::core::v1::Secret;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::{Error, SealedSecret};

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON, 2-space indent, kubeseal's key order (kubeseal's default).
    #[default]
    Json,
    /// YAML, `---`-prefixed, keys sorted.
    Yaml,
}

impl std::str::FromStr for Format {
    type Err = Error;

    /// `json` or `yaml`, case-insensitive; anything else is upstream's
    /// `unsupported output format: X`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "yaml" => Ok(Format::Yaml),
            _ => Err(Error::UnsupportedFormat(s.to_owned())),
        }
    }
}

/// A SealedSecret as YAML (`---`-prefixed, keys sorted, as kubeseal).
pub fn to_yaml(ss: &SealedSecret) -> Result<String, Error> {
    value_to_yaml(&sealed_secret_value(ss)?)
}

/// A SealedSecret as JSON (kubeseal's key order, trailing newline).
pub fn to_json(ss: &SealedSecret) -> Result<String, Error> {
    value_to_json(&sealed_secret_value(ss)?)
}

/// `doc`, one document holding a `*List`, with the items at the given indexes replaced by these
/// SealedSecrets, in `format`. The rest of the list is kept as data; comments inside it are not.
pub fn render_list(
    doc: &str,
    replaced: &[(usize, SealedSecret)],
    format: Format,
) -> Result<String, Error> {
    let mut values = crate::stream::parse_values(doc)?;
    let not_a_list = || Error::Serialize("the document is not a single List".to_owned());
    let (_, mut list) = values.pop().ok_or_else(not_a_list)?;
    if !values.is_empty() {
        return Err(not_a_list());
    }
    let items = list
        .get_mut("items")
        .and_then(Value::as_array_mut)
        .ok_or_else(not_a_list)?;
    for (index, ss) in replaced {
        let slot = items.get_mut(*index).ok_or_else(not_a_list)?;
        *slot = sealed_secret_value(ss)?;
    }
    match format {
        Format::Json => value_to_json(&list),
        Format::Yaml => value_to_yaml(&list),
    }
}

/// A Secret as YAML. It holds plaintext (base64 is not encryption): handle with care.
pub fn secret_to_yaml(secret: &Secret) -> Result<String, Error> {
    value_to_yaml(&secret_value(secret)?)
}

/// A Secret as JSON. It holds plaintext (base64 is not encryption): handle with care.
pub fn secret_to_json(secret: &Secret) -> Result<String, Error> {
    value_to_json(&secret_value(secret)?)
}

/// A SealedSecret in the given format.
pub fn render(ss: &SealedSecret, format: Format) -> Result<String, Error> {
    match format {
        Format::Json => to_json(ss),
        Format::Yaml => to_yaml(ss),
    }
}

/// A Secret in the given format.
pub fn render_secret(secret: &Secret, format: Format) -> Result<String, Error> {
    match format {
        Format::Json => secret_to_json(secret),
        Format::Yaml => secret_to_yaml(secret),
    }
}

fn ser_err(e: impl std::fmt::Display) -> Error {
    Error::Serialize(e.to_string())
}

/// The object as a JSON value shaped like kubeseal's output.
fn sealed_secret_value(ss: &SealedSecret) -> Result<Value, Error> {
    let mut v = serde_json::to_value(ss).map_err(ser_err)?;
    if let Some(root) = v.as_object_mut() {
        root.insert("apiVersion".into(), crate::API_VERSION.into());
        root.insert("kind".into(), crate::KIND.into());
        if root.get("status").is_some_and(Value::is_null) {
            root.remove("status");
        }
        normalize_metadata(root);
        if let Some(spec) = object_entry(root, "spec") {
            object_entry(spec, "encryptedData");
            if let Some(template) = object_entry(spec, "template") {
                normalize_metadata(template);
            }
        }
    }
    Ok(v)
}

fn secret_value(secret: &Secret) -> Result<Value, Error> {
    let mut v = serde_json::to_value(secret).map_err(ser_err)?;
    if let Some(root) = v.as_object_mut() {
        root.insert("apiVersion".into(), "v1".into());
        root.insert("kind".into(), "Secret".into());
        normalize_metadata(root);
    }
    Ok(v)
}

/// Ensures `map[key]` is an object (replacing `null`) and returns it.
fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Go's `omitempty` on metadata maps/lists, and `creationTimestamp: null` as kubeseal prints.
fn normalize_metadata(parent: &mut Map<String, Value>) {
    let Some(meta) = object_entry(parent, "metadata") else {
        return;
    };
    meta.retain(|_, v| match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Null => false,
        _ => true,
    });
    meta.entry("creationTimestamp".to_owned())
        .or_insert(Value::Null);
}

/// `---\n` and the value as block YAML with every mapping key sorted.
pub(crate) fn value_to_yaml(value: &Value) -> Result<String, Error> {
    let opts = serde_saphyr::ser_options! { prefer_block_scalars: false };
    let body = serde_saphyr::to_string_with_options(
        &View {
            value,
            ctx: Ctx::Sorted,
        },
        opts,
    )
    .map_err(ser_err)?;
    let mut out = String::with_capacity(body.len() + 5);
    out.push_str("---\n");
    out.push_str(&body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The value as pretty JSON in Go struct order, with Go's HTML escaping, and a newline.
pub(crate) fn value_to_json(value: &Value) -> Result<String, Error> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoFormatter::default());
    View {
        value,
        ctx: Ctx::Root,
    }
    .serialize(&mut ser)
    .map_err(ser_err)?;
    buf.push(b'\n');
    String::from_utf8(buf).map_err(ser_err)
}

/// Where in an object a map is, to choose its key order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Everything sorted (YAML, and maps such as labels or data).
    Sorted,
    Root,
    Meta,
    Spec,
    Template,
    Status,
    Condition,
    OwnerRef,
}

impl Ctx {
    /// Go struct field order of the known keys; unknown keys follow, sorted.
    fn field_order(self) -> &'static [&'static str] {
        match self {
            Ctx::Sorted => &[],
            Ctx::Root => &[
                "kind",
                "apiVersion",
                "metadata",
                "spec",
                "immutable",
                "data",
                "stringData",
                "type",
                "status",
            ],
            Ctx::Meta => &[
                "name",
                "generateName",
                "namespace",
                "selfLink",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "labels",
                "annotations",
                "ownerReferences",
                "finalizers",
                "managedFields",
            ],
            Ctx::Spec => &["template", "data", "encryptedData"],
            Ctx::Template => &["metadata", "type", "immutable", "data"],
            Ctx::Status => &["conditions", "observedGeneration"],
            Ctx::Condition => &[
                "type",
                "status",
                "lastUpdateTime",
                "lastTransitionTime",
                "reason",
                "message",
                "observedGeneration",
            ],
            Ctx::OwnerRef => &[
                "apiVersion",
                "kind",
                "name",
                "uid",
                "controller",
                "blockOwnerDeletion",
            ],
        }
    }

    fn child(self, key: &str) -> Ctx {
        match (self, key) {
            (Ctx::Sorted, _) => Ctx::Sorted,
            (Ctx::Root | Ctx::Template, "metadata") => Ctx::Meta,
            (Ctx::Root, "spec") => Ctx::Spec,
            (Ctx::Root, "status") => Ctx::Status,
            (Ctx::Spec, "template") => Ctx::Template,
            (Ctx::Meta, "ownerReferences") => Ctx::OwnerRef,
            (Ctx::Status, "conditions") => Ctx::Condition,
            _ => Ctx::Sorted,
        }
    }
}

/// A value serialized with keys in the order its context asks for.
struct View<'a> {
    value: &'a Value,
    ctx: Ctx,
}

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(map) => {
                let order = self.ctx.field_order();
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by_key(|k| {
                    (
                        order.iter().position(|o| o == k).unwrap_or(order.len()),
                        k.as_str(),
                    )
                });
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    if let Some(value) = map.get(key) {
                        out.serialize_entry(
                            key,
                            &View {
                                value,
                                ctx: self.ctx.child(key),
                            },
                        )?;
                    }
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for value in items {
                    out.serialize_element(&View {
                        value,
                        ctx: self.ctx,
                    })?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// serde_json's pretty printer with Go `encoding/json` string escaping (`<`, `>`, `&`,
/// U+2028, U+2029 as `\uXXXX`; `\b` and `\f` as `\u0008`, `\u000c`).
#[derive(Default)]
struct GoFormatter {
    inner: serde_json::ser::PrettyFormatter<'static>,
}

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(esc.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        match char_escape {
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            other => serde_json::ser::CompactFormatter.write_char_escape(writer, other),
        }
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_value(w)
    }
}
