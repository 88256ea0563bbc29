//! Splits a template into text and action tokens as Go's `text/template/parse` lexer does:
//! `{{`/`}}` delimiters with `{{- `/` -}}` whitespace trimming, `{{/* comments */}}`, and inside
//! actions identifiers, keywords, `.fields`, `$variables`, literals and punctuation.
//!
//! Iterative, linear in the source, no allocation beyond the token list.

use super::TemplateError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Literal text between actions (already trimmed).
    Text(Vec<u8>),
    /// `{{` (start of an action).
    Open,
    /// `}}` (end of an action).
    Close,
    /// An identifier or keyword (`if`, `printf`, `true`, `nil`, ...).
    Ident(String),
    /// `.name` (one element of a field chain).
    Field(String),
    /// `$name`, or `$` alone.
    Var(String),
    /// `.` alone.
    Dot,
    /// A string literal, unquoted.
    Str(Vec<u8>),
    /// A number or character literal, as written.
    Number(String),
    Char(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// A token and the byte offset it starts at.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
    /// Whitespace came right before it (so a `.field` starts a new operand, not a chain).
    pub spaced: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Where `pos` is in `src`, for messages: `line L, column C`.
pub(crate) fn position(src: &str, pos: usize) -> String {
    let upto = &src.as_bytes()[..pos.min(src.len())];
    let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = upto.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    format!("line {line}, column {col}")
}

/// Tokenizes the whole template.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    let err = |pos: usize, msg: &str| TemplateError::at(src, pos, msg);
    while i <= b.len() {
        // Text up to the next "{{".
        let start = i;
        let open = find(b, i, b"{{");
        let end = open.unwrap_or(b.len());
        let mut text = &b[start..end];
        if trim_next {
            while let Some((&f, rest)) = text.split_first() {
                if !is_space(f) {
                    break;
                }
                text = rest;
            }
        }
        let Some(open) = open else {
            if !text.is_empty() {
                toks.push(Token {
                    tok: Tok::Text(text.to_vec()),
                    pos: start,
                    spaced: false,
                });
            }
            break;
        };
        let mut j = open + 2;
        let trim_left = b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|&c| is_space(c));
        if trim_left {
            while let Some((&l, rest)) = text.split_last() {
                if !is_space(l) {
                    break;
                }
                text = rest;
            }
            j += 2;
        }
        if !text.is_empty() {
            toks.push(Token {
                tok: Tok::Text(text.to_vec()),
                pos: start,
                spaced: false,
            });
        }
        // Comment: "{{/*" (after an optional "- ") up to "*/", then the closing delimiter.
        if b[j..].starts_with(b"/*") {
            let Some(end) = find(b, j + 2, b"*/") else {
                return Err(err(open, "unclosed comment"));
            };
            let mut k = end + 2;
            let mut trim_right = false;
            if b.get(k).is_some_and(|&c| is_space(c))
                && b.get(k + 1) == Some(&b'-')
                && b[k + 2..].starts_with(b"}}")
            {
                trim_right = true;
                k += 2;
            }
            if !b[k..].starts_with(b"}}") {
                return Err(err(open, "comment ends before closing delimiter"));
            }
            i = k + 2;
            trim_next = trim_right;
            continue;
        }
        toks.push(Token {
            tok: Tok::Open,
            pos: open,
            spaced: false,
        });
        // Inside the action.
        loop {
            let before = j;
            while b.get(j).is_some_and(|&c| is_space(c)) {
                // " -}}" closes with trimming.
                if b.get(j + 1) == Some(&b'-') && b[j + 2..].starts_with(b"}}") {
                    break;
                }
                j += 1;
            }
            let Some(&c) = b.get(j) else {
                return Err(err(open, "unclosed action"));
            };
            if is_space(c) {
                // " -}}"
                toks.push(Token {
                    tok: Tok::Close,
                    pos: j,
                    spaced: true,
                });
                i = j + 4;
                trim_next = true;
                break;
            }
            if b[j..].starts_with(b"}}") {
                toks.push(Token {
                    tok: Tok::Close,
                    pos: j,
                    spaced: j > before,
                });
                i = j + 2;
                trim_next = false;
                break;
            }
            let pos = j;
            let tok = match c {
                b'|' => {
                    j += 1;
                    Tok::Pipe
                }
                b'(' => {
                    j += 1;
                    Tok::LParen
                }
                b')' => {
                    j += 1;
                    Tok::RParen
                }
                b',' => {
                    j += 1;
                    Tok::Comma
                }
                b':' if b.get(j + 1) == Some(&b'=') => {
                    j += 2;
                    Tok::Declare
                }
                b'=' => {
                    j += 1;
                    Tok::Assign
                }
                b'"' => {
                    let (s, next) = quoted(src, j)?;
                    j = next;
                    Tok::Str(s)
                }
                b'`' => {
                    let Some(end) = b[j + 1..].iter().position(|&c| c == b'`') else {
                        return Err(err(j, "unterminated raw quoted string"));
                    };
                    let s = b[j + 1..j + 1 + end]
                        .iter()
                        .copied()
                        .filter(|&c| c != b'\r')
                        .collect();
                    j = j + end + 2;
                    Tok::Str(s)
                }
                b'\'' => {
                    let mut k = j + 1;
                    loop {
                        match b.get(k) {
                            None | Some(b'\n') => {
                                return Err(err(j, "unterminated character constant"));
                            }
                            Some(b'\\') => k += 2,
                            Some(b'\'') => break,
                            Some(_) => k += 1,
                        }
                    }
                    let text = src.get(j..=k).unwrap_or_default().to_owned();
                    j = k + 1;
                    Tok::Char(text)
                }
                b'.' if b.get(j + 1).is_some_and(|c| c.is_ascii_digit()) => {
                    let end = number_end(b, j);
                    let text = src[j..end].to_owned();
                    j = end;
                    Tok::Number(text)
                }
                b'.' => {
                    let (name, next) = ident(src, j + 1);
                    j = next;
                    if name.is_empty() {
                        Tok::Dot
                    } else {
                        Tok::Field(name)
                    }
                }
                b'$' => {
                    let (name, next) = ident(src, j + 1);
                    j = next;
                    Tok::Var(format!("${name}"))
                }
                b'+' | b'-' | b'0'..=b'9' => {
                    let end = number_end(b, j);
                    if end == j + 1 && !c.is_ascii_digit() {
                        return Err(err(j, &format!("bad character {:?}", char::from(c))));
                    }
                    let text = src[j..end].to_owned();
                    j = end;
                    Tok::Number(text)
                }
                _ => {
                    let (name, next) = ident(src, j);
                    if name.is_empty() {
                        let ch = src[j..].chars().next().unwrap_or('?');
                        return Err(err(j, &format!("bad character {ch:?} in action")));
                    }
                    j = next;
                    Tok::Ident(name)
                }
            };
            toks.push(Token {
                tok,
                pos,
                spaced: pos > before,
            });
            // A token must be followed by a separator (Go: "bad character" otherwise), except
            // before field chains, punctuation and the closing delimiter.
        }
        if i > b.len() {
            break;
        }
    }
    Ok(toks)
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

