//! Parses tokens into a tree, as Go's `text/template/parse` does, with every nesting (actions
//! inside control structures, parenthesised pipelines) counted against [`MAX_DEPTH`] so the
//! recursion of this parser, of `check` and of `eval` stays shallow whatever the input.
//!
//! Names are resolved here: functions to [`Func`] (unknown or refused ones are errors that list
//! what is supported), variables to slots (an undefined variable is an error), and templates
//! to indexes of [`Parsed::defines`].

use std::collections::BTreeMap;

use super::TemplateError;
use super::funcs::Func;
use super::lexer::{Tok, Token, lex};
use super::limits::{MAX_DEPTH, MAX_NODES};

/// A parsed template: its body and the templates it defines.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub root: Vec<Node>,
    /// `define`d and `block` templates, by index.
    pub defines: Vec<Define>,
    /// Number of variable slots.
    pub slots: usize,
}

#[derive(Debug)]
pub(crate) struct Define {
    pub name: String,
    pub body: Vec<Node>,
    /// The slot holding `$` inside this template.
    pub dollar: usize,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(Vec<u8>),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Option<Vec<Node>>),
    With(Vec<(Pipeline, Vec<Node>)>, Option<Vec<Node>>),
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Option<Vec<Node>>,
    },
    /// `{{template "name" pipeline}}`: index into `defines` (resolved after parsing).
    Call {
        name: String,
        target: usize,
        pipe: Option<Pipeline>,
        pos: usize,
    },
    Break,
    Continue,
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`), as slots.
    pub vars: Vec<usize>,
    pub cmds: Vec<Command>,
    pub pos: usize,
}

#[derive(Debug)]
pub(crate) struct Command {
    pub args: Vec<Arg>,
    pub pos: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b` (slot, chain)
    Var(usize, Vec<String>),
    Func(Func),
    /// `(pipeline).a.b`
    Pipe(std::rc::Rc<Pipeline>, Vec<String>),
}

/// Nodes of a list, and the keyword (with its position) that ended it.
type ListEnd = (Vec<Node>, Option<(String, usize)>);

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
    nodes: usize,
    /// Visible variables: name and slot, innermost last.
    scope: Vec<(String, usize)>,
    slots: usize,
    defines: Vec<Define>,
    in_range: usize,
}

