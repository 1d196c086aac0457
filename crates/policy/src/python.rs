//! The small slice of Python semantics that oslo.policy's checks depend on.
//!
//! oslo.policy is written in Python and its checks lean on three Python
//! behaviours that we must reproduce byte for byte, because operators' policy
//! files were written against them:
//!
//! * `str(value)`: a generic check compares strings, so `True`, `None`, `1`
//!   and `1.0` in credentials or targets are rendered the Python way
//!   (`is_admin:1` does *not* match a boolean `true`, it matches the number 1;
//!   `None:%(x)s` matches a JSON `null`).
//! * `ast.literal_eval(kind)`: the left-hand side of a generic check may be a
//!   Python literal (`'member':%(role.name)s`, `True:%(enabled)s`,
//!   `None:%(domain_id)s`), in which case it is compared instead of looked up.
//! * `match % target`: the right-hand side is a printf-style template filled
//!   from the target mapping (`%(target.user.id)s`); a missing key makes the
//!   check fail rather than raise.
//!
//! Only JSON-representable values exist here, so the mapping is small. Where a
//! Python construct has no JSON counterpart (tuples, sets, bytes, complex
//! numbers) we do not emulate it; see the individual functions.

use serde_json::{Map, Value};

/// Python's `str()` of a JSON value.
pub(crate) fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value (how values print inside containers).
pub(crate) fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                n.as_f64()
                    .map(py_float_repr)
                    .unwrap_or_else(|| n.to_string())
            }
        }
        Value::String(s) => py_repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `repr()` of a `str`: single quotes unless the text contains a
