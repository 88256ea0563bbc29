//! Small helpers: time, random ids, name validation.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random-looking bits (SipHash with fresh random keys; not for cryptography).
pub fn rand_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A random version-4 UUID string.
pub fn uuid() -> String {
    let a = rand_u64();
    let b = rand_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` random characters from the alphabet the real server uses for `generateName`.
pub fn random_suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| {
            let i = (rand_u64() % ALPHA.len() as u64) as usize;
            char::from(ALPHA.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// Now, RFC 3339 UTC with second precision (`2024-01-02T03:04:05Z`).
pub fn now() -> String {
    let t = OffsetDateTime::now_utc();
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Seconds since an RFC 3339 timestamp, if it parses.
pub fn age_seconds(ts: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(ts, &Rfc3339).ok()?;
    Some((OffsetDateTime::now_utc() - t).whole_seconds())
}

/// Elapsed time as the real server prints it in tables (`duration.HumanDuration`): `45s`,
/// `3m20s`, `25m`, `5h10m`, `36h`, `3d4h`, `40d`, `2y30d`, `9y`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age cell of a timestamp: its [`human_duration`], `<unknown>` when absent or invalid.
pub fn age(ts: Option<&str>) -> String {
    ts.and_then(age_seconds)
        .map(human_duration)
        .unwrap_or_else(|| "<unknown>".into())
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(|c| *c != b'-')
        && b.last().is_some_and(|c| *c != b'-')
}

/// Validates an object name; `Err(cause)` is the text after `is invalid: `.
pub fn validate_name(name: &str, dns_label: bool) -> Result<(), String> {
    if dns_label {
        if is_label(name) {
            return Ok(());
        }
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": {LABEL_MSG}"
        ));
    }
    if name.len() <= 253 && name.split('.').all(is_label) {
        return Ok(());
    }
    Err(format!(
        "metadata.name: Invalid value: \"{name}\": {SUBDOMAIN_MSG}"
    ))
}

/// Validates the name of an object whose names are path segments (RBAC roles and bindings:
/// `system:discovery` is valid); `Err(cause)` as in [`validate_name`].
pub fn validate_path_segment_name(name: &str) -> Result<(), String> {
    let cause = if name.is_empty() {
        return Err("metadata.name: Required value: name or generateName is required".into());
    } else if name == "." || name == ".." {
        format!("may not be '{name}'")
    } else if let Some(bad) = ["/", "%"].iter().find(|c| name.contains(**c)) {
        format!("may not contain '{bad}'")
    } else {
        return Ok(());
    };
    Err(format!("metadata.name: Invalid value: \"{name}\": {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert!(validate_name("a.b-c", false).is_ok());
        assert!(validate_name("A", false).is_err());
        assert!(validate_name("a.b", true).is_err());
        assert!(validate_name("-a", false).is_err());
        assert!(validate_name("", false).is_err());
        assert!(validate_path_segment_name("system:basic-user").is_ok());
        assert!(validate_path_segment_name("a/b").is_err());
        assert!(validate_path_segment_name("..").is_err());
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_ne!(u, uuid());
        assert_eq!(random_suffix(5).len(), 5);
        assert!(now().ends_with('Z'));
        assert!(age_seconds(&now()).is_some_and(|s| s.abs() < 5));
        let h = |s| human_duration(s);
        assert_eq!(
            [
                h(-5),
                h(-1),
                h(45),
                h(200),
                h(300),
                h(1500),
                h(18_600),
                h(129_600)
            ],
            [
                "<invalid>",
                "0s",
                "45s",
                "3m20s",
                "5m",
                "25m",
                "5h10m",
                "36h"
            ]
        );
        assert_eq!(
            [h(273_600), h(3_456_000), h(65_664_000), h(300_000_000)],
            ["3d4h", "40d", "2y30d", "9y"]
        );
    }
}
