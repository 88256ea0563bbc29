//! Where a configuration is in the documented key rotation, and the configuration of the next
//! step.
//!
//! The procedure (Kubernetes documentation, "Rotate a decryption key"), as numbered here:
//!
//! 1. add a new key second;
//! 2. restart every API server;
//! 3. move the new key first and restart every API server again;
//! 4. rewrite every Secret so it is encrypted with the new key;
//! 5. remove the old key and restart every API server.
//!
//! The file alone says which step is next when the newer key can be told from the older: keys
//! are ordered by the number their name ends with (sealant names keys `key-<UTC
//! YYYYMMDDhhmmss>`; the documentation's `key1`, `key2` order the same way); a name without a
//! number counts as oldest.

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::schema::{Cipher, Config, Key, Provider};

/// The command that rewrites every Secret, so each is stored with the first key.
pub const REWRITE_COMMAND: &str =
    "kubectl get secrets --all-namespaces -o json | kubectl replace -f -";

/// Where the given configuration is.
#[derive(Debug, PartialEq, Eq)]
pub enum Stage {
    /// One key (the start, or the end of the previous rotation): step 1 is next.
    OneKey,
    /// The newest key is not first (after step 1): steps 2 and 3 are next.
    NewKeyNotFirst,
    /// The newest key is first and older keys remain (after step 3): steps 4 and 5 are next.
    NewKeyFirst,
}

/// The next step: where the file is, and the configuration to install next.
pub struct Next {
    pub stage: Stage,
    /// `resources[i].providers[0].CIPHER.keys`, for messages.
    pub field: String,
    pub cipher: Cipher,
    /// Key names as in the given file.
    pub names: Vec<String>,
    /// The newest key's name in the next configuration.
    pub newest: String,
    pub config: Config,
}

/// A fresh random key of 32 bytes from the operating system's generator, as base64.
pub fn fresh_secret() -> anyhow::Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice())
        .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
    Ok(Zeroizing::new(STANDARD.encode(bytes.as_slice())))
}

/// The name of a key made at `now`, newer than every name in `existing`.
pub fn fresh_name(existing: &[&str], now: OffsetDateTime) -> String {
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let newest = existing
        .iter()
        .map(|n| serial(n))
        .max_by(|a, b| compare_serials(a, b));
    match newest {
        Some(n) if compare_serials(n, &stamp) != Ordering::Less => format!("key-{}", increment(n)),
        _ => format!("key-{stamp}"),
    }
}

/// The number a key name ends with, without leading zeros ("" when none).
fn serial(name: &str) -> &str {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    name[name.len() - digits..].trim_start_matches('0')
}

fn compare_serials(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `n + 1` for a decimal string.
fn increment(n: &str) -> String {
    let mut digits: Vec<u8> = n.bytes().collect();
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return String::from_utf8_lossy(&digits).into_owned();
        }
    }
    format!("1{}", String::from_utf8_lossy(&digits))
}

/// Finds the step the configuration is at and makes the next configuration.
pub fn next(config: &Config, now: OffsetDateTime) -> Result<Next, String> {
    let index = config
        .secrets_entry()
        .ok_or("resources: no entry lists secrets: there is no key to rotate")?;
    let mut next_config = config.clone();
    let entry = &mut next_config.resources[index];
    let path = format!("resources[{index}].providers[0]");
    let (cipher, keys) = match entry.providers.first_mut() {
        Some(Provider::Keyed { cipher, keys }) => (*cipher, keys),
        Some(Provider::Kms(_)) => {
            return Err(format!(
                "{path}: Secrets are encrypted by a KMS provider, whose keys are rotated in the KMS itself (with KMS v2 the API server follows the key id the plugin reports); there is nothing to rotate in this file"
            ));
        }
        Some(Provider::Identity) | None => {
            return Err(format!(
                "{path}: identity is first, so Secrets are not encrypted: there is no key to rotate; enable encryption first (sealant encryption-config generate, see docs/encryption-at-rest.md)"
            ));
        }
    };
    let field = format!("{path}.{}.keys", cipher.name());
    let names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
    if keys.len() == 1 {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let name = fresh_name(&refs, now);
        keys.push(Key {
            name: name.clone(),
            secret: fresh_secret().map_err(|e| e.to_string())?,
        });
        return Ok(Next {
            stage: Stage::OneKey,
            field,
            cipher,
            names,
            newest: name,
            config: next_config,
        });
    }
    let newest = newest_key(keys).map_err(|e| format!("{field}: {e}"))?;
    let newest_name = keys[newest].name.clone();
    let stage = if newest == 0 {
        keys.truncate(1);
        Stage::NewKeyFirst
    } else {
        let key = keys.remove(newest);
        keys.insert(0, key);
        Stage::NewKeyNotFirst
    };
    Ok(Next {
        stage,
        field,
        cipher,
        names,
        newest: newest_name,
        config: next_config,
    })
}

/// The index of the newest key, or why it cannot be told.
fn newest_key(keys: &[Key]) -> Result<usize, String> {
    let mut best = 0;
    for (i, key) in keys.iter().enumerate().skip(1) {
        if compare_serials(serial(&key.name), serial(&keys[best].name)) == Ordering::Greater {
            best = i;
        }
    }
    let top = serial(&keys[best].name);
    let tied: Vec<&str> = keys
        .iter()
        .filter(|k| serial(&k.name) == top)
        .map(|k| k.name.as_str())
        .collect();
    if tied.len() > 1 {
        return Err(format!(
            "cannot tell which key is newest: {} end in the same number (or none); the newest key's name must end in the largest number (sealant names keys key-<UTC YYYYMMDDhhmmss>)",
            tied.iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, d: u8, h: u8, m: u8, s: u8) -> OffsetDateTime {
        time::Date::from_calendar_date(y, time::Month::December, d)
            .and_then(|date| date.with_hms(h, m, s))
            .expect("date")
            .assume_utc()
    }

    #[test]
    fn names_order_by_their_final_number() {
        assert_eq!(serial("key-20261207013800"), "20261207013800");
        assert_eq!(serial("key007"), "7");
        assert_eq!(serial("mykey"), "");
        assert_eq!(compare_serials("10", "9"), Ordering::Greater);
        assert_eq!(increment("199"), "200");
        assert_eq!(increment("99"), "100");
    }

    #[test]
    fn a_fresh_name_is_newer_than_every_existing_one() {
        let now = at(2026, 7, 1, 38, 0);
        assert_eq!(fresh_name(&["key1"], now), "key-20261207013800");
        assert_eq!(
            fresh_name(&["key-20261207013800"], now),
            "key-20261207013801"
        );
        assert_eq!(
            fresh_name(&["key-99991231235959"], now),
            "key-99991231235960"
        );
    }

    #[test]
    fn fresh_secrets_are_32_random_bytes() {
        let a = fresh_secret().expect("rng");
        let b = fresh_secret().expect("rng");
        assert_eq!(STANDARD.decode(a.as_bytes()).expect("base64").len(), 32);
        assert_ne!(*a, *b);
    }
}
