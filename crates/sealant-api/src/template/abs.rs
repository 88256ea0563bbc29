//! Abstract values: what `check` knows of a value before any value is read. Built only from the
//! template text, the item names and the value LENGTHS, so every decision taken from them is
//! the same for any two plaintexts of the same lengths.
//!
//! An [`Abs`] over-approximates a set of runtime values: their possible kinds, a bound on their
//! weight ([`super::value::Value::weight`]), a bound on the integer they convert to (for counts
//! such as `repeat` and `range`), a bound on their nesting depth, and, when known, a constant,
//! the element shape of a collection, or the exact keys of a map.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::value::{
    BOOL_WEIGHT, FLOAT_WEIGHT, INT_WEIGHT, ITEM_WEIGHT, NIL_WEIGHT, NO_VALUE_WEIGHT, Value,
};

pub(crate) const K_NOVALUE: u16 = 1;
pub(crate) const K_NIL: u16 = 2;
pub(crate) const K_BOOL: u16 = 4;
pub(crate) const K_INT: u16 = 8;
pub(crate) const K_FLOAT: u16 = 16;
pub(crate) const K_STR: u16 = 32;
pub(crate) const K_LIST: u16 = 64;
pub(crate) const K_DICT: u16 = 128;
pub(crate) const K_ANY: u16 = 255;

/// A bound that is too large to matter: anything using it exceeds a limit.
pub(crate) const HUGE: u64 = u64::MAX / 4;

/// An abstract value (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Abs {
    pub kinds: u16,
    /// Upper bound on the weight.
    pub w: u64,
    /// Upper bound on the magnitude of the value's integer conversion.
    pub int: u64,
    /// Upper bound on the collection nesting depth (0 for scalars).
    pub depth: u32,
    /// The value, when it is a known constant (literal).
    pub konst: Option<Konst>,
    /// Shape of every element (list items, map values), when a collection.
    pub elem: Option<Rc<Abs>>,
    /// The exact keys of a map and the shape of each value, when known.
    pub fields: Option<Rc<BTreeMap<Vec<u8>, Abs>>>,
    /// A map of strings (`map[string]string`): missing keys index to `""`.
    pub string_map: bool,
}

