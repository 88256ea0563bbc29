//! Unit tests of the whole pipeline on small templates (the table of Go/Sprig behaviour is in
//! `tests/templates.rs` with its data file).

use super::render_one;

fn ok(src: &str) -> String {
    match render_one(
        src,
        &[("user", b"app"), ("pw", b"p\"w:1"), ("db-host", b"db.prod")],
    ) {
        Ok(v) => String::from_utf8_lossy(&v).into_owned(),
        Err(e) => panic!("{src}: {e}"),
    }
}

fn fails(src: &str) -> String {
    match render_one(src, &[("user", b"app"), ("pw", b"p\"w:1")]) {
        Ok(v) => panic!("{src}: rendered {:?}", String::from_utf8_lossy(&v)),
        Err(e) => e,
    }
}

#[test]
fn go_template_basics() {
    assert_eq!(ok("u={{ .user }}"), "u=app");
    assert_eq!(ok("{{ index . \"db-host\" }}"), "db.prod");
    assert_eq!(ok("{{ .missing }}"), "<no value>");
    assert_eq!(ok("[{{ index . \"missing\" }}]"), "[]");
    assert_eq!(ok("{{ if .user }}yes{{ else }}no{{ end }}"), "yes");
    assert_eq!(
        ok("{{ range $i, $e := splitList \",\" \"a,b\" }}{{ $i }}={{ $e }};{{ end }}"),
        "0=a;1=b;"
    );
    assert_eq!(ok("{{ with $x := .user }}{{ $x | upper }}{{ end }}"), "APP");
    assert_eq!(
        ok("{{ define \"t\" }}<{{ . }}>{{ end }}{{ template \"t\" .user }}"),
        "<app>"
    );
    assert_eq!(ok("{{ block \"b\" .user }}[{{ . }}]{{ end }}"), "[app]");
    assert_eq!(
        ok("{{ range until 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}"),
        "012"
    );
    assert_eq!(
        ok("{{ $s := \"\" }}{{ range until 3 }}{{ $s = print $s . }}{{ end }}{{ $s }}"),
        "012"
    );
    assert_eq!(ok("a {{- /* c */ -}} b"), "ab");
    assert_eq!(
        ok("{{ printf \"%s:%s\" .user .pw | b64enc }}"),
        "YXBwOnAidzox"
    );
    assert_eq!(ok("{{ .pw | toJson }}"), r#""p\"w:1""#);
    assert_eq!(
        ok("{{ \"!!\" | b64dec }}"),
        "illegal base64 data at input byte 0"
    );
    assert_eq!(ok("{{ (fromJson \"{\\\"a\\\":[1,2]}\").a }}"), "[1 2]");
    assert_eq!(ok("{{ len .user }}"), "3");
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}"), "012");
}

#[test]
fn content_independent_errors_are_found_before_rendering() {
    assert!(fails("{{ fail \"x\" }}").contains("not allowed"));
    assert!(fails("{{ required \"x\" .pw }}").contains("not allowed"));
    assert!(fails("{{ if false }}{{ upper 3 }}{{ end }}").contains("wrong type"));
    assert!(fails("{{ if false }}{{ upper .nope }}{{ end }}").contains("no value"));
    assert!(fails("{{ trimPrefix \"a\" }}").contains("wrong number of args"));
    assert!(fails("{{ $x }}").contains("undefined variable"));
    assert!(fails("{{ template \"x\" }}").contains("no such template"));
    assert!(
        fails("{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}")
            .contains("calls itself")
    );
    assert!(fails("{{ printf .pw }}").contains("string literal"));
    assert!(fails("{{ repeat (atoi .pw) \"x\" }}").contains("work limit"));
    assert!(fails("{{ range .pw }}{{ end }}").contains("range can't iterate"));
    assert!(fails("{{ .pw.x }}").contains("can't evaluate field"));
    let deep = format!("{{{{ {}\"x\"{} }}}}", "(".repeat(3000), ")".repeat(3000));
    assert!(fails(&deep).contains("nesting depth limit"));
}

#[test]
fn printf_percent_with_width_or_precision_consumes_no_operand() {
    // Found by libFuzzer: the bound computed before rendering counted `%.3500%` as taking the
    // operand, so the next verb's 40,000 digits exceeded it ("internal error" refusal).
    let out = ok("{{ printf \"%.3500%%.40000f\" 1.5 }}");
    assert_eq!(out.len(), 1 + "1.".len() + 40_000, "{}", &out[..20]);
    assert!(out.starts_with("%1.5000"));
    // As Go: `%%` takes no operand, `*` still does.
    let out = ok("{{ printf \"%5%%*.*%%.7000f|%-3%|\" 3 4 2.5 }}");
    assert_eq!(
        out.len(),
        2 + "2.".len() + 7_000 + "|%|".len(),
        "{}",
        &out[..20]
    );
    assert!(out.starts_with("%%2.5000") && out.ends_with("0|%|"));
    assert_eq!(
        ok("{{ printf \"%.3500%.40000f\" 1.5 }}"),
        "%.40000f%!(EXTRA float64=1.5)"
    );
}

#[test]
fn printf_pads_both_key_and_value_of_every_dict_entry_within_the_bound() {
    // Found by libFuzzer: `%07000q` of a dict pads each key and each value, twice what the bound
    // counted per entry ("internal error" refusal).
    let out = ok("{{ printf \"%07000q\" . }}");
    // Three entries (user, pw, db-host): six padded strings.
    assert_eq!(
        out.len(),
        "map[".len() + 6 * 7_000 + 3 * ":".len() + 2 * " ".len() + "]".len()
    );
    // With empty values a dict weighs least per entry.
    let out = render_one("{{ printf \"%07000q\" . }}", &[("a", b""), ("b", b"")]).expect("renders");
    assert_eq!(
        out.len(),
        "map[".len() + 4 * 7_000 + 2 * ":".len() + " ".len() + "]".len()
    );
    let out = ok("{{ printf \"%0900v\" (list (dict \"k\" (list 1 2)) (list \"x\")) }}");
    assert_eq!(out.len(), 4 * 900 + "[map[:[ ]] []]".len());
}
