//! A deliberately small subset of Go `text/template` (+ a few Sprig functions) for
//! `spec.template.data`, rendered over the unsealed values.
//!
//! Supported: literal text; actions `{{ … }}` with `{{-`/`-}}` whitespace trimming and
//! `{{/* comments */}}`; pipelines `a | b | c`; operands `.key` (a missing key renders
//! `<no value>`, as Go does), `index . "key"` (a missing key is empty, as Go does), string literals
//! (`"…"` with Go escapes, and raw `` `…` ``), integers, and `( … )` sub-pipelines; functions
//! [`FUNCTIONS`]. Anything else (`if`, `range`, `with`, variables, `define`, unknown functions,
//! `env` and friends) is an error naming the construct, never a silently wrong value. A value
//! that is not UTF-8 text is an error when a template uses it (Go would splice raw bytes).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Functions the renderer knows, for documentation and error messages.
pub const FUNCTIONS: &[&str] = &[
    "index",
    "printf",
    "print",
    "quote",
    "squote",
    "upper",
    "lower",
    "title",
    "trim",
    "trimSpace",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "b64enc",
    "b64dec",
    "toJson",
    "toString",
    "default",
    "nospace",
    "indent",
    "nindent",
    "cat",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "sha256sum",
    "len",
    "join",
];

/// Cap on a rendered value, so a template cannot blow up memory (the Secret limit is 1 MiB).
const MAX_OUTPUT: usize = 1 << 20;
/// Cap on template source length.
const MAX_SOURCE: usize = 256 * 1024;

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Dot,
    Str(String),
    Int(i64),
    Missing,
}

impl Value {
    fn render(&self) -> Result<String, TemplateError> {
        match self {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Missing => Ok("<no value>".into()),
            Value::Dot => {
                err("cannot print the whole value map ('.'); use .key or index . \"key\"")
            }
        }
    }

    fn text(&self) -> Result<String, TemplateError> {
        match self {
            Value::Missing => Ok(String::new()),
            other => other.render(),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Missing => false,
            Value::Dot => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Field(String),
    Dot,
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close,
}

/// Looks up an unsealed value by item name.
pub type Lookup<'f, 'v> = &'f dyn Fn(&str) -> Option<&'v [u8]>;

/// Renders `source` against the unsealed values that `values` looks up.
pub fn render(source: &str, values: Lookup<'_, '_>) -> Result<String, TemplateError> {
    if source.len() > MAX_SOURCE {
        return err(format!("template is longer than {MAX_SOURCE} bytes"));
    }
    let mut out = String::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let (text, after) = match rest.find("{{") {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        let mut text = if trim_next_text {
            text.trim_start()
        } else {
            text
        };
        let Some(after) = after else {
            out.push_str(text);
            break;
        };
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        out.push_str(text);
        let body_start = if trim_left { &after[1..] } else { after };
        let Some(end) = find_action_end(body_start) else {
            return err("unclosed action: missing '}}'");
        };
        let raw_body = &body_start[..end];
        let trim_right =
            raw_body.ends_with(" -") || raw_body.ends_with("\t-") || raw_body.ends_with("\n-");
        let body = if trim_right {
            &raw_body[..raw_body.len() - 1]
        } else {
            raw_body
        };
        rest = &body_start[end + 2..];
        trim_next_text = trim_right;

        let body = body.trim();
        if body.starts_with("/*") {
            if !body.ends_with("*/") {
                return err("unclosed comment");
            }
            continue;
        }
        let tokens = lex(body)?;
        let mut pos = 0;
        let value = eval_pipeline(&tokens, &mut pos, values)?;
        if pos != tokens.len() {
            return err(format!(
                "unexpected {:?} in action {{{{{body}}}}}",
                tokens[pos]
            ));
        }
        out.push_str(&value.render()?);
        if out.len() > MAX_OUTPUT {
            return err(format!("rendered value is larger than {MAX_OUTPUT} bytes"));
        }
    }
    Ok(out)
}

/// Finds the `}}` closing an action, skipping string literals.
fn find_action_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn lex(body: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let ident_char = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j == start {
                    tokens.push(Token::Dot);
                } else {
                    if chars.get(j) == Some(&'.') {
                        return err("nested fields (.a.b) are not supported");
                    }
                    tokens.push(Token::Field(chars[start..j].iter().collect()));
                }
                i = j;
            }
            '"' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return err("unterminated string literal"),
                        Some('"') => break,
                        Some('\\') => {
                            j += 1;
                            match chars.get(j) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some('\\') => s.push('\\'),
                                Some('"') => s.push('"'),
                                Some(other) => return err(format!("unsupported escape \\{other}")),
                                None => return err("unterminated string literal"),
                            }
                        }
                        Some(&ch) => s.push(ch),
                    }
                    j += 1;
                }
                tokens.push(Token::Str(s));
                i = j + 1;
            }
            '`' => {
                let start = i + 1;
                let Some(len) = chars[start..].iter().position(|&ch| ch == '`') else {
                    return err("unterminated raw string literal");
                };
                tokens.push(Token::Str(chars[start..start + len].iter().collect()));
                i = start + len + 1;
            }
            '$' => return err("template variables ($x) are not supported"),
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse()
                    .map_err(|_| TemplateError(format!("number {text} out of range")))?;
                tokens.push(Token::Int(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return err(format!("unexpected character {other:?} in action")),
        }
    }
    Ok(tokens)
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn eval_pipeline(
    tokens: &[Token],
    pos: &mut usize,
    values: Lookup<'_, '_>,
) -> Result<Value, TemplateError> {
    let mut piped: Option<Value> = None;
    loop {
        let value = eval_command(tokens, pos, values, piped.take())?;
        piped = Some(value);
        if tokens.get(*pos) == Some(&Token::Pipe) {
            *pos += 1;
        } else {
            break;
        }
    }
    piped.map_or_else(|| err("empty pipeline"), Ok)
}

