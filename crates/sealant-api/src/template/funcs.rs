//! The functions templates can call: Go's built-ins and Sprig's generic functions, each with
//! three faces that must agree:
//!
//! - [`Func::sig`]: arity and parameter kinds, checked before rendering (an argument that is
//!   certainly of a kind Go would reject is an error at check time);
//! - [`Func::abs`]: the abstract result, from the arguments' abstract values (bounds on weight,
//!   integer magnitude and depth), and [`Func::cost`], the work bound of one call;
//! - [`Func::call`]: the result. TOTAL: every input, of any kind or content, gives a value;
//!   where Go or Sprig would fail on the content, a documented fallback value is returned.
//!
//! Functions that can only fail, draw randomness or time, read the environment, mutate, or
//! turn a value into an error are not here: [`Func::lookup`] refuses them by name.

use std::collections::BTreeMap;

use super::abs::{
    Abs, HUGE, K_ANY, K_BOOL, K_DICT, K_FLOAT, K_INT, K_LIST, K_NIL, K_NOVALUE, K_STR, Konst, add,
    mul,
};
use super::encode;
use super::gofmt::{self, runes};
use super::value::{ITEM_WEIGHT, Value};

/// Parameter kinds.
const S: u16 = K_STR;
const I: u16 = K_INT;
const B: u16 = K_BOOL;
const A: u16 = K_ANY;
const L: u16 = K_LIST;
const D: u16 = K_DICT;
const N: u16 = K_INT | K_FLOAT | K_STR | K_BOOL | K_NIL | K_NOVALUE;

macro_rules! funcs {
    ($($v:ident $name:literal $min:literal $max:tt [$($p:expr),*];)*) => {
        /// A supported function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Func { $($v,)* }

        /// Every supported function name, for messages and documentation.
        pub const SUPPORTED: &[&str] = &[$($name,)*];

        impl Func {
            fn by_name(name: &str) -> Option<Func> {
                match name { $($name => Some(Func::$v),)* _ => None }
            }

            /// The name templates use.
            pub fn name(self) -> &'static str {
                match self { $(Func::$v => $name,)* }
            }

            /// `(min args, max args, parameter kinds; the last one repeats)`.
            pub fn sig(self) -> (usize, Option<usize>, &'static [u16]) {
                match self { $(Func::$v => ($min, funcs!(@max $max), &[$($p),*]),)* }
            }
        }
    };
    (@max _) => { None };
    (@max $n:literal) => { Some($n) };
}

funcs! {
    // Go built-ins.
    And "and" 1 _ [A];
    Or "or" 1 _ [A];
    Not "not" 1 1 [A];
    Len "len" 1 1 [K_STR | K_LIST | K_DICT];
    Index "index" 1 _ [K_STR | K_LIST | K_DICT | K_NIL | K_NOVALUE, A];
    Slice "slice" 1 4 [K_STR | K_LIST | K_NIL | K_NOVALUE, I];
    Print "print" 0 _ [A];
    Printf "printf" 1 _ [S, A];
    Println "println" 0 _ [A];
    Urlquery "urlquery" 0 _ [A];
    Html "html" 0 _ [A];
    Js "js" 0 _ [A];
    Eq "eq" 2 _ [A];
    Ne "ne" 2 2 [A];
    Lt "lt" 2 2 [A];
    Le "le" 2 2 [A];
    Gt "gt" 2 2 [A];
    Ge "ge" 2 2 [A];
    // Sprig strings.
    Trim "trim" 1 1 [S];
    TrimAll "trimAll" 2 2 [S];
    Trimall "trimall" 2 2 [S];
    TrimPrefix "trimPrefix" 2 2 [S];
    TrimSuffix "trimSuffix" 2 2 [S];
    Upper "upper" 1 1 [S];
    Lower "lower" 1 1 [S];
    Title "title" 1 1 [S];
    Untitle "untitle" 1 1 [S];
    Replace "replace" 3 3 [S];
    Split "split" 2 2 [S];
    SplitList "splitList" 2 2 [S];
    Splitn "splitn" 3 3 [S, I, S];
    Join "join" 2 2 [S, A];
    Contains "contains" 2 2 [S];
    HasPrefix "hasPrefix" 2 2 [S];
    HasSuffix "hasSuffix" 2 2 [S];
    Quote "quote" 0 _ [A];
    Squote "squote" 0 _ [A];
    Cat "cat" 0 _ [A];
    Indent "indent" 2 2 [I, S];
    Nindent "nindent" 2 2 [I, S];
    Trunc "trunc" 2 2 [I, S];
    Abbrev "abbrev" 2 2 [I, S];
    Repeat "repeat" 2 2 [I, S];
    Substr "substr" 3 3 [I, I, S];
    Nospace "nospace" 1 1 [S];
    Initials "initials" 1 1 [S];
    Plural "plural" 3 3 [S, S, I];
    ToString "toString" 1 1 [A];
    ToStrings "toStrings" 1 1 [A];
    // Encodings and hashes.
    B64enc "b64enc" 1 1 [S];
    B64dec "b64dec" 1 1 [S];
    B32enc "b32enc" 1 1 [S];
    B32dec "b32dec" 1 1 [S];
    Sha1sum "sha1sum" 1 1 [S];
    Sha256sum "sha256sum" 1 1 [S];
    Sha512sum "sha512sum" 1 1 [S];
    Adler32sum "adler32sum" 1 1 [S];
    Htpasswd "htpasswd" 2 2 [S];
    // Defaults and logic.
    Default "default" 1 2 [A];
    Empty "empty" 1 1 [A];
    Coalesce "coalesce" 0 _ [A];
    Ternary "ternary" 3 3 [A, A, B];
    All "all" 0 _ [A];
    Any "any" 0 _ [A];
    // JSON.
    ToJson "toJson" 1 1 [A];
    ToPrettyJson "toPrettyJson" 1 1 [A];
    ToRawJson "toRawJson" 1 1 [A];
    FromJson "fromJson" 1 1 [S];
    // Conversions and arithmetic.
    Atoi "atoi" 1 1 [S];
    Int "int" 1 1 [N];
    Int64 "int64" 1 1 [N];
    Float64 "float64" 1 1 [N];
    Add "add" 0 _ [N];
    Add1 "add1" 1 1 [N];
    Sub "sub" 2 2 [N];
    Mul "mul" 1 _ [N];
    Div "div" 2 2 [N];
    Mod "mod" 2 2 [N];
    Max "max" 1 _ [N];
    Min "min" 1 _ [N];
    // Lists.
    List "list" 0 _ [A];
    Tuple "tuple" 0 _ [A];
    First "first" 1 1 [L];
    Last "last" 1 1 [L];
    Rest "rest" 1 1 [L];
    Initial "initial" 1 1 [L];
    Append "append" 2 2 [L, A];
    Push "push" 2 2 [L, A];
    Prepend "prepend" 2 2 [L, A];
    Concat "concat" 0 _ [L];
    Reverse "reverse" 1 1 [L];
    Uniq "uniq" 1 1 [L];
    Compact "compact" 1 1 [L];
    Without "without" 1 _ [L, A];
    Has "has" 2 2 [A, L];
    SortAlpha "sortAlpha" 1 1 [A];
    Until "until" 1 1 [I];
    UntilStep "untilStep" 3 3 [I];
    // Maps.
    Dict "dict" 0 _ [A];
    Get "get" 2 2 [D, S];
    HasKey "hasKey" 2 2 [D, S];
    Keys "keys" 1 _ [D];
    Values "values" 1 1 [D];
    Pick "pick" 1 _ [D, S];
    Omit "omit" 1 _ [D, S];
    // Types and paths.
    TypeOf "typeOf" 1 1 [A];
    KindOf "kindOf" 1 1 [A];
    KindIs "kindIs" 2 2 [S, A];
    TypeIs "typeIs" 2 2 [S, A];
    DeepEqual "deepEqual" 2 2 [A];
    Base "base" 1 1 [S];
    Dir "dir" 1 1 [S];
    Ext "ext" 1 1 [S];
    Clean "clean" 1 1 [S];
    IsAbs "isAbs" 1 1 [S];
}