/// Parses `src`.
pub(crate) fn parse(src: &str) -> Result<Parsed, TemplateError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
        nodes: 0,
        scope: vec![("$".to_owned(), 0)],
        slots: 1,
        defines: Vec::new(),
        in_range: 0,
    };
    let (root, end) = p.list(true)?;
    if let Some((word, pos)) = end {
        return Err(p.err(pos, &format!("unexpected {{{{{word}}}}}")));
    }
    let mut parsed = Parsed {
        root,
        defines: p.defines,
        slots: p.slots,
    };
    let names: BTreeMap<String, usize> = parsed
        .defines
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.clone(), i))
        .collect();
    let mut stack: Vec<&mut Vec<Node>> = vec![&mut parsed.root];
    for d in parsed.defines.iter_mut() {
        stack.push(&mut d.body);
    }
    resolve_in(&mut stack, &names, src)?;
    Ok(parsed)
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: &str) -> TemplateError {
        TemplateError::at(self.src, pos, msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.src.len(), |t| t.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn count_node(&mut self) -> Result<(), TemplateError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err(
                self.pos(),
                &format!("template has more than {MAX_NODES} nodes (limit)"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                self.pos(),
                &format!("template nests deeper than {MAX_DEPTH} (nesting depth limit)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Token {
                tok: Tok::Close, ..
            }) => Ok(()),
            Some(t) => Err(self.err(t.pos, &format!("unexpected {} in {what}", describe(&t.tok)))),
            None => Err(self.err(self.src.len(), &format!("unclosed {what}"))),
        }
    }

    /// Parses nodes up to `{{end}}`, `{{else ...}}` or the end of input. Returns the nodes and
    /// the keyword that stopped it (with the tokens after `else` left unread).
    fn list(&mut self, top: bool) -> Result<ListEnd, TemplateError> {
        let mut nodes = Vec::new();
        let mark = self.scope.len();
        let result = loop {
            let Some(t) = self.next() else {
                break (nodes, None);
            };
            self.count_node()?;
            match t.tok {
                Tok::Text(text) => nodes.push(Node::Text(text)),
                Tok::Open => {
                    let kw = match self.peek() {
                        Some(Tok::Ident(w)) => Some(w.clone()),
                        _ => None,
                    };
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_close("end")?;
                            break (nodes, Some(("end".to_owned(), t.pos)));
                        }
                        Some("else") => {
                            self.i += 1;
                            break (nodes, Some(("else".to_owned(), t.pos)));
                        }
                        Some("if") => {
                            self.i += 1;
                            nodes.push(self.if_or_with(true)?);
                        }
                        Some("with") => {
                            self.i += 1;
                            nodes.push(self.if_or_with(false)?);
                        }
                        Some("range") => {
                            self.i += 1;
                            nodes.push(self.range()?);
                        }
                        Some("define") => {
                            if !top || self.depth > 0 {
                                return Err(
                                    self.err(t.pos, "define is only allowed at the top level")
                                );
                            }
                            self.i += 1;
                            self.define(t.pos, false)?;
                        }
                        Some("block") => {
                            self.i += 1;
                            let call = self.define(t.pos, true)?;
                            nodes.push(call);
                        }
                        Some("template") => {
                            self.i += 1;
                            nodes.push(self.template_call(t.pos)?);
                        }
                        Some(w @ ("break" | "continue")) => {
                            if self.in_range == 0 {
                                return Err(
                                    self.err(t.pos, &format!("{{{{{w}}}}} outside {{{{range}}}}"))
                                );
                            }
                            let node = if w == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            };
                            self.i += 1;
                            self.expect_close(w)?;
                            nodes.push(node);
                        }
                        _ => {
                            let pipe = self.pipeline("command", true)?;
                            self.expect_close("command")?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.err(t.pos, &format!("unexpected {}", describe(&other)))),
            }
        };
        self.scope.truncate(mark);
        Ok(result)
    }

    /// `if`/`with` after the keyword, with `else if`/`else with` chains.
    fn if_or_with(&mut self, is_if: bool) -> Result<Node, TemplateError> {
        let word = if is_if { "if" } else { "with" };
        self.enter()?;
        let mark = self.scope.len();
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let pipe = self.pipeline(word, true)?;
            self.expect_close(word)?;
            let (body, end) = self.list(false)?;
            branches.push((pipe, body));
            match end {
                Some((w, _)) if w == "end" => break,
                Some((w, pos)) if w == "else" => {
                    if matches!(self.peek(), Some(Tok::Ident(k)) if k == word) {
                        self.i += 1;
                        continue;
                    }
                    self.expect_close("else")?;
                    let (body, end) = self.list(false)?;
                    if !matches!(&end, Some((w, _)) if w == "end") {
                        return Err(self.err(
                            pos,
                            &format!("expected {{{{end}}}} after {{{{else}}}} of {word}"),
                        ));
                    }
                    otherwise = Some(body);
                    break;
                }
                _ => {
                    return Err(self.err(
                        self.src.len(),
                        &format!("unexpected EOF: {{{{{word}}}}} without {{{{end}}}}"),
                    ));
                }
            }
        }
        self.scope.truncate(mark);
        self.leave();
        Ok(if is_if {
            Node::If(branches, otherwise)
        } else {
            Node::With(branches, otherwise)
        })
    }

    fn range(&mut self) -> Result<Node, TemplateError> {
        self.enter()?;
        let mark = self.scope.len();
        let pipe = self.pipeline("range", true)?;
        self.expect_close("range")?;
        self.in_range += 1;
        let (body, end) = self.list(false)?;
        self.in_range -= 1;
        let otherwise = match end {
            Some((w, _)) if w == "end" => None,
            Some((w, pos)) if w == "else" => {
                self.expect_close("else")?;
                let (body, end) = self.list(false)?;
                if !matches!(&end, Some((w, _)) if w == "end") {
                    return Err(self.err(pos, "expected {{end}} after {{else}} of range"));
                }
                Some(body)
            }
            _ => return Err(self.err(self.src.len(), "unexpected EOF: {{range}} without {{end}}")),
        };
        self.scope.truncate(mark);
        self.leave();
        Ok(Node::Range {
            pipe,
            body,
            otherwise,
        })
    }

    fn template_name(&mut self, word: &str) -> Result<String, TemplateError> {
        match self.next() {
            Some(Token {
                tok: Tok::Str(s),
                pos,
                ..
            }) => String::from_utf8(s).map_err(|_| self.err(pos, "template name is not UTF-8")),
            Some(t) => Err(self.err(
                t.pos,
                &format!(
                    "unexpected {} in {word}: expected a quoted template name",
                    describe(&t.tok)
                ),
            )),
            None => Err(self.err(self.src.len(), &format!("unclosed {word}"))),
        }
    }

    /// `define "name"` or `block "name" pipeline` after the keyword. A block also returns
    /// the call it stands for.
    fn define(&mut self, pos: usize, block: bool) -> Result<Node, TemplateError> {
        let word = if block { "block" } else { "define" };
        let name = self.template_name(word)?;
        let pipe = if block {
            Some(self.pipeline("block", false)?)
        } else {
            None
        };
        self.expect_close(word)?;
        if self.defines.iter().any(|d| d.name == name) {
            return Err(self.err(pos, &format!("template {name:?} is defined twice")));
        }
        // A template sees only its own variables, and `$` is its argument.
        let saved_scope = std::mem::take(&mut self.scope);
        let saved_range = std::mem::replace(&mut self.in_range, 0);
        let dollar = self.slots;
        self.slots += 1;
        self.scope.push(("$".to_owned(), dollar));
        self.enter()?;
        let (body, end) = self.list(false)?;
        self.leave();
        self.scope = saved_scope;
        self.in_range = saved_range;
        if !matches!(&end, Some((w, _)) if w == "end") {
            return Err(self.err(pos, &format!("{{{{{word}}}}} without {{{{end}}}}")));
        }
        self.defines.push(Define {
            name: name.clone(),
            body,
            dollar,
        });
        Ok(Node::Call {
            name,
            target: usize::MAX,
            pipe,
            pos,
        })
    }

    fn template_call(&mut self, pos: usize) -> Result<Node, TemplateError> {
        let name = self.template_name("template")?;
        let pipe = if matches!(self.peek(), Some(Tok::Close)) {
            None
        } else {
            Some(self.pipeline("template", false)?)
        };
        self.expect_close("template")?;
        Ok(Node::Call {
            name,
            target: usize::MAX,
            pipe,
            pos,
        })
    }

    /// A pipeline up to `}}` or `)`.
    fn pipeline(&mut self, context: &str, allow_decl: bool) -> Result<Pipeline, TemplateError> {
        let pos = self.pos();
        let mut vars = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $e :=` (range).
        if allow_decl && let Some(Tok::Var(_)) = self.peek() {
            let save = self.i;
            let mut names = Vec::new();
            let mut ok = false;
            while let Some(Tok::Var(name)) = self.peek().cloned() {
                self.i += 1;
                names.push((name, self.toks[self.i - 1].pos));
                match self.peek() {
                    Some(Tok::Comma) if context == "range" && names.len() < 2 => {
                        self.i += 1;
                    }
                    Some(Tok::Declare) => {
                        self.i += 1;
                        ok = true;
                        break;
                    }
                    Some(Tok::Assign) => {
                        self.i += 1;
                        assign = true;
                        ok = true;
                        break;
                    }
                    _ => break,
                }
            }
            if ok {
                if names.len() > 1 && context != "range" {
                    return Err(self.err(pos, "too many declarations"));
                }
                for (name, vpos) in names {
                    if name == "$" {
                        return Err(self.err(vpos, "cannot declare or assign $"));
                    }
                    if assign {
                        let slot = self.lookup(&name, vpos)?;
                        vars.push(slot);
                    } else {
                        vars.push(self.slots);
                        self.slots += 1;
                    }
                }
                // Declared variables become visible after the pipeline (Go: after the decl).
                let declared: Vec<(String, usize)> = if assign {
                    Vec::new()
                } else {
                    self.toks[save..self.i]
                        .iter()
                        .filter_map(|t| match &t.tok {
                            Tok::Var(n) => Some(n.clone()),
                            _ => None,
                        })
                        .zip(vars.iter().copied())
                        .collect()
                };
                let cmds = self.commands(context)?;
                self.scope.extend(declared);
                return Ok(Pipeline { vars, cmds, pos });
            }
            self.i = save;
        }
        let cmds = self.commands(context)?;
        Ok(Pipeline { vars, cmds, pos })
    }

    fn commands(&mut self, context: &str) -> Result<Vec<Command>, TemplateError> {
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command()?;
            if cmd.args.is_empty() {
                return Err(self.err(self.pos(), &format!("missing value for {context}")));
            }
            cmds.push(cmd);
            if matches!(self.peek(), Some(Tok::Pipe)) {
                self.i += 1;
                continue;
            }
            break;
        }
        // Go: every command but the first in a pipeline must be a function call.
        for c in &cmds[1..] {
            if !matches!(c.args.first(), Some(Arg::Func(_))) {
                return Err(self.err(c.pos, "only a function can follow '|' in a pipeline"));
            }
        }
        for c in &cmds {
            if c.args.len() > 1 && !matches!(c.args.first(), Some(Arg::Func(_))) {
                return Err(self.err(c.pos, "can't give argument to non-function"));
            }
            if c.args.len() == 1 && matches!(c.args[0], Arg::Nil) {
                return Err(self.err(c.pos, "nil is not a command"));
            }
        }
        Ok(cmds)
    }

    fn command(&mut self) -> Result<Command, TemplateError> {
        let pos = self.pos();
        let mut args = Vec::new();
        while let Some(arg) = self.operand()? {
            args.push(arg);
        }
        Ok(Command { args, pos })
    }

    fn lookup(&self, name: &str, pos: usize) -> Result<usize, TemplateError> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| self.err(pos, &format!("undefined variable {name:?}")))
    }

    fn chain(&mut self) -> Vec<String> {
        let mut chain = Vec::new();
        while let Some(Token {
            tok: Tok::Field(f),
            spaced: false,
            ..
        }) = self.toks.get(self.i)
        {
            chain.push(f.clone());
            self.i += 1;
        }
        chain
    }

    /// One operand, or `None` at the end of a command.
    fn operand(&mut self) -> Result<Option<Arg>, TemplateError> {
        let Some(t) = self.toks.get(self.i).cloned() else {
            return Ok(None);
        };
        let arg = match t.tok {
            Tok::Close | Tok::Pipe | Tok::RParen => return Ok(None),
            Tok::Dot => {
                self.i += 1;
                if matches!(
                    self.toks.get(self.i),
                    Some(Token {
                        tok: Tok::Field(_),
                        spaced: false,
                        ..
                    })
                ) {
                    return Err(self.err(t.pos, "unexpected . after term \".\""));
                }
                Arg::Dot
            }
            Tok::Field(f) => {
                self.i += 1;
                let mut chain = vec![f];
                chain.extend(self.chain());
                Arg::Field(chain)
            }
            Tok::Var(name) => {
                self.i += 1;
                let slot = self.lookup(&name, t.pos)?;
                Arg::Var(slot, self.chain())
            }
            Tok::Str(s) => {
                self.i += 1;
                Arg::Str(s)
            }
            Tok::Number(text) => {
                self.i += 1;
                number(&text)
                    .ok_or_else(|| self.err(t.pos, &format!("illegal number syntax: {text:?}")))?
            }
            Tok::Char(text) => {
                self.i += 1;
                let inner = text
                    .get(1..text.len().saturating_sub(1))
                    .unwrap_or_default();
                let c = char_literal(inner).ok_or_else(|| {
                    self.err(t.pos, &format!("malformed character constant: {text}"))
                })?;
                Arg::Int(i64::from(u32::from(c)))
            }
            Tok::LParen => {
                self.i += 1;
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                self.leave();
                match self.next() {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => {}
                    _ => return Err(self.err(t.pos, "unclosed left paren")),
                }
                Arg::Pipe(std::rc::Rc::new(pipe), self.chain())
            }
            Tok::Ident(name) => {
                self.i += 1;
                match name.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    "nil" => Arg::Nil,
                    "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block"
                    | "break" | "continue" => {
                        return Err(
                            self.err(t.pos, &format!("unexpected keyword {name:?} in operand"))
                        );
                    }
                    _ => Arg::Func(Func::lookup(&name).map_err(|m| self.err(t.pos, &m))?),
                }
            }
            other => {
                return Err(self.err(
                    t.pos,
                    &format!("unexpected {} in operand", describe(&other)),
                ));
            }
        };
        Ok(Some(arg))
    }
}

fn resolve_in(
    stack: &mut Vec<&mut Vec<Node>>,
    names: &BTreeMap<String, usize>,
    src: &str,
) -> Result<(), TemplateError> {
    while let Some(list) = stack.pop() {
        for node in list.iter_mut() {
            match node {
                Node::Call {
                    name, target, pos, ..
                } => {
                    *target = *names.get(name.as_str()).ok_or_else(|| {
                        TemplateError::at(src, *pos, &format!("no such template {name:?}"))
                    })?;
                }
                Node::If(branches, otherwise) | Node::With(branches, otherwise) => {
                    for (_, body) in branches.iter_mut() {
                        stack.push(body);
                    }
                    if let Some(o) = otherwise {
                        stack.push(o);
                    }
                }
                Node::Range {
                    body, otherwise, ..
                } => {
                    stack.push(body);
                    if let Some(o) = otherwise {
                        stack.push(o);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Field(s) => format!("\".{s}\""),
        Tok::Var(s) => format!("{s:?}"),
        Tok::Dot => "\".\"".into(),
        Tok::Str(_) => "string".into(),
        Tok::Number(n) | Tok::Char(n) => format!("{n:?}"),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

/// A Go number literal as a template constant: ints stay ints, anything with a point or an
/// exponent (and not hex) is a float; imaginary numbers are refused.
fn number(text: &str) -> Option<Arg> {
    if text.ends_with('i') {
        return None;
    }
    if let Some(i) = super::gofmt::parse_go_int(text) {
        return Some(Arg::Int(i));
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("0x") {
        return None;
    }
    if text.contains('_') {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    // Go: an integral float constant that fits an int is still printed as a float.
    Some(Arg::Float(f))
}

fn char_literal(inner: &str) -> Option<char> {
    let mut chars = inner.chars();
    match chars.next()? {
        '\\' => {
            let e = chars.next()?;
            let c = match e {
                'a' => '\x07',
                'b' => '\x08',
                'f' => '\x0c',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\x0b',
                '\\' => '\\',
                '\'' => '\'',
                'x' | 'u' | 'U' => {
                    let hex: String = chars.by_ref().collect();
                    let want = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    if hex.len() != want {
                        return None;
                    }
                    return char::from_u32(u32::from_str_radix(&hex, 16).ok()?);
                }
                _ => return None,
            };
            chars.next().is_none().then_some(c)
        }
        c => chars.next().is_none().then_some(c),
    }
}
