//! The core's JSON with its keys in camelCase, JavaScript's convention, renamed in the text.
//!
//! Every result crosses to JavaScript as JSON text, made on the core's runtime for a Promise,
//! so this runs on the path of every call. Renaming in the text that serde_json writes takes
//! one pass and one allocation; going through a `serde_json::Value` (a map and a string per
//! key, then every map built again with its new keys) took 3.5 µs instead of 1.6 µs for a
//! `status` result, measured inside the call (BENCHMARKS.md, Node).
//!
//! It relies on what serde_json's compact writer produces: no whitespace, and nothing escaped
//! but quotes, backslashes and control characters. So outside strings there are only ASCII
//! punctuation, numbers and literals, and a key is the string that follows `{` or `,` inside an
//! object.

/// `json` (compact, as serde_json writes it) with each object key in camelCase, except inside
/// `raw` values: ANAF's own records stay as ANAF wrote them.
pub(crate) fn camel_case_keys(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    // The open containers, innermost last: `true` for an object.
    let mut in_object: Vec<bool> = Vec::new();
    let mut at_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let end = string_end(bytes, i);
                if at_key {
                    let key = &json[i + 1..end - 1];
                    if key == "raw" {
                        // `"raw":` and its value, untouched.
                        let value_end = value_end(bytes, end + 1);
                        out.push_str(&json[i..value_end]);
                        i = value_end;
                    } else {
                        out.push('"');
                        push_camel_case(&mut out, key);
                        out.push('"');
                        i = end;
                    }
                    at_key = false;
                } else {
                    out.push_str(&json[i..end]);
                    i = end;
                }
                continue;
            }
            b'{' => {
                in_object.push(true);
                at_key = true;
            }
            b'[' => in_object.push(false),
            b'}' | b']' => {
                in_object.pop();
            }
            b',' => at_key = in_object.last() == Some(&true),
            _ => {}
        }
        // Outside strings every byte is ASCII.
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

/// `upload_id` -> `uploadId`.
fn push_camel_case(out: &mut String, key: &str) {
    let mut upper = false;
    for c in key.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
}

/// The index just past the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past the value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                if depth == 0 {
                    return i;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return i,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::camel_case_keys;

    /// What the text renaming must equal: the same renaming done on parsed values.
    fn renamed_as_values(value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(renamed_as_values).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        let item = if key == "raw" {
                            item.clone()
                        } else {
                            renamed_as_values(item)
                        };
                        let mut camel = String::new();
                        super::push_camel_case(&mut camel, key);
                        (camel, item)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn check(value: Value) {
        let text = serde_json::to_string(&value).unwrap();
        let renamed = camel_case_keys(&text);
        let parsed: Value = serde_json::from_str(&renamed).unwrap_or_else(|e| panic!("{renamed}: {e}"));
        assert_eq!(parsed, renamed_as_values(&value), "{text} -> {renamed}");
        // Key order is kept (`preserve_order`), so the texts match too.
        assert_eq!(renamed, serde_json::to_string(&renamed_as_values(&value)).unwrap());
    }

    #[test]
    fn keys_become_camel_case_and_values_stay() {
        check(json!({"state": "ok", "download_id": 3000000001u64}));
        check(json!({"upload_id": 1, "sent_at": "2026-12-02T10:00:00Z", "a_b_c": [1, 2.5, -3e-7, true, false, null]}));
        check(json!({}));
        check(json!([]));
        check(json!([{}, [], [[{"x_y": {}}]], {"k_1": []}]));
        check(json!("just_a_string"));
        check(json!(42));
        check(json!(null));
    }

    #[test]
    fn strings_that_look_like_json_are_left_alone() {
        check(json!({"message_text": "{\"not_a_key\": 1}, \"nor_this\":[", "x_y": "a,b:c{d}e[f]"}));
        check(json!({"back_slash": "ends with \\", "quote_q": "\"", "ctl_c": "\u{1}\n\t", "é_ß": "ünïcödé_ok"}));
        check(json!({"weird \"key\"_x": 1, "tab\t_y": 2, "back\\_z": 3, "_lead": 4, "trail_": 5, "dou__ble": 6}));
    }

    #[test]
    fn raw_values_keep_their_keys_wherever_they_are() {
        check(json!({"raw": {"id_solicitare": "1", "nested_obj": {"data_creare": "2"}}, "after_raw": 1}));
        check(json!({"before_raw": [1], "raw": "text_value", "next_key": {"raw": [{"a_b": 1}], "c_d": {"e_f": 2}}}));
        check(json!({"raw": 12, "x_y": 1}));
        check(json!({"raw": null}));
        check(json!({"raw": [[], {}, "}", "]", ",", {"p_q": "\\\""}], "z_z": 0}));
        check(json!({"raw_xml": {"keeps_renaming": 1}, "rawer": {"also_renamed": 2}}));
        check(json!([{"raw": {"a_b": 1}}, {"raw": {"a_b": 2}, "c_d": 3}]));
    }
}