/// Functions refused by name, and why.
const REFUSED: &[(&[&str], &str)] = &[
    (
        &["fail", "required"],
        "it turns a value into an error, which would reveal the value through the object's status",
    ),
    (
        &["env", "expandenv", "getHostByName"],
        "it reads the controller's environment or network (refused upstream too)",
    ),
    (
        &[
            "now",
            "date",
            "dateInZone",
            "date_in_zone",
            "dateModify",
            "date_modify",
            "ago",
            "duration",
            "durationRound",
            "htmlDate",
            "htmlDateInZone",
            "toDate",
            "unixEpoch",
        ],
        "its output depends on the clock",
    ),
    (
        &[
            "randAlphaNum",
            "randAlpha",
            "randAscii",
            "randNumeric",
            "randInt",
            "randBytes",
            "shuffle",
            "uuidv4",
            "genPrivateKey",
            "genCA",
            "genCAWithKey",
            "genSelfSignedCert",
            "genSelfSignedCertWithKey",
            "genSignedCert",
            "genSignedCertWithKey",
            "buildCustomCert",
            "derivePassword",
            "encryptAES",
            "bcrypt",
        ],
        "it draws randomness or keys, or can fail on its input",
    ),
    (
        &["set", "unset", "merge", "mergeOverwrite", "deepCopy"],
        "it mutates a map, which bounds cannot follow",
    ),
    (
        &["decryptAES", "semver", "semverCompare", "call"],
        "it can fail on its input, which would reveal the value",
    ),
];

impl Func {
    /// Resolves a function name, or explains why it cannot be used.
    pub fn lookup(name: &str) -> Result<Func, String> {
        if let Some(f) = Func::by_name(name) {
            return Ok(f);
        }
        if name.starts_with("must") || name.starts_with("regex") {
            return Err(format!(
                "function {name:?} is not supported: must* functions turn values into errors and regex functions can fail on their input; supported: {}",
                SUPPORTED.join(", ")
            ));
        }
        for (names, why) in REFUSED {
            if names.contains(&name) {
                return Err(format!(
                    "function {name:?} is not allowed in spec.template.data: {why}"
                ));
            }
        }
        Err(format!(
            "function {name:?} is not defined; supported: {}",
            SUPPORTED.join(", ")
        ))
    }

    /// Work of one call whose arguments and result have these bounds.
    pub fn cost(self, args: &[Abs], result: &Abs) -> u64 {
        let sum = args.iter().fold(result.w, |s, a| add(s, a.w));
        let base = add(1, sum);
        match self {
            // Quadratic in the items: deep comparisons of each against the others.
            Func::Uniq | Func::Without | Func::Has => {
                let items = args.iter().map(Abs::max_items).max().unwrap_or(0);
                add(base, mul(items.saturating_add(1), sum))
            }
            Func::SortAlpha => mul(base, 32),
            Func::Htpasswd => add(base, 1 << 20),
            _ => base,
        }
    }

    /// Work of one call with these concrete arguments and result (never above [`Func::cost`]
    /// of their abstractions).
    pub fn actual_cost(self, args: &[Value], result: &Value) -> u64 {
        let sum = args.iter().fold(result.weight(), |s, a| add(s, a.weight()));
        let base = add(1, sum);
        match self {
            Func::Uniq | Func::Without | Func::Has => {
                let items = args
                    .iter()
                    .map(|a| a.weight() / ITEM_WEIGHT)
                    .max()
                    .unwrap_or(0);
                add(base, mul(items.saturating_add(1), sum))
            }
            Func::SortAlpha => mul(base, 32),
            Func::Htpasswd => add(base, 1 << 20),
            _ => base,
        }
    }

