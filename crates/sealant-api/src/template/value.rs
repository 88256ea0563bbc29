//! Runtime values: what Go's `reflect.Value`s are in `text/template`, reduced to the kinds a
//! template over `map[string]string` can meet, with Go's printing (`%v`) and truthiness.
//!
//! Every value has a [`Value::weight`]: an upper bound on its printed length that also counts
//! 16 units per collection item (for memory). The static bounds in `check` are bounds on
//! weights, so weight must be cheap: collections store theirs.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use super::gofmt;

/// Weight of one collection item on top of its own (separator, and memory).
pub(crate) const ITEM_WEIGHT: u64 = 16;
/// Weights of the scalar kinds (their longest printed form).
pub(crate) const INT_WEIGHT: u64 = 20;
pub(crate) const FLOAT_WEIGHT: u64 = 24;
pub(crate) const BOOL_WEIGHT: u64 = 5;
pub(crate) const NIL_WEIGHT: u64 = 5;
pub(crate) const NO_VALUE_WEIGHT: u64 = 10;

/// A template value.
#[derive(Clone)]
#[allow(clippy::enum_variant_names)] // `NoValue` is Go's name for it
pub(crate) enum Value {
    /// Go's invalid value (a missing map key): prints `<no value>`.
    NoValue,
    /// A nil interface: prints `<nil>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A Go string: bytes, not necessarily UTF-8.
    Str(Rc<[u8]>),
    List(Rc<List>),
    Dict(Rc<Dict>),
}

/// A list (`[]interface{}`).
pub(crate) struct List {
    pub items: Vec<Value>,
    weight: u64,
}

/// A map with string keys: `map[string]string` (the data, `split`) or `map[string]interface{}`.
pub(crate) struct Dict {
    pub map: BTreeMap<Vec<u8>, Value>,
    /// `map[string]string`: a missing key indexes to `""`, not to nil.
    pub strings: bool,
    weight: u64,
}

/// Values are secret: Debug shows the kind and size only.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(weight {})", self.kind_name(), self.weight())
    }
}

impl Value {
    pub fn str(bytes: impl Into<Rc<[u8]>>) -> Value {
        Value::Str(bytes.into())
    }

    pub fn string(s: String) -> Value {
        Value::Str(Rc::from(s.into_bytes()))
    }

    pub fn empty_str() -> Value {
        Value::Str(Rc::from(&b""[..]))
    }

    pub fn list(items: Vec<Value>) -> Value {
        let weight = items.iter().fold(2u64, |w, v| {
            w.saturating_add(v.weight()).saturating_add(ITEM_WEIGHT)
        });
        Value::List(Rc::new(List { items, weight }))
    }

    pub fn dict(map: BTreeMap<Vec<u8>, Value>, strings: bool) -> Value {
        let weight = map.iter().fold(5u64, |w, (k, v)| {
            w.saturating_add(k.len() as u64)
                .saturating_add(1)
                .saturating_add(v.weight())
                .saturating_add(ITEM_WEIGHT)
        });
        Value::Dict(Rc::new(Dict {
            map,
            strings,
            weight,
        }))
    }

    /// Upper bound on the printed length (see the module doc).
    pub fn weight(&self) -> u64 {
        match self {
            Value::NoValue => NO_VALUE_WEIGHT,
            Value::Nil => NIL_WEIGHT,
            Value::Bool(_) => BOOL_WEIGHT,
            Value::Int(_) => INT_WEIGHT,
            Value::Float(_) => FLOAT_WEIGHT,
            Value::Str(s) => s.len() as u64,
            Value::List(l) => l.weight,
            Value::Dict(d) => d.weight,
        }
    }

