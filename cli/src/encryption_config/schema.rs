//! The API server's `apiserver.config.k8s.io/v1` `EncryptionConfiguration`: reading it with every
//! problem named by its field path, and writing it back as YAML.
//!
//! The shape follows the Kubernetes documentation ("Encrypting Confidential Data at Rest"):
//! `resources[]` entries each list `resources` (`secrets`, `*.`, `*.*`, `RESOURCE.GROUP`) and
//! an ordered list of `providers`, each entry exactly one of `identity: {}`,
//! `aescbc`/`aesgcm`/`secretbox: {keys: [{name, secret}]}` or
//! `kms: {apiVersion, name, endpoint, cachesize, timeout}`. The first provider encrypts new
//! writes; all of them are tried for reads. The API server decodes this file strictly, so
//! unknown fields are errors here too.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

pub const API_VERSION: &str = "apiserver.config.k8s.io/v1";
pub const KIND: &str = "EncryptionConfiguration";

/// Bounds on what is read: far above any real configuration.
const MAX_ENTRIES: usize = 256;
const MAX_PROVIDERS: usize = 64;
const MAX_KEYS: usize = 64;
const MAX_NAME_BYTES: usize = 253;

/// A cipher of a provider with local keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AES-CBC with PKCS#7 padding; 16, 24 or 32-byte keys.
    Aescbc,
    /// AES-GCM with a random nonce; 16, 24 or 32-byte keys; must be rotated every 200k writes.
    Aesgcm,
    /// XSalsa20 and Poly1305; 32-byte keys.
    Secretbox,
}

impl Cipher {
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aescbc => "aescbc",
            Cipher::Aesgcm => "aesgcm",
            Cipher::Secretbox => "secretbox",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "aescbc" => Some(Cipher::Aescbc),
            "aesgcm" => Some(Cipher::Aesgcm),
            "secretbox" => Some(Cipher::Secretbox),
            _ => None,
        }
    }

    fn key_lengths(self) -> &'static [usize] {
        match self {
            Cipher::Aescbc | Cipher::Aesgcm => &[16, 24, 32],
            Cipher::Secretbox => &[32],
        }
    }
}

/// One key of a provider; `secret` is base64 of the key bytes.
#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub secret: Zeroizing<String>,
}

/// The fields of a `kms` provider, kept to be written back.
#[derive(Clone, Debug)]
pub struct Kms {
    pub api_version: Option<String>,
    pub name: String,
    pub endpoint: String,
    pub cachesize: Option<i64>,
    pub timeout: Option<String>,
}

/// One entry of `providers`.
#[derive(Clone, Debug)]
pub enum Provider {
    Identity,
    Keyed { cipher: Cipher, keys: Vec<Key> },
    Kms(Kms),
}

/// One entry of `resources`.
#[derive(Clone, Debug)]
pub struct ResourceConfig {
    pub resources: Vec<String>,
    pub providers: Vec<Provider>,
}

/// A whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub resources: Vec<ResourceConfig>,
}

/// What reading found: problems make the file unusable; warnings do not.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl Findings {
    fn problem(&mut self, path: &str, message: impl std::fmt::Display) {
        self.problems.push(format!("{path}: {message}"));
    }
    fn warning(&mut self, path: &str, message: impl std::fmt::Display) {
        self.warnings.push(format!("{path}: {message}"));
    }
}

impl Config {
    /// The index of the entry that decides how Secrets are stored (the first one listing
    /// `secrets`, `*.` or `*.*`), if any.
    pub fn secrets_entry(&self) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.resources.iter().any(|name| covers_secrets(name)))
    }
}

fn covers_secrets(resource: &str) -> bool {
    matches!(resource, "secrets" | "*." | "*.*")
}

/// Reads a configuration from the text of a file. `Err` holds every problem found; `Ok` holds
/// the configuration and its warnings (and no problems).
pub fn parse(text: &str) -> Result<(Config, Vec<String>), Vec<String>> {
    let docs = match sealant_api::parse_documents(text) {
        Ok(docs) => docs,
        Err(e) => return Err(vec![format!("not valid YAML or JSON: {e}")]),
    };
    let value = match docs.as_slice() {
        [one] => one,
        [] => {
            return Err(vec![
                "empty: expected an EncryptionConfiguration".to_owned(),
            ]);
        }
        more => {
            return Err(vec![format!(
                "{} documents: expected exactly one EncryptionConfiguration",
                more.len()
            )]);
        }
    };
    let mut findings = Findings::default();
    let config = read_config(value, &mut findings);
    if let Some(config) = &config {
        check_semantics(config, &mut findings);
    }
    match config {
        Some(config) if findings.problems.is_empty() => Ok((config, findings.warnings)),
        _ => Err(findings.problems),
    }
}

