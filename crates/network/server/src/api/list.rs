//! Neutron's list semantics over rendered documents: attribute filters (repeated values
//! OR-ed; `fixed_ips=ip_address=...`, `fixed_ips=ip_address_substr=...`), tag filters (`tags`, `tags-any`, `not-tags`,
//! `not-tags-any`), `fields=`, `sort_key`/`sort_dir`, and `limit`/`marker`/`page_reverse`
//! pagination with `next`/`previous` links.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::{NResult, NeutronError};

const RESERVED: &[&str] = &[
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

fn values<'a>(params: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn scalar_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => rustack_network_api::attrs::to_bool(&json!(want)) == Some(*b),
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want.eq_ignore_ascii_case("none"),
        Value::Array(a) => a.iter().any(|x| scalar_matches(x, want)),
        Value::Object(_) => false,
    }
}

fn matches(doc: &Value, key: &str, want: &str) -> bool {
    if key == "fixed_ips" {
        // `fixed_ips=ip_address=10.0.0.3` / `fixed_ips=subnet_id=...` /
        // `fixed_ips=ip_address_substr=10.0.0` (`ip-substring-filtering`).
        let (k, v) = want.split_once('=').unwrap_or(("ip_address", want));
        return doc[key].as_array().is_some_and(|ips| {
            ips.iter().any(|ip| match k {
                "ip_address_substr" => ip
                    .get("ip_address")
                    .and_then(Value::as_str)
                    .is_some_and(|a| a.contains(v)),
                _ => ip.get(k).and_then(Value::as_str) == Some(v),
            })
        });
    }
    doc.get(key).is_some_and(|v| scalar_matches(v, want))
}

