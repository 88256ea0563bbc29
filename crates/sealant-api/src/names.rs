//! Kubernetes' rules for the names sealing binds into ciphertext: object names (RFC 1123
//! subdomains), namespaces (RFC 1123 labels) and Secret item keys. A SealedSecret sealed for a
//! name the API server would refuse could never be applied, so sealing refuses it up front and
//! says which rule it breaks. The sealing page in `sealant-web` applies the same rules (a test
//! checks that both agree).

use crate::Error;

/// Longest object name (`metadata.name`) Kubernetes accepts.
pub const MAX_NAME_LEN: usize = 253;
/// Longest namespace name Kubernetes accepts.
pub const MAX_NAMESPACE_LEN: usize = 63;
/// Longest Secret item key Kubernetes accepts.
pub const MAX_ITEM_KEY_LEN: usize = 253;

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

/// Why `name` is not a valid object name, or `None` when it is.
pub fn object_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "is {} characters, more than the {MAX_NAME_LEN} allowed",
            name.len()
        ));
    }
    if !name.split('.').all(is_label) {
        return Some(
            "must consist of lower case letters, digits, '-' and '.', and start and end with a letter or digit (RFC 1123 subdomain, e.g. 'db-password')"
                .to_owned(),
        );
    }
    None
}

/// Why `namespace` is not a valid namespace name, or `None` when it is.
pub fn namespace_problem(namespace: &str) -> Option<String> {
    if namespace.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if namespace.len() > MAX_NAMESPACE_LEN {
        return Some(format!(
            "is {} characters, more than the {MAX_NAMESPACE_LEN} allowed",
            namespace.len()
        ));
    }
    if !is_label(namespace) {
        return Some(
            "must consist of lower case letters, digits and '-', and start and end with a letter or digit (RFC 1123 label, e.g. 'prod')"
                .to_owned(),
        );
    }
    None
}

/// Why `key` is not a valid Secret item key, or `None` when it is.
pub fn item_key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if key.len() > MAX_ITEM_KEY_LEN {
        return Some(format!(
            "is {} characters, more than the {MAX_ITEM_KEY_LEN} allowed",
            key.len()
        ));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Some(
            "must consist of letters, digits, '-', '_' and '.' (e.g. 'tls.crt')".to_owned(),
        );
    }
    if key == "." || key == ".." || key.starts_with("..") {
        return Some("must not be '.' or '..' or start with '..'".to_owned());
    }
    None
}

pub(crate) fn check(
    path: &str,
    value: &str,
    problem: fn(&str) -> Option<String>,
) -> Result<(), Error> {
    match problem(value) {
        None => Ok(()),
        Some(why) => Err(Error::Document {
            document: None,
            path: Some(path.to_owned()),
            message: format!("{value:?} is not valid: it {why}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        for ok in ["db", "a", "db-1", "a.b.c", "0", "x".repeat(253).as_str()] {
            assert_eq!(object_name_problem(ok), None, "{ok:?}");
        }
        for bad in [
            "",
            "Db",
            "-db",
            "db-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "a b",
            "x".repeat(254).as_str(),
            "é",
        ] {
            assert!(object_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn namespaces() {
        for ok in ["prod", "kube-system", "a", "0a", "x".repeat(63).as_str()] {
            assert_eq!(namespace_problem(ok), None, "{ok:?}");
        }
        for bad in ["", "a.b", "Prod", "-a", "a-", "x".repeat(64).as_str()] {
            assert!(namespace_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn item_keys() {
        for ok in [
            "tls.crt",
            "a_b-c",
            "A",
            ".env",
            "a..b",
            "x".repeat(253).as_str(),
        ] {
            assert_eq!(item_key_problem(ok), None, "{ok:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "..a",
            "a/b",
            "a b",
            "ключ",
            "x".repeat(254).as_str(),
        ] {
            assert!(item_key_problem(bad).is_some(), "{bad:?}");
        }
    }
}