fn object<'a>(value: &'a Value, path: &str, f: &mut Findings) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        other => {
            f.problem(
                path,
                format!("expected a mapping, found {}", kind_of(other)),
            );
            None
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn unknown_fields(map: &Map<String, Value>, known: &[&str], path: &str, f: &mut Findings) {
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        f.problem(
            &join(path, &short(key)),
            format!("unknown field (expected one of: {})", known.join(", ")),
        );
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// A name from the file for a message: at most 64 characters, control characters escaped.
fn short(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn list<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    path: &str,
    max: usize,
    f: &mut Findings,
) -> Option<&'a Vec<Value>> {
    let path = join(path, field);
    match map.get(field) {
        None | Some(Value::Null) => {
            f.problem(&path, "required: a non-empty list");
            None
        }
        Some(Value::Array(items)) if items.is_empty() => {
            f.problem(&path, "empty: at least one entry is required");
            None
        }
        Some(Value::Array(items)) if items.len() > max => {
            f.problem(
                &path,
                format!("{} entries: at most {max} are accepted", items.len()),
            );
            None
        }
        Some(Value::Array(items)) => Some(items),
        Some(other) => {
            f.problem(&path, format!("expected a list, found {}", kind_of(other)));
            None
        }
    }
}

fn string<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    path: &str,
    f: &mut Findings,
) -> Option<&'a str> {
    let path = join(path, field);
    match map.get(field) {
        None | Some(Value::Null) => {
            f.problem(&path, "required");
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            f.problem(&path, "required: must not be empty");
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            f.problem(
                &path,
                format!("expected a string, found {}", kind_of(other)),
            );
            None
        }
    }
}

fn read_config(value: &Value, f: &mut Findings) -> Option<Config> {
    let top = object(value, "(document)", f)?;
    unknown_fields(top, &["apiVersion", "kind", "resources"], "", f);
    match string(top, "apiVersion", "", f) {
        Some(API_VERSION) | None => {}
        Some(other) => f.problem(
            "apiVersion",
            format!("is {:?}, expected {API_VERSION}", short(other)),
        ),
    }
    match string(top, "kind", "", f) {
        Some(KIND) | None => {}
        Some(other) => f.problem("kind", format!("is {:?}, expected {KIND}", short(other))),
    }
    let entries = list(top, "resources", "", MAX_ENTRIES, f)?;
    let mut resources = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(entry) = read_entry(entry, &format!("resources[{i}]"), f) {
            resources.push(entry);
        }
    }
    (resources.len() == entries.len()).then_some(Config { resources })
}

fn read_entry(value: &Value, path: &str, f: &mut Findings) -> Option<ResourceConfig> {
    let map = object(value, path, f)?;
    unknown_fields(map, &["resources", "providers"], path, f);
    let mut names = Vec::new();
    if let Some(items) = list(map, "resources", path, MAX_ENTRIES, f) {
        for (j, item) in items.iter().enumerate() {
            let item_path = format!("{path}.resources[{j}]");
            match item {
                Value::String(s) if s.is_empty() => f.problem(&item_path, "must not be empty"),
                Value::String(s) if s.len() > MAX_NAME_BYTES => {
                    f.problem(&item_path, "longer than 253 bytes")
                }
                Value::String(s) if s.chars().any(|c| c.is_ascii_uppercase()) => f.problem(
                    &item_path,
                    format!("{:?}: resource names are lowercase", short(s)),
                ),
                Value::String(s) => names.push(s.clone()),
                other => f.problem(
                    &item_path,
                    format!("expected a string, found {}", kind_of(other)),
                ),
            }
        }
    }
    let mut providers = Vec::new();
    let items = list(map, "providers", path, MAX_PROVIDERS, f);
    for (k, item) in items.into_iter().flatten().enumerate() {
        if let Some(p) = read_provider(item, &format!("{path}.providers[{k}]"), f) {
            providers.push(p);
        }
    }
    let complete = items.is_some_and(|items| items.len() == providers.len());
    (complete && !names.is_empty()).then_some(ResourceConfig {
        resources: names,
        providers,
    })
}

