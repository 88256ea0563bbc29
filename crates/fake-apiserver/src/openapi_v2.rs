//! `/openapi/v2` content negotiation, and the document in the protobuf form kubectl asks for
//! first (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): gnostic's
//! `openapi_v2.Document` message, written from the JSON document.
//!
//! Only what clients read is encoded: paths with their operations (parameters, responses,
//! vendor extensions such as `x-kubernetes-group-version-kind`) and definitions (types,
//! properties, items, references, descriptions, defaults, enums, vendor extensions). Vendor
//! extension and default values travel as gnostic's `Any.yaml`, written as JSON (a YAML
//! subset).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::encoding::encode_varint;
use serde_json::{Map, Value};

use crate::errors::{ApiError, ApiResult, json_response};

const PROTO_TYPES: [&str; 2] = [
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
];

/// Answers with the document in the first acceptable form: protobuf or JSON.
pub fn respond(doc: &Value, accept: &str) -> ApiResult<Response> {
    for want in accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
    {
        if PROTO_TYPES.contains(&want) {
            // Go's mime parser refuses the `@` form, so the answer always names the dotted one.
            return Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, PROTO_TYPES[1])],
                encode(doc),
            )
                .into_response());
        }
        if matches!(want, "application/json" | "*/*" | "application/*" | "") {
            return Ok(json_response(StatusCode::OK, doc));
        }
    }
    Err(ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: application/json, {}",
            PROTO_TYPES.join(", ")
        ),
    ))
}

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn key(&mut self, field: u32, wire: u64) {
        encode_varint((u64::from(field) << 3) | wire, &mut self.0);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        encode_varint(b.len() as u64, &mut self.0);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            self.bytes(field, s.as_bytes());
        }
    }

    fn strings(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = s.as_str() {
                self.bytes(field, s.as_bytes());
            }
        }
    }

    fn boolean(&mut self, field: u32, v: Option<&Value>) {
        if v.and_then(Value::as_bool) == Some(true) {
            self.key(field, 0);
            encode_varint(1, &mut self.0);
        }
    }

    fn int(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_i64).filter(|n| *n != 0) {
            self.key(field, 0);
            encode_varint(n as u64, &mut self.0);
        }
    }

    fn double(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_f64) {
            self.key(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn msg(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    /// gnostic `Any` with the value as YAML (JSON text).
    fn any(&mut self, field: u32, v: &Value) {
        let mut a = Msg::default();
        a.bytes(2, v.to_string().as_bytes());
        self.msg(field, a);
    }

    /// `repeated NamedAny vendor_extension` from the `x-` keys of `obj`.
    fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
        for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Msg::default();
            named.bytes(1, k.as_bytes());
            named.any(2, v);
            self.msg(field, named);
        }
    }
}

/// The whole document.
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut d = Msg::default();
    d.string(1, doc.get("swagger"));
    if let Some(info) = doc.get("info") {
        let mut i = Msg::default();
        i.string(1, info.get("title"));
        i.string(2, info.get("version"));
        i.string(3, info.get("description"));
        d.msg(2, i);
    }
    let mut paths = Msg::default();
    for (name, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut named = Msg::default();
        named.bytes(1, name.as_bytes());
        named.msg(2, path_item(item));
        paths.msg(2, named);
    }
    d.msg(8, paths);
    let mut defs = Msg::default();
    for (name, s) in doc
        .get("definitions")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut named = Msg::default();
        named.bytes(1, name.as_bytes());
        named.msg(2, schema(s));
        defs.msg(1, named);
    }
    d.msg(9, defs);
    d.0
}

fn path_item(item: &Value) -> Msg {
    let mut p = Msg::default();
    for (field, verb) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (8, "patch"),
    ] {
        if let Some(op) = item.get(verb) {
            p.msg(field, operation(op));
        }
    }
    for param in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        p.msg(9, parameter(param));
    }
    if let Some(m) = item.as_object() {
        p.extensions(10, m);
    }
    p
}

