//! Attacks on template rendering: random templates from the grammar, adversarial templates over
//! pairs of random values of equal lengths, and deep, huge and many inputs.
//!
//! Asserted for every input: no panic; no stack overflow (deep inputs run on a thread with a
//! small stack); bounded time; no "internal error" (rendering never exceeds the bounds computed
//! before it); and the oracle property: two value sets with the same names and lengths give the
//! same outcome (success, or the same error messages).
//!
//! `SEALANT_TEMPLATE_FUZZ_SECS=N` turns `long_fuzz_run` into an N-second run over the committed
//! corpus (`tests/data/template_corpus.txt`) and generated templates (CI runs it for a minute).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sealant_api::template::render_all;

type Values = BTreeMap<String, Vec<u8>>;

/// What someone who cannot read the Secret sees: success, or the failure messages.
fn outcome(templates: &BTreeMap<String, String>, values: &Values) -> Result<(), Vec<String>> {
    render_all(templates, values).map(|_| ()).map_err(|f| {
        f.iter()
            .map(|f| format!("{:?}: {}", f.item, f.error))
            .collect()
    })
}

fn one(t: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("out".to_owned(), t.to_owned())])
}

/// Stack of the test threads: a quarter of the 2 MiB Rust gives new threads (and the
/// controller's decryption threads), in an unoptimised build.
const STACK: usize = 512 * 1024;

/// Runs `f` on a thread with a [`STACK`]-byte stack: a stack overflow would abort the test binary.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

const NAMES: [&str; 3] = ["a", "b", "c"];

/// Value sets: three items of random bytes, biased towards what attacks probe (base64
/// alphabet, separators, JSON).
fn values_strategy() -> impl Strategy<Value = (Values, Values)> {
    let alphabet = prop_oneof![
        Just(b"ab".to_vec()),
        Just(b"aGVsbG8=-_:, {}[]\"0123456789".to_vec()),
        Just((0u8..=255).collect::<Vec<u8>>()),
    ];
    (
        alphabet,
        proptest::collection::vec(0usize..24, 3),
        any::<u64>(),
    )
        .prop_map(|(alpha, lens, seed)| {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut pick = |len: usize| -> Vec<u8> {
                (0..len)
                    .map(|_| alpha[(next() % alpha.len() as u64) as usize])
                    .collect()
            };
            let a: Values = NAMES
                .iter()
                .zip(&lens)
                .map(|(n, l)| ((*n).to_owned(), pick(*l)))
                .collect();
            let b: Values = NAMES
                .iter()
                .zip(&lens)
                .map(|(n, l)| ((*n).to_owned(), pick(*l)))
                .collect();
            (a, b)
        })
}

/// Templates that try to turn content into an outcome: error, size, time or a limit.
const ADVERSARIAL: &[&str] = &[
    "{{ .a | trimPrefix \"a\" | b64dec }}",
    "{{ replace \"a\" \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" .a }}",
    "{{ if hasPrefix \"a\" .a }}{{ fail \"x\" }}{{ end }}",
    "{{ if eq .a \"ab\" }}{{ .b | b64dec }}{{ else }}{{ .c }}{{ end }}",
    "{{ index (splitList \",\" .a) 3 }}",
    "{{ range splitList \"a\" .a }}{{ . | b64dec | b64dec }}{{ end }}",
    "{{ range $i, $e := split \"a\" .a }}{{ printf \"%s-%d\" $e (len $e) }}{{ end }}",
    "{{ len (splitList \"a\" .a) }}",
    "{{ $n := len (splitList \"a\" .a) }}{{ repeat $n .b }}",
    "{{ range until (len .a) }}{{ $.b }}{{ end }}",
    "{{ (fromJson .a).x.y }}",
    "{{ toJson (fromJson .a) }}",
    "{{ range (fromJson .a) }}{{ . }}{{ end }}",
    "{{ index . (trimPrefix \"a\" .a) }}",
    "{{ substr 0 (atoi .a) .b }}",
    "{{ printf \"%*d\" (len .a) 1 }}",
    "{{ $s := \"\" }}{{ range splitList \"\" .a }}{{ $s = print $s $s }}{{ end }}{{ $s }}",
    "{{ $l := list }}{{ range splitList \"\" .a }}{{ $l = list $l }}{{ end }}{{ $l }}",
    "{{ with (fromJson .a) }}{{ .k | upper }}{{ end }}",
    "{{ div 100 (len (trimAll \"a\" .a)) }}",
    "{{ b32dec .a }}{{ sha256sum .b }}{{ adler32sum .c }}",
    "{{ eq (index (fromJson .a) 0) 1.0 }}",
    "{{ lt .a .b }}{{ ge .b .c }}",
    "{{ indent (len .a) .b | nindent 2 }}",
    "{{ uniq (splitList \"\" .a) | join \"\" }}",
    "{{ sortAlpha (splitList \"a\" .a) }}",
    "{{ quote .a .b }}{{ squote .c }}{{ html .a }}{{ js .b }}{{ urlquery .c }}",
    "{{ abbrev 5 .a }}{{ trunc -3 .b }}{{ title .c }}{{ upper .a }}",
    "{{ default \"x\" (fromJson .a) }}{{ coalesce (fromJson .b) .c }}",
    "{{ ternary .a .b (empty (fromJson .c)) }}",
];

