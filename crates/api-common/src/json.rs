//! JSON request bodies parsed with OpenStack-style 400s instead of axum's plain-text 422.

use rustack_common::Error;
use serde::de::DeserializeOwned;

/// Parses `body` as `T`; malformed JSON, wrong types and unknown fields (for types with
/// `deny_unknown_fields`) become a 400 whose message says what was wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::bad_request(
            "The request body is empty; a JSON object was expected.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        if e.is_syntax() || e.is_eof() {
            Error::bad_request(format!("Malformed request body: {msg}"))
        } else {
            Error::bad_request(format!("Invalid input for request body: {msg}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn errors_are_400() {
        assert_eq!(parse_json::<T>(b"").expect_err("e").status_code(), 400);
        assert_eq!(parse_json::<T>(b"{").expect_err("e").status_code(), 400);
        assert_eq!(
            parse_json::<T>(br#"{"a":"x"}"#)
                .expect_err("e")
                .status_code(),
            400
        );
        assert!(parse_json::<T>(br#"{"a":1,"b":2}"#)
            .expect_err("e")
            .external_message()
            .contains("unknown field"));
        assert_eq!(parse_json::<T>(br#"{"a":1}"#).expect("ok").a, 1);
    }
}
