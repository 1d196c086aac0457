//! Paging and time filters of the instance-actions (2.58) and migrations (2.59) lists,
//! as Nova's query schemas and `get_limit_and_marker` define them: `limit`, `marker`,
//! `changes-since`, `changes-before` (2.66), unknown parameters refused, and the
//! `next` link when a page is full.

use chrono::{DateTime, Utc};
use rustack_common::Error;
use serde_json::{json, Value};

use crate::api::params::{param, Params, MAX_LIMIT};

/// A validated page request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// Page size (at most [`MAX_LIMIT`]).
    pub limit: usize,
    /// The id of the last item of the previous page.
    pub marker: Option<String>,
    /// Only items updated at or after this time.
    pub changes_since: Option<DateTime<Utc>>,
    /// Only items updated at or before this time (2.66).
    pub changes_before: Option<DateTime<Utc>>,
}

fn query_invalid(name: &str, value: &str, why: &str) -> Error {
    Error::bad_request(format!(
        "Invalid input for query parameters {name}. Value: {value}. {why}"
    ))
}

/// A `date-time` query parameter, parsed as oslo's `parse_isotime` accepts it.
pub fn query_time(name: &str, value: &str) -> Result<DateTime<Utc>, Error> {
    rustack_common::time::parse_iso(value)
        .ok_or_else(|| query_invalid(name, value, &format!("'{value}' is not a 'date-time'")))
}

/// A stored time (`2026-01-01T00:00:00.000000`, with or without a zone).
pub fn stored_time(s: &str) -> Option<DateTime<Utc>> {
    rustack_common::time::parse_iso(s)
}