const PROVIDER_TYPES: [&str; 5] = ["identity", "aescbc", "aesgcm", "secretbox", "kms"];

fn read_provider(value: &Value, path: &str, f: &mut Findings) -> Option<Provider> {
    let map = object(value, path, f)?;
    unknown_fields(map, &PROVIDER_TYPES, path, f);
    let types: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| PROVIDER_TYPES.contains(k))
        .collect();
    let kind = match types.as_slice() {
        [one] => *one,
        [] => {
            f.problem(
                path,
                format!(
                    "no provider type: expected one of {}",
                    PROVIDER_TYPES.join(", ")
                ),
            );
            return None;
        }
        many => {
            f.problem(
                path,
                format!(
                    "{} provider types in one entry ({}): each entry of providers holds exactly one",
                    many.len(),
                    many.join(", ")
                ),
            );
            return None;
        }
    };
    let inner_path = join(path, kind);
    let inner = map.get(kind)?;
    if kind == "identity" {
        if let Value::Null = inner {
            return Some(Provider::Identity);
        }
        let m = object(inner, &inner_path, f)?;
        unknown_fields(m, &[], &inner_path, f);
        return m.is_empty().then_some(Provider::Identity);
    }
    let m = object(inner, &inner_path, f)?;
    if kind == "kms" {
        return read_kms(m, &inner_path, f).map(Provider::Kms);
    }
    let cipher = Cipher::from_name(kind)?;
    unknown_fields(m, &["keys"], &inner_path, f);
    let items = list(m, "keys", &inner_path, MAX_KEYS, f)?;
    let mut keys = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, item) in items.iter().enumerate() {
        let key_path = format!("{inner_path}.keys[{n}]");
        let Some(km) = object(item, &key_path, f) else {
            continue;
        };
        unknown_fields(km, &["name", "secret"], &key_path, f);
        let name = string(km, "name", &key_path, f);
        if let Some(name) = name {
            if name.len() > MAX_NAME_BYTES {
                f.problem(&join(&key_path, "name"), "longer than 253 bytes");
            } else if let Some(first) = seen.insert(name, n) {
                f.problem(
                    &join(&key_path, "name"),
                    format!(
                        "{:?} is also the name of keys[{first}]: key names must be unique",
                        short(name)
                    ),
                );
            }
        }
        let secret = string(km, "secret", &key_path, f);
        let secret_ok =
            secret.is_some_and(|s| check_secret(cipher, s, &join(&key_path, "secret"), f));
        if let (Some(name), Some(secret), true) = (name, secret, secret_ok) {
            keys.push(Key {
                name: name.to_owned(),
                secret: Zeroizing::new(secret.to_owned()),
            });
        }
    }
    (keys.len() == items.len()).then_some(Provider::Keyed { cipher, keys })
}

/// Checks a key's base64 and decoded length, never showing the value.
fn check_secret(cipher: Cipher, secret: &str, path: &str, f: &mut Findings) -> bool {
    let decoded = match STANDARD.decode(secret.as_bytes()) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) => {
            f.problem(path, format!("not valid base64 ({e})"));
            return false;
        }
    };
    let lengths = cipher.key_lengths();
    if lengths.contains(&decoded.len()) {
        return true;
    }
    let wanted = match lengths {
        [one] => format!("{one}"),
        _ => "16, 24 or 32".to_owned(),
    };
    f.problem(
        path,
        format!(
            "decodes to {} bytes; a {} key is {wanted} bytes",
            decoded.len(),
            cipher.name()
        ),
    );
    false
}