fn ident(src: &str, from: usize) -> (String, usize) {
    let rest = src.get(from..).unwrap_or_default();
    let len: usize = rest
        .chars()
        .take_while(|&c| is_alnum(c))
        .map(char::len_utf8)
        .sum();
    (rest[..len].to_owned(), from + len)
}

/// End of a number literal starting at `from` (Go's lexer accepts a superset; `parse` checks).
fn number_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    if matches!(b.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let mut prev = 0u8;
    while let Some(&c) = b.get(j) {
        let ok = c.is_ascii_alphanumeric()
            || c == b'_'
            || c == b'.'
            || (matches!(c, b'+' | b'-') && matches!(prev, b'e' | b'E' | b'p' | b'P'));
        if !ok {
            break;
        }
        prev = c;
        j += 1;
    }
    j
}

/// A Go interpreted string literal starting at `from` (the opening quote).
fn quoted(src: &str, from: usize) -> Result<(Vec<u8>, usize), TemplateError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut j = from + 1;
    let bad = |pos| TemplateError::at(src, pos, "unterminated quoted string");
    loop {
        match b.get(j) {
            None | Some(b'\n') => return Err(bad(from)),
            Some(b'"') => return Ok((out, j + 1)),
            Some(b'\\') => {
                let Some(&e) = b.get(j + 1) else {
                    return Err(bad(from));
                };
                j += 2;
                match e {
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(11),
                    b'\\' => out.push(b'\\'),
                    b'"' => out.push(b'"'),
                    b'x' | b'u' | b'U' => {
                        let n = match e {
                            b'x' => 2,
                            b'u' => 4,
                            _ => 8,
                        };
                        let hex = src.get(j..j + n).ok_or_else(|| bad(from))?;
                        let v = u32::from_str_radix(hex, 16)
                            .map_err(|_| TemplateError::at(src, j, "invalid escape in string"))?;
                        j += n;
                        if e == b'x' {
                            out.push(v as u8);
                        } else {
                            let c = char::from_u32(v).ok_or_else(|| {
                                TemplateError::at(src, j, "invalid Unicode escape in string")
                            })?;
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                    }
                    b'0'..=b'7' => {
                        let oct = src.get(j - 1..j + 2).ok_or_else(|| bad(from))?;
                        let v = u32::from_str_radix(oct, 8).map_err(|_| {
                            TemplateError::at(src, j, "invalid octal escape in string")
                        })?;
                        let v = u8::try_from(v)
                            .map_err(|_| TemplateError::at(src, j, "octal escape value > 255"))?;
                        out.push(v);
                        j += 2;
                    }
                    _ => {
                        return Err(TemplateError::at(
                            src,
                            j - 2,
                            "unknown escape sequence in string",
                        ));
                    }
                }
            }
            Some(_) => {
                let c = src[j..].chars().next().unwrap_or('\u{FFFD}');
                out.extend_from_slice(c.to_string().as_bytes());
                j += c.len_utf8();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src)
            .map(|t| t.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn trims_and_comments() {
        assert_eq!(
            kinds("a  {{- .x -}}  b"),
            vec![
                Tok::Text(b"a".to_vec()),
                Tok::Open,
                Tok::Field("x".into()),
                Tok::Close,
                Tok::Text(b"b".to_vec())
            ]
        );
        assert_eq!(
            kinds("a {{- /* c */ -}} b"),
            vec![Tok::Text(b"a".to_vec()), Tok::Text(b"b".to_vec())]
        );
        assert_eq!(
            kinds("{{-3}}"),
            vec![Tok::Open, Tok::Number("-3".into()), Tok::Close]
        );
        assert!(lex("{{ .x ").is_err());
        assert!(lex("{{/* x */ y}}").is_err());
        assert_eq!(
            kinds("{{ \"}}\" }}"),
            vec![Tok::Open, Tok::Str(b"}}".to_vec()), Tok::Close]
        );
    }
}