    /// The abstract result of a call.
    pub fn abs(self, a: &[Abs]) -> Abs {
        let w = |i: usize| a.get(i).map_or(0, |x| x.w);
        let int = |i: usize| a.get(i).map_or(0, |x| x.int);
        let konst_int = |i: usize| match a.get(i).and_then(|x| x.konst.as_ref()) {
            Some(Konst::Int(n)) => Some(*n),
            _ => None,
        };
        let total: u64 = a.iter().fold(0, |s, x| add(s, x.w));
        let count = a.len() as u64;
        let joined = || {
            a.iter()
                .skip(1)
                .fold(a.first().cloned().unwrap_or_else(Abs::nil), |j, x| {
                    j.join(x)
                })
        };
        let maxdepth = a.iter().map(|x| x.depth).max().unwrap_or(0);
        match self {
            Func::And | Func::Or => joined(),
            Func::Not | Func::Eq | Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
                Abs::boolean()
            }
            Func::Contains
            | Func::HasPrefix
            | Func::HasSuffix
            | Func::Empty
            | Func::All
            | Func::Any => Abs::boolean(),
            Func::HasKey
            | Func::Has
            | Func::KindIs
            | Func::TypeIs
            | Func::DeepEqual
            | Func::IsAbs => Abs::boolean(),
            Func::Len => Abs::int(w(0)),
            Func::Index => index_abs(a),
            Func::Slice => {
                let mut r = a[0].clone();
                r.kinds &= K_STR | K_LIST;
                if a[0].kinds & (K_NIL | K_NOVALUE) != 0 {
                    r = r.join(&Abs::no_value());
                }
                r.konst = None;
                r.fields = None;
                r
            }
            Func::Print | Func::Cat | Func::Squote => Abs::string(add(total, mul(count, 3))),
            Func::Println => Abs::string(add(total, add(count, 1))),
            Func::Printf => Abs::string(printf_bound(a)),
            Func::Urlquery => Abs::string(mul(add(total, count), 3)),
            Func::Html => Abs::string(mul(add(total, count), 5)),
            Func::Js => Abs::string(mul(add(total, count), 6)),
            Func::Quote => Abs::string(add(mul(total, 4), mul(count, 3))),
            Func::Trim | Func::TrimAll | Func::Trimall | Func::TrimPrefix | Func::TrimSuffix => {
                Abs::string(w(a.len() - 1))
            }
            Func::Trunc | Func::Abbrev | Func::Substr => Abs::string(w(a.len() - 1)),
            // Case mapping and rune-wise rewrites: an invalid byte becomes U+FFFD (3 bytes).
            Func::Upper
            | Func::Lower
            | Func::Title
            | Func::Untitle
            | Func::Nospace
            | Func::Initials => Abs::string(mul(w(0), 3)),
            Func::Replace => {
                let n = w(2);
                let times = match a[0].konst.as_ref() {
                    Some(Konst::Str(old)) if !old.is_empty() => n / old.len() as u64,
                    _ => add(n, 1),
                };
                Abs::string(add(n, mul(times, w(1))))
            }
            Func::Split | Func::Splitn => {
                let s = w(a.len() - 1);
                let parts = split_parts(&a[0], s);
                let key = 1 + digits(parts);
                Abs::dict(
                    add(5, add(s, mul(parts, key + 1 + ITEM_WEIGHT))),
                    Abs::string(s),
                    true,
                )
            }
            Func::SplitList => {
                let s = w(1);
                let parts = split_parts(&a[0], s);
                Abs::list(add(2, add(s, mul(parts, ITEM_WEIGHT))), Abs::string(s))
            }
            Func::Join => {
                let items = add(a[1].max_items(), 1);
                Abs::string(add(w(1), mul(items, w(0))))
            }
            Func::Indent | Func::Nindent => {
                let s = w(1);
                Abs::string(add(add(s, 1), mul(add(s, 1), int(0))))
            }
            Func::Repeat => Abs::string(mul(int(0), w(1))),
            Func::Plural => Abs::string(w(0).max(w(1))),
            Func::ToString => Abs::string(w(0)),
            Func::ToStrings => Abs::list(add(mul(w(0), 2), 2 + ITEM_WEIGHT), Abs::string(w(0))),
            Func::B64enc => Abs::string(mul(add(w(0), 2) / 3, 4)),
            Func::B32enc => Abs::string(mul(add(w(0), 4) / 5, 8)),
            Func::B64dec | Func::B32dec => Abs::string((w(0) * 3 / 4 + 1).max(64)),
            Func::Sha1sum => Abs::string(40),
            Func::Sha256sum => Abs::string(64),
            Func::Sha512sum => Abs::string(128),
            Func::Adler32sum => Abs::string(10),
            Func::Htpasswd => Abs::string(add(w(0), 100)),
            Func::Default => {
                if a.len() == 1 {
                    a[0].arg()
                } else {
                    a[0].arg().join(&a[1].arg())
                }
            }
            Func::Coalesce => a.iter().fold(Abs::nil(), |j, x| j.join(&x.arg())),
            Func::Ternary => a[0].arg().join(&a[1].arg()),
            Func::ToJson | Func::ToRawJson => Abs::string(add(mul(w(0), 6), 2)),
            Func::ToPrettyJson => {
                let lines = add(a[0].max_items(), 2);
                Abs::string(add(
                    add(mul(w(0), 6), 2),
                    mul(lines, 2 * (u64::from(a[0].depth) + 2)),
                ))
            }
            Func::FromJson => {
                let mut r = Abs::any(add(mul(w(0), 24), 8), super::limits::MAX_JSON_DEPTH as u32);
                r.kinds = K_NIL | K_BOOL | K_FLOAT | K_STR | K_LIST | K_DICT;
                r
            }
            Func::Atoi | Func::Int | Func::Int64 => {
                let mut r = Abs::int(int(0));
                if a[0].kinds & (K_STR | K_FLOAT) != 0 && a[0].konst.is_none() {
                    r.int = HUGE;
                }
                r
            }
            Func::Float64 => Abs::float(),
            Func::Add => Abs::int(a.iter().fold(0, |s, x| add(s, x.int))),
            Func::Add1 => Abs::int(add(int(0), 1)),
            Func::Sub => Abs::int(add(int(0), int(1))),
            Func::Mul => Abs::int(a.iter().fold(1, |s, x| mul(s, x.int))),
            Func::Div => Abs::int(int(0)),
            Func::Mod => Abs::int(int(0).min(int(1))),
            Func::Max | Func::Min => Abs::int(a.iter().map(|x| x.int).max().unwrap_or(0)),
            Func::List | Func::Tuple => {
                let elem = a.iter().fold(None::<Abs>, |j, x| {
                    Some(match j {
                        None => x.arg(),
                        Some(j) => j.join(&x.arg()),
                    })
                });
                let mut r = Abs::list(
                    add(2, add(total, mul(count, ITEM_WEIGHT))),
                    elem.clone().unwrap_or_else(Abs::nil),
                );
                r.depth = maxdepth.saturating_add(1);
                if elem.is_none() {
                    r.elem = None;
                }
                r
            }
            Func::First | Func::Last => {
                // An element weighs no more than its list; an empty list gives nil.
                let mut e = a[0].element();
                e.w = e.w.min(w(0));
                e.join(&Abs::nil())
            }
            Func::Rest
            | Func::Initial
            | Func::Reverse
            | Func::Uniq
            | Func::Compact
            | Func::Without => Abs::list(w(0), a[0].element()),
            Func::SortAlpha => Abs::list(add(mul(w(0), 2), 2 + ITEM_WEIGHT), Abs::string(w(0))),
            Func::Append | Func::Push | Func::Prepend => {
                let mut r = Abs::list(
                    add(add(w(0), w(1)), ITEM_WEIGHT),
                    a[0].element().join(&a[1].arg()),
                );
                r.depth = a[0].depth.max(a[1].depth.saturating_add(1)).max(1);
                r
            }
            Func::Concat => {
                let elem = a.iter().fold(None::<Abs>, |j, x| {
                    Some(match j {
                        None => x.element(),
                        Some(j) => j.join(&x.element()),
                    })
                });
                let mut r = Abs::list(add(total, 2), elem.unwrap_or_else(Abs::nil));
                r.depth = maxdepth.max(1);
                r
            }
            Func::Until => Abs::list(add(2, mul(int(0), 20 + ITEM_WEIGHT)), Abs::int(int(0))),
            Func::UntilStep => {
                let span = add(int(0), int(1));
                let step = match konst_int(2) {
                    Some(s) if s != 0 => s.unsigned_abs(),
                    _ => 1,
                };
                let items = add(span / step, 1);
                Abs::list(add(2, mul(items, 20 + ITEM_WEIGHT)), Abs::int(span))
            }
            Func::Dict => {
                let mut fields = BTreeMap::new();
                let mut all_known = true;
                let mut elem: Option<Abs> = None;
                let mut weight: u64 = 5;
                for pair in a.chunks(2) {
                    let v = pair
                        .get(1)
                        .map_or_else(|| Abs::constant(Konst::Str(Vec::new())), Abs::arg);
                    weight = add(weight, add(add(pair[0].w, v.w), 1 + ITEM_WEIGHT));
                    elem = Some(match elem {
                        None => v.clone(),
                        Some(e) => e.join(&v),
                    });
                    match &pair[0].konst {
                        Some(k) => {
                            fields.insert(k.value().to_bytes().to_vec(), v);
                        }
                        None => all_known = false,
                    }
                }
                let mut r = Abs::dict(weight, elem.clone().unwrap_or_else(Abs::nil), false);
                r.depth = maxdepth.saturating_add(1);
                if elem.is_none() {
                    r.elem = None;
                }
                if all_known {
                    r.fields = Some(std::rc::Rc::new(fields));
                }
                r
            }
            Func::Get => {
                let mut e = a[0].element().join(&Abs::constant(Konst::Str(Vec::new())));
                if let (Some(fields), Some(Konst::Str(k))) = (&a[0].fields, &a[1].konst) {
                    e = fields
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| Abs::constant(Konst::Str(Vec::new())));
                }
                e.w = e.w.min(w(0));
                e
            }
            Func::Keys => Abs::list(add(total, 2), Abs::string(total)),
            Func::Values => Abs::list(w(0), a[0].element()),
            Func::Pick | Func::Omit => {
                let mut r = Abs::dict(w(0), a[0].element(), a[0].string_map);
                r.depth = a[0].depth.max(1);
                r
            }
            Func::TypeOf => Abs::string(24),
            Func::KindOf => Abs::string(8),
            Func::Base | Func::Dir | Func::Ext | Func::Clean => Abs::string(add(w(0), 1)),
        }
    }

    /// Calls the function. Total: see the module doc.
    pub fn call(self, args: Vec<Value>) -> Value {
        let s = |i: usize| args.get(i).map(as_str).unwrap_or_default();
        let n = |i: usize| args.get(i).map_or(0, Value::to_int);
        let bytes = |v: Vec<u8>| Value::str(v);
        let boolean = Value::Bool;
        match self {
            Func::And => {
                for a in &args {
                    if !a.truthy() {
                        return a.clone();
                    }
                }
                args.last().cloned().unwrap_or(Value::NoValue)
            }
            Func::Or => {
                for a in &args {
                    if a.truthy() {
                        return a.clone();
                    }
                }
                args.last().cloned().unwrap_or(Value::NoValue)
            }
            Func::Not => boolean(!args.first().is_some_and(Value::truthy)),
            Func::Len => Value::Int(args.first().and_then(Value::len).map_or(0, |l| l as i64)),
            Func::Index => index(&args),
            Func::Slice => slice(&args),
            Func::Print => bytes(sprint(&args, false)),
            Func::Println => bytes(sprint(&args, true)),
            Func::Printf => bytes(gofmt::sprintf(&s(0), &args[1..])),
            Func::Urlquery => bytes(encode::query_escape(&sprint(&args, false))),
            Func::Html => bytes(encode::html_escape(&sprint(&args, false))),
            Func::Js => bytes(encode::js_escape(&sprint(&args, false))),
            Func::Eq => {
                let first = &args[0];
                boolean(args[1..].iter().any(|b| first.basic_eq(b) == Some(true)))
            }
            Func::Ne => boolean(args[0].basic_eq(&args[1]) == Some(false)),
            Func::Lt => boolean(args[0].basic_lt(&args[1]) == Some(true)),
            Func::Le => boolean(
                args[0].basic_lt(&args[1]) == Some(true)
                    || args[0].basic_eq(&args[1]) == Some(true)
                        && args[0].basic_lt(&args[1]).is_some(),
            ),
            Func::Gt => boolean(args[1].basic_lt(&args[0]) == Some(true)),
            Func::Ge => boolean(
                args[1].basic_lt(&args[0]) == Some(true)
                    || args[0].basic_eq(&args[1]) == Some(true)
                        && args[0].basic_lt(&args[1]).is_some(),
            ),
            Func::Trim => bytes(trim_space(&s(0)).to_vec()),
            Func::TrimAll | Func::Trimall => bytes(trim_set(&s(1), &s(0))),
            Func::TrimPrefix => {
                let (p, v) = (s(0), s(1));
                bytes(v.strip_prefix(p.as_slice()).unwrap_or(&v).to_vec())
            }
            Func::TrimSuffix => {
                let (p, v) = (s(0), s(1));
                bytes(v.strip_suffix(p.as_slice()).unwrap_or(&v).to_vec())
            }
            Func::Upper => bytes(map_runes(&s(0), upper_rune)),
            Func::Lower => bytes(map_runes(&s(0), lower_rune)),
            Func::Title => bytes(title(&s(0))),
            Func::Untitle => bytes(untitle(&s(0))),
            Func::Replace => bytes(replace(&s(2), &s(0), &s(1))),
            Func::Split => split_dict(split(&s(1), &s(0), -1)),
            Func::Splitn => split_dict(split(&s(2), &s(0), n(1))),
            Func::SplitList => Value::list(
                split(&s(1), &s(0), -1)
                    .into_iter()
                    .map(Value::str)
                    .collect(),
            ),
            Func::Join => {
                let sep = s(0);
                let parts = strslice(&args[1]);
                bytes(parts.join(sep.as_slice()))
            }
            Func::Contains => boolean(find(&s(1), &s(0)).is_some()),
            Func::HasPrefix => boolean(s(1).starts_with(&s(0))),
            Func::HasSuffix => boolean(s(1).ends_with(&s(0))),
            Func::Quote => {
                let parts: Vec<Vec<u8>> = args
                    .iter()
                    .filter(|a| !is_nil(a))
                    .map(|a| gofmt::quote(&a.to_bytes(), false))
                    .collect();
                bytes(parts.join(&b' '))
            }
            Func::Squote => {
                let parts: Vec<Vec<u8>> = args
                    .iter()
                    .filter(|a| !is_nil(a))
                    .map(|a| {
                        let mut p = vec![b'\''];
                        a.print(&mut p);
                        p.push(b'\'');
                        p
                    })
                    .collect();
                bytes(parts.join(&b' '))
            }
            Func::Cat => {
                let parts: Vec<Vec<u8>> = args
                    .iter()
                    .filter(|a| !is_nil(a))
                    .map(|a| {
                        let mut p = Vec::new();
                        a.print(&mut p);
                        p
                    })
                    .collect();
                bytes(parts.join(&b' '))
            }
            Func::Indent | Func::Nindent => {
                let pad = vec![b' '; usize::try_from(n(0).max(0)).unwrap_or(0)];
                let mut out = Vec::new();
                if self == Func::Nindent {
                    out.push(b'\n');
                }
                out.extend_from_slice(&pad);
                let mut nl = b"\n".to_vec();
                nl.extend_from_slice(&pad);
                out.extend_from_slice(&replace(&s(1), b"\n", &nl));
                bytes(out)
            }
            Func::Trunc => {
                let (c, v) = (n(0), s(1));
                let len = v.len() as i64;
                let out = if c < 0 && len + c > 0 {
                    &v[usize::try_from(len + c).unwrap_or(0)..]
                } else if c >= 0 && len > c {
                    &v[..usize::try_from(c).unwrap_or(0)]
                } else {
                    &v[..]
                };
                bytes(out.to_vec())
            }
            Func::Abbrev => {
                let (width, v) = (n(0), s(1));
                if width < 4 || v.len() as i64 <= width {
                    bytes(v)
                } else {
                    let mut out = v[..usize::try_from(width - 3).unwrap_or(0)].to_vec();
                    out.extend_from_slice(b"...");
                    bytes(out)
                }
            }
            Func::Repeat => {
                let count = usize::try_from(n(0).max(0)).unwrap_or(0);
                bytes(s(1).repeat(count))
            }
            Func::Substr => bytes(substr(n(0), n(1), &s(2))),
            Func::Nospace => bytes(
                runes(&s(0))
                    .filter(|(c, _)| !c.is_whitespace())
                    .flat_map(|(c, _)| c.to_string().into_bytes())
                    .collect(),
            ),
            Func::Initials => bytes(initials(&s(0))),
            Func::Plural => {
                if n(2) == 1 {
                    bytes(s(0))
                } else {
                    bytes(s(1))
                }
            }
            Func::ToString => Value::Str(args[0].to_bytes()),
            Func::ToStrings => {
                Value::list(strslice(&args[0]).into_iter().map(Value::str).collect())
            }
            Func::B64enc => bytes(encode::b64enc(&s(0))),
            Func::B64dec => bytes(encode::b64dec(&s(0))),
            Func::B32enc => bytes(encode::b32enc(&s(0))),
            Func::B32dec => bytes(encode::b32dec(&s(0))),
            Func::Sha1sum => bytes(encode::sha1sum(&s(0))),
            Func::Sha256sum => bytes(encode::sha256sum(&s(0))),
            Func::Sha512sum => bytes(encode::sha512sum(&s(0))),
            Func::Adler32sum => bytes(encode::adler32sum(&s(0))),
            Func::Htpasswd => bytes(htpasswd(&s(0), &s(1))),
            Func::Default => {
                let given = args.get(1).cloned().unwrap_or(Value::NoValue);
                if given.is_empty() {
                    args[0].clone().arg()
                } else {
                    given.arg()
                }
            }
            Func::Empty => boolean(args[0].is_empty()),
            Func::Coalesce => args
                .iter()
                .find(|a| !a.is_empty())
                .cloned()
                .unwrap_or(Value::Nil),
            Func::Ternary => {
                if args[2].truthy() {
                    args[0].clone().arg()
                } else {
                    args[1].clone().arg()
                }
            }
            Func::All => boolean(args.iter().all(|a| !a.is_empty())),
            Func::Any => boolean(args.iter().any(|a| !a.is_empty())),
            Func::ToJson => bytes(encode::to_json(&args[0], false, true).unwrap_or_default()),
            Func::ToPrettyJson => bytes(encode::to_json(&args[0], true, true).unwrap_or_default()),
            Func::ToRawJson => bytes(encode::to_json(&args[0], false, false).unwrap_or_default()),
            Func::FromJson => encode::from_json(&s(0)),
            Func::Atoi => Value::Int(
                std::str::from_utf8(&s(0))
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
                    .unwrap_or(0),
            ),
            Func::Int | Func::Int64 => Value::Int(n(0)),
            Func::Float64 => Value::Float(args[0].to_float()),
            Func::Add => Value::Int(args.iter().fold(0i64, |s, a| s.wrapping_add(a.to_int()))),
            Func::Add1 => Value::Int(n(0).wrapping_add(1)),
            Func::Sub => Value::Int(n(0).wrapping_sub(n(1))),
            Func::Mul => Value::Int(args.iter().fold(1i64, |s, a| s.wrapping_mul(a.to_int()))),
            Func::Div => Value::Int(n(0).checked_div(n(1)).unwrap_or(0)),
            Func::Mod => Value::Int(n(0).checked_rem(n(1)).unwrap_or(0)),
            Func::Max => Value::Int(args.iter().map(Value::to_int).max().unwrap_or(0)),
            Func::Min => Value::Int(args.iter().map(Value::to_int).min().unwrap_or(0)),
            Func::List | Func::Tuple => Value::list(args.into_iter().map(Value::arg).collect()),
            Func::First => args[0].items().first().cloned().unwrap_or(Value::Nil),
            Func::Last => args[0].items().last().cloned().unwrap_or(Value::Nil),
            Func::Rest => Value::list(args[0].items().iter().skip(1).cloned().collect()),
            Func::Initial => {
                let items = args[0].items();
                Value::list(items[..items.len().saturating_sub(1)].to_vec())
            }
            Func::Append | Func::Push => {
                let mut items = args[0].items().to_vec();
                items.push(args[1].clone().arg());
                Value::list(items)
            }
            Func::Prepend => {
                let mut items = vec![args[1].clone().arg()];
                items.extend_from_slice(args[0].items());
                Value::list(items)
            }
            Func::Concat => Value::list(
                args.iter()
                    .flat_map(|a| a.items().iter().cloned())
                    .collect(),
            ),
            Func::Reverse => Value::list(args[0].items().iter().rev().cloned().collect()),
            Func::Uniq => {
                let mut out: Vec<Value> = Vec::new();
                for v in args[0].items() {
                    if !out.iter().any(|o| o.deep_eq(v)) {
                        out.push(v.clone());
                    }
                }
                Value::list(out)
            }
            Func::Compact => Value::list(
                args[0]
                    .items()
                    .iter()
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .collect(),
            ),
            Func::Without => Value::list(
                args[0]
                    .items()
                    .iter()
                    .filter(|v| !args[1..].iter().any(|o| o.deep_eq(v)))
                    .cloned()
                    .collect(),
            ),
            Func::Has => boolean(args[1].items().iter().any(|v| v.deep_eq(&args[0]))),
            Func::SortAlpha => {
                let mut parts = strslice(&args[0]);
                parts.sort();
                Value::list(parts.into_iter().map(Value::str).collect())
            }
            Func::Until => {
                let count = n(0);
                let step: i64 = if count < 0 { -1 } else { 1 };
                Value::list(range_ints(0, count, step))
            }
            Func::UntilStep => Value::list(range_ints(n(0), n(1), n(2))),
            Func::Dict => {
                let mut map = BTreeMap::new();
                for pair in args.chunks(2) {
                    let key = pair[0].to_bytes().to_vec();
                    let v = pair
                        .get(1)
                        .cloned()
                        .map_or_else(Value::empty_str, Value::arg);
                    map.insert(key, v);
                }
                Value::dict(map, false)
            }
            Func::Get => match &args[0] {
                Value::Dict(d) => d
                    .map
                    .get(s(1).as_slice())
                    .cloned()
                    .unwrap_or_else(Value::empty_str),
                _ => Value::empty_str(),
            },
            Func::HasKey => {
                boolean(matches!(&args[0], Value::Dict(d) if d.map.contains_key(s(1).as_slice())))
            }
            Func::Keys => Value::list(
                args.iter()
                    .filter_map(|a| match a {
                        Value::Dict(d) => Some(
                            d.map
                                .keys()
                                .map(|k| Value::str(k.as_slice()))
                                .collect::<Vec<_>>(),
                        ),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
            ),
            Func::Values => match &args[0] {
                Value::Dict(d) => Value::list(d.map.values().cloned().collect()),
                _ => Value::list(Vec::new()),
            },
            Func::Pick | Func::Omit => match &args[0] {
                Value::Dict(d) => {
                    let wanted: Vec<Vec<u8>> =
                        args[1..].iter().map(|k| as_str(k).to_vec()).collect();
                    let keep = |k: &Vec<u8>| wanted.contains(k) == (self == Func::Pick);
                    Value::dict(
                        d.map
                            .iter()
                            .filter(|(k, _)| keep(k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        d.strings,
                    )
                }
                _ => Value::dict(BTreeMap::new(), false),
            },
            Func::TypeOf => Value::str(args[0].type_name().as_bytes()),
            Func::KindOf => Value::str(args[0].kind_name().as_bytes()),
            Func::KindIs => boolean(s(0) == args[1].kind_name().as_bytes()),
            Func::TypeIs => boolean(s(0) == args[1].type_name().as_bytes()),
            Func::DeepEqual => boolean(args[0].deep_eq(&args[1])),
            Func::Base => bytes(path_base(&s(0))),
            Func::Dir => bytes(path_clean(path_split(&s(0)).0)),
            Func::Ext => bytes(path_ext(&s(0))),
            Func::Clean => bytes(path_clean(&s(0))),
            Func::IsAbs => boolean(s(0).starts_with(b"/")),
        }
    }
}

fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Nil | Value::NoValue)
}

/// A string argument: strings as they are, anything else as Go would have refused it (checked
/// statically where certain); the total fallback prints it.
fn as_str(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.to_vec(),
        Value::NoValue | Value::Nil => Vec::new(),
        other => other.to_bytes().to_vec(),
    }
}