/// Validates the query of a paged list at 2.`minor`: `extra` are the other keys the
/// list accepts; `changes-before` from 2.66. Unknown keys are a 400, as Nova's
/// `additionalProperties: false` query schemas answer.
pub fn page_query(p: &Params, minor: u32, extra: &[&str]) -> Result<PageQuery, Error> {
    let mut allowed = vec!["limit", "marker", "changes-since"];
    if minor >= 66 {
        allowed.push("changes-before");
    }
    allowed.extend_from_slice(extra);
    if let Some((k, _)) = p.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let limit = match param(p, "limit") {
        None => MAX_LIMIT,
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<usize>()
            .map(|n| n.min(MAX_LIMIT))
            .unwrap_or(MAX_LIMIT),
        Some(s) => {
            return Err(query_invalid(
                "limit",
                s,
                &format!("'{s}' does not match '^[0-9]*$'"),
            ))
        }
    };
    let changes_since = param(p, "changes-since")
        .map(|v| query_time("changes-since", v))
        .transpose()?;
    let changes_before = param(p, "changes-before")
        .map(|v| query_time("changes-before", v))
        .transpose()?;
    if let (Some(a), Some(b)) = (changes_since, changes_before) {
        if b < a {
            return Err(Error::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    Ok(PageQuery {
        limit,
        marker: param(p, "marker").map(str::to_owned),
        changes_since,
        changes_before,
    })
}

impl PageQuery {
    /// Whether an item updated at `updated` (stored form) passes the time filters.
    pub fn in_window(&self, updated: Option<&str>) -> bool {
        let t = updated.and_then(stored_time);
        if let Some(since) = self.changes_since {
            if t.is_none_or(|t| t < since) {
                return false;
            }
        }
        if let Some(before) = self.changes_before {
            if t.is_none_or(|t| t > before) {
                return false;
            }
        }
        true
    }

    /// One page of `items` (already filtered and in list order): the items after the
    /// marker, at most `limit`. A marker that names no item is Nova's 400.
    pub fn page<T>(&self, items: Vec<T>, id: impl Fn(&T) -> &str) -> Result<Vec<T>, Error> {
        let start =
            match &self.marker {
                None => 0,
                Some(m) => {
                    items.iter().position(|x| id(x) == m).ok_or_else(|| {
                        Error::bad_request(format!("Marker {m} could not be found."))
                    })? + 1
                }
            };
        Ok(items.into_iter().skip(start).take(self.limit).collect())
    }
}

/// Nova's `_get_collection_links`: a `next` link when the page is full, carrying the
/// request's parameters (sorted) with `marker` set to the last item's id.
pub fn next_links(
    self_base: &str,
    path: &str,
    p: &Params,
    q: &PageQuery,
    count: usize,
    last_id: Option<&str>,
) -> Option<Value> {
    let last = last_id?;
    if q.limit == 0 || count != q.limit {
        return None;
    }
    let mut params: Vec<(String, String)> =
        p.iter().filter(|(k, _)| k != "marker").cloned().collect();
    params.sort();
    params.dedup_by(|a, b| a.0 == b.0);
    params.push(("marker".into(), last.to_string()));
    let qs = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Some(json!([{"rel": "next", "href": format!("{self_base}/{path}?{qs}")}]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_validation() {
        let q = page_query(&p(&[("limit", "2"), ("marker", "m")]), 58, &[]).unwrap();
        assert_eq!((q.limit, q.marker.as_deref()), (2, Some("m")));
        assert_eq!(page_query(&p(&[]), 58, &[]).unwrap().limit, MAX_LIMIT);
        assert_eq!(
            page_query(&p(&[("limit", "5000")]), 58, &[]).unwrap().limit,
            MAX_LIMIT
        );
        for bad in [
            p(&[("limit", "-1")]),
            p(&[("limit", "x")]),
            p(&[("foo", "1")]),
            p(&[("changes-since", "yesterday")]),
            // changes-before arrives at 2.66.
            p(&[("changes-before", "2020-01-01T00:00:00Z")]),
        ] {
            assert_eq!(
                page_query(&bad, 58, &[]).map_err(|e| e.status_code()),
                Err(400),
                "{bad:?}"
            );
        }
        assert!(page_query(&p(&[("changes-before", "2020-01-01T00:00:00Z")]), 66, &[]).is_ok());
        let e = page_query(
            &p(&[
                ("changes-since", "2020-01-02T00:00:00Z"),
                ("changes-before", "2020-01-01T00:00:00Z"),
            ]),
            66,
            &[],
        )
        .unwrap_err();
        assert!(
            e.external_message().contains("changes-since must be less"),
            "{e}"
        );
        assert!(page_query(&p(&[("status", "done")]), 59, &["status"]).is_ok());
    }

    #[test]
    fn paging_and_links() {
        let items = vec!["a", "b", "c"];
        let q = page_query(&p(&[("limit", "2")]), 58, &[]).unwrap();
        let page = q.page(items.clone(), |x| x).unwrap();
        assert_eq!(page, vec!["a", "b"]);
        let link = next_links(
            "http://x/v2.1",
            "things",
            &p(&[("limit", "2")]),
            &q,
            2,
            Some("b"),
        )
        .unwrap();
        assert_eq!(link[0]["href"], "http://x/v2.1/things?limit=2&marker=b");
        let q2 = page_query(&p(&[("limit", "2"), ("marker", "b")]), 58, &[]).unwrap();
        assert_eq!(q2.page(items.clone(), |x| x).unwrap(), vec!["c"]);
        assert!(next_links("http://x/v2.1", "things", &p(&[]), &q2, 1, Some("c")).is_none());
        let q3 = page_query(&p(&[("marker", "zz")]), 58, &[]).unwrap();
        let e = q3.page(items, |x| x).unwrap_err();
        assert_eq!(e.external_message(), "Marker zz could not be found.");
    }

    #[test]
    fn time_window() {
        let q = page_query(&p(&[("changes-since", "2020-01-01T00:00:00Z")]), 58, &[]).unwrap();
        assert!(q.in_window(Some("2020-01-01T00:00:00.000000")));
        assert!(!q.in_window(Some("2019-12-31T23:59:59.000000")));
        assert!(!q.in_window(None));
        assert!(PageQuery::default().in_window(None));
    }
}
