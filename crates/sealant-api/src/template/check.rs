//! Checks a parsed template before any value is read, and bounds what rendering it can cost.
//!
//! An abstract interpretation over [`Abs`]: every node is visited (taken branch or not), so an
//! error Go would raise on a node whatever the values (wrong arity, a kind Go rejects, a
//! missing item, a format that cannot be bounded) is raised here, for all branches. Loops are
//! bounded by the abstract length of what they range over; variables assigned in a loop body are
//! iterated to a fixpoint (or for as many passes as the loop can iterate). The results are
//! upper bounds on the output bytes, the work and the `htpasswd` calls, derived from the template
//! text, the item names and the value lengths only.

use super::TemplateError;
use super::abs::{
    Abs, K_BOOL, K_DICT, K_FLOAT, K_INT, K_LIST, K_NIL, K_NOVALUE, K_STR, Konst, add, kind_names,
    mul,
};
use super::funcs::Func;
use super::limits::{MAX_ANALYSIS_STEPS, MAX_DEPTH, MAX_VALUE_DEPTH};
use super::parse::{Arg, Command, Node, Parsed, Pipeline};

/// Upper bounds of one rendering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Output bytes.
    pub out: u64,
    /// Work units (see `limits::MAX_WORK`).
    pub work: u64,
    /// `htpasswd` calls.
    pub bcrypt: u64,
}

impl Cost {
    fn plus(self, o: Cost) -> Cost {
        Cost {
            out: add(self.out, o.out),
            work: add(self.work, o.work),
            bcrypt: add(self.bcrypt, o.bcrypt),
        }
    }

    fn max(self, o: Cost) -> Cost {
        Cost {
            out: self.out.max(o.out),
            work: self.work.max(o.work),
            bcrypt: self.bcrypt.max(o.bcrypt),
        }
    }

    fn times(self, n: u64) -> Cost {
        Cost {
            out: mul(self.out, n),
            work: mul(self.work, n),
            bcrypt: mul(self.bcrypt, n),
        }
    }

    fn work(w: u64) -> Cost {
        Cost {
            work: w,
            ..Cost::default()
        }
    }
}

struct Checker<'a> {
    p: &'a Parsed,
    src: &'a str,
    env: Vec<Abs>,
    steps: &'a mut u64,
    depth: usize,
    active: Vec<usize>,
}

/// Checks `parsed` with `data` as `.` and `$`; `steps` is the analysis budget left.
pub(crate) fn check(
    parsed: &Parsed,
    src: &str,
    data: &Abs,
    steps: &mut u64,
) -> Result<Cost, TemplateError> {
    let mut c = Checker {
        p: parsed,
        src,
        env: vec![Abs::no_value(); parsed.slots],
        steps,
        depth: 0,
        active: Vec::new(),
    };
    c.env[0] = data.clone();
    c.list(&parsed.root, data)
}

fn join_env(a: &[Abs], b: &[Abs]) -> Vec<Abs> {
    a.iter().zip(b).map(|(x, y)| x.join(y)).collect()
}

/// Go unwraps an `interface{}` result: a nil interface becomes an invalid value.
fn unwrap_nil(mut a: Abs) -> Abs {
    if a.kinds & K_NIL != 0 {
        a.kinds = (a.kinds & !K_NIL) | K_NOVALUE;
        a.w = a.w.max(super::value::NO_VALUE_WEIGHT);
    }
    a
}