fn eval_operand(
    tokens: &[Token],
    pos: &mut usize,
    values: Lookup<'_, '_>,
) -> Result<Option<Value>, TemplateError> {
    let value = match tokens.get(*pos) {
        Some(Token::Dot) => Value::Dot,
        Some(Token::Field(k)) => values(k).map_or(Ok(Value::Missing), |v| text_value(k, v))?,
        Some(Token::Str(s)) => Value::Str(s.clone()),
        Some(Token::Int(i)) => Value::Int(*i),
        Some(Token::Open) => {
            *pos += 1;
            let v = eval_pipeline(tokens, pos, values)?;
            if tokens.get(*pos) != Some(&Token::Close) {
                return err("missing ')'");
            }
            v
        }
        _ => return Ok(None),
    };
    *pos += 1;
    Ok(Some(value))
}

fn eval_command(
    tokens: &[Token],
    pos: &mut usize,
    values: Lookup<'_, '_>,
    piped: Option<Value>,
) -> Result<Value, TemplateError> {
    let Some(Token::Ident(name)) = tokens.get(*pos) else {
        let Some(v) = eval_operand(tokens, pos, values)? else {
            return err(match tokens.get(*pos) {
                None => "empty command".to_owned(),
                Some(t) => format!("unexpected {t:?}"),
            });
        };
        if piped.is_some() {
            return err("only a function can follow '|'");
        }
        return Ok(v);
    };
    let name = name.clone();
    if KEYWORDS.contains(&name.as_str()) {
        return err(format!(
            "'{name}' is not supported in spec.template.data (only value pipelines are)"
        ));
    }
    *pos += 1;
    let mut args = Vec::new();
    while let Some(v) = eval_operand(tokens, pos, values)? {
        args.push(v);
    }
    if let Some(p) = piped {
        args.push(p);
    }
    if name == "index" {
        arity(&name, &args, 2)?;
        if args[0] != Value::Dot {
            return err("index only works on '.' (index . \"key\")");
        }
        // Go's index yields the zero value for a missing key: an empty string.
        let key = args[1].text()?;
        return values(&key).map_or(Ok(Value::Str(String::new())), |v| text_value(&key, v));
    }
    call(&name, args)
}