/// single quote and no double quote.
pub(crate) fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr()` of a `float`.
///
/// Both Python and Rust print the shortest text that round-trips and switch to
/// exponent notation outside `1e-4 <= |x| < 1e16`; only the exponent spelling
/// differs (`1e+16`/`1e-05` in Python, `1e16`/`1e-5` in Rust).
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let rust = format!("{f:?}");
    match rust.split_once('e') {
        None => rust,
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

/// Python truthiness of a JSON value (`bool(value)`).
pub(crate) fn py_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `str(ast.literal_eval(text))` when `text` is a Python literal that oslo
/// policy files use: `None`, `True`, `False`, string literals (with optional
/// `u`/`r` prefix, implicit concatenation and the common escapes) and
/// int/float numbers with an optional sign.
///
/// Returns `None` when `text` is not such a literal; oslo then treats the
/// text as a dotted path into the credentials. (oslo gets a `ValueError` for
/// names and attribute paths such as `token.project.domain.id`, and a
/// `SyntaxError`, which it does not catch, for garbage such as `1abc`; we
/// treat the latter as a path too, which simply never matches.) Tuples,
/// lists, dicts, sets, bytes and complex numbers are not recognised.
pub(crate) fn literal_str(text: &str) -> Option<String> {
    match text {
        "None" | "True" | "False" => return Some(text.to_owned()),
        _ => {}
    }
    let first = text.chars().next()?;
    if matches!(first, '\'' | '"' | 'u' | 'U' | 'r' | 'R') {
        if let Some(s) = string_literals(text) {
            return Some(s);
        }
    }
    number_literal(text)
}

/// Parses one or more adjacent Python string literals.
fn string_literals(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (raw, after_prefix) = match rest.as_bytes().first()? {
            b'u' | b'U' => (false, &rest[1..]),
            b'r' | b'R' => (true, &rest[1..]),
            _ => (false, rest),
        };
        let quote = after_prefix.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let triple = format!("{quote}{quote}{quote}");
        let (delim, body_start) = if after_prefix.starts_with(&triple) {
            (triple.as_str(), &after_prefix[3..])
        } else {
            (&after_prefix[..1], &after_prefix[1..])
        };
        let (content, remaining) = scan_string_body(body_start, delim, raw)?;
        out.push_str(&content);
        rest = remaining;
    }
    Some(out)
}

/// Scans a string body up to the closing delimiter, processing escapes.
/// Returns the decoded content and the text after the closing delimiter.
fn scan_string_body<'a>(body: &'a str, delim: &str, raw: bool) -> Option<(String, &'a str)> {
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if body[i..].starts_with(delim) {
            return Some((out, &body[i + delim.len()..]));
        }
        if c == '\\' {
            let (_, next) = chars.next()?;
            if raw {
                out.push('\\');
                out.push(next);
                continue;
            }
            match next {
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\n' => {}
                'x' | 'u' | 'U' => {
                    let len = match next {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut hex = String::new();
                    for _ in 0..len {
                        hex.push(chars.next()?.1);
                    }
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(code)?);
                }
                // Python keeps unknown escapes verbatim.
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else if c == '\n' && delim.len() == 1 {
            // A single-quoted literal cannot span lines.
            return None;
        } else {
            out.push(c);
        }
    }
    None
}

/// Parses a Python int or float literal with an optional leading sign and
/// returns Python's `str()` of it.
fn number_literal(text: &str) -> Option<String> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let first = body.chars().next()?;
    if !(first.is_ascii_digit() || first == '.') {
        return None;
    }
    if let Some(value) = int_literal(body) {
        let value = if negative { -value } else { value };
        return Some(value.to_string());
    }
    let f = float_literal(body)?;
    Some(py_float_repr(if negative { -f } else { f }))
}

/// Validates Python's digit-group rule: digits separated by single
/// underscores, no leading or trailing underscore.
fn strip_underscores(digits: &str, radix: u32) -> Option<String> {
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    cleaned
        .chars()
        .all(|c| c.is_digit(radix))
        .then_some(cleaned)
}

fn int_literal(body: &str) -> Option<i128> {
    let lower = body.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            // Python allows one underscore right after the base prefix.
            let rest = rest.strip_prefix('_').unwrap_or(rest);
            let digits = strip_underscores(rest, radix)?;
            return i128::from_str_radix(&digits, radix).ok();
        }
    }
    let digits = strip_underscores(body, 10)?;
    // Python 3 rejects leading zeros on non-zero decimal integers.
    if digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
        return None;
    }
    digits.parse().ok()
}

fn float_literal(body: &str) -> Option<f64> {
    let lower = body.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if exponent.is_none() && frac_part.is_none() {
        return None;
    }
    let mut cleaned = String::new();
    if !int_part.is_empty() {
        cleaned.push_str(&strip_underscores(int_part, 10)?);
    }
    if let Some(frac) = frac_part {
        cleaned.push('.');
        if !frac.is_empty() {
            cleaned.push_str(&strip_underscores(frac, 10)?);
        }
    }
    if int_part.is_empty() && matches!(frac_part, None | Some("")) {
        return None;
    }
    if let Some(exp) = exponent {
        let (sign, digits) = match exp.as_bytes().first()? {
            b'-' => ("-", &exp[1..]),
            b'+' => ("", &exp[1..]),
            _ => ("", exp),
        };
        cleaned.push('e');
        cleaned.push_str(sign);
        cleaned.push_str(&strip_underscores(digits, 10)?);
    }
    cleaned.parse().ok()
}

/// Why a `%`-template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormatError {
    /// A `%(key)s` names a key the target does not have (Python `KeyError`);
    /// oslo turns this into a failed check.
    MissingKey(String),
    /// The template is malformed or uses a conversion we do not support
    /// (Python `ValueError`/`TypeError`, which oslo does not catch).
    Invalid(String),
}

/// Python's `template % target` for a mapping `target`.
///
/// Supports `%%` and `%(key)<flags><width>.<precision><conv>` with conversions
/// `s`, `r`, `a`, `d`, `i` and `u`. Keys are looked up with [`target_lookup`].
pub(crate) fn percent_format(template: &str, target: &Value) -> Result<String, FormatError> {
    if !template.contains('%') {
        return Ok(template.to_owned());
    }
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('(') => {
                // Python allows balanced parentheses inside the key.
                let mut depth = 1;
                let mut key = String::new();
                loop {
                    let k = chars
                        .next()
                        .ok_or_else(|| FormatError::Invalid("incomplete format key".to_owned()))?;
                    match k {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    key.push(k);
                }
                let mut left = false;
                while let Some(&f) = chars.peek() {
                    if !matches!(f, '-' | '+' | ' ' | '#' | '0') {
                        break;
                    }
                    left |= f == '-';
                    chars.next();
                }
                let mut width = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    width.push(d);
                    chars.next();
                }
                let mut precision: Option<String> = None;
                if chars.peek() == Some(&'.') {
                    chars.next();
                    let mut p = String::new();
                    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        p.push(d);
                        chars.next();
                    }
                    precision = Some(p);
                }
                // Length modifiers are accepted and ignored by Python.
                while matches!(chars.peek(), Some('h' | 'l' | 'L')) {
                    chars.next();
                }
                let conv = chars
                    .next()
                    .ok_or_else(|| FormatError::Invalid("incomplete format".to_owned()))?;
                let value = target_lookup(target, &key).ok_or(FormatError::MissingKey(key))?;
                let mut text = match conv {
                    's' => py_str(value),
                    'r' | 'a' => py_repr(value),
                    'd' | 'i' | 'u' => python_int(value).ok_or_else(|| {
                        FormatError::Invalid(format!("%{conv} format: a number is required"))
                    })?,
                    other => {
                        return Err(FormatError::Invalid(format!(
                            "unsupported format character '{other}'"
                        )))
                    }
                };
                if let (Some(p), 's' | 'r' | 'a') = (&precision, conv) {
                    let max: usize = p.parse().unwrap_or(0);
                    text = text.chars().take(max).collect();
                }
                let width: usize = width.parse().unwrap_or(0);
                let len = text.chars().count();
                if len < width {
                    let pad = " ".repeat(width - len);
                    text = if left { text + &pad } else { pad + &text };
                }
                out.push_str(&text);
            }
            // A positional `%s` against a mapping, or a lone trailing `%`.
            Some(other) => {
                return Err(FormatError::Invalid(format!(
                    "unsupported positional format '%{other}'"
                )))
            }
            None => return Err(FormatError::Invalid("incomplete format".to_owned())),
        }
    }
    Ok(out)
}

fn python_int(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                // `'%d' % 2.7` truncates toward zero.
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| format!("{:.0}", f.trunc()))
            }
        }
        _ => None,
    }
}

/// Looks a `%(key)s` key up in the target.
///
/// oslo does `match % target`, i.e. `target[key]` with the key taken
/// literally, so an exact key always wins (that is how keystone's flattened
/// targets such as `{"target.user.id": ...}` work). Callers may instead pass
/// a nested target (`{"target": {"user": {"id": ...}}}`); then the dotted key
/// is resolved through nested objects exactly as keystone's `flatten_dict`
/// would have flattened it: only non-object leaves are addressable that way.
pub(crate) fn target_lookup<'a>(target: &'a Value, key: &str) -> Option<&'a Value> {
    let map = target.as_object()?;
    if let Some(v) = map.get(key) {
        return Some(v);
    }
    nested_lookup(map, key)
}

fn nested_lookup<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    for (i, _) in key.match_indices('.') {
        let (prefix, rest) = (&key[..i], &key[i + 1..]);
        if let Some(Value::Object(inner)) = map.get(prefix) {
            if let Some(v) = inner.get(rest).filter(|v| !v.is_object()) {
                return Some(v);
            }
            if let Some(v) = nested_lookup(inner, rest) {
                return Some(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_and_repr_match_python() {
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(1)), "1");
        assert_eq!(py_str(&json!(-3)), "-3");
        assert_eq!(py_str(&json!(1.0)), "1.0");
        assert_eq!(py_str(&json!(1e16)), "1e+16");
        assert_eq!(py_str(&json!(1e-5)), "1e-05");
        assert_eq!(py_str(&json!(0.0001)), "0.0001");
        assert_eq!(py_str(&json!(1.5e300)), "1.5e+300");
        assert_eq!(py_str(&json!("abc")), "abc");
        assert_eq!(py_str(&json!(["a", 1, null])), "['a', 1, None]");
        assert_eq!(py_str(&json!({"a": [true]})), "{'a': [True]}");
        assert_eq!(py_repr_str("it's"), "\"it's\"");
        assert_eq!(py_repr_str("a'\"b"), "'a\\'\"b'");
    }

    #[test]
    fn literals_match_python() {
        assert_eq!(literal_str("None").as_deref(), Some("None"));
        assert_eq!(literal_str("True").as_deref(), Some("True"));
        assert_eq!(literal_str("'member'").as_deref(), Some("member"));
        assert_eq!(literal_str("\"member\"").as_deref(), Some("member"));
        assert_eq!(literal_str("u'x'").as_deref(), Some("x"));
        assert_eq!(literal_str("'a''b'").as_deref(), Some("ab"));
        assert_eq!(literal_str("'a\\'b'").as_deref(), Some("a'b"));
        assert_eq!(literal_str("r'a\\n'").as_deref(), Some("a\\n"));
        assert_eq!(literal_str("1").as_deref(), Some("1"));
        assert_eq!(literal_str("-1").as_deref(), Some("-1"));
        assert_eq!(literal_str("1_000").as_deref(), Some("1000"));
        assert_eq!(literal_str("0x1F").as_deref(), Some("31"));
        assert_eq!(literal_str("1.50").as_deref(), Some("1.5"));
        assert_eq!(literal_str("1e3").as_deref(), Some("1000.0"));
        assert_eq!(literal_str(".5").as_deref(), Some("0.5"));
        assert_eq!(literal_str("5.").as_deref(), Some("5.0"));
        for not_literal in [
            "is_admin",
            "token.project.domain.id",
            "system_scope",
            "007",
            "1abc",
            "'unterminated",
            "'a'b'",
            "none",
            "role",
            "-x",
            ".",
        ] {
            assert_eq!(literal_str(not_literal), None, "{not_literal}");
        }
    }

    #[test]
    fn percent_format_matches_python() {
        let target = json!({
            "project_id": "p1",
            "flag": true,
            "none": null,
            "n": 5,
            "target.user.id": "flat",
            "target": {"project": {"id": "nested", "tags": ["a"]}, "user": {"id": "shadowed"}},
        });
        let f = |s: &str| percent_format(s, &target);
        assert_eq!(f("plain"), Ok("plain".to_owned()));
        assert_eq!(f("%(project_id)s"), Ok("p1".to_owned()));
        assert_eq!(f("x-%(project_id)s-%%"), Ok("x-p1-%".to_owned()));
        assert_eq!(f("%(flag)s"), Ok("True".to_owned()));
        assert_eq!(f("%(none)s"), Ok("None".to_owned()));
        assert_eq!(f("%(n)d"), Ok("5".to_owned()));
        assert_eq!(f("%(project_id)r"), Ok("'p1'".to_owned()));
        assert_eq!(f("%(project_id)4s"), Ok("  p1".to_owned()));
        assert_eq!(f("%(project_id)-4s|"), Ok("p1  |".to_owned()));
        assert_eq!(f("%(project_id).1s"), Ok("p".to_owned()));
        assert_eq!(f("%(target.user.id)s"), Ok("flat".to_owned()));
        assert_eq!(f("%(target.project.id)s"), Ok("nested".to_owned()));
        assert_eq!(f("%(target.project.tags)s"), Ok("['a']".to_owned()));
        assert_eq!(
            f("%(target.project)s"),
            Err(FormatError::MissingKey("target.project".to_owned()))
        );
        assert_eq!(
            f("%(missing)s"),
            Err(FormatError::MissingKey("missing".to_owned()))
        );
        assert!(matches!(f("%s"), Err(FormatError::Invalid(_))));
        assert!(matches!(f("50%"), Err(FormatError::Invalid(_))));
        assert!(matches!(f("%(project_id)d"), Err(FormatError::Invalid(_))));
        assert!(matches!(f("%(project_id)"), Err(FormatError::Invalid(_))));
    }

    #[test]
    fn nested_lookup_handles_dotted_keys_inside_objects() {
        let target = json!({"target": {"role.name": "x", "a": {"b.c": 1}}});
        assert_eq!(
            target_lookup(&target, "target.role.name"),
            Some(&json!("x"))
        );
        assert_eq!(target_lookup(&target, "target.a.b.c"), Some(&json!(1)));
        assert_eq!(target_lookup(&json!(null), "x"), None);
    }

    #[test]
    fn truthiness() {
        assert!(!py_truthy(&json!(null)));
        assert!(!py_truthy(&json!("")));
        assert!(!py_truthy(&json!(0)));
        assert!(py_truthy(&json!("all")));
        assert!(py_truthy(&json!([1])));
    }
}