fn tag_set(doc: &Value) -> Vec<&str> {
    doc["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn split_tags<'a>(params: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    values(params, key)
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|t| !t.is_empty())
        .collect()
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Keeps only the requested `fields` (all if none were asked for).
pub(crate) fn select_fields(doc: Value, params: &[(String, String)]) -> Value {
    let fields: Vec<&str> = values(params, "fields")
        .into_iter()
        .flat_map(|f| f.split(','))
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return doc;
    }
    match doc {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

fn link(url: &str, params: &[(String, String)], marker: &str, reverse: bool) -> String {
    let mut q: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "marker" && k != "page_reverse")
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    q.push(format!("marker={}", enc(marker)));
    if reverse {
        q.push("page_reverse=True".into());
    }
    format!("{url}?{}", q.join("&"))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Applies filters, sorting, pagination and `fields` to `docs`; returns the page and the
/// `<collection>_links` value when paginating.
pub(crate) fn apply(
    docs: Vec<Value>,
    params: &[(String, String)],
    url: &str,
) -> NResult<(Vec<Value>, Option<Value>)> {
    // Attribute filters: only attributes the resource has (unknown ones are ignored,
    // as Neutron does without `filter-validation`).
    let mut filters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        if !RESERVED.contains(&k.as_str()) {
            filters.entry(k.as_str()).or_default().push(v.as_str());
        }
    }
    let known = |k: &str| docs.iter().any(|d| d.get(k).is_some());
    let filters: Vec<(&str, Vec<&str>)> = filters.into_iter().filter(|(k, _)| known(k)).collect();
    let (all, any, not_all, not_any) = (
        split_tags(params, "tags"),
        split_tags(params, "tags-any"),
        split_tags(params, "not-tags"),
        split_tags(params, "not-tags-any"),
    );
    // `standard-attr-timestamp`: resources updated at or after `changed_since`.
    let since = match values(params, "changed_since").first() {
        None => None,
        Some(t) => Some(rustack_common::time::parse_iso(t).ok_or_else(|| {
            NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for operation: The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SS ('{t}' is not)."),
            )
        })?),
    };
    let mut items: Vec<Value> = docs
        .into_iter()
        .filter(|d| match since {
            None => true,
            Some(t) => d["updated_at"]
                .as_str()
                .and_then(rustack_common::time::parse_iso)
                .is_some_and(|u| u >= t),
        })
        .filter(|d| {
            filters
                .iter()
                .all(|(k, wants)| wants.iter().any(|w| matches(d, k, w)))
        })
        .filter(|d| {
            let tags = tag_set(d);
            (all.is_empty() || all.iter().all(|t| tags.contains(t)))
                && (any.is_empty() || any.iter().any(|t| tags.contains(t)))
                && (not_all.is_empty() || !not_all.iter().all(|t| tags.contains(t)))
                && (not_any.is_empty() || !not_any.iter().any(|t| tags.contains(t)))
        })
        .collect();

    let keys = values(params, "sort_key");
    let dirs = values(params, "sort_dir");
    for d in &dirs {
        if *d != "asc" && *d != "desc" {
            return Err(NeutronError::bad(
                "HTTPBadRequest",
                format!(
                    "{d} is invalid attribute for sort_dir, the valid values are ['asc', 'desc']"
                ),
            ));
        }
    }
    if !keys.is_empty() {
        items.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let ord = cmp_values(
                    a.get(*k).unwrap_or(&Value::Null),
                    b.get(*k).unwrap_or(&Value::Null),
                );
                let ord = if dirs.get(i) == Some(&"desc") {
                    ord.reverse()
                } else {
                    ord
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }

    let limit = match values(params, "limit").first() {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(0) => None,
            _ => {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!("Invalid input for operation: '{l}' should be non-negative."),
                ))
            }
        },
    };
    let reverse = values(params, "page_reverse")
        .first()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let marker = values(params, "marker").first().map(|m| m.to_string());
    let mut links = None;
    if let Some(limit) = limit {
        if reverse {
            items.reverse();
        }
        let start = match &marker {
            Some(m) => items
                .iter()
                .position(|d| d.get("id").and_then(Value::as_str) == Some(m.as_str()))
                .map(|p| p + 1)
                .unwrap_or(0),
            None => 0,
        };
        let total = items.len();
        let mut page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
        let more = start + page.len() < total;
        let first = page
            .first()
            .and_then(|d| d["id"].as_str())
            .map(str::to_owned);
        let last = page
            .last()
            .and_then(|d| d["id"].as_str())
            .map(str::to_owned);
        if reverse {
            page.reverse();
        }
        let mut l = Vec::new();
        let (next_m, prev_m) = if reverse {
            (first.clone(), last.clone())
        } else {
            (last.clone(), first.clone())
        };
        if more {
            if let Some(m) = if reverse { &first } else { &next_m } {
                l.push(json!({"rel": if reverse { "previous" } else { "next" }, "href": link(url, params, m, reverse)}));
            }
        }
        if marker.is_some() {
            if let Some(m) = prev_m {
                l.push(json!({"rel": if reverse { "next" } else { "previous" }, "href": link(url, params, &m, !reverse)}));
            }
        }
        links = Some(Value::Array(l));
        items = page;
    }
    let items = items
        .into_iter()
        .map(|d| select_fields(d, params))
        .collect();
    Ok((items, links))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect()
    }

    #[test]
    fn filters_sort_page_fields() {
        let docs: Vec<Value> = (0..5)
            .map(|i| json!({"id": format!("id{i}"), "name": format!("n{}", 4 - i), "shared": i % 2 == 0, "tags": if i == 1 {json!(["a","b"])} else {json!([])}}))
            .collect();
        let (r, _) = apply(docs.clone(), &p(&[("shared", "True")]), "u").expect("ok");
        assert_eq!(r.len(), 3);
        let (r, _) = apply(
            docs.clone(),
            &p(&[("sort_key", "name"), ("sort_dir", "asc"), ("fields", "id")]),
            "u",
        )
        .expect("ok");
        assert_eq!(r[0], json!({"id": "id4"}));
        let (r, links) = apply(docs.clone(), &p(&[("limit", "2")]), "u").expect("ok");
        assert_eq!(r.len(), 2);
        assert!(links.expect("links")[0]["href"]
            .as_str()
            .expect("href")
            .contains("marker=id1"));
        let (r, _) =
            apply(docs.clone(), &p(&[("limit", "2"), ("marker", "id1")]), "u").expect("ok");
        assert_eq!(r[0]["id"], "id2");
        let (r, _) = apply(docs.clone(), &p(&[("tags", "a,b")]), "u").expect("ok");
        assert_eq!(r.len(), 1);
        let (r, _) = apply(docs.clone(), &p(&[("unknown_attr", "x")]), "u").expect("ok");
        assert_eq!(r.len(), 5);
        let stamped = vec![
            json!({"id": "a", "updated_at": "2026-01-01T00:00:00Z"}),
            json!({"id": "b", "updated_at": "2026-03-01T00:00:00Z"}),
        ];
        let (r, _) = apply(
            stamped.clone(),
            &p(&[("changed_since", "2026-02-01T00:00:00")]),
            "u",
        )
        .expect("ok");
        assert_eq!(r, vec![stamped[1].clone()]);
        assert!(apply(stamped, &p(&[("changed_since", "yesterday")]), "u").is_err());
    }
}
