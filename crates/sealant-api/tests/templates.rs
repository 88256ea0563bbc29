//! The table of Go `text/template` and Sprig behaviour (`tests/data/templates.yaml`), rendered
//! through the same entry point as the controller and `sealant unseal`.

use std::collections::BTreeMap;

use sealant_api::template::render_all;

#[derive(serde::Deserialize)]
struct Table {
    values: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    t: String,
    want: Option<String>,
    error: Option<String>,
    #[allow(dead_code)]
    differs: Option<String>,
}

#[test]
fn go_and_sprig_behaviour_table() {
    let table: Table =
        serde_saphyr::from_str(include_str!("data/templates.yaml")).expect("table parses");
    assert!(
        table.cases.len() > 150,
        "the table has {} cases",
        table.cases.len()
    );
    let values: BTreeMap<String, Vec<u8>> = table
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let mut wrong = Vec::new();
    for case in &table.cases {
        let templates = BTreeMap::from([("out".to_owned(), case.t.clone())]);
        let got = render_all(&templates, &values)
            .map(|mut m| String::from_utf8_lossy(&m.remove("out").unwrap_or_default()).into_owned())
            .map_err(|f| {
                f.iter()
                    .map(|f| f.error.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            });
        match (&case.want, &case.error, &got) {
            (Some(w), None, Ok(g)) if w == g => {}
            (None, Some(e), Err(g)) if g.contains(e.as_str()) => {}
            _ => wrong.push(format!(
                "{:?}: want {:?} / error {:?}, got {:?}",
                case.t, case.want, case.error, got
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        table.cases.len(),
        wrong.join("\n")
    );
}
