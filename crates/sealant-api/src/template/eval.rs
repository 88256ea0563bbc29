//! Renders a checked template. Nothing here can fail on a value: functions are total and the
//! limits were decided by `check` before rendering. The work and output counters below are a
//! second line of defence only; exceeding them means a bound in `check` is wrong (a bug), and is
//! reported as such.

use super::funcs::Func;
use super::parse::{Arg, Command, Node, Parsed, Pipeline};
use super::value::Value;

/// A rendering exceeded a static bound (a bug in the bounds, never expected).
#[derive(Debug)]
pub(crate) struct BoundExceeded;

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Eval<'a> {
    p: &'a Parsed,
    vars: Vec<Value>,
    out: Vec<u8>,
    work: u64,
    max_work: u64,
    max_out: u64,
}

/// What a rendering produced and spent.
pub(crate) struct Rendered {
    pub output: Vec<u8>,
}

/// Renders `parsed` over `data`, within `max_work` work units and `max_out` output bytes.
pub(crate) fn render(
    parsed: &Parsed,
    data: &Value,
    max_work: u64,
    max_out: u64,
) -> Result<Rendered, BoundExceeded> {
    let mut e = Eval {
        p: parsed,
        vars: vec![Value::NoValue; parsed.slots],
        out: Vec::new(),
        work: 0,
        max_work,
        max_out,
    };
    e.vars[0] = data.clone();
    e.list(&parsed.root, data)?;
    Ok(Rendered { output: e.out })
}

/// Go unwraps `interface{}` results: a nil interface becomes an invalid value.
fn unwrap_nil(v: Value) -> Value {
    match v {
        Value::Nil => Value::NoValue,
        v => v,
    }
}

