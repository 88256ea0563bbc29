//! Fuzzes template rendering: any input must give an outcome (no panic, no stack overflow, no
//! bound exceeded), and two value sets of the same lengths must give the same outcome.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: [len a][len b][template...]; values are derived from the lengths twice, with
    // different contents.
    let (Some(&la), Some(&lb)) = (data.first(), data.get(1)) else {
        return;
    };
    let Ok(template) = std::str::from_utf8(&data[2.min(data.len())..]) else {
        return;
    };
    let templates = BTreeMap::from([("out".to_owned(), template.to_owned())]);
    let values = |fill: &[u8]| -> BTreeMap<String, Vec<u8>> {
        [("a", la), ("b", lb)]
            .into_iter()
            .map(|(k, n)| (k.to_owned(), fill.iter().copied().cycle().take(usize::from(n)).collect()))
            .collect()
    };
    let outcome = |v: &BTreeMap<String, Vec<u8>>| {
        sealant_api::template::render_all(&templates, v)
            .map(|_| ())
            .map_err(|f| f.into_iter().map(|f| f.error.to_string()).collect::<Vec<_>>())
    };
    let a = outcome(&values(b"aGVsbG8=,{}"));
    let b = outcome(&values(b"\xff-_: [x]\"0"));
    assert_eq!(a, b, "outcome depends on the values");
    if let Err(e) = a {
        assert!(!e.iter().any(|m| m.contains("internal error")), "{e:?}");
    }
});