proptest! {
    #![proptest_config(Config { cases: 64, ..Config::default() })]

    /// The oracle property over the adversarial corpus.
    #[test]
    fn equal_lengths_give_equal_outcomes(pair in values_strategy(), which in 0..ADVERSARIAL.len()) {
        let (a, b) = pair;
        let t = one(ADVERSARIAL[which]);
        let (oa, ob) = (outcome(&t, &a), outcome(&t, &b));
        prop_assert_eq!(&oa, &ob, "template {:?}", ADVERSARIAL[which]);
        if let Err(e) = &oa {
            prop_assert!(!e.iter().any(|m| m.contains("internal error")), "{:?}", e);
        }
    }

    /// Random templates from the grammar: no panic, bounds hold, and the oracle property.
    #[test]
    fn random_templates(t in template_strategy(), pair in values_strategy()) {
        let (a, b) = pair;
        let templates = one(&t);
        let (oa, ob) = (outcome(&templates, &a), outcome(&templates, &b));
        prop_assert_eq!(&oa, &ob, "template {:?}", t);
        if let Err(e) = &oa {
            prop_assert!(!e.iter().any(|m| m.contains("internal error")), "{:?}: {:?}", t, e);
        }
    }

    /// Arbitrary bytes as a template never panic or overflow the stack.
    #[test]
    fn arbitrary_sources(src in "(\\{\\{|\\}\\}|[()|.$a-z\" -]|if |end|range |with |else ){0,200}") {
        let values: Values = NAMES.iter().map(|n| ((*n).to_owned(), b"x".to_vec())).collect();
        let _ = small_stack(move || outcome(&one(&src), &values));
    }
}

