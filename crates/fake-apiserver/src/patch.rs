//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//!
//! Strategic merge patch is served as a JSON merge patch: lists are replaced whole and
//! `$patch`/`$setElementOrder` directives are not interpreted (they are dropped).

use serde_json::Value;

use crate::errors::{ApiError, ApiResult};

/// Applies a JSON merge patch in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if k.starts_with("$patch")
                        || k.starts_with("$setElementOrder")
                        || k == "$retainKeys"
                        || k.starts_with("$deleteFromPrimitiveList")
                    {
                        continue;
                    }
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        let entry = t.entry(k.clone()).or_insert(Value::Null);
                        merge_patch(entry, v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> ApiResult<Vec<String>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| invalid_patch(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn invalid_patch(msg: String) -> ApiError {
    ApiError::new(422, "Invalid", msg)
}

fn get_mut<'a>(doc: &'a mut Value, toks: &[String]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => {
                let i: usize = t.parse().ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn remove_at(doc: &mut Value, toks: &[String]) -> ApiResult<Value> {
    let (last, parent) = toks
        .split_last()
        .ok_or_else(|| invalid_patch("cannot remove the whole document".into()))?;
    let p = get_mut(doc, parent)
        .ok_or_else(|| invalid_patch(format!("path /{} does not exist", toks.join("/"))))?;
    match p {
        Value::Object(m) => m.remove(last).ok_or_else(|| {
            invalid_patch(format!(
                "unable to remove nonexistent key: {last}: missing value"
            ))
        }),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| invalid_patch(format!("invalid array index {last:?}")))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(invalid_patch(format!("array index {i} out of bounds")))
            }
        }
        _ => Err(invalid_patch("remove from a scalar".into())),
    }
}

fn add_at(doc: &mut Value, toks: &[String], val: Value) -> ApiResult<()> {
    let Some((last, parent)) = toks.split_last() else {
        *doc = val;
        return Ok(());
    };
    let p = get_mut(doc, parent).ok_or_else(|| {
        invalid_patch(format!(
            "add operation does not apply: doc is missing path: \"/{}\": missing value",
            toks.join("/")
        ))
    })?;
    match p {
        Value::Object(m) => {
            m.insert(last.clone(), val);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(val);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| invalid_patch(format!("invalid array index {last:?}")))?;
            if i <= a.len() {
                a.insert(i, val);
                Ok(())
            } else {
                Err(invalid_patch(format!("array index {i} out of bounds")))
            }
        }
        _ => Err(invalid_patch("add to a scalar".into())),
    }
}

/// Applies a JSON patch (an array of operations) in place.
pub fn json_patch(doc: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("json patch operation is missing \"path\""))?;
        let toks = split_pointer(path)?;
        let value = || {
            op.get("value").cloned().ok_or_else(|| {
                ApiError::bad_request(format!("json patch {name} operation is missing \"value\""))
            })
        };
        let from = || -> ApiResult<Vec<String>> {
            let f = op.get("from").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(format!("json patch {name} operation is missing \"from\""))
            })?;
            split_pointer(f)
        };
        match name {
            "add" => add_at(doc, &toks, value()?)?,
            "remove" => {
                remove_at(doc, &toks)?;
            }
            "replace" => {
                let v = value()?;
                let target = get_mut(doc, &toks).ok_or_else(|| {
                    invalid_patch(format!(
                        "replace operation does not apply: doc is missing key: {path}: missing value"
                    ))
                })?;
                *target = v;
            }
            "move" => {
                let v = remove_at(doc, &from()?)?;
                add_at(doc, &toks, v)?;
            }
            "copy" => {
                let f = from()?;
                let v = get_mut(doc, &f)
                    .map(|v| v.clone())
                    .ok_or_else(|| invalid_patch("copy from a missing path".into()))?;
                add_at(doc, &toks, v)?;
            }
            "test" => {
                let want = value()?;
                let got = get_mut(doc, &toks).map(|v| v.clone());
                if got.as_ref() != Some(&want) {
                    return Err(invalid_patch(format!(
                        "testing value {path} failed: test failed"
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unexpected kind: {other:?} in json patch"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge() {
        let mut d = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge_patch(&mut d, &json!({"a": null, "b": {"c": 5}, "l": [3]}));
        assert_eq!(d, json!({"b": {"c": 5, "d": 3}, "l": [3]}));
    }

    #[test]
    fn jsonpatch() {
        let mut d = json!({"a": {"b": [1, 2]}, "x~/y": 1});
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "replace", "path": "/a/b/0", "value": 0},
                {"op": "remove", "path": "/x~0~1y"},
                {"op": "test", "path": "/a/b/2", "value": 3},
                {"op": "copy", "from": "/a/b", "path": "/c"},
                {"op": "move", "from": "/c", "path": "/d"},
            ]),
        )
        .unwrap();
        assert_eq!(d, json!({"a": {"b": [0, 2, 3]}, "d": [0, 2, 3]}));
        assert!(json_patch(&mut d, &json!([{"op": "test", "path": "/d/0", "value": 9}])).is_err());
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/zz"}])).is_err());
        assert!(json_patch(&mut d, &json!({"op": "x"})).is_err());
    }
}