/// A constant known at check time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Konst {
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Konst {
    pub fn value(&self) -> Value {
        match self {
            Konst::Str(s) => Value::str(s.as_slice()),
            Konst::Int(i) => Value::Int(*i),
            Konst::Float(f) => Value::Float(*f),
            Konst::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Kind names for messages.
pub(crate) fn kind_names(kinds: u16) -> String {
    let names = [
        (K_NOVALUE, "<no value>"),
        (K_NIL, "nil"),
        (K_BOOL, "bool"),
        (K_INT, "int"),
        (K_FLOAT, "float64"),
        (K_STR, "string"),
        (K_LIST, "list"),
        (K_DICT, "map"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(k, _)| kinds & k != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join(" or ")
}

impl Abs {
    fn scalar(kinds: u16, w: u64, int: u64) -> Abs {
        Abs {
            kinds,
            w,
            int,
            depth: 0,
            konst: None,
            elem: None,
            fields: None,
            string_map: false,
        }
    }

    pub fn no_value() -> Abs {
        Abs::scalar(K_NOVALUE, NO_VALUE_WEIGHT, 0)
    }

    pub fn nil() -> Abs {
        Abs::scalar(K_NIL, NIL_WEIGHT, 0)
    }

    pub fn boolean() -> Abs {
        Abs::scalar(K_BOOL, BOOL_WEIGHT, 1)
    }

    /// An int of magnitude at most `bound`.
    pub fn int(bound: u64) -> Abs {
        Abs::scalar(K_INT, INT_WEIGHT, bound)
    }

    pub fn float() -> Abs {
        Abs::scalar(K_FLOAT, FLOAT_WEIGHT, HUGE)
    }

    /// A string of at most `len` bytes (its integer conversion is unbounded).
    pub fn string(len: u64) -> Abs {
        Abs::scalar(K_STR, len, HUGE)
    }

    pub fn constant(k: Konst) -> Abs {
        let mut a = match &k {
            Konst::Str(s) => {
                let mut a = Abs::string(s.len() as u64);
                a.int = Value::str(s.as_slice()).to_int().unsigned_abs();
                a
            }
            Konst::Int(i) => Abs::int(i.unsigned_abs()),
            Konst::Float(f) => {
                let mut a = Abs::float();
                a.int = super::gofmt::float_to_int(*f).unsigned_abs();
                a
            }
            Konst::Bool(_) => Abs::boolean(),
        };
        a.konst = Some(k);
        a
    }

    /// A list of weight at most `w` whose items look like `elem`.
    pub fn list(w: u64, elem: Abs) -> Abs {
        Abs {
            kinds: K_LIST,
            w,
            int: 0,
            depth: elem.depth.saturating_add(1),
            konst: None,
            elem: Some(Rc::new(elem)),
            fields: None,
            string_map: false,
        }
    }

    /// A map of weight at most `w` whose values look like `elem`.
    pub fn dict(w: u64, elem: Abs, string_map: bool) -> Abs {
        Abs {
            kinds: K_DICT,
            w,
            int: 0,
            depth: elem.depth.saturating_add(1),
            konst: None,
            elem: Some(Rc::new(elem)),
            fields: None,
            string_map,
        }
    }

    /// Anything of weight at most `w` nested at most `depth` deep.
    pub fn any(w: u64, depth: u32) -> Abs {
        Abs {
            kinds: K_ANY,
            w,
            int: HUGE,
            depth,
            konst: None,
            elem: None,
            fields: None,
            string_map: false,
        }
    }

    /// The shape of an element of this collection (unknown elements: anything lighter).
    pub fn element(&self) -> Abs {
        match &self.elem {
            Some(e) => (**e).clone(),
            None => Abs::any(self.w, self.depth.saturating_sub(1)),
        }
    }

    /// Most items a collection of this weight can have.
    pub fn max_items(&self) -> u64 {
        self.w / ITEM_WEIGHT
    }

    /// The least upper bound of two abstract values.
    pub fn join(&self, other: &Abs) -> Abs {
        if self == other {
            return self.clone();
        }
        let elem = match (&self.elem, &other.elem) {
            (Some(a), Some(b)) => Some(Rc::new(a.join(b))),
            (Some(a), None) if other.kinds & (K_LIST | K_DICT) == 0 => Some(a.clone()),
            (None, Some(b)) if self.kinds & (K_LIST | K_DICT) == 0 => Some(b.clone()),
            _ => None,
        };
        let fields = match (&self.fields, &other.fields) {
            (Some(a), Some(b)) if a.keys().eq(b.keys()) => Some(Rc::new(
                a.iter()
                    .zip(b.values())
                    .map(|((k, x), y)| (k.clone(), x.join(y)))
                    .collect(),
            )),
            (Some(a), None) if other.kinds & K_DICT == 0 => Some(a.clone()),
            (None, Some(b)) if self.kinds & K_DICT == 0 => Some(b.clone()),
            _ => None,
        };
        let only_self_dict = other.kinds & K_DICT == 0;
        let only_other_dict = self.kinds & K_DICT == 0;
        Abs {
            kinds: self.kinds | other.kinds,
            w: self.w.max(other.w),
            int: self.int.max(other.int),
            depth: self.depth.max(other.depth),
            konst: if self.konst == other.konst {
                self.konst.clone()
            } else {
                None
            },
            elem,
            fields,
            string_map: (self.string_map || only_self_dict)
                && (other.string_map || only_other_dict),
        }
    }

    /// This value passed as `interface{}`: an invalid value becomes nil.
    pub fn arg(&self) -> Abs {
        if self.kinds & K_NOVALUE == 0 {
            return self.clone();
        }
        let mut a = self.clone();
        a.kinds = (a.kinds & !K_NOVALUE) | K_NIL;
        a
    }

    /// Whether the value is certainly one of `kinds`.
    pub fn only(&self, kinds: u16) -> bool {
        self.kinds & !kinds == 0
    }
}

/// `a + b`, saturating at [`HUGE`].
pub(crate) fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(HUGE)
}

/// `a * b`, saturating at [`HUGE`].
pub(crate) fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b).min(HUGE)
}