impl Eval<'_> {
    fn spend(&mut self, w: u64) -> Result<(), BoundExceeded> {
        self.work = self.work.saturating_add(w);
        if self.work > self.max_work {
            return Err(BoundExceeded);
        }
        Ok(())
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), BoundExceeded> {
        if (self.out.len() + bytes.len()) as u64 > self.max_out {
            return Err(BoundExceeded);
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, BoundExceeded> {
        for node in nodes {
            match self.node(node, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, node: &Node, dot: &Value) -> Result<Flow, BoundExceeded> {
        match node {
            Node::Text(t) => {
                self.spend(t.len() as u64 + 1)?;
                self.emit(t)?;
            }
            Node::Action(pipe) => {
                self.spend(1)?;
                let v = self.pipeline(pipe, dot)?;
                if pipe.vars.is_empty() {
                    self.spend(v.weight())?;
                    let mut buf = Vec::new();
                    v.print(&mut buf);
                    self.emit(&buf)?;
                }
            }
            Node::If(branches, otherwise) | Node::With(branches, otherwise) => {
                self.spend(1)?;
                let with = matches!(node, Node::With(..));
                for (pipe, body) in branches {
                    let v = self.pipeline(pipe, dot)?;
                    if v.truthy() {
                        let d = if with { &v } else { dot };
                        return self.list(body, d);
                    }
                }
                if let Some(o) = otherwise {
                    return self.list(o, dot);
                }
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                self.spend(1)?;
                let v = self.commands(&pipe.cmds, dot)?;
                let mut ran = false;
                let mut each =
                    |e: &mut Self, key: Value, elem: Value| -> Result<bool, BoundExceeded> {
                        ran = true;
                        e.spend(1)?;
                        match pipe.vars.as_slice() {
                            [x] => e.vars[*x] = elem.clone(),
                            [k, x] => {
                                e.vars[*k] = key;
                                e.vars[*x] = elem.clone();
                            }
                            _ => {}
                        }
                        Ok(match e.list(body, &elem)? {
                            Flow::Break => false,
                            Flow::Normal | Flow::Continue => true,
                        })
                    };
                match &v {
                    Value::List(l) => {
                        for (i, item) in l.items.iter().enumerate() {
                            if !each(self, Value::Int(i as i64), unwrap_nil(item.clone()))? {
                                break;
                            }
                        }
                    }
                    Value::Dict(d) => {
                        for (k, item) in &d.map {
                            if !each(self, Value::str(k.as_slice()), unwrap_nil(item.clone()))? {
                                break;
                            }
                        }
                    }
                    Value::Int(n) => {
                        for i in 0..(*n).max(0) {
                            if !each(self, Value::Int(i), Value::Int(i))? {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
                if !ran && let Some(o) = otherwise {
                    return match self.list(o, dot)? {
                        Flow::Normal => Ok(Flow::Normal),
                        other => Ok(other),
                    };
                }
            }
            Node::Call { target, pipe, .. } => {
                self.spend(1)?;
                let arg = match pipe {
                    Some(p) => self.pipeline(p, dot)?,
                    None => Value::NoValue,
                };
                if let Some(def) = self.p.defines.get(*target) {
                    self.vars[def.dollar] = arg.clone();
                    self.list(&def.body, &arg)?;
                }
            }
            Node::Break => {
                self.spend(1)?;
                return Ok(Flow::Break);
            }
            Node::Continue => {
                self.spend(1)?;
                return Ok(Flow::Continue);
            }
        }
        Ok(Flow::Normal)
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value, BoundExceeded> {
        let v = self.commands(&pipe.cmds, dot)?;
        for slot in &pipe.vars {
            self.vars[*slot] = v.clone();
        }
        Ok(v)
    }

    fn commands(&mut self, cmds: &[Command], dot: &Value) -> Result<Value, BoundExceeded> {
        let mut piped: Option<Value> = None;
        for cmd in cmds {
            let v = self.command(cmd, dot, piped.take())?;
            piped = Some(unwrap_nil(v));
        }
        Ok(piped.unwrap_or(Value::NoValue))
    }

    fn command(
        &mut self,
        cmd: &Command,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, BoundExceeded> {
        let Some(Arg::Func(f)) = cmd.args.first() else {
            return match cmd.args.first() {
                Some(a) => self.operand(a, dot),
                None => Ok(Value::NoValue),
            };
        };
        let rest = &cmd.args[1..];
        // `and` and `or` evaluate their arguments only as far as needed.
        if matches!(f, Func::And | Func::Or) {
            let want = *f == Func::Or;
            let mut last = Value::NoValue;
            let total = rest.len() + usize::from(piped.is_some());
            let mut piped = piped;
            for i in 0..total {
                let v = match rest.get(i) {
                    Some(a) => self.operand(a, dot)?,
                    None => piped.take().unwrap_or(Value::NoValue),
                };
                self.spend(v.weight())?;
                if v.truthy() == want {
                    return Ok(v);
                }
                last = v;
            }
            return Ok(last);
        }
        let mut args = Vec::with_capacity(rest.len() + 1);
        for a in rest {
            args.push(self.operand(a, dot)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        self.call(*f, args)
    }

    fn call(&mut self, f: Func, args: Vec<Value>) -> Result<Value, BoundExceeded> {
        // Arguments passed as interface{} see an invalid value as nil (Go's validateType).
        let args: Vec<Value> = args;
        // Spend the arguments' weight before computing (bounds what the call may allocate).
        let pre: u64 = args.iter().map(Value::weight).fold(1, u64::saturating_add);
        if self.work.saturating_add(pre) > self.max_work {
            return Err(BoundExceeded);
        }
        let held = args.clone();
        let result = f.call(args);
        self.spend(f.actual_cost(&held, &result))?;
        Ok(result)
    }

    fn operand(&mut self, arg: &Arg, dot: &Value) -> Result<Value, BoundExceeded> {
        self.spend(1)?;
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::str(s.as_slice()),
            Arg::Field(chain) => fields(dot.clone(), chain),
            Arg::Var(slot, chain) => fields(
                self.vars.get(*slot).cloned().unwrap_or(Value::NoValue),
                chain,
            ),
            Arg::Func(f) => self.call(*f, Vec::new())?,
            Arg::Pipe(p, chain) => {
                let v = self.pipeline(p, dot)?;
                fields(v, chain)
            }
        })
    }
}

/// `.a.b`: map lookups; anything that is not a map (or a missing key) gives no value.
fn fields(mut v: Value, chain: &[String]) -> Value {
    for name in chain {
        v = match &v {
            Value::Dict(d) => d
                .map
                .get(name.as_bytes())
                .cloned()
                .map_or(Value::NoValue, unwrap_nil),
            _ => Value::NoValue,
        };
    }
    v
}
