//! What an audit found, and how it is shown: a table for people, JSON for CI.

use std::fmt::Write as _;

use serde::Serialize;

/// How serious a finding is; any `Error` makes `sealant audit` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One finding.
#[derive(Debug, Serialize)]
pub struct Finding {
    pub level: Level,
    /// Which check: `not-ready`, `reseal`, `compromised-key`, `unknown-key`, `unmanaged-secret`,
    /// `keys`, `rbac`, `plaintext`, `access`.
    pub check: &'static str,
    /// `namespace/name` of the object, or `file:line`; empty when about the whole cluster.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub object: String,
    pub message: String,
}

/// A sealing key of the cluster.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub key_id: String,
    /// `namespace/name` of its Secret.
    pub secret: String,
    /// The label's value: `active`, `compromised`, ….
    pub status: String,
    /// The certificate's notBefore (RFC 3339).
    pub created: String,
    pub age_days: i64,
    /// The certificate's notAfter (RFC 3339).
    pub expires: String,
    pub newest: bool,
}

/// How the controller renews keys, and when next.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    /// `--key-renew-period` as given (`720h`); `0` when renewal is disabled.
    pub period: String,
    /// When the next key is due (RFC 3339), if renewal is on and a key exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Days until then (negative: overdue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_to_next: Option<i64>,
    /// `--key-cutoff-time`, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
    /// Where the settings were read: the Deployment, or the defaults.
    pub source: String,
}

/// Which objects are sealed with one key id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsage {
    /// The key id, or `unknown` (no `sealant.dev/key-ids` annotation).
    pub key_id: String,
    pub count: usize,
    /// `namespace/name` (cluster) or `file: namespace/name` (files).
    pub objects: Vec<String>,
}

/// A whole audit.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The API server URL, or the paths audited.
    pub source: String,
    pub sealed_secrets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal: Option<Renewal>,
    pub key_usage: Vec<KeyUsage>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn add(&mut self, level: Level, check: &'static str, object: String, message: String) {
        self.findings.push(Finding {
            level,
            check,
            object,
            message,
        });
    }

    /// Most serious first; then by check and object (namespace first), so each check's
    /// findings are grouped by namespace.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            b.level
                .cmp(&a.level)
                .then_with(|| a.check.cmp(b.check))
                .then_with(|| a.object.cmp(&b.object))
        });
        for usage in &mut self.key_usage {
            usage.objects.sort();
        }
        self.key_usage
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.key_id.cmp(&b.key_id)));
    }

    /// Records which objects each key id sealed (`unknown`: no key-id annotation), with a note
    /// on the unknown ones naming `verify` (the command that tells their key).
    pub fn set_key_usage(
        &mut self,
        by_key: std::collections::BTreeMap<String, Vec<String>>,
        verify: &str,
    ) {
        if let Some(unknown) = by_key.get("unknown") {
            self.add(
                Level::Info,
                "unknown-key",
                String::new(),
                format!(
                    "{} SealedSecret(s) carry no {} annotation (sealed by kubeseal or an older sealant): their key is not known without decrypting ({verify})",
                    unknown.len(),
                    sealant_api::ANNOTATION_KEY_IDS,
                ),
            );
        }
        self.key_usage = by_key
            .into_iter()
            .map(|(key_id, objects)| KeyUsage {
                key_id,
                count: objects.len(),
                objects,
            })
            .collect();
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        value["summary"] = serde_json::json!({
            "errors": self.count(Level::Error),
            "warnings": self.count(Level::Warning),
            "info": self.count(Level::Info),
        });
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Audit of {}: {} SealedSecret(s)\n",
            self.source, self.sealed_secrets
        );
        if let Some(keys) = &self.keys {
            let _ = writeln!(out, "Sealing keys: {}", keys.len());
            if let Some(r) = &self.renewal {
                let next = match (&r.next, r.days_to_next) {
                    (Some(at), Some(days)) => format!(", next renewal {at} (in {days} d)"),
                    _ => String::new(),
                };
                let cutoff = r.cutoff.as_deref().unwrap_or("none");
                let _ = writeln!(
                    out,
                    "Renewal period {}{next}; cut-off {cutoff} ({})",
                    r.period, r.source
                );
            }
            if !keys.is_empty() {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.key_id.clone(),
                            if k.newest {
                                format!("{} (newest)", k.status)
                            } else {
                                k.status.clone()
                            },
                            k.created.clone(),
                            format!("{}d", k.age_days),
                            k.expires.clone(),
                            k.secret.clone(),
                        ]
                    })
                    .collect();
                table(
                    &mut out,
                    &["KEY ID", "STATUS", "CREATED", "AGE", "EXPIRES", "SECRET"],
                    &rows,
                );
            }
            out.push('\n');
        }
        if !self.key_usage.is_empty() {
            let _ = writeln!(out, "SealedSecrets by key:");
            let rows: Vec<Vec<String>> = self
                .key_usage
                .iter()
                .map(|u| vec![u.key_id.clone(), u.count.to_string(), shortened(&u.objects)])
                .collect();
            table(&mut out, &["KEY ID", "SEALEDSECRETS", "OBJECTS"], &rows);
            out.push('\n');
        }
        let (e, w, i) = (
            self.count(Level::Error),
            self.count(Level::Warning),
            self.count(Level::Info),
        );
        let _ = writeln!(out, "Findings: {e} error(s), {w} warning(s), {i} info");
        if !self.findings.is_empty() {
            let rows: Vec<Vec<String>> = self
                .findings
                .iter()
                .map(|f| {
                    vec![
                        f.level.name().to_owned(),
                        f.check.to_owned(),
                        if f.object.is_empty() {
                            "-".to_owned()
                        } else {
                            f.object.clone()
                        },
                        f.message.clone(),
                    ]
                })
                .collect();
            table(&mut out, &["LEVEL", "CHECK", "OBJECT", "MESSAGE"], &rows);
        }
        out
    }
}