fn read_kms(m: &Map<String, Value>, path: &str, f: &mut Findings) -> Option<Kms> {
    unknown_fields(
        m,
        &["apiVersion", "name", "endpoint", "cachesize", "timeout"],
        path,
        f,
    );
    let before = f.problems.len();
    let api_version = match m.get("apiVersion") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if v == "v1" || v == "v2" => Some(v.clone()),
        Some(other) => {
            f.problem(
                &join(path, "apiVersion"),
                format!("{}: expected v1 or v2", describe(other)),
            );
            None
        }
    };
    let v2 = api_version.as_deref() == Some("v2");
    if !v2 {
        f.warning(
            path,
            "KMS v1 is deprecated and disabled by default since Kubernetes 1.29; use apiVersion: v2",
        );
    }
    let name = string(m, "name", path, f);
    if let Some(name) = name
        && v2
        && name.contains(':')
    {
        f.problem(
            &join(path, "name"),
            "a KMS v2 provider name must not contain ':'",
        );
    }
    let endpoint = string(m, "endpoint", path, f);
    if let Some(endpoint) = endpoint
        && !endpoint.starts_with("unix://")
    {
        f.problem(
            &join(path, "endpoint"),
            "must be a unix socket address (unix:///path/to/socket)",
        );
    }
    let cachesize = match m.get("cachesize") {
        None | Some(Value::Null) => None,
        Some(_) if v2 => {
            f.problem(
                &join(path, "cachesize"),
                "is not supported with apiVersion v2",
            );
            None
        }
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(other) => {
            f.problem(
                &join(path, "cachesize"),
                format!("{}: expected an integer", describe(other)),
            );
            None
        }
    };
    let timeout = match m.get("timeout") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            f.problem(
                &join(path, "timeout"),
                format!("{}: expected a duration such as 3s", describe(other)),
            );
            None
        }
    };
    if f.problems.len() > before {
        return None;
    }
    Some(Kms {
        api_version,
        name: name?.to_owned(),
        endpoint: endpoint?.to_owned(),
        cachesize,
        timeout,
    })
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", short(s)),
        other => kind_of(other).to_owned(),
    }
}

/// Checks across entries: resources listed twice or masked by a wildcard, Secrets not covered,
/// provider order.
fn check_semantics(config: &Config, f: &mut Findings) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, entry) in config.resources.iter().enumerate() {
        for (j, name) in entry.resources.iter().enumerate() {
            let path = format!("resources[{i}].resources[{j}]");
            if let Some(first) = seen.get(name.as_str()) {
                f.problem(
                    &path,
                    format!("{:?} is also listed in resources[{first}]", short(name)),
                );
                continue;
            }
            let masked = config.resources[..i].iter().enumerate().find_map(|(e, r)| {
                r.resources
                    .iter()
                    .find(|w| masks(w, name))
                    .map(|w| (e, w.clone()))
            });
            if let Some((e, wildcard)) = masked {
                f.problem(
                    &path,
                    format!(
                        "{:?} is masked by {wildcard:?} in resources[{e}], which the API server matches first",
                        short(name)
                    ),
                );
            }
            seen.insert(name, i);
        }
    }
    let Some(index) = config.secrets_entry() else {
        f.problem(
            "resources",
            "no entry lists secrets (or *. or *.*): Secrets are stored unencrypted",
        );
        return;
    };
    let entry = &config.resources[index];
    let path = format!("resources[{index}].providers");
    match entry.providers.first() {
        Some(Provider::Identity) if entry.providers.len() == 1 => f.problem(
            &path,
            "only identity: Secrets are stored unencrypted; put aescbc, secretbox or kms first",
        ),
        Some(Provider::Identity) => f.problem(
            &format!("{path}[0]"),
            "identity is first, so new writes of Secrets are stored unencrypted; move it last",
        ),
        Some(Provider::Keyed {
            cipher: Cipher::Aesgcm,
            ..
        }) => f.warning(
            &format!("{path}[0]"),
            "aesgcm keys must be rotated every 200,000 writes; prefer secretbox, aescbc or kms v2",
        ),
        _ => {}
    }
    if !entry
        .providers
        .iter()
        .any(|p| matches!(p, Provider::Identity))
    {
        f.warning(
            &path,
            "no identity provider: Secrets written before encryption was enabled cannot be read until they are rewritten; add `identity: {}` last",
        );
    }
}

/// Whether an earlier entry's `wildcard` (`*.*`, `*.` or `*.GROUP`) also matches `name`.
fn masks(wildcard: &str, name: &str) -> bool {
    let group = |n: &str| {
        n.split_once('.')
            .map_or(String::new(), |(_, g)| g.to_owned())
    };
    match wildcard {
        "*.*" => true,
        "*." => group(name).is_empty() && name != "*.*",
        w => match w.strip_prefix("*.") {
            Some(g) => group(name) == g && !name.starts_with("*."),
            None => false,
        },
    }
}

