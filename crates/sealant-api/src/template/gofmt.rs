//! Go's `fmt` and `strconv` as templates see them: float formatting, `strconv.Quote`,
//! `fmt.Sprintf` verbs, flags, widths and precisions, with Go's in-band error texts
//! (`%!d(string=x)`, `%!v(MISSING)`, ...), which land inside the rendered Secret, never in an
//! error.

use super::value::Value;

/// Go refuses widths and precisions above this (`%!(BADWIDTH)`); so do we.
pub(crate) const MAX_WIDTH: u64 = 1_000_000;

/// A finite f64's exact decimal expansion has at most 767 significant digits and 1,074 digits
/// after the point; every digit beyond is 0. Rust's formatter panics on precisions above
/// `u16::MAX`, so wider requests are formatted up to these and padded with zeros (exact).
const MAX_SIGNIFICANT: usize = 800;
const MAX_FRACTION: usize = 1_100;

/// Decimal digits of a finite float: `0.d1d2d3... × 10^dp`.
struct Digits {
    digits: Vec<u8>,
    dp: i32,
    negative: bool,
}

impl Digits {
    /// Shortest round-trip digits, or `sig` significant digits.
    fn of(f: f64, sig: Option<usize>) -> Digits {
        let text = match sig {
            None => format!("{:e}", f.abs()),
            Some(n) => format!("{:.*e}", n.clamp(1, MAX_SIGNIFICANT) - 1, f.abs()),
        };
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        if digits.iter().all(|d| *d == b'0') {
            return Digits {
                digits: Vec::new(),
                dp: 0,
                negative: f.is_sign_negative(),
            };
        }
        if sig.is_none() {
            while digits.last() == Some(&b'0') {
                digits.pop();
            }
        }
        Digits {
            digits,
            dp: exp + 1,
            negative: f.is_sign_negative(),
        }
    }

    fn nd(&self) -> i32 {
        self.digits.len() as i32
    }

    fn digit(&self, i: i32) -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.digits.get(i).copied())
            .unwrap_or(b'0')
    }

    /// `%e`: d.ddde±dd with `prec` digits after the point.
    fn fmt_e(&self, prec: i32, upper: bool) -> String {
        let mut s = String::new();
        if self.negative {
            s.push('-');
        }
        s.push(char::from(if self.nd() == 0 {
            b'0'
        } else {
            self.digit(0)
        }));
        if prec > 0 {
            s.push('.');
            for i in 1..=prec {
                s.push(char::from(self.digit(i)));
            }
        }
        s.push(if upper { 'E' } else { 'e' });
        let exp = if self.nd() == 0 { 0 } else { self.dp - 1 };
        s.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            s.push('0');
        }
        s.push_str(&e.to_string());
        s
    }

    /// `%f` with `prec` digits after the point.
    fn fmt_f(&self, prec: i32) -> String {
        let mut s = String::new();
        if self.negative {
            s.push('-');
        }
        if self.dp > 0 {
            for i in 0..self.dp {
                s.push(char::from(self.digit(i)));
            }
        } else {
            s.push('0');
        }
        if prec > 0 {
            s.push('.');
            for i in 0..prec {
                s.push(char::from(self.digit(self.dp + i)));
            }
        }
        s
    }
}

