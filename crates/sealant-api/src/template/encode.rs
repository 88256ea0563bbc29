//! Encodings, escapes and hashes with Go's and Sprig's exact behaviour, including what they
//! return for bad input (Sprig's `b64dec` returns Go's error text as the value): total
//! functions, so their outcome never becomes an error.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::gofmt::{decode_rune, format_float, runes};
use super::limits::MAX_JSON_DEPTH;
use super::value::Value;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn corrupt(kind: &str, at: usize) -> Vec<u8> {
    format!("illegal {kind} data at input byte {at}").into_bytes()
}

pub(crate) fn b64enc(s: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(s)
        .into_bytes()
}

/// Go's `base64.StdEncoding.DecodeString`, as Sprig's `b64dec` uses it: the decoded bytes, or
/// the error's text. Newlines are skipped; padding is required; trailing bits may be non-zero.
pub(crate) fn b64dec(src: &[u8]) -> Vec<u8> {
    let map = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u32; 4];
        let mut dlen = 4;
        let mut j = 0;
        let mut trailing_error = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return out;
                }
                return corrupt("base64", si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = map(c) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return corrupt("base64", si - 1);
            }
            match j {
                0 | 1 => return corrupt("base64", si - 1),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return corrupt("base64", src.len());
                    }
                    if src[si] != b'=' {
                        return corrupt("base64", si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                trailing_error = Some(si);
            }
            dlen = j;
            break;
        }
        let val = dbuf[0] << 18 | dbuf[1] << 12 | dbuf[2] << 6 | dbuf[3];
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(at) = trailing_error {
            return corrupt("base64", at);
        }
        if dlen < 4 {
            break;
        }
        // Skip newlines between quanta so the loop ends on trailing newlines.
        while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
            si += 1;
        }
    }
    out
}