impl Checker<'_> {
    fn err(&self, pos: usize, msg: &str) -> TemplateError {
        TemplateError::at(self.src, pos, msg)
    }

    fn step(&mut self, pos: usize) -> Result<(), TemplateError> {
        *self.steps = self.steps.saturating_add(1);
        if *self.steps > MAX_ANALYSIS_STEPS {
            return Err(self.err(pos, &format!(
                "the templates are too complex to bound before rendering (more than {MAX_ANALYSIS_STEPS} analysis steps; analysis limit)"
            )));
        }
        Ok(())
    }

    fn enter(&mut self, pos: usize) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(pos, &format!("templates nest deeper than {MAX_DEPTH}, counting template calls (nesting depth limit)")));
        }
        Ok(())
    }

    fn list(&mut self, nodes: &[Node], dot: &Abs) -> Result<Cost, TemplateError> {
        let mut cost = Cost::default();
        for node in nodes {
            cost = cost.plus(self.node(node, dot)?);
        }
        Ok(cost)
    }

    fn node(&mut self, node: &Node, dot: &Abs) -> Result<Cost, TemplateError> {
        match node {
            Node::Text(t) => Ok(Cost {
                out: t.len() as u64,
                work: add(t.len() as u64, 1),
                bcrypt: 0,
            }),
            Node::Action(pipe) => {
                self.step(pipe.pos)?;
                let (v, mut cost) = self.pipeline(pipe, dot)?;
                if pipe.vars.is_empty() {
                    cost = cost.plus(Cost {
                        out: v.w,
                        work: v.w,
                        bcrypt: 0,
                    });
                }
                Ok(cost.plus(Cost::work(1)))
            }
            Node::If(branches, otherwise) | Node::With(branches, otherwise) => {
                let with = matches!(node, Node::With(..));
                let pos = branches.first().map_or(0, |(p, _)| p.pos);
                self.step(pos)?;
                self.enter(pos)?;
                let mut cost = Cost::work(1);
                let mut conds = Vec::new();
                for (pipe, _) in branches {
                    let (v, c) = self.pipeline(pipe, dot)?;
                    cost = cost.plus(c);
                    conds.push(v);
                }
                let env0 = self.env.clone();
                let mut env_out = env0.clone();
                let mut best = Cost::default();
                for ((_, body), cond) in branches.iter().zip(&conds) {
                    self.env = env0.clone();
                    let d = if with { cond } else { dot };
                    best = best.max(self.list(body, d)?);
                    env_out = join_env(&env_out, &self.env);
                }
                if let Some(o) = otherwise {
                    self.env = env0.clone();
                    best = best.max(self.list(o, dot)?);
                    env_out = join_env(&env_out, &self.env);
                }
                self.env = env_out;
                self.depth -= 1;
                Ok(cost.plus(best))
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                self.step(pipe.pos)?;
                self.enter(pipe.pos)?;
                let cost = self.range(pipe, body, otherwise.as_deref(), dot)?;
                self.depth -= 1;
                Ok(cost)
            }
            Node::Call {
                name,
                target,
                pipe,
                pos,
            } => {
                self.step(*pos)?;
                if self.active.contains(target) {
                    return Err(self.err(*pos, &format!("template {name:?} calls itself: recursive templates are not supported (their cost cannot be bounded)")));
                }
                let (arg, mut cost) = match pipe {
                    Some(p) => self.pipeline(p, dot)?,
                    None => (Abs::no_value(), Cost::default()),
                };
                let Some(def) = self.p.defines.get(*target) else {
                    return Err(self.err(*pos, &format!("no such template {name:?}")));
                };
                self.enter(*pos)?;
                self.active.push(*target);
                self.env[def.dollar] = arg.clone();
                cost = cost.plus(self.list(&def.body, &arg)?);
                self.active.pop();
                self.depth -= 1;
                Ok(cost.plus(Cost::work(1)))
            }
            Node::Break | Node::Continue => Ok(Cost::work(1)),
        }
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: Option<&[Node]>,
        dot: &Abs,
    ) -> Result<Cost, TemplateError> {
        // The ranged value, without the variable assignment (done per iteration below).
        let (v, mut cost) = self.commands(&pipe.cmds, dot)?;
        if v.kinds & (K_LIST | K_DICT | K_INT | K_NOVALUE | K_NIL) == 0 {
            return Err(self.err(
                pipe.pos,
                &format!(
                    "range can't iterate over a value of kind {}",
                    kind_names(v.kinds)
                ),
            ));
        }
        if v.only(K_INT) && pipe.vars.len() > 1 {
            return Err(self.err(
                pipe.pos,
                "can't use two variables when ranging over an integer",
            ));
        }
        let mut iterations = 0u64;
        let mut elem: Option<Abs> = None;
        let mut key: Option<Abs> = None;
        let merge = |slot: &mut Option<Abs>, a: Abs| {
            *slot = Some(match slot.take() {
                None => a,
                Some(s) => s.join(&a),
            });
        };
        if v.kinds & (K_LIST | K_DICT) != 0 {
            iterations = iterations.max(v.max_items());
            merge(&mut elem, unwrap_nil(v.element()));
        }
        if v.kinds & K_LIST != 0 {
            merge(&mut key, Abs::int(v.max_items()));
        }
        if v.kinds & K_DICT != 0 {
            merge(&mut key, Abs::string(v.w));
        }
        if v.kinds & K_INT != 0 {
            iterations = iterations.max(v.int);
            merge(&mut elem, Abs::int(v.int));
            merge(&mut key, Abs::int(v.int));
        }
        let elem = elem.unwrap_or_else(Abs::no_value);
        let key = key.unwrap_or_else(Abs::no_value);
        let set_vars = |env: &mut Vec<Abs>| match pipe.vars.as_slice() {
            [e] => env[*e] = elem.clone(),
            [k, e] => {
                env[*k] = key.clone();
                env[*e] = elem.clone();
            }
            _ => {}
        };
        let env_before = self.env.clone();
        let mut env_in = env_before.clone();
        let mut passes = 0u64;
        loop {
            self.env = env_in.clone();
            set_vars(&mut self.env);
            self.list(body, &elem)?;
            let joined = join_env(&env_in, &self.env);
            passes += 1;
            let stable = joined == env_in;
            env_in = joined;
            if stable || passes >= iterations {
                break;
            }
            if let Some(deep) = env_in.iter().find(|a| a.depth as usize > MAX_VALUE_DEPTH) {
                let _ = deep;
                return Err(self.err(pipe.pos, &format!("a variable assigned in this range may nest lists or maps deeper than {MAX_VALUE_DEPTH} (value depth limit)")));
            }
        }
        // The cost of one iteration with every state the loop can reach.
        self.env = env_in.clone();
        set_vars(&mut self.env);
        let per_iteration = self.list(body, &elem)?.plus(Cost::work(1));
        let mut env_after = join_env(&env_in, &self.env);
        let mut loop_cost = per_iteration.times(iterations);
        if let Some(o) = otherwise {
            self.env = env_before.clone();
            let c = self.list(o, dot)?;
            env_after = join_env(&env_after, &self.env);
            loop_cost = Cost {
                out: loop_cost.out.max(c.out),
                work: add(loop_cost.work, c.work),
                bcrypt: loop_cost.bcrypt.max(c.bcrypt),
            };
        }
        self.env = env_after;
        cost = cost.plus(loop_cost).plus(Cost::work(1));
        Ok(cost)
    }

    /// A pipeline, with its declaration or assignment applied.
    fn pipeline(&mut self, pipe: &Pipeline, dot: &Abs) -> Result<(Abs, Cost), TemplateError> {
        let (v, cost) = self.commands(&pipe.cmds, dot)?;
        for slot in &pipe.vars {
            self.env[*slot] = v.clone();
        }
        Ok((v, cost))
    }

    fn commands(&mut self, cmds: &[Command], dot: &Abs) -> Result<(Abs, Cost), TemplateError> {
        let mut cost = Cost::default();
        let mut piped: Option<Abs> = None;
        for cmd in cmds {
            let (v, c) = self.command(cmd, dot, piped.take())?;
            cost = cost.plus(c);
            piped = Some(unwrap_nil(v));
        }
        Ok((piped.unwrap_or_else(Abs::no_value), cost))
    }

    fn command(
        &mut self,
        cmd: &Command,
        dot: &Abs,
        piped: Option<Abs>,
    ) -> Result<(Abs, Cost), TemplateError> {
        self.step(cmd.pos)?;
        let Some(Arg::Func(f)) = cmd.args.first() else {
            let Some(first) = cmd.args.first() else {
                return Err(self.err(cmd.pos, "empty command"));
            };
            return self.operand(first, dot, cmd.pos);
        };
        let mut cost = Cost::default();
        let mut args = Vec::new();
        for a in &cmd.args[1..] {
            let (v, c) = self.operand(a, dot, cmd.pos)?;
            cost = cost.plus(c);
            args.push(v);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        self.call(*f, &args, cmd.pos)
            .map(|(v, c)| (v, cost.plus(c)))
    }

    fn call(&mut self, f: Func, args: &[Abs], pos: usize) -> Result<(Abs, Cost), TemplateError> {
        let name = f.name();
        let (min, max, params) = f.sig();
        let n = args.len();
        if n < min || max.is_some_and(|m| n > m) {
            let want = match max {
                Some(m) if m == min => format!("{min}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            return Err(self.err(
                pos,
                &format!("wrong number of args for {name}: want {want} got {n}"),
            ));
        }
        for (i, a) in args.iter().enumerate() {
            let p = params
                .get(i)
                .or(params.last())
                .copied()
                .unwrap_or(super::abs::K_ANY);
            if a.kinds & p == 0 {
                let msg = if a.only(K_NOVALUE) {
                    format!(
                        "argument {} of {name} has no value (a missing item or key?); expected {}",
                        i + 1,
                        kind_names(p)
                    )
                } else {
                    format!(
                        "wrong type for argument {} of {name}: expected {}; got {}",
                        i + 1,
                        kind_names(p),
                        kind_names(a.kinds)
                    )
                };
                return Err(self.err(pos, &msg));
            }
        }
        match f {
            Func::Printf => {
                if !matches!(args[0].konst, Some(Konst::Str(_))) {
                    return Err(self.err(pos, "printf: the format must be a string literal (a format read from a value could not be bounded)"));
                }
                if let Some(Konst::Str(fmt)) = &args[0].konst
                    && fmt.windows(2).any(|w| w == b"%p")
                {
                    return Err(self.err(pos, "printf: %p (pointer) is not supported"));
                }
            }
            Func::Eq | Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
                let basic = |a: &Abs| -> Option<u16> {
                    [K_BOOL, K_INT, K_FLOAT, K_STR]
                        .into_iter()
                        .find(|k| a.only(*k))
                };
                for b in &args[1..] {
                    if let (Some(x), Some(y)) = (basic(&args[0]), basic(b))
                        && x != y
                    {
                        return Err(self.err(
                            pos,
                            &format!(
                                "{name}: incompatible types for comparison ({} and {})",
                                kind_names(x),
                                kind_names(y)
                            ),
                        ));
                    }
                }
                if matches!(f, Func::Lt | Func::Le | Func::Gt | Func::Ge)
                    && args
                        .iter()
                        .any(|a| a.only(K_BOOL | K_LIST | K_DICT | K_NIL | K_NOVALUE))
                {
                    return Err(self.err(pos, &format!("{name}: invalid type for comparison")));
                }
                if args.iter().any(|a| a.only(K_LIST | K_DICT)) {
                    return Err(self.err(
                        pos,
                        &format!("{name}: non-comparable type (lists and maps cannot be compared)"),
                    ));
                }
            }
            _ => {}
        }
        let result = f.abs(args);
        if result.depth as usize > MAX_VALUE_DEPTH {
            return Err(self.err(pos, &format!("{name} may build lists or maps nested deeper than {MAX_VALUE_DEPTH} (value depth limit)")));
        }
        let mut cost = Cost::work(f.cost(args, &result));
        if f == Func::Htpasswd {
            cost.bcrypt = 1;
        }
        Ok((result, cost))
    }

    fn operand(&mut self, arg: &Arg, dot: &Abs, pos: usize) -> Result<(Abs, Cost), TemplateError> {
        let one = Cost::work(1);
        match arg {
            Arg::Dot => Ok((dot.clone(), one)),
            Arg::Nil => Ok((Abs::nil(), one)),
            Arg::Bool(b) => Ok((Abs::constant(Konst::Bool(*b)), one)),
            Arg::Int(i) => Ok((Abs::constant(Konst::Int(*i)), one)),
            Arg::Float(f) => Ok((Abs::constant(Konst::Float(*f)), one)),
            Arg::Str(s) => Ok((Abs::constant(Konst::Str(s.clone())), one)),
            Arg::Field(chain) => Ok((self.fields(dot.clone(), chain, pos)?, one)),
            Arg::Var(slot, chain) => {
                let base = self.env.get(*slot).cloned().unwrap_or_else(Abs::no_value);
                Ok((self.fields(base, chain, pos)?, one))
            }
            // A function name as an argument is called without arguments.
            Arg::Func(f) => self.call(*f, &[], pos).map(|(v, c)| (v, c.plus(one))),
            Arg::Pipe(p, chain) => {
                self.enter(pos)?;
                let (v, c) = self.pipeline(p, dot)?;
                self.depth -= 1;
                Ok((self.fields(v, chain, pos)?, c.plus(one)))
            }
        }
    }

    fn fields(&self, mut base: Abs, chain: &[String], pos: usize) -> Result<Abs, TemplateError> {
        for name in chain {
            if base.kinds & (K_DICT | K_NOVALUE | K_NIL) == 0 {
                return Err(self.err(
                    pos,
                    &format!(
                        "can't evaluate field {name} in a value of kind {}",
                        kind_names(base.kinds)
                    ),
                ));
            }
            let mut next: Option<Abs> = None;
            let mut join = |a: Abs| {
                next = Some(match next.take() {
                    None => a,
                    Some(n) => n.join(&a),
                })
            };
            if base.kinds & K_DICT != 0 {
                match &base.fields {
                    Some(f) => join(
                        f.get(name.as_bytes())
                            .cloned()
                            .unwrap_or_else(Abs::no_value),
                    ),
                    None => join(unwrap_nil(base.element()).join(&Abs::no_value())),
                }
            }
            if base.kinds & !K_DICT != 0 {
                join(Abs::no_value());
            }
            base = next.unwrap_or_else(Abs::no_value);
        }
        Ok(base)
    }
}