fn text_value(key: &str, bytes: &[u8]) -> Result<Value, TemplateError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Value::Str(text.to_owned())),
        Err(_) => err(format!(
            "item {key:?} is binary (not UTF-8 text) and cannot be used in a template"
        )),
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() != n {
        return err(format!("{name} takes {n} argument(s), got {}", args.len()));
    }
    Ok(())
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
    let s = |i: usize| args[i].text();
    let one = |f: fn(&str) -> String| -> Result<Value, TemplateError> {
        arity(name, &args, 1)?;
        Ok(Value::Str(f(&args[0].text()?)))
    };
    match name {
        "printf" => {
            if args.is_empty() {
                return err("printf needs a format");
            }
            printf(&s(0)?, &args[1..])
        }
        "print" | "cat" => {
            let parts: Result<Vec<String>, _> = args.iter().map(Value::text).collect();
            Ok(Value::Str(parts?.join(if name == "cat" {
                " "
            } else {
                ""
            })))
        }
        "quote" => one(|v| format!("{v:?}")),
        "squote" => one(|v| format!("'{v}'")),
        "upper" => one(str::to_uppercase),
        "lower" => one(str::to_lowercase),
        "title" => one(|v| {
            v.split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
                })
                .collect::<Vec<_>>()
                .join(" ")
        }),
        "trim" | "trimSpace" => one(|v| v.trim().to_owned()),
        "nospace" => one(|v| v.chars().filter(|c| !c.is_whitespace()).collect()),
        "b64enc" => one(|v| STANDARD.encode(v)),
        "toJson" => one(|v| serde_json::Value::String(v.to_owned()).to_string()),
        "toString" => one(str::to_owned),
        "sha256sum" => one(|v| hex(&sealant_crypto::sha256(v.as_bytes()))),
        "len" => {
            arity(name, &args, 1)?;
            Ok(Value::Int(
                i64::try_from(s(0)?.chars().count()).unwrap_or(i64::MAX),
            ))
        }
        "b64dec" => {
            arity(name, &args, 1)?;
            let bytes = STANDARD
                .decode(s(0)?)
                .map_err(|e| TemplateError(format!("b64dec: {e}")))?;
            String::from_utf8(bytes)
                .map(Value::Str)
                .map_err(|_| TemplateError("b64dec: result is not UTF-8".into()))
        }
        "trimPrefix" | "trimSuffix" | "contains" | "hasPrefix" | "hasSuffix" | "join" => {
            arity(name, &args, 2)?;
            let (a, b) = (s(0)?, s(1)?);
            Ok(match name {
                "trimPrefix" => Value::Str(b.strip_prefix(a.as_str()).unwrap_or(&b).to_owned()),
                "trimSuffix" => Value::Str(b.strip_suffix(a.as_str()).unwrap_or(&b).to_owned()),
                "contains" => bool_value(b.contains(a.as_str())),
                "hasPrefix" => bool_value(b.starts_with(a.as_str())),
                "hasSuffix" => bool_value(b.ends_with(a.as_str())),
                _ => return err("join needs a list; lists are not supported"),
            })
        }
        "replace" => {
            arity(name, &args, 3)?;
            Ok(Value::Str(s(2)?.replace(s(0)?.as_str(), &s(1)?)))
        }
        "default" => {
            arity(name, &args, 2)?;
            Ok(if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            })
        }
        "indent" | "nindent" => {
            arity(name, &args, 2)?;
            let Value::Int(n) = args[0] else {
                return err(format!("{name}: first argument must be a number"));
            };
            let pad = " ".repeat(usize::try_from(n).unwrap_or(0).min(256));
            let body = s(1)?
                .split('\n')
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Value::Str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            }))
        }
        "env" | "expandenv" | "getHostByName" => {
            err(format!("function {name:?} is not allowed in templates"))
        }
        other => err(format!(
            "function {other:?} is not supported; supported: {}",
            FUNCTIONS.join(", ")
        )),
    }
}