/// Go's `strconv.FormatFloat(f, fmt, prec, 64)` for fmt `e`, `E`, `f`, `g`, `G`; `None` is the
/// shortest representation (`-1`).
pub(crate) fn format_float(f: f64, fmt: u8, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let p = prec.map(|p| p.min(MAX_WIDTH as usize) as i32);
    match fmt {
        b'e' | b'E' => {
            let d = match p {
                None => Digits::of(f, None),
                Some(p) => Digits::of(f, Some(p as usize + 1)),
            };
            let prec = p.unwrap_or((d.nd() - 1).max(0));
            d.fmt_e(prec, fmt == b'E')
        }
        b'f' => match p {
            None => {
                let d = Digits::of(f, None);
                d.fmt_f((d.nd() - d.dp).max(0))
            }
            Some(p) => {
                let exact = (p as usize).min(MAX_FRACTION);
                let mut text = format!("{:.*}", exact, f);
                text.extend(std::iter::repeat_n('0', p as usize - exact));
                if f.is_sign_negative() && !text.starts_with('-') {
                    format!("-{text}")
                } else {
                    text
                }
            }
        },
        _ => {
            let shortest = p.is_none();
            let p = match p {
                Some(0) => 1,
                Some(p) => p,
                None => 0,
            };
            let d = if shortest {
                Digits::of(f, None)
            } else {
                let mut d = Digits::of(f, Some(p as usize));
                while d.digits.last() == Some(&b'0') {
                    d.digits.pop();
                }
                d
            };
            let prec = if shortest { d.nd() } else { p };
            let mut eprec = prec;
            if eprec > d.nd() && d.nd() >= d.dp {
                eprec = d.nd();
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if d.nd() != 0 && (exp < -4 || exp >= eprec) {
                let prec = prec.min(d.nd());
                return d.fmt_e(prec - 1, fmt == b'G');
            }
            let prec = if prec > d.dp { d.nd() } else { prec };
            d.fmt_f((prec - d.dp).max(0))
        }
    }
}

/// Go's conversion of a float to an int (truncation; out of range saturates, NaN is 0).
pub(crate) fn float_to_int(f: f64) -> i64 {
    if f.is_nan() { 0 } else { f as i64 }
}

/// Sprig's `toInt64` of a string: `strconv.ParseInt(s, 0, 64)`, else a float parse, else 0.
pub(crate) fn parse_int_lenient(s: &[u8]) -> i64 {
    let Ok(t) = std::str::from_utf8(s) else {
        return 0;
    };
    parse_go_int(t)
        .or_else(|| t.parse::<f64>().ok().map(float_to_int))
        .unwrap_or(0)
}

/// `strconv.ParseInt(s, 0, 64)`: sign, base prefix (0x, 0o, 0b, 0), underscores after a prefix.
pub(crate) fn parse_go_int(t: &str) -> Option<i64> {
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    if digits.contains('_') && !prefixed {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if neg {
        if magnitude == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `unicode.IsPrint`, approximated without Unicode category tables: controls, separators
/// other than ASCII space, format characters and private use are not printable.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFFFE | 0xFFFF)
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii`), over bytes that may not be UTF-8.
/// The result is at most `4 * len + 2` bytes.
pub(crate) fn quote(s: &[u8], ascii: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        let Some(c) = c else {
            out.extend_from_slice(format!("\\x{:02x}", rest[0]).as_bytes());
            rest = &rest[1..];
            continue;
        };
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\x07' => out.extend_from_slice(b"\\a"),
            '\x08' => out.extend_from_slice(b"\\b"),
            '\x0c' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\x0b' => out.extend_from_slice(b"\\v"),
            c if (c as u32) < 0x80 && is_print(c) => out.push(c as u8),
            c if !ascii && is_print(c) => out.extend_from_slice(&rest[..width]),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes())
            }
            c if (c as u32) < 0x10000 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => out.extend_from_slice(format!("\\U{:08x}", c as u32).as_bytes()),
        }
        rest = &rest[width..];
    }
    out.push(b'"');
    out
}

/// The first rune of `s` and its width; `None` (width 1) for an invalid byte, as Go's
/// `utf8.DecodeRune` reports `RuneError`.
pub(crate) fn decode_rune(s: &[u8]) -> (Option<char>, usize) {
    let want = match s.first() {
        None => return (None, 0),
        Some(b) if *b < 0x80 => return (Some(char::from(*b)), 1),
        Some(b) if b & 0xE0 == 0xC0 => 2,
        Some(b) if b & 0xF0 == 0xE0 => 3,
        Some(b) if b & 0xF8 == 0xF0 => 4,
        Some(_) => return (None, 1),
    };
    match s.get(..want).and_then(|p| std::str::from_utf8(p).ok()) {
        Some(t) => (t.chars().next(), want),
        None => (None, 1),
    }
}

/// Runes of `s` as Go ranges over them: invalid bytes become U+FFFD, one byte each.
pub(crate) fn runes(s: &[u8]) -> impl Iterator<Item = (char, &[u8])> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (c, w) = decode_rune(rest);
        let w = w.max(1);
        let (head, tail) = rest.split_at(w.min(rest.len()));
        rest = tail;
        Some((c.unwrap_or('\u{FFFD}'), head))
    })
}

/// One parsed `%` directive of a format string.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spec {
    pub minus: bool,
    pub plus: bool,
    pub sharp: bool,
    pub space: bool,
    pub zero: bool,
    pub width: Option<Count>,
    pub prec: Option<Count>,
    pub arg_index: Option<usize>,
    pub verb: char,
}

/// A width or precision: literal, or taken from an argument (`*`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Count {
    Literal(u64),
    Star,
}

/// A format string split into literal text and directives.
#[derive(Clone, Debug)]
pub(crate) enum Piece {
    Text(Vec<u8>),
    Directive(Spec),
    /// `%` at the end of the format.
    NoVerb,
    /// `%[x]` that is not a valid argument index.
    BadIndex(char),
}

/// Parses a format string as Go's `doPrintf` reads it.
pub(crate) fn parse_format(format: &[u8]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut i = 0;
    let mut text = Vec::new();
    while i < format.len() {
        if format[i] != b'%' {
            text.push(format[i]);
            i += 1;
            continue;
        }
        if format.get(i + 1) == Some(&b'%') {
            text.push(b'%');
            i += 2;
            continue;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        i += 1;
        let mut spec = Spec::default();
        while let Some(&c) = format.get(i) {
            match c {
                b'-' => spec.minus = true,
                b'+' => spec.plus = true,
                b'#' => spec.sharp = true,
                b' ' => spec.space = true,
                b'0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        let mut bad_index = false;
        let mut read_index = |i: &mut usize, spec: &mut Spec| {
            if format.get(*i) == Some(&b'[') {
                let start = *i + 1;
                let end = format[start..].iter().position(|&b| b == b']');
                match end.and_then(|e| {
                    std::str::from_utf8(&format[start..start + e])
                        .ok()
                        .zip(Some(e))
                }) {
                    Some((digits, e)) => {
                        match digits.parse::<usize>() {
                            Ok(n) if n >= 1 => spec.arg_index = Some(n - 1),
                            _ => bad_index = true,
                        }
                        *i = start + e + 1;
                    }
                    None => {
                        bad_index = true;
                        *i = format.len();
                    }
                }
            }
        };
        read_index(&mut i, &mut spec);
        if format.get(i) == Some(&b'*') {
            spec.width = Some(Count::Star);
            i += 1;
        } else {
            let (n, next) = read_number(format, i);
            if next > i {
                spec.width = Some(Count::Literal(n));
            }
            i = next;
        }
        if format.get(i) == Some(&b'.') {
            i += 1;
            read_index(&mut i, &mut spec);
            if format.get(i) == Some(&b'*') {
                spec.prec = Some(Count::Star);
                i += 1;
            } else {
                let (n, next) = read_number(format, i);
                spec.prec = Some(Count::Literal(n));
                i = next;
            }
        }
        read_index(&mut i, &mut spec);
        let Some(&first) = format.get(i) else {
            pieces.push(Piece::NoVerb);
            break;
        };
        let (c, w) = decode_rune(&format[i..]);
        i += w.max(1);
        let verb = c.unwrap_or('\u{FFFD}');
        let _ = first;
        if bad_index {
            pieces.push(Piece::BadIndex(verb));
            continue;
        }
        spec.verb = verb;
        pieces.push(Piece::Directive(spec));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

fn read_number(s: &[u8], mut i: usize) -> (u64, usize) {
    let mut n: u64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
        i += 1;
    }
    (n, i)
}

/// `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &[u8], args: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut reordered = false;
    for piece in parse_format(format) {
        match piece {
            Piece::Text(t) => out.extend_from_slice(&t),
            Piece::NoVerb => out.extend_from_slice(b"%!(NOVERB)"),
            Piece::BadIndex(verb) => {
                reordered = true;
                out.extend_from_slice(format!("%!{verb}(BADINDEX)").as_bytes());
            }
            Piece::Directive(mut spec) => {
                if let Some(i) = spec.arg_index {
                    next = i;
                    reordered = true;
                }
                let mut bad = None;
                let mut width = None;
                if let Some(w) = spec.width {
                    match take_count(w, args, &mut next) {
                        Some(n) if n.unsigned_abs() <= MAX_WIDTH => {
                            if n < 0 {
                                spec.minus = true;
                            }
                            width = Some(n.unsigned_abs());
                        }
                        _ => bad = Some("%!(BADWIDTH)"),
                    }
                }
                let mut prec = None;
                if let Some(p) = spec.prec {
                    match take_count(p, args, &mut next) {
                        Some(n) if n < 0 => prec = None,
                        Some(n) if n.unsigned_abs() <= MAX_WIDTH => prec = Some(n.unsigned_abs()),
                        _ => bad = Some("%!(BADPREC)"),
                    }
                }
                if let Some(b) = bad {
                    out.extend_from_slice(b.as_bytes());
                }
                if spec.verb == '%' {
                    out.push(b'%');
                    continue;
                }
                let Some(arg) = args.get(next) else {
                    out.extend_from_slice(format!("%!{}(MISSING)", spec.verb).as_bytes());
                    continue;
                };
                next += 1;
                let f = Fmt {
                    spec: &spec,
                    width,
                    prec,
                };
                f.value(&mut out, arg, 0);
            }
        }
    }
    if !reordered && next < args.len() {
        out.extend_from_slice(b"%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(a.type_name().as_bytes());
            out.push(b'=');
            a.print(&mut out);
        }
        out.push(b')');
    }
    out
}

fn take_count(c: Count, args: &[Value], next: &mut usize) -> Option<i64> {
    match c {
        Count::Literal(n) => i64::try_from(n).ok(),
        Count::Star => {
            let v = args.get(*next)?;
            *next += 1;
            match v {
                Value::Int(i) => Some(*i),
                _ => None,
            }
        }
    }
}

struct Fmt<'a> {
    spec: &'a Spec,
    width: Option<u64>,
    prec: Option<u64>,
}

impl Fmt<'_> {
    fn value(&self, out: &mut Vec<u8>, v: &Value, depth: usize) {
        let verb = self.spec.verb;
        if verb == 'T' {
            self.pad(out, v.type_name().as_bytes(), false);
            return;
        }
        if depth > super::limits::MAX_VALUE_DEPTH + 2 {
            return;
        }
        match v {
            Value::NoValue | Value::Nil => {
                if verb == 'v' {
                    self.pad(out, b"<nil>", false);
                } else {
                    out.extend_from_slice(format!("%!{verb}(<nil>)").as_bytes());
                }
            }
            Value::Bool(b) => match verb {
                'v' | 't' => self.pad(out, if *b { b"true" } else { b"false" }, false),
                _ => self.bad_verb(out, v),
            },
            Value::Int(i) => self.int(out, *i, v),
            Value::Float(f) => self.float(out, *f, v),
            Value::Str(s) => self.string(out, s, v),
            Value::List(l) => {
                if !matches!(
                    verb,
                    'v' | 's'
                        | 'q'
                        | 'x'
                        | 'X'
                        | 'd'
                        | 'b'
                        | 'o'
                        | 'O'
                        | 'c'
                        | 'U'
                        | 'e'
                        | 'E'
                        | 'f'
                        | 'F'
                        | 'g'
                        | 'G'
                        | 't'
                ) {
                    self.bad_verb(out, v);
                    return;
                }
                out.push(b'[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    self.value(out, item, depth + 1);
                }
                out.push(b']');
            }
            Value::Dict(d) => {
                out.extend_from_slice(b"map[");
                for (i, (k, item)) in d.map.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    self.string(out, k, &Value::Nil);
                    out.push(b':');
                    self.value(out, item, depth + 1);
                }
                out.push(b']');
            }
        }
    }

    fn bad_verb(&self, out: &mut Vec<u8>, v: &Value) {
        out.extend_from_slice(format!("%!{}(", self.spec.verb).as_bytes());
        out.extend_from_slice(v.type_name().as_bytes());
        out.push(b'=');
        v.print(out);
        out.push(b')');
    }

    /// Pads to the width with spaces (or zeros after a sign when `numeric` and `0` is set).
    fn pad(&self, out: &mut Vec<u8>, body: &[u8], numeric: bool) {
        let len = runes(body).count() as u64;
        let width = self.width.unwrap_or(0);
        if len >= width {
            out.extend_from_slice(body);
            return;
        }
        let fill = usize::try_from(width - len).unwrap_or(0);
        if self.spec.minus {
            out.extend_from_slice(body);
            out.extend(std::iter::repeat_n(b' ', fill));
        } else if self.spec.zero && numeric {
            let sign = body
                .first()
                .filter(|c| matches!(c, b'-' | b'+' | b' '))
                .is_some();
            let (head, tail) = body.split_at(usize::from(sign));
            out.extend_from_slice(head);
            out.extend(std::iter::repeat_n(b'0', fill));
            out.extend_from_slice(tail);
        } else {
            out.extend(std::iter::repeat_n(b' ', fill));
            out.extend_from_slice(body);
        }
    }

    fn sign(&self, negative: bool) -> &'static str {
        if negative {
            "-"
        } else if self.spec.plus {
            "+"
        } else if self.spec.space {
            " "
        } else {
            ""
        }
    }

    fn int(&self, out: &mut Vec<u8>, i: i64, v: &Value) {
        let verb = self.spec.verb;
        let mag = i.unsigned_abs();
        let (digits, prefix) = match verb {
            'v' | 'd' => (mag.to_string(), ""),
            'b' => (format!("{mag:b}"), if self.spec.sharp { "0b" } else { "" }),
            'o' => (format!("{mag:o}"), if self.spec.sharp { "0" } else { "" }),
            'O' => (format!("{mag:o}"), "0o"),
            'x' => (format!("{mag:x}"), if self.spec.sharp { "0x" } else { "" }),
            'X' => (format!("{mag:X}"), if self.spec.sharp { "0X" } else { "" }),
            'c' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                self.pad(out, c.to_string().as_bytes(), false);
                return;
            }
            'q' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                let q = quote(c.to_string().as_bytes(), self.spec.plus);
                let inner = &q[1..q.len() - 1];
                let inner: Vec<u8> = if c == '\'' {
                    b"\\'".to_vec()
                } else if c == '"' {
                    b"\"".to_vec()
                } else {
                    inner.to_vec()
                };
                let mut body = vec![b'\''];
                body.extend_from_slice(&inner);
                body.push(b'\'');
                self.pad(out, &body, false);
                return;
            }
            'U' => {
                let mut body = format!("U+{:04X}", i as u64);
                if self.spec.sharp
                    && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                    && is_print(c)
                {
                    body.push_str(&format!(" '{c}'"));
                }
                self.pad(out, body.as_bytes(), false);
                return;
            }
            _ => {
                self.bad_verb(out, v);
                return;
            }
        };
        let mut digits = digits;
        if let Some(p) = self.prec {
            if p == 0 && mag == 0 {
                digits.clear();
            }
            while (digits.len() as u64) < p {
                digits.insert(0, '0');
            }
        }
        let body = format!("{}{prefix}{digits}", self.sign(i < 0));
        self.pad(out, body.as_bytes(), self.prec.is_none());
    }

    fn float(&self, out: &mut Vec<u8>, f: f64, v: &Value) {
        let prec = self.prec.map(|p| p as usize);
        let mut body = match self.spec.verb {
            'v' => format_float(f, b'g', prec),
            'g' | 'G' => format_float(f, self.spec.verb as u8, prec),
            'e' | 'E' => format_float(f, self.spec.verb as u8, Some(prec.unwrap_or(6))),
            'f' | 'F' => format_float(f, b'f', Some(prec.unwrap_or(6))),
            _ => {
                self.bad_verb(out, v);
                return;
            }
        };
        if !body.starts_with('-') && !f.is_nan() {
            if body.starts_with('+') {
                if !self.spec.plus {
                    body.remove(0);
                }
            } else {
                body.insert_str(0, self.sign(false));
            }
        }
        self.pad(out, body.as_bytes(), f.is_finite());
    }

    fn string(&self, out: &mut Vec<u8>, s: &[u8], v: &Value) {
        let truncated: &[u8] = match self.prec {
            Some(p) => {
                let end: usize = runes(s)
                    .take(usize::try_from(p).unwrap_or(usize::MAX))
                    .map(|(_, b)| b.len())
                    .sum();
                &s[..end]
            }
            None => s,
        };
        match self.spec.verb {
            'v' | 's' => self.pad(out, truncated, false),
            'q' => {
                if self.spec.sharp
                    && !truncated.contains(&b'`')
                    && std::str::from_utf8(truncated)
                        .is_ok_and(|t| t.chars().all(|c| c == '\t' || is_print(c)))
                {
                    let mut body = vec![b'`'];
                    body.extend_from_slice(truncated);
                    body.push(b'`');
                    self.pad(out, &body, false);
                } else {
                    self.pad(out, &quote(truncated, self.spec.plus), false);
                }
            }
            'x' | 'X' => {
                let upper = self.spec.verb == 'X';
                let mut body = Vec::new();
                for (i, b) in truncated.iter().enumerate() {
                    if self.spec.space && i > 0 {
                        body.push(b' ');
                    }
                    if self.spec.sharp && (self.spec.space || i == 0) {
                        body.extend_from_slice(if upper { b"0X" } else { b"0x" });
                    }
                    let hex = if upper {
                        format!("{b:02X}")
                    } else {
                        format!("{b:02x}")
                    };
                    body.extend_from_slice(hex.as_bytes());
                }
                self.pad(out, &body, false);
            }
            _ => self.bad_verb(out, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(format: &str, args: &[Value]) -> String {
        String::from_utf8_lossy(&sprintf(format.as_bytes(), args)).into_owned()
    }

    #[test]
    fn floats_as_go_prints_them() {
        for (f, want) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (123456789.0, "1.23456789e+08"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0"),
            (0.0, "0"),
        ] {
            assert_eq!(format_float(f, b'g', None), want, "{f}");
        }
        assert_eq!(format_float(1.23456, b'f', Some(2)), "1.23");
        assert_eq!(format_float(1234.5678, b'e', Some(3)), "1.235e+03");
        assert_eq!(format_float(0.0, b'e', Some(2)), "0.00e+00");
        assert_eq!(format_float(1234.5678, b'g', Some(3)), "1.23e+03");
        assert_eq!(format_float(100.0, b'g', Some(3)), "100");
    }

    #[test]
    fn printf_verbs_flags_and_errors() {
        let st = |x: &str| Value::string(x.into());
        assert_eq!(s("%s-%d", &[st("a"), Value::Int(5)]), "a-5");
        assert_eq!(s("%5s|%-5s|", &[st("ab"), st("cd")]), "   ab|cd   |");
        assert_eq!(s("%05d", &[Value::Int(-42)]), "-0042");
        assert_eq!(s("%x %X", &[st("hi"), Value::Int(255)]), "6869 FF");
        assert_eq!(s("%q", &[st("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(s("%.2f", &[Value::Float(1.23456)]), "1.23");
        assert_eq!(s("%d", &[st("x")]), "%!d(string=x)");
        assert_eq!(s("%s %s", &[st("x")]), "x %!s(MISSING)");
        assert_eq!(s("%s", &[st("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(s("%", &[]), "%!(NOVERB)");
        assert_eq!(s("%[2]s %[1]s", &[st("a"), st("b")]), "b a");
        assert_eq!(
            s("%v", &[Value::list(vec![Value::Int(1), st("x")])]),
            "[1 x]"
        );
        assert_eq!(s("%t", &[Value::Bool(true)]), "true");
        assert_eq!(s("%*d", &[Value::Int(4), Value::Int(7)]), "   7");
        assert_eq!(s("%.3s", &[st("abcdef")]), "abc");
        assert_eq!(s("%c", &[Value::Int(65)]), "A");
        assert_eq!(s("%U", &[Value::Int(0x1F600)]), "U+1F600");
        assert_eq!(s("%v", &[Value::Nil]), "<nil>");
        assert_eq!(s("%100000000d", &[Value::Int(1)]), "%!(BADWIDTH)1");
    }

    #[test]
    fn quote_is_bounded_and_escapes_invalid_bytes() {
        assert_eq!(quote(b"\xff\x01\xc2\x80", false), b"\"\\xff\\x01\\u0080\"");
        for input in [
            &b"\x01\x02"[..],
            b"\xc2\x80\xc2\x80",
            "\u{1F600}".as_bytes(),
        ] {
            assert!(quote(input, true).len() <= 4 * input.len() + 2);
        }
    }

    #[test]
    fn precisions_beyond_the_formatters_limit_are_exact_not_a_panic() {
        // Found by libFuzzer: Rust's formatter panics on precisions above u16::MAX.
        let e = format_float(1.5, b'e', Some(70_000));
        assert_eq!(e.len(), "1.".len() + 70_000 + "e+00".len());
        assert!(e.starts_with("1.50") && e.ends_with("0e+00"));
        let f = format_float(0.1, b'f', Some(70_000));
        assert_eq!(f.len(), 2 + 70_000);
        assert!(f.starts_with(&format!("{:.1100}", 0.1)));
        assert!(f[2 + 1_100..].bytes().all(|b| b == b'0'));
        assert_eq!(format_float(2.5, b'g', Some(70_000)), "2.5");
        assert_eq!(format_float(-0.0, b'f', Some(70_000)).len(), 3 + 70_000);
        // Below the cap nothing changed.
        assert_eq!(format_float(1.0 / 3.0, b'e', Some(5)), "3.33333e-01");
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("-0b101"), Some(-5));
        assert_eq!(parse_go_int("1_000"), None);
        assert_eq!(parse_go_int("0o17"), Some(15));
        assert_eq!(parse_go_int("017"), Some(15));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808"), None);
    }
}