fn operation(op: &Value) -> Msg {
    let mut o = Msg::default();
    o.strings(1, op.get("tags"));
    o.string(3, op.get("description"));
    o.string(5, op.get("operationId"));
    o.strings(6, op.get("produces"));
    o.strings(7, op.get("consumes"));
    for param in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        o.msg(8, parameter(param));
    }
    let mut responses = Msg::default();
    for (code, r) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut resp = Msg::default();
        resp.string(1, r.get("description"));
        if let Some(s) = r.get("schema") {
            let mut item = Msg::default();
            item.msg(1, schema(s));
            resp.msg(2, item);
        }
        let mut value = Msg::default();
        value.msg(1, resp);
        let mut named = Msg::default();
        named.bytes(1, code.as_bytes());
        named.msg(2, value);
        responses.msg(1, named);
    }
    o.msg(9, responses);
    o.strings(10, op.get("schemes"));
    if let Some(m) = op.as_object() {
        o.extensions(13, m);
    }
    o
}

/// `ParametersItem` holding a body, query or path parameter.
fn parameter(p: &Value) -> Msg {
    let mut param = Msg::default();
    match p.get("in").and_then(Value::as_str) {
        Some("body") => {
            let mut b = Msg::default();
            b.string(1, p.get("description"));
            b.string(2, p.get("name"));
            b.string(3, p.get("in"));
            b.boolean(4, p.get("required"));
            if let Some(s) = p.get("schema") {
                b.msg(5, schema(s));
            }
            param.msg(1, b);
        }
        place => {
            // Query and path sub-schemas differ from field 5 on (query has allowEmptyValue).
            let (sub, shift) = if place == Some("path") {
                (4, 0)
            } else {
                (3, 1)
            };
            let mut s = Msg::default();
            s.boolean(1, p.get("required"));
            s.string(2, p.get("in"));
            s.string(3, p.get("description"));
            s.string(4, p.get("name"));
            s.string(5 + shift, p.get("type"));
            s.string(6 + shift, p.get("format"));
            s.boolean(19 + shift, p.get("uniqueItems"));
            let mut nb = Msg::default();
            nb.msg(sub, s);
            param.msg(2, nb);
        }
    }
    let mut item = Msg::default();
    item.msg(1, param);
    item
}

fn schema(s: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = s.as_object() else {
        return m;
    };
    m.string(1, o.get("$ref"));
    m.string(2, o.get("format"));
    m.string(3, o.get("title"));
    m.string(4, o.get("description"));
    if let Some(d) = o.get("default") {
        m.any(5, d);
    }
    m.double(7, o.get("maximum"));
    m.double(9, o.get("minimum"));
    m.int(11, o.get("maxLength"));
    m.int(12, o.get("minLength"));
    m.string(13, o.get("pattern"));
    m.int(14, o.get("maxItems"));
    m.int(15, o.get("minItems"));
    m.boolean(16, o.get("uniqueItems"));
    m.strings(19, o.get("required"));
    for e in o
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.any(20, e);
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            a.key(2, 0);
            encode_varint(u64::from(*b), &mut a.0);
            m.msg(21, a);
        }
        Some(a @ Value::Object(_)) => {
            let mut item = Msg::default();
            item.msg(1, schema(a));
            m.msg(21, item);
        }
        _ => {}
    }
    match o.get("type") {
        Some(Value::String(t)) => {
            let mut ty = Msg::default();
            ty.bytes(1, t.as_bytes());
            m.msg(22, ty);
        }
        Some(t @ Value::Array(_)) => {
            let mut ty = Msg::default();
            ty.strings(1, Some(t));
            m.msg(22, ty);
        }
        _ => {}
    }
    match o.get("items") {
        Some(Value::Array(items)) => {
            let mut it = Msg::default();
            for i in items {
                it.msg(1, schema(i));
            }
            m.msg(23, it);
        }
        Some(i @ Value::Object(_)) => {
            let mut it = Msg::default();
            it.msg(1, schema(i));
            m.msg(23, it);
        }
        _ => {}
    }
    for a in o
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(24, schema(a));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (k, v) in props {
            let mut named = Msg::default();
            named.bytes(1, k.as_bytes());
            named.msg(2, schema(v));
            p.msg(1, named);
        }
        m.msg(25, p);
    }
    m.boolean(27, o.get("readOnly"));
    if let Some(e) = o.get("example") {
        m.any(30, e);
    }
    m.extensions(31, o);
    m
}