pub(crate) fn b32enc(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().div_ceil(5) * 8);
    for chunk in s.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((v >> (35 - 5 * i)) & 31) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString`: the decoded bytes, or the error's text.
pub(crate) fn b32dec(input: &[u8]) -> Vec<u8> {
    let src: Vec<u8> = input
        .iter()
        .copied()
        .filter(|&c| c != b'\n' && c != b'\r')
        .collect();
    let map = |c: u8| B32.iter().position(|&x| x == c).map(|p| p as u64);
    let olen = src.len();
    let mut rest = &src[..];
    let mut out = Vec::new();
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut dbuf = [0u64; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            if rest.is_empty() {
                return corrupt("base32", olen - rest.len() - j);
            }
            let c = rest[0];
            rest = &rest[1..];
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return corrupt("base32", olen);
                }
                for k in 0..(7 - j) {
                    if rest.len() > k && rest[k] != b'=' {
                        return corrupt("base32", olen - rest.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return corrupt("base32", olen - rest.len() - 1);
                }
                break;
            }
            match map(c) {
                Some(v) => dbuf[j] = v,
                None => return corrupt("base32", olen - rest.len() - 1),
            }
            j += 1;
        }
        let v = dbuf.iter().fold(0u64, |acc, &d| acc << 5 | d);
        let bytes = [
            (v >> 32) as u8,
            (v >> 24) as u8,
            (v >> 16) as u8,
            (v >> 8) as u8,
            v as u8,
        ];
        let n = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(&bytes[..n]);
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> Vec<u8> {
    let digits = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]])
        .collect()
}

pub(crate) fn sha1sum(s: &[u8]) -> Vec<u8> {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, s);
    hex(d.as_ref())
}

pub(crate) fn sha256sum(s: &[u8]) -> Vec<u8> {
    hex(&sealant_crypto::sha256(s))
}

pub(crate) fn sha512sum(s: &[u8]) -> Vec<u8> {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, s);
    hex(d.as_ref())
}

/// Adler-32 (RFC 1950) as a decimal number, as Sprig prints it.
pub(crate) fn adler32sum(s: &[u8]) -> Vec<u8> {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in s.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16 | a).to_string().into_bytes()
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(c),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{c:02X}").as_bytes()),
        }
    }
    out
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for (c, raw) in runes(s) {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '\'' => out.extend_from_slice(b"\\'"),
            '"' => out.extend_from_slice(b"\\\""),
            '<' => out.extend_from_slice(b"\\u003C"),
            '>' => out.extend_from_slice(b"\\u003E"),
            '&' => out.extend_from_slice(b"\\u0026"),
            '=' => out.extend_from_slice(b"\\u003D"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x80 && !c.is_ascii_control() => out.push(c as u8),
            c if (c as u32) < 0x80 => {
                out.extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes())
            }
            c if super::gofmt::is_print(c) && c != '\u{FFFD}' => out.extend_from_slice(raw),
            c if c == '\u{FFFD}' && raw.len() > 1 => out.extend_from_slice(raw),
            c if (c as u32) < 0x10000 => {
                out.extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes())
            }
            c => {
                // Go writes a UTF-16 surrogate pair.
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.extend_from_slice(format!("\\u{:04X}", *u).as_bytes());
                }
            }
        }
    }
    out
}

/// Go's `encoding/json` string encoding (`escape_html` as `json.Marshal` does by default).
fn json_string(out: &mut Vec<u8>, s: &[u8], escape_html: bool) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (c, w) = decode_rune(rest);
        match c {
            None => out.extend_from_slice(b"\\ufffd"),
            Some('"') => out.extend_from_slice(b"\\\""),
            Some('\\') => out.extend_from_slice(b"\\\\"),
            Some('\n') => out.extend_from_slice(b"\\n"),
            Some('\r') => out.extend_from_slice(b"\\r"),
            Some('\t') => out.extend_from_slice(b"\\t"),
            Some('\x08') => out.extend_from_slice(b"\\b"),
            Some('\x0c') => out.extend_from_slice(b"\\f"),
            Some(c) if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            Some(c @ ('<' | '>' | '&')) if escape_html => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            Some(c @ ('\u{2028}' | '\u{2029}')) => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            Some(_) => out.extend_from_slice(&rest[..w]),
        }
        rest = &rest[w.max(1)..];
    }
    out.push(b'"');
}

/// Go's JSON float format: shortest, exponent form below 1e-6 or from 1e21.
fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float(f, b'e', None);
        // Go cleans e-09 to e-9.
        match s.find("e-0") {
            Some(i) => format!("{}e-{}", &s[..i], &s[i + 3..]),
            None => s.replace("e+0", "e+"),
        }
    } else {
        format_float(f, b'f', None)
    }
}

/// `json.Marshal` (or `MarshalIndent(v, "", "  ")` when `pretty`); `None` where Go fails
/// (NaN or infinite floats), which Sprig turns into empty output.
pub(crate) fn to_json(v: &Value, pretty: bool, escape_html: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    json_value(&mut out, v, pretty, escape_html, 0)?;
    Some(out)
}

fn newline(out: &mut Vec<u8>, pretty: bool, level: usize) {
    if pretty {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', 2 * level));
    }
}

fn json_value(out: &mut Vec<u8>, v: &Value, pretty: bool, html: bool, level: usize) -> Option<()> {
    if level > super::limits::MAX_VALUE_DEPTH + 2 {
        return None;
    }
    match v {
        Value::NoValue | Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => {
            if !f.is_finite() {
                return None;
            }
            out.extend_from_slice(json_float(*f).as_bytes());
        }
        Value::Str(s) => json_string(out, s, html),
        Value::List(l) => {
            out.push(b'[');
            for (i, item) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, pretty, level + 1);
                json_value(out, item, pretty, html, level + 1)?;
            }
            if !l.items.is_empty() {
                newline(out, pretty, level);
            }
            out.push(b']');
        }
        Value::Dict(d) => {
            out.push(b'{');
            for (i, (k, item)) in d.map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, pretty, level + 1);
                json_string(out, k, html);
                out.push(b':');
                if pretty {
                    out.push(b' ');
                }
                json_value(out, item, pretty, html, level + 1)?;
            }
            if !d.map.is_empty() {
                newline(out, pretty, level);
            }
            out.push(b'}');
        }
    }
    Some(())
}

/// Nesting depth of JSON text (brackets outside strings), to refuse deep input before parsing.
fn json_depth(s: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in s {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Sprig's `fromJson`: the decoded value (numbers are float64), or nil for invalid JSON or
/// JSON nested deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn from_json(s: &[u8]) -> Value {
    if json_depth(s) > MAX_JSON_DEPTH {
        return Value::Nil;
    }
    let text = String::from_utf8_lossy(s);
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => from_serde(v),
        Err(_) => Value::Nil,
    }
}

fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(a) => Value::list(a.into_iter().map(from_serde).collect()),
        serde_json::Value::Object(o) => Value::dict(
            o.into_iter()
                .map(|(k, v)| (k.into_bytes(), from_serde(v)))
                .collect::<BTreeMap<_, _>>(),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn base64_like_go() {
        assert_eq!(s(b64dec(b"aGVsbG8=")), "hello");
        assert_eq!(s(b64dec(b"aGVs\nbG8=")), "hello");
        assert_eq!(s(b64dec(b"aGVsbG8")), "illegal base64 data at input byte 4");
        assert_eq!(
            s(b64dec(b"aGV-bG8=")),
            "illegal base64 data at input byte 3"
        );
        assert_eq!(
            s(b64dec(b"aGVsbG8=x")),
            "illegal base64 data at input byte 8"
        );
        assert_eq!(s(b64dec(b"")), "");
        assert_eq!(s(b64dec(b"YQ==")), "a");
        assert_eq!(s(b64dec(b"YQ=")), "illegal base64 data at input byte 3");
    }

    #[test]
    fn base32_like_go() {
        assert_eq!(s(b32enc(b"hello")), "NBSWY3DP");
        assert_eq!(s(b32enc(b"a")), "ME======");
        assert_eq!(s(b32dec(b"NBSWY3DP")), "hello");
        assert_eq!(s(b32dec(b"ME======")), "a");
        assert_eq!(s(b32dec(b"ME=====")), "illegal base32 data at input byte 7");
        assert_eq!(
            s(b32dec(b"M1======")),
            "illegal base32 data at input byte 1"
        );
    }

    #[test]
    fn json_like_go() {
        let v = from_json(br#"{"b":[1,2.5,"x<"],"a":null}"#);
        assert_eq!(
            s(to_json(&v, false, true).unwrap_or_default()),
            r#"{"a":null,"b":[1,2.5,"x\u003c"]}"#
        );
        assert_eq!(
            s(to_json(&v, true, false).unwrap_or_default()),
            "{\n  \"a\": null,\n  \"b\": [\n    1,\n    2.5,\n    \"x<\"\n  ]\n}"
        );
        assert!(matches!(from_json(b"{"), Value::Nil));
        assert!(matches!(from_json(&[b'['; 100]), Value::Nil));
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(123456789.0), "123456789");
    }

    #[test]
    fn checksums() {
        assert_eq!(s(adler32sum(b"Wikipedia")), "300286872");
        assert_eq!(
            s(sha1sum(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