fn digits(n: u64) -> u64 {
    n.checked_ilog10().map_or(1, |d| u64::from(d) + 1)
}

/// Most parts `split sep s` yields for a string of at most `len` bytes.
fn split_parts(sep: &Abs, len: u64) -> u64 {
    match &sep.konst {
        Some(Konst::Str(s)) if !s.is_empty() => len / s.len() as u64 + 1,
        _ => add(len, 1),
    }
}

fn printf_bound(a: &[Abs]) -> u64 {
    let Some(Konst::Str(format)) = a.first().and_then(|f| f.konst.clone()) else {
        return HUGE;
    };
    let args = &a[1..];
    let pieces = gofmt::parse_format(&format);
    let reorders = pieces.iter().any(|p| {
        matches!(p, gofmt::Piece::Directive(s) if s.arg_index.is_some())
            || matches!(p, gofmt::Piece::BadIndex(_))
    });
    let max_arg = args.iter().fold(Abs::nil(), |j, x| j.join(x));
    let star_max = args
        .iter()
        .map(|x| x.int)
        .max()
        .unwrap_or(0)
        .min(gofmt::MAX_WIDTH);
    let mut total: u64 = 0;
    let mut next = 0usize;
    for p in &pieces {
        total = add(
            total,
            match p {
                gofmt::Piece::Text(t) => t.len() as u64,
                gofmt::Piece::NoVerb => 10,
                gofmt::Piece::BadIndex(_) => 16,
                gofmt::Piece::Directive(spec) => {
                    let count = |c: Option<gofmt::Count>, next: &mut usize| match c {
                        None => 0,
                        Some(gofmt::Count::Literal(n)) => n.min(gofmt::MAX_WIDTH),
                        Some(gofmt::Count::Star) => {
                            *next += 1;
                            star_max
                        }
                    };
                    let width = count(spec.width, &mut next);
                    let prec = count(spec.prec, &mut next);
                    // `%%` with a width or precision: no operand, one `%`, perhaps
                    // after a %!(BADWIDTH) or %!(BADPREC).
                    let arg = if reorders {
                        Some(&max_arg)
                    } else {
                        args.get(next)
                    };
                    if spec.verb != '%' {
                        next += 1;
                    }
                    match arg {
                        _ if spec.verb == '%' => 13,
                        // %!(BADWIDTH)%!v(MISSING), the verb up to 4 bytes.
                        None => 32,
                        Some(x) => {
                            // Each scalar inside is padded: a dict entry's key and value
                            // both, at any depth (every item weighs ITEM_WEIGHT).
                            let items = if x.kinds & (K_LIST | K_DICT) != 0 {
                                add(mul(x.max_items(), 2), 1)
                            } else {
                                1
                            };
                            add(add(mul(x.w, 6), 64), mul(items, add(add(width, prec), 400)))
                        }
                    }
                }
            },
        );
    }
    // %!(EXTRA type=value, ...)
    let extra = args.iter().fold(16u64, |s, x| add(s, add(x.w, 32)));
    add(total, extra)
}