    /// Go's kind names, as `kindOf` prints them.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::NoValue | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Dict(_) => "map",
        }
    }

    /// Go's type names, as `typeOf` and `%T` print them.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::NoValue | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Dict(d) if d.strings => "map[string]string",
            Value::Dict(_) => "map[string]interface {}",
        }
    }

    /// Go's `truth` (`if`, `with`, `and`, `or`, `not`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::NoValue | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Dict(d) => !d.map.is_empty(),
        }
    }

    /// Sprig's `empty` (the same as Go's falsiness for these kinds).
    pub fn is_empty(&self) -> bool {
        !self.truthy()
    }

    /// Number of items of a string (bytes), list or map; `None` for other kinds.
    pub fn len(&self) -> Option<usize> {
        match self {
            Value::Str(s) => Some(s.len()),
            Value::List(l) => Some(l.items.len()),
            Value::Dict(d) => Some(d.map.len()),
            _ => None,
        }
    }

    /// A value passed where Go wants `interface{}`: an invalid value becomes nil.
    pub fn arg(self) -> Value {
        match self {
            Value::NoValue => Value::Nil,
            v => v,
        }
    }

    /// Sprig's `strval`/`toString`: strings as they are, everything else as `%v`.
    pub fn to_bytes(&self) -> Rc<[u8]> {
        match self {
            Value::Str(s) => s.clone(),
            other => {
                let mut out = Vec::new();
                other.print(&mut out);
                Rc::from(out)
            }
        }
    }

    /// Total conversion to an integer (Sprig's `toInt64` rules: strings parsed, else 0).
    pub fn to_int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Float(f) => gofmt::float_to_int(*f),
            Value::Bool(b) => i64::from(*b),
            Value::Str(s) => gofmt::parse_int_lenient(s),
            _ => 0,
        }
    }

    /// Total conversion to a float (Sprig's `toFloat64` rules: strings parsed, else 0).
    pub fn to_float(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => std::str::from_utf8(s)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// The items of a list (lists only).
    pub fn items(&self) -> &[Value] {
        match self {
            Value::List(l) => &l.items,
            _ => &[],
        }
    }

    /// Prints as Go's `fmt.Sprint(v)` (and the template's output) would.
    pub fn print(&self, out: &mut Vec<u8>) {
        self.print_depth(out, 0);
    }

    fn print_depth(&self, out: &mut Vec<u8>, depth: usize) {
        // Values nest at most check::MAX_VALUE_DEPTH deep; this only guards the recursion.
        if depth > super::limits::MAX_VALUE_DEPTH + 2 {
            return;
        }
        match self {
            Value::NoValue => out.extend_from_slice(b"<no value>"),
            Value::Nil => out.extend_from_slice(b"<nil>"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => {
                out.extend_from_slice(gofmt::format_float(*f, b'g', None).as_bytes())
            }
            Value::Str(s) => out.extend_from_slice(s),
            Value::List(l) => {
                out.push(b'[');
                for (i, v) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    v.print_elem(out, depth + 1);
                }
                out.push(b']');
            }
            Value::Dict(d) => {
                out.extend_from_slice(b"map[");
                for (i, (k, v)) in d.map.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(k);
                    out.push(b':');
                    v.print_elem(out, depth + 1);
                }
                out.push(b']');
            }
        }
    }

    /// An element inside a collection: a nil element prints `<nil>`.
    fn print_elem(&self, out: &mut Vec<u8>, depth: usize) {
        match self {
            Value::NoValue => out.extend_from_slice(b"<nil>"),
            v => v.print_depth(out, depth),
        }
    }

    /// Go's `eq` on two values of one basic kind; `None` when Go could not compare them.
    pub fn basic_eq(&self, other: &Value) -> Option<bool> {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => Some(a == b),
            (Value::Int(a), Value::Int(b)) => Some(a == b),
            (Value::Float(a), Value::Float(b)) => Some(a == b),
            (Value::Str(a), Value::Str(b)) => Some(a == b),
            (Value::NoValue | Value::Nil, Value::NoValue | Value::Nil) => Some(true),
            (Value::NoValue | Value::Nil, _) | (_, Value::NoValue | Value::Nil) => Some(false),
            _ => None,
        }
    }

    /// Go's `lt` on two values of one ordered kind; `None` when Go could not order them.
    pub fn basic_lt(&self, other: &Value) -> Option<bool> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a < b),
            (Value::Float(a), Value::Float(b)) => Some(a < b),
            (Value::Str(a), Value::Str(b)) => Some(a < b),
            _ => None,
        }
    }

    /// Deep equality (Sprig's `has`, `without`, `uniq` use `reflect.DeepEqual`).
    pub fn deep_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::List(a), Value::List(b)) => {
                a.items.len() == b.items.len()
                    && a.items.iter().zip(&b.items).all(|(x, y)| x.deep_eq(y))
            }
            (Value::Dict(a), Value::Dict(b)) => {
                a.strings == b.strings
                    && a.map.len() == b.map.len()
                    && a.map
                        .iter()
                        .zip(&b.map)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.deep_eq(vb))
            }
            (a, b) => a.basic_eq(b).unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(v: &Value) -> String {
        let mut out = Vec::new();
        v.print(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn prints_like_go_and_weight_bounds_the_printed_length() {
        let l = Value::list(vec![
            Value::string("a".into()),
            Value::Int(-12),
            Value::NoValue,
            Value::Float(1e21),
            Value::list(vec![]),
        ]);
        let mut m = BTreeMap::new();
        m.insert(b"k".to_vec(), l.clone());
        m.insert(b"a".to_vec(), Value::Bool(true));
        let d = Value::dict(m, false);
        assert_eq!(printed(&l), "[a -12 <nil> 1e+21 []]");
        assert_eq!(printed(&d), "map[a:true k:[a -12 <nil> 1e+21 []]]");
        for v in [
            l,
            d,
            Value::Float(-2.2250738585072014e-308),
            Value::Int(i64::MIN),
        ] {
            assert!(printed(&v).len() as u64 <= v.weight());
        }
    }

    #[test]
    fn debug_shows_no_content() {
        let v = Value::string("hunter2".into());
        assert!(!format!("{v:?}").contains("hunter2"));
    }
}
