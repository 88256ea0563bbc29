//! Secret semantics: `stringData` folding, `type` default and immutability, `immutable: true`,
//! base64 and key validation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult};

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Folds `stringData` into `data` (base64-encoding each value; `stringData` wins) and removes it.
pub fn fold_string_data(obj: &mut Value) -> ApiResult<()> {
    let Some(m) = obj.as_object_mut() else {
        return Ok(());
    };
    let Some(sd) = m.remove("stringData") else {
        return Ok(());
    };
    let sd = match sd {
        Value::Null => return Ok(()),
        Value::Object(sd) => sd,
        _ => {
            return Err(ApiError::bad_request(
                "Secret in version \"v1\" cannot be handled as a Secret: stringData must be a map of strings",
            ));
        }
    };
    let data = m.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    let Some(data) = data.as_object_mut() else {
        return Err(ApiError::bad_request(
            "Secret in version \"v1\" cannot be handled as a Secret: data must be a map of base64 strings",
        ));
    };
    for (k, v) in sd {
        let s = v.as_str().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: stringData[{k}] must be a string"
            ))
        })?;
        data.insert(k, json!(STANDARD.encode(s.as_bytes())));
    }
    Ok(())
}

/// Normalises and validates a Secret about to be stored. `old` is the stored version on update.
pub fn prepare(obj: &mut Value, old: Option<&Value>, name: &str) -> ApiResult<()> {
    fold_string_data(obj)?;
    let invalid = |cause: String| ApiError::invalid("", "Secret", name, &cause);
    let Some(m) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("Secret must be a JSON object"));
    };
    match m.get("type") {
        None | Some(Value::Null) => {
            m.insert("type".into(), json!("Opaque"));
        }
        Some(Value::String(s)) if s.is_empty() => {
            m.insert("type".into(), json!("Opaque"));
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "Secret in version \"v1\" cannot be handled as a Secret: type must be a string",
            ));
        }
    }
    if m.get("data").is_some_and(Value::is_null) {
        m.remove("data");
    }
    if let Some(data) = m.get("data") {
        let data = data.as_object().ok_or_else(|| {
            ApiError::bad_request(
                "Secret in version \"v1\" cannot be handled as a Secret: data must be a map of base64 strings",
            )
        })?;
        if data.is_empty() {
            m.remove("data");
        } else {
            let mut causes = Vec::new();
            for (k, v) in data {
                let s = v.as_str().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Secret in version \"v1\" cannot be handled as a Secret: data[{k}] must be a base64 string"
                    ))
                })?;
                if let Err(e) = STANDARD.decode(s) {
                    return Err(ApiError::bad_request(format!(
                        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data ({e}) in data[{k}]"
                    )));
                }
                if !valid_key(k) {
                    causes.push(format!(
                        "data[{k}]: Invalid value: \"{k}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
                    ));
                }
            }
            if !causes.is_empty() {
                return Err(invalid(causes.join(", ")));
            }
        }
    }
    if m.get("immutable").is_some_and(Value::is_null) {
        m.remove("immutable");
    }
    if let Some(old) = old {
        let new_type = m.get("type").cloned().unwrap_or(Value::Null);
        let old_type = old.get("type").cloned().unwrap_or(json!("Opaque"));
        if new_type != old_type {
            let shown = new_type.as_str().unwrap_or("");
            return Err(invalid(format!(
                "type: Invalid value: \"{shown}\": field is immutable"
            )));
        }
        if old.get("immutable").and_then(Value::as_bool) == Some(true) {
            let new_imm = m.get("immutable").and_then(Value::as_bool);
            if new_imm != Some(true) {
                return Err(invalid(
                    "immutable: Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
            let empty = Value::Object(Map::new());
            let od = old.get("data").unwrap_or(&empty);
            let nd = m.get("data").unwrap_or(&empty);
            if od != nd {
                return Err(invalid(
                    "data: Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_data_and_type() {
        let mut s = json!({"stringData": {"a": "hi"}, "data": {"b": "eA=="}});
        prepare(&mut s, None, "x").unwrap();
        assert_eq!(
            s,
            json!({"data": {"a": "aGk=", "b": "eA=="}, "type": "Opaque"})
        );
        let mut t = json!({"type": "kubernetes.io/tls"});
        let e = prepare(&mut t, Some(&s), "x").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Secret \"x\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is immutable"
        );
        let mut bad = json!({"data": {"a": "!!"}});
        assert_eq!(prepare(&mut bad, None, "x").unwrap_err().code, 400);
        let mut badkey = json!({"data": {"a b": "eA=="}});
        assert_eq!(prepare(&mut badkey, None, "x").unwrap_err().code, 422);
    }
}