fn index_abs(a: &[Abs]) -> Abs {
    let mut cur = a[0].clone();
    for key in &a[1..] {
        let mut next: Option<Abs> = None;
        let mut join = |x: Abs| {
            next = Some(match next.take() {
                None => x,
                Some(n) => n.join(&x),
            })
        };
        if cur.kinds & K_LIST != 0 {
            join(cur.element().join(&Abs::no_value()));
        }
        if cur.kinds & K_DICT != 0 {
            let missing = if cur.string_map {
                Abs::constant(Konst::Str(Vec::new()))
            } else {
                Abs::no_value()
            };
            match (&cur.fields, &key.konst) {
                (Some(fields), Some(Konst::Str(k))) => {
                    join(fields.get(k).cloned().unwrap_or(missing))
                }
                _ => join(cur.element().join(&missing)),
            }
        }
        if cur.kinds & K_STR != 0 {
            join(Abs::int(255).join(&Abs::no_value()));
        }
        if cur.kinds & !(K_LIST | K_DICT | K_STR) != 0 {
            join(Abs::no_value());
        }
        cur = next.unwrap_or_else(Abs::no_value);
        cur.konst = None;
    }
    cur
}

fn index(args: &[Value]) -> Value {
    let mut cur = args[0].clone();
    for key in &args[1..] {
        cur = match &cur {
            Value::List(l) => match key {
                Value::Int(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| l.items.get(i))
                    .cloned()
                    .unwrap_or(Value::NoValue),
                _ => Value::NoValue,
            },
            Value::Dict(d) => {
                let missing = || {
                    if d.strings {
                        Value::empty_str()
                    } else {
                        Value::NoValue
                    }
                };
                match key {
                    Value::Str(k) => d.map.get(&k[..]).cloned().unwrap_or_else(missing),
                    _ => missing(),
                }
            }
            Value::Str(s) => match key {
                Value::Int(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| s.get(i))
                    .map_or(Value::NoValue, |b| Value::Int(i64::from(*b))),
                _ => Value::NoValue,
            },
            _ => Value::NoValue,
        };
    }
    cur
}