/// A grammar of templates: pipelines of supported functions over fields, variables and
/// literals, inside if/with/range/define.
fn template_strategy() -> impl Strategy<Value = String> {
    let operand = prop_oneof![
        Just("(list .a 1 .b)".to_owned()),
        Just("(dict \"k\" .a)".to_owned()),
        Just("(fromJson .c)".to_owned()),
        Just("\"%-3x|% #q|%08.3f|%[1]v|%*d\"".to_owned()),
        Just("1.5".to_owned()),
        Just(".a".to_owned()),
        Just(".b".to_owned()),
        Just(".c".to_owned()),
        Just(".missing".to_owned()),
        Just("\"ab\"".to_owned()),
        Just("\",\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("2".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("true".to_owned()),
        Just(".".to_owned()),
        Just("$".to_owned()),
    ];
    // Every supported function but htpasswd (bcrypt is slow on purpose; it has its own test).
    let names: Vec<&'static str> = sealant_api::template::FUNCTIONS
        .iter()
        .copied()
        .filter(|f| *f != "htpasswd")
        .collect();
    let func = proptest::sample::select(names);
    let call = (func, proptest::collection::vec(operand.clone(), 0..4)).prop_map(|(f, args)| {
        if f == "printf" && args.len() % 2 == 0 {
            format!("printf \"%s%d%v\" {}", args.join(" "))
        } else if f == "printf" {
            format!(
                "printf \"%-3x|% #q|%08.3f|%[2]v|%*d|%T|%c|%U|%e|%.2G|%+q|%x\" {}",
                args.join(" ")
            )
        } else {
            format!("{f} {}", args.join(" "))
        }
    });
    let pipeline = prop_oneof![
        operand.clone(),
        call.clone(),
        (call.clone(), call.clone()).prop_map(|(a, b)| format!("{a} | {b}")),
        (call.clone(), operand.clone()).prop_map(|(a, b)| format!("{b} | {a}")),
        call.clone().prop_map(|a| format!("({a})")),
    ];
    let action = pipeline.clone().prop_map(|p| format!("{{{{ {p} }}}}"));
    action.prop_recursive(4, 24, 3, move |inner| {
        let p = pipeline.clone();
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}x{b}")),
            (p.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{{{{ if {c} }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}")),
            (p.clone(), inner.clone())
                .prop_map(|(c, a)| format!("{{{{ with {c} }}}}{a}{{{{ end }}}}")),
            (p.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| format!(
                "{{{{ range $i, $e := {c} }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}"
            )),
            (p.clone(), inner.clone())
                .prop_map(|(c, a)| format!("{{{{ $v := {c} }}}}{a}{{{{ $v }}}}")),
            inner.clone().prop_map(|a| format!(
                "{{{{ define \"d\" }}}}{a}{{{{ end }}}}{{{{ template \"d\" .a }}}}"
            )),
        ]
    })
}

#[test]
fn deep_inputs_are_errors_not_stack_overflows() {
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{{{{ {}\"x\"{} }}}}", "(".repeat(5000), ")".repeat(5000)),
            "nesting depth limit",
        ),
        (
            format!(
                "{}x{}",
                "{{ if true }}".repeat(2000),
                "{{ end }}".repeat(2000)
            ),
            "nesting depth limit",
        ),
        (
            format!(
                "{}x{}",
                "{{ range until 2 }}".repeat(2000),
                "{{ end }}".repeat(2000)
            ),
            "nesting depth limit",
        ),
        (
            format!("{}x{}", "{{ with .a }}".repeat(70), "{{ end }}".repeat(70)),
            "nesting depth limit",
        ),
        ("{{".repeat(30_000), "bad character"),
        (
            format!("{{{{ {} }}}}", "(".repeat(10_000)),
            "nesting depth limit",
        ),
    ];
    for (src, want) in cases {
        let values: Values = NAMES
            .iter()
            .map(|n| ((*n).to_owned(), b"x".to_vec()))
            .collect();
        let head: String = src.chars().take(40).collect();
        let started = Instant::now();
        let got = small_stack(move || outcome(&one(&src), &values));
        assert!(started.elapsed() < Duration::from_secs(10), "{head}: slow");
        let err = got.expect_err(&head).join("; ");
        assert!(err.contains(want), "{head}: {err}");
    }
}

#[test]
fn the_deepest_accepted_templates_fit_a_small_stack() {
    // Just inside the depth limit: parses, checks and renders on the small stack.
    let depth = sealant_api::template::limits::MAX_DEPTH - 1;
    let sources = [
        format!("{{{{ {}\"x\"{} }}}}", "(".repeat(depth), ")".repeat(depth)),
        format!(
            "{}x{}",
            "{{ if true }}".repeat(depth),
            "{{ end }}".repeat(depth)
        ),
        format!(
            "{}{{{{ . }}}}{}",
            "{{ with $.a }}".repeat(depth),
            "{{ end }}".repeat(depth)
        ),
    ];
    for src in sources {
        let values: Values = NAMES
            .iter()
            .map(|n| ((*n).to_owned(), b"x".to_vec()))
            .collect();
        let out = small_stack(move || outcome(&one(&src), &values));
        assert_eq!(out, Ok(()));
    }
    // A chain of templates calling each other: the calls count against the depth limit.
    let mut chain = String::new();
    for i in 0..200 {
        chain.push_str(&format!(
            "{{{{ define \"t{i}\" }}}}{{{{ template \"t{}\" . }}}}{{{{ end }}}}",
            i + 1
        ));
    }
    chain.push_str("{{ define \"t200\" }}end{{ end }}{{ template \"t0\" . }}");
    let values: Values = Values::new();
    let err = small_stack(move || outcome(&one(&chain), &values)).expect_err("too deep");
    assert!(err.join("").contains("nesting depth limit"), "{err:?}");
}

#[test]
fn huge_and_many_inputs_are_bounded() {
    let values: Values = NAMES
        .iter()
        .map(|n| ((*n).to_owned(), vec![b'x'; 600_000]))
        .collect();
    let cases: Vec<(BTreeMap<String, String>, &str)> = vec![
        (one(&"x".repeat(200_000)), "template size limit"),
        (
            one("{{ range until 100000 }}{{ range until 100000 }}x{{ end }}{{ end }}"),
            "work limit",
        ),
        (
            one("{{ repeat 100000 (repeat 100000 \"x\") }}"),
            "work limit",
        ),
        (one("{{ .a }}{{ .b }}"), "output size limit"),
        (
            one("{{ $s := .a }}{{ range until 64 }}{{ $s = print $s $s }}{{ end }}{{ len $s }}"),
            "work limit",
        ),
        (
            one("{{ $l := list }}{{ range until 200 }}{{ $l = list $l }}{{ end }}"),
            "value depth limit",
        ),
        (
            (0..5000)
                .map(|i| {
                    (
                        format!("k{i}"),
                        "{{ range until 100 }}{{ $.a }}{{ end }}".to_owned(),
                    )
                })
                .collect(),
            "limit",
        ),
    ];
    for (templates, want) in cases {
        let started = Instant::now();
        let values = values.clone();
        let got = small_stack(move || outcome(&templates, &values));
        assert!(started.elapsed() < Duration::from_secs(20), "{want}: slow");
        let err = got.expect_err(want).join("; ");
        assert!(err.contains(want), "want {want}: {err}");
    }
    let t = one(
        "{{ htpasswd \"u\" \"p\" }}{{ range until 5 }}{{ htpasswd \"u\" (toString .) | len }}{{ end }}",
    );
    let err = outcome(&t, &Values::new()).expect_err("bcrypt").join("");
    assert!(err.contains("htpasswd limit"), "{err}");
    // Within the limits a large value renders.
    let big: Values = BTreeMap::from([("a".to_owned(), vec![b'x'; 700_000])]);
    let t = one("{{ .a | b64enc | len }}");
    assert_eq!(outcome(&t, &big), Ok(()));
}

#[test]
fn long_fuzz_run() {
    let secs: u64 = std::env::var("SEALANT_TEMPLATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let corpus: Vec<&str> = include_str!("data/template_corpus.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // Always: every corpus entry against a few value pairs.
    let mut runner = TestRunner::new(Config {
        cases: 8,
        ..Config::default()
    });
    for t in &corpus {
        let t = one(t);
        runner
            .run(&values_strategy(), |(a, b)| {
                let (oa, ob) = (outcome(&t, &a), outcome(&t, &b));
                prop_assert_eq!(&oa, &ob);
                if let Err(e) = &oa {
                    prop_assert!(!e.iter().any(|m| m.contains("internal error")), "{:?}", e);
                }
                Ok(())
            })
            .expect("corpus entry");
    }
    if secs == 0 {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            ..Config::default()
        });
        runner
            .run(&(template_strategy(), values_strategy()), |(t, (a, b))| {
                let templates = one(&t);
                let (oa, ob) = (outcome(&templates, &a), outcome(&templates, &b));
                prop_assert_eq!(&oa, &ob, "template {:?}", t);
                if let Err(e) = &oa {
                    prop_assert!(
                        !e.iter().any(|m| m.contains("internal error")),
                        "{:?}: {:?}",
                        t,
                        e
                    );
                }
                Ok(())
            })
            .expect("generated templates");
        rounds += 1;
    }
    println!(
        "template fuzz: {rounds} rounds of 256 generated templates in {secs} s, plus {} corpus entries",
        corpus.len()
    );
}