/// The configuration as YAML, with a header comment.
pub fn render(config: &Config, header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "apiVersion: {API_VERSION}\nkind: {KIND}\nresources:");
    for entry in &config.resources {
        out.push_str("  - resources:\n");
        for name in &entry.resources {
            let _ = writeln!(out, "      - {}", scalar(name));
        }
        out.push_str("    providers:\n");
        for provider in &entry.providers {
            match provider {
                Provider::Identity => out.push_str("      - identity: {}\n"),
                Provider::Keyed { cipher, keys } => {
                    let _ = writeln!(out, "      - {}:\n          keys:", cipher.name());
                    for key in keys {
                        let _ = writeln!(
                            out,
                            "            - name: {}\n              secret: {}",
                            scalar(&key.name),
                            scalar(&key.secret)
                        );
                    }
                }
                Provider::Kms(kms) => {
                    out.push_str("      - kms:\n");
                    if let Some(v) = &kms.api_version {
                        let _ = writeln!(out, "          apiVersion: {}", scalar(v));
                    }
                    let _ = writeln!(out, "          name: {}", scalar(&kms.name));
                    let _ = writeln!(out, "          endpoint: {}", scalar(&kms.endpoint));
                    if let Some(n) = kms.cachesize {
                        let _ = writeln!(out, "          cachesize: {n}");
                    }
                    if let Some(t) = &kms.timeout {
                        let _ = writeln!(out, "          timeout: {}", scalar(t));
                    }
                }
            }
        }
    }
    out
}

/// A YAML scalar: plain when that cannot be read as anything but this string, else quoted
/// (JSON string syntax is valid YAML).
fn scalar(text: &str) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=._-".contains(c))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        text.to_owned()
    } else {
        serde_json::Value::String(text.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY32: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn problems(text: &str) -> Vec<String> {
        parse(text).err().unwrap_or_default()
    }

    #[test]
    fn scalars_that_yaml_would_retype_are_quoted() {
        assert_eq!(scalar("secrets"), "secrets");
        assert_eq!(scalar("*.*"), "\"*.*\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("unix:///a b"), "\"unix:///a b\"");
        assert_eq!(scalar(KEY32), KEY32);
    }

    #[test]
    fn wildcards_mask_later_entries() {
        assert!(masks("*.*", "secrets"));
        assert!(masks("*.", "secrets"));
        assert!(!masks("*.", "deployments.apps"));
        assert!(masks("*.apps", "deployments.apps"));
        assert!(!masks("*.apps", "secrets"));
        assert!(!masks("secrets", "secrets"));
    }

    #[test]
    fn rendered_configuration_reads_back_identically() {
        let text = format!(
            "apiVersion: {API_VERSION}\nkind: {KIND}\nresources:\n- resources: [secrets, configmaps]\n  providers:\n  - kms: {{apiVersion: v2, name: k, endpoint: 'unix:///k.sock', timeout: 3s}}\n  - secretbox: {{keys: [{{name: a, secret: {KEY32}}}]}}\n  - identity: {{}}\n- resources: ['*.*']\n  providers: [{{identity: {{}}}}]\n"
        );
        let (config, _) = parse(&text).expect("valid");
        let rendered = render(&config, "header");
        let (again, _) = parse(&rendered).expect("rendered is valid");
        assert_eq!(render(&again, "header"), rendered);
        assert!(rendered.starts_with("# header\napiVersion: apiserver.config.k8s.io/v1\n"));
        assert!(rendered.contains("      - \"*.*\"\n"), "{rendered}");
    }

    #[test]
    fn key_values_never_appear_in_problems() {
        let bad = "c2hvcnQta2V5LXZhbHVl"; // base64 of a 15-byte value
        let text = format!(
            "apiVersion: {API_VERSION}\nkind: {KIND}\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc: {{keys: [{{name: a, secret: {bad}}}]}}\n"
        );
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].contains(bad), "{found:?}");
        assert!(found[0].contains("decodes to 15 bytes"), "{found:?}");
    }
}