/// Go's `slice x i j k`, with out-of-range indexes clamped instead of failing.
fn slice(args: &[Value]) -> Value {
    let idx: Vec<i64> = args[1..].iter().map(Value::to_int).collect();
    let len = args[0].len().unwrap_or(0) as i64;
    let lo = idx.first().copied().unwrap_or(0).clamp(0, len);
    let hi = idx.get(1).copied().unwrap_or(len).clamp(lo, len);
    let (lo, hi) = (lo as usize, hi as usize);
    match &args[0] {
        Value::Str(s) => Value::str(&s[lo..hi]),
        Value::List(l) => Value::list(l.items[lo..hi].to_vec()),
        _ => Value::NoValue,
    }
}

/// `fmt.Sprint` (spaces between operands when neither is a string) or `fmt.Sprintln`.
fn sprint(args: &[Value], ln: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let a = if matches!(a, Value::NoValue) {
            &Value::Nil
        } else {
            a
        };
        if i > 0 {
            let prev_str = matches!(args[i - 1], Value::Str(_));
            let this_str = matches!(a, Value::Str(_));
            if ln || (!prev_str && !this_str) {
                out.push(b' ');
            }
        }
        a.print(&mut out);
    }
    if ln {
        out.push(b'\n');
    }
    out
}

/// Sprig's `strslice`: a list's non-nil items as strings, a scalar as one string, nil as none.
fn strslice(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::List(l) => l
            .items
            .iter()
            .filter(|x| !is_nil(x))
            .map(|x| x.to_bytes().to_vec())
            .collect(),
        Value::Nil | Value::NoValue => Vec::new(),
        other => vec![other.to_bytes().to_vec()],
    }
}

