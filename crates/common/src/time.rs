//! Time formatting as OpenStack services render it.

use chrono::{DateTime, SecondsFormat, Utc};

/// Keystone's `isotime(subsecond=True)`: `2015-11-05T22:00:11.000000Z`.
pub fn isotime_micro(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Second-precision ISO 8601 with `Z`, as Nova and Glance render timestamps.
pub fn isotime_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an ISO 8601 timestamp as clients send them (`Z`, an offset, or none = UTC;
/// with or without fractional seconds).
pub fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let t = parse_iso("2015-11-05T22:00:11Z").expect("parse");
        assert_eq!(isotime_micro(t), "2015-11-05T22:00:11.000000Z");
        assert_eq!(isotime_seconds(t), "2015-11-05T22:00:11Z");
        assert_eq!(
            parse_iso("2015-11-05T22:00:11.123456"),
            parse_iso("2015-11-05T22:00:11.123456Z")
        );
        assert!(parse_iso("yesterday").is_none());
    }
}