fn bool_value(b: bool) -> Value {
    Value::Str(if b { "true" } else { "false" }.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn printf(format: &str, args: &[Value]) -> Result<Value, TemplateError> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => {
                let Some(arg) = args.next() else {
                    let _ = write!(out, "%!{verb}(MISSING)");
                    continue;
                };
                match (verb, arg) {
                    ('q', v) => {
                        let _ = write!(out, "{:?}", v.render()?);
                    }
                    ('d', Value::Int(i)) => {
                        let _ = write!(out, "{i}");
                    }
                    ('d', _) => return err("printf: %d needs a number"),
                    (_, v) => out.push_str(&v.render()?),
                }
            }
            Some(other) => return err(format!("printf: verb %{other} is not supported")),
            None => out.push_str("%!(NOVERB)"),
        }
    }
    Ok(Value::Str(out))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn lookup<'a>(map: &'a BTreeMap<&'static str, Vec<u8>>) -> impl Fn(&str) -> Option<&'a [u8]> {
        move |k| map.get(k).map(Vec::as_slice)
    }

    fn values() -> BTreeMap<&'static str, Vec<u8>> {
        [
            ("user", "app"),
            ("password", "p\"w:1"),
            ("db-host", "db.prod"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.as_bytes().to_vec()))
        .chain([("bin", vec![0xff, 0xfe])])
        .collect()
    }

    fn try_render(src: &str) -> Result<String, TemplateError> {
        let map = values();
        let f = lookup(&map);
        render(src, &f)
    }

    fn r(src: &str) -> String {
        try_render(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn common_forms() {
        assert_eq!(r("plain text"), "plain text");
        assert_eq!(r("u={{ .user }}"), "u=app");
        assert_eq!(r("{{index . \"db-host\"}}:5432"), "db.prod:5432");
        assert_eq!(r("{{ .password | toJson }}"), r#""p\"w:1""#);
        assert_eq!(r("{{ toJson .password }}"), r#""p\"w:1""#);
        assert_eq!(
            r("{{ printf \"%s:%s\" .user .password | b64enc }}"),
            "YXBwOnAidzox"
        );
        assert_eq!(r("{{ .user | upper | quote }}"), "\"APP\"");
        assert_eq!(r("{{ .nope | default \"x\" }}"), "x");
        assert_eq!(r("{{ .user | default \"x\" }}"), "app");
        assert_eq!(r("a\n  {{- .user -}}  \nb"), "aappb");
        assert_eq!(r("{{/* a comment */}}x"), "x");
        assert_eq!(r("{{ \"YXBw\" | b64dec }}"), "app");
        assert_eq!(r("{{ (printf \"%s-%s\" .user .user) | upper }}"), "APP-APP");
        assert_eq!(r("cfg:{{ .user | nindent 2 }}"), "cfg:\n  app");
        assert_eq!(
            r("{{ replace \".\" \"_\" (index . \"db-host\") }}"),
            "db_prod"
        );
        assert_eq!(r("{{ `raw \"x\"` }}"), "raw \"x\"");
        assert_eq!(r("{{ \"}}\" }}"), "}}");
    }

    #[test]
    fn missing_keys_follow_go() {
        assert_eq!(r("{{ .missing }}"), "<no value>");
        assert_eq!(r("[{{ index . \"missing\" }}]"), "[]");
    }

    #[test]
    fn unsupported_constructs_are_errors() {
        for (src, needle) in [
            ("{{ if .user }}x{{ end }}", "'if' is not supported"),
            ("{{ range . }}{{ end }}", "'range'"),
            ("{{ $x := .user }}", "variables"),
            ("{{ env \"HOME\" }}", "not allowed"),
            ("{{ frobnicate .user }}", "not supported"),
            ("{{ .user ", "unclosed"),
            ("{{ . }}", "whole value map"),
            ("{{ .a.b }}", "nested"),
            ("{{ \"x }}", "unclosed action"),
            ("{{ printf \"%x\" .user }}", "verb %x"),
            ("{{ .user | .password }}", "only a function"),
            ("{{ .bin }}", "binary"),
            ("{{ index . \"bin\" }}", "binary"),
        ] {
            let e = try_render(src).unwrap_err().to_string();
            assert!(e.contains(needle), "{src}: {e}");
        }
    }

    #[test]
    fn output_is_bounded() {
        let big: BTreeMap<&'static str, Vec<u8>> = [("v", vec![b'x'; 600_000])].into();
        let f = lookup(&big);
        assert!(render("{{ .v }}{{ .v }}", &f).is_err());
        assert!(render("{{ .v }}", &f).is_ok());
    }
}