fn range_ints(start: i64, stop: i64, step: i64) -> Vec<Value> {
    let mut out = Vec::new();
    if step == 0 {
        return out;
    }
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(Value::Int(i));
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `strings.Replace(s, old, new, -1)`; an empty `old` matches at every rune boundary.
fn replace(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    if old.is_empty() {
        out.extend_from_slice(new);
        for (_, raw) in runes(s) {
            out.extend_from_slice(raw);
            out.extend_from_slice(new);
        }
        return out;
    }
    let mut rest = s;
    while let Some(i) = find(rest, old) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(new);
        rest = &rest[i + old.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// `strings.SplitN(s, sep, n)` (`n < 0`: all); an empty `sep` splits into runes.
fn split(s: &[u8], sep: &[u8], n: i64) -> Vec<Vec<u8>> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 {
        usize::MAX
    } else {
        usize::try_from(n).unwrap_or(usize::MAX)
    };
    let mut parts = Vec::new();
    if sep.is_empty() {
        let all: Vec<&[u8]> = runes(s).map(|(_, raw)| raw).collect();
        for (i, raw) in all.iter().enumerate() {
            if parts.len() + 1 == limit {
                parts.push(all[i..].concat());
                return parts;
            }
            parts.push(raw.to_vec());
        }
        return parts;
    }
    let mut rest = s;
    while parts.len() + 1 < limit {
        match find(rest, sep) {
            Some(i) => {
                parts.push(rest[..i].to_vec());
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    parts.push(rest.to_vec());
    parts
}

fn split_dict(parts: Vec<Vec<u8>>) -> Value {
    Value::dict(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}").into_bytes(), Value::str(p)))
            .collect(),
        true,
    )
}

fn trim_space(s: &[u8]) -> &[u8] {
    let is_ws = |c: char| c.is_whitespace();
    let mut start = 0;
    for (c, raw) in runes(s) {
        if !is_ws(c) || raw.len() == 1 && c == '\u{FFFD}' {
            break;
        }
        start += raw.len();
    }
    let rest = &s[start..];
    let mut end = rest.len();
    while end > 0 {
        let mut k = end - 1;
        while k > 0 && rest[k] & 0xC0 == 0x80 && end - k < 4 {
            k -= 1;
        }
        let (c, w) = gofmt::decode_rune(&rest[k..end]);
        match c {
            Some(c) if w == end - k && is_ws(c) => end = k,
            _ => break,
        }
    }
    &rest[..end]
}

/// `strings.Trim(s, cutset)`.
fn trim_set(s: &[u8], cutset: &[u8]) -> Vec<u8> {
    let set: Vec<char> = runes(cutset).map(|(c, _)| c).collect();
    let all: Vec<(char, &[u8])> = runes(s).collect();
    let start = all
        .iter()
        .position(|(c, _)| !set.contains(c))
        .unwrap_or(all.len());
    let end = all
        .iter()
        .rposition(|(c, _)| !set.contains(c))
        .map_or(start, |e| e + 1);
    all[start..end.max(start)]
        .iter()
        .flat_map(|(_, raw)| raw.iter().copied())
        .collect()
}

/// Unicode simple case mapping (one rune to one rune, as Go's `unicode.ToUpper`).
fn upper_rune(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn lower_rune(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Maps every rune (invalid bytes become U+FFFD, as Go's `strings.Map` writes them), ASCII-only
/// input stays byte for byte.
fn map_runes(s: &[u8], f: fn(char) -> char) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for (c, _) in runes(s) {
        let mut buf = [0u8; 4];
        out.extend_from_slice(f(c).encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// `strings.Title`: the first letter of each word in title case.
fn title(s: &[u8]) -> Vec<u8> {
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric()) && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = Vec::with_capacity(s.len());
    for (c, _) in runes(s) {
        let mapped = if is_sep(prev) { upper_rune(c) } else { c };
        let mut buf = [0u8; 4];
        out.extend_from_slice(mapped.encode_utf8(&mut buf).as_bytes());
        prev = c;
    }
    out
}

fn untitle(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for (i, (c, raw)) in runes(s).enumerate() {
        if i == 0 {
            let mut buf = [0u8; 4];
            out.extend_from_slice(lower_rune(c).encode_utf8(&mut buf).as_bytes());
        } else {
            out.extend_from_slice(raw);
        }
    }
    out
}

fn initials(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at_start = true;
    for (c, _) in runes(s) {
        if c.is_whitespace() {
            at_start = true;
        } else if at_start {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            at_start = false;
        }
    }
    out
}

/// Sprig's `substr` with out-of-range bounds clamped instead of failing.
fn substr(start: i64, end: i64, s: &[u8]) -> Vec<u8> {
    let len = s.len() as i64;
    let (lo, hi) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    let lo = lo.clamp(0, len) as usize;
    let hi = hi.clamp(0, len) as usize;
    if lo > hi {
        Vec::new()
    } else {
        s[lo..hi].to_vec()
    }
}

fn htpasswd(user: &[u8], password: &[u8]) -> Vec<u8> {
    if user.contains(&b':') {
        let mut out = b"invalid username: ".to_vec();
        out.extend_from_slice(user);
        return out;
    }
    let hash = if password.len() > 72 {
        b"failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".to_vec()
    } else {
        match bcrypt::hash_with_result(password, 10) {
            Ok(h) => h.format_for_version(bcrypt::Version::TwoA).into_bytes(),
            Err(e) => format!("failed to encrypt string with bcrypt: {e}").into_bytes(),
        }
    };
    let mut out = user.to_vec();
    out.push(b':');
    out.extend_from_slice(&hash);
    out
}

fn path_split(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().rposition(|&c| c == b'/') {
        Some(i) => (&s[..=i], &s[i + 1..]),
        None => (&b""[..], s),
    }
}

/// Go's `path.Clean`.
fn path_clean(s: &[u8]) -> Vec<u8> {
    if s.is_empty() {
        return b".".to_vec();
    }
    let rooted = s.starts_with(b"/");
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in s.split(|&c| c == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|p| *p != b"..") {
                    parts.pop();
                } else if !rooted {
                    parts.push(part);
                }
            }
            p => parts.push(p),
        }
    }
    let mut out = if rooted { b"/".to_vec() } else { Vec::new() };
    out.extend_from_slice(&parts.join(&b'/'));
    if out.is_empty() { b".".to_vec() } else { out }
}

/// Go's `path.Base`.
fn path_base(s: &[u8]) -> Vec<u8> {
    if s.is_empty() {
        return b".".to_vec();
    }
    let trimmed = {
        let mut t = s;
        while t.len() > 1 && t.ends_with(b"/") {
            t = &t[..t.len() - 1];
        }
        t
    };
    if trimmed == b"/" {
        return b"/".to_vec();
    }
    path_split(trimmed).1.to_vec()
}

/// Go's `path.Ext`.
fn path_ext(s: &[u8]) -> Vec<u8> {
    for i in (0..s.len()).rev() {
        match s[i] {
            b'/' => break,
            b'.' => return s[i..].to_vec(),
            _ => {}
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: &str) -> Value {
        Value::string(s.to_owned())
    }

    fn printed(v: Value) -> String {
        let mut out = Vec::new();
        v.print(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn refused_functions_say_why() {
        assert!(Func::lookup("fail").unwrap_err().contains("error"));
        assert!(Func::lookup("env").unwrap_err().contains("environment"));
        assert!(Func::lookup("mustToJson").unwrap_err().contains("must"));
        assert!(
            Func::lookup("frobnicate")
                .unwrap_err()
                .contains("supported: and, or")
        );
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            printed(Func::Split.call(vec![st(","), st("a,b")])),
            "map[_0:a _1:b]"
        );
        assert_eq!(
            printed(Func::Splitn.call(vec![st(","), Value::Int(2), st("a,b,c")])),
            "map[_0:a _1:b,c]"
        );
        assert_eq!(
            printed(Func::Replace.call(vec![st(""), st("-"), st("ab")])),
            "-a-b-"
        );
        assert_eq!(
            printed(Func::Substr.call(vec![Value::Int(1), Value::Int(99), st("abc")])),
            "bc"
        );
        assert_eq!(
            printed(Func::Substr.call(vec![Value::Int(5), Value::Int(2), st("abc")])),
            ""
        );
        assert_eq!(
            printed(Func::Trunc.call(vec![Value::Int(-2), st("abcd")])),
            "cd"
        );
        assert_eq!(
            printed(Func::Abbrev.call(vec![Value::Int(5), st("hello world")])),
            "he..."
        );
        assert_eq!(
            printed(Func::Indent.call(vec![Value::Int(2), st("a\nb")])),
            "  a\n  b"
        );
        assert_eq!(
            printed(Func::Title.call(vec![st("hello wide-world")])),
            "Hello Wide-World"
        );
        assert_eq!(
            printed(Func::TrimAll.call(vec![st("$"), st("$5.00$")])),
            "5.00"
        );
        assert_eq!(printed(Func::Trim.call(vec![st("  a b \n")])), "a b");
        assert_eq!(
            printed(Func::Upper.call(vec![Value::str(&b"a\xff"[..])])),
            "A\u{FFFD}"
        );
        assert_eq!(
            printed(Func::Cat.call(vec![st("a"), Value::Nil, Value::Int(2)])),
            "a 2"
        );
        assert_eq!(
            printed(Func::Quote.call(vec![st("a"), Value::Int(2)])),
            "\"a\" \"2\""
        );
        assert_eq!(
            printed(Func::Join.call(vec![st("-"), Value::list(vec![st("a"), Value::Int(1)])])),
            "a-1"
        );
        assert_eq!(printed(Func::Initials.call(vec![st("foo bar")])), "fb");
    }

    #[test]
    fn totals_where_go_fails() {
        assert_eq!(
            printed(Func::Div.call(vec![Value::Int(1), Value::Int(0)])),
            "0"
        );
        assert_eq!(
            printed(Func::Index.call(vec![Value::list(vec![]), Value::Int(3)])),
            "<no value>"
        );
        assert_eq!(printed(Func::First.call(vec![st("x")])), "<nil>");
        assert_eq!(
            printed(Func::Repeat.call(vec![Value::Int(-1), st("x")])),
            ""
        );
        assert_eq!(
            printed(Func::Eq.call(vec![Value::Int(1), st("1")])),
            "false"
        );
        assert_eq!(
            printed(Func::Slice.call(vec![st("abc"), Value::Int(2), Value::Int(9)])),
            "c"
        );
    }

    #[test]
    fn htpasswd_is_bcrypt_as_sprig_formats_it() {
        let out = printed(Func::Htpasswd.call(vec![st("user"), st("pw")]));
        let hash = out.strip_prefix("user:").unwrap_or_default();
        assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{out}");
        assert!(bcrypt::verify("pw", hash).unwrap_or(false));
        assert_eq!(
            printed(Func::Htpasswd.call(vec![st("a:b"), st("pw")])),
            "invalid username: a:b"
        );
        let long = printed(Func::Htpasswd.call(vec![st("u"), st(&"x".repeat(73))]));
        assert!(long.contains("password length exceeds 72 bytes"), "{long}");
    }

    #[test]
    fn paths() {
        assert_eq!(path_clean(b"a/../b/./c/"), b"b/c");
        assert_eq!(path_base(b"/a/b/"), b"b");
        assert_eq!(path_ext(b"x/y.tar.gz"), b".gz");
        assert_eq!(path_clean(path_split(b"/a/b").0), b"/a");
    }
}