/// A cell as one line of plain text: control characters (newlines, terminal escapes from a
/// hostile status message or name) are shown escaped, never sent to the terminal.
fn printable(cell: &str) -> String {
    cell.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// The first few objects of a list, and how many more (`-o json` lists them all).
fn shortened(objects: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = objects
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if objects.len() > SHOWN {
        let _ = write!(
            text,
            " … and {} more (-o json lists all)",
            objects.len() - SHOWN
        );
    }
    text
}

/// Columns padded to their widest cell (the last column is not padded).
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(printable(cell).chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<String> = cells.map(printable).collect();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    line(out, &mut header.iter().copied());
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_sort_by_level_then_check_then_namespace() {
        let mut r = Report::default();
        r.add(Level::Warning, "reseal", "b/x".into(), "m".into());
        r.add(Level::Error, "not-ready", "z/y".into(), "m".into());
        r.add(Level::Error, "not-ready", "a/y".into(), "m".into());
        r.sort();
        let order: Vec<&str> = r.findings.iter().map(|f| f.object.as_str()).collect();
        assert_eq!(order, ["a/y", "z/y", "b/x"]);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(json["summary"]["errors"], 2);
        assert_eq!(json["findings"][0]["level"], "error");
        let table = r.to_table();
        assert!(
            table.contains("Findings: 2 error(s), 1 warning(s), 0 info"),
            "{table}"
        );
        assert!(table.contains("error    not-ready  a/y"), "{table}");
        let mut hostile = Report::default();
        hostile.add(
            Level::Error,
            "not-ready",
            "a/b".into(),
            "x\u{1b}[2Jy\nz".into(),
        );
        let table = hostile.to_table();
        assert!(!table.contains('\u{1b}'), "{table:?}");
        assert!(table.contains("x\\u{1b}[2Jy\\nz"), "{table:?}");
        let many: Vec<String> = (0..7).map(|i| format!("ns/o{i}")).collect();
        assert_eq!(
            shortened(&many),
            "ns/o0, ns/o1, ns/o2, ns/o3, ns/o4 … and 2 more (-o json lists all)"
        );
    }
}
