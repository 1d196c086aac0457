//! The oslo.policy rule language: tokenizer, shift-reduce parser and the
//! [`Check`] tree it produces.
//!
//! This is a line-by-line port of `oslo_policy/_parser.py` so that odd inputs
//! parse the way operators' existing policy files expect:
//!
//! * tokens are split on whitespace; leading `(` and trailing `)` are peeled
//!   off each token (so `%(project_id)s` survives), `and`/`or`/`not` are
//!   keywords in any letter case;
//! * the parser is oslo's greedy reducer, which gives `not` the tightest
//!   binding, then `and`, then `or` (`a or b and c` is `a or (b and c)`);
//! * a check without a `:` (other than `@`/`!`) becomes a never-matching check
//!   but the surrounding expression still parses; a token stream that does not
//!   reduce to one check makes the whole rule never match;
//! * the empty string is an always-matching rule, a blank (whitespace-only)
//!   string is an unparsable one.
//!
//! Failures are never errors here: like oslo we fail closed and report what
//! went wrong in [`ParsedRule::issues`] so callers can log it and
//! `Enforcer::validate` can surface it.

use std::fmt;

/// A parsed policy check: the tree oslo.policy builds from a check string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `@` or the empty rule: always passes (oslo `TrueCheck`).
    Always,
    /// `!`, or a check that could not be understood: never passes (oslo
    /// `FalseCheck`).
    Never,
    /// `not <check>`.
    Not(Box<Check>),
    /// `a and b and ...`: passes when every check passes.
    And(Vec<Check>),
    /// `a or b or ...`: passes when any check passes.
    Or(Vec<Check>),
    /// `rule:NAME`: evaluates another registered rule; unknown names fail
    /// (or fall back to the enforcer's default rule, as oslo does).
    Rule(String),
    /// `role:NAME`: passes when the credentials' `roles` contain `NAME`
    /// (case-insensitively). `NAME` may be a `%(key)s` template.
    Role(String),
    /// `KIND:MATCH` for any other kind. `MATCH` is a `%(key)s` template filled
    /// from the target; `KIND` is a Python literal compared directly, or a
    /// dotted path into the credentials.
    Generic {
        /// Left-hand side: a credentials path such as `project_id` or
        /// `token.project.domain.id`, or a literal such as `'member'`/`None`.
        kind: String,
        /// Right-hand side, e.g. `%(target.project.id)s` or `all`.
        value: String,
    },
}

impl fmt::Display for Check {
    /// Renders the check the way oslo's `str()` does, e.g.
    /// `(role:a or (role:b and role:c))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(f: &mut fmt::Formatter<'_>, checks: &[Check], op: &str) -> fmt::Result {
            f.write_str("(")?;
            for (i, c) in checks.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")
        }
        match self {
            Check::Always => f.write_str("@"),
            Check::Never => f.write_str("!"),
            Check::Not(c) => write!(f, "not {c}"),
            Check::And(cs) => join(f, cs, "and"),
            Check::Or(cs) => join(f, cs, "or"),
            Check::Rule(name) => write!(f, "rule:{name}"),
            Check::Role(name) => write!(f, "role:{name}"),
            Check::Generic { kind, value } => write!(f, "{kind}:{value}"),
        }
    }
}

impl Check {
    /// Calls `visit` on every `rule:NAME` reference in the tree.
    pub fn for_each_rule_ref<'a>(&'a self, visit: &mut impl FnMut(&'a str)) {
        match self {
            Check::Rule(name) => visit(name),
            Check::Not(c) => c.for_each_rule_ref(visit),
            Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| c.for_each_rule_ref(visit)),
            Check::Always | Check::Never | Check::Role(_) | Check::Generic { .. } => {}
        }
    }
}

/// Something oslo.policy would log as "Failed to understand rule" (or
/// similar) while parsing. Each issue makes part or all of a rule fail closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseIssue {
    /// The tokens did not reduce to a single check (unbalanced parentheses,
    /// dangling `and`, a quoted string, a blank rule...). The whole rule
    /// never matches.
    Unparsable,
    /// A token that is not `@`, `!` or `KIND:MATCH`. That check never matches.
    MalformedCheck {
        /// The offending token.
        token: String,
    },
    /// An `http:`/`https:` external check (oslo's remote policy plugins),
    /// which rustack does not implement. That check never matches.
    UnsupportedCheck {
        /// The check kind (`http` or `https`).
        kind: String,
    },
}

impl fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseIssue::Unparsable => f.write_str("rule could not be parsed; it never matches"),
            ParseIssue::MalformedCheck { token } => {
                write!(f, "check {token:?} is not KIND:MATCH; it never matches")
            }
            ParseIssue::UnsupportedCheck { kind } => {
                write!(
                    f,
                    "external {kind:?} checks are not supported; the check never matches"
                )
            }
        }
    }
}

/// The result of parsing a check string: the check tree plus anything oslo
/// would have logged while building it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRule {
    /// The check to evaluate (fails closed where parsing failed).
    pub check: Check,
    /// Problems found while parsing; empty for a well-formed rule.
    pub issues: Vec<ParseIssue>,
}

/// Parses a check string in the oslo.policy language (oslo `parse_rule` for
/// a `str`).
pub fn parse_rule(text: &str) -> ParsedRule {
    let mut issues = Vec::new();
    if text.is_empty() {
        return ParsedRule {
            check: Check::Always,
            issues,
        };
    }
    let mut state = ParseState::default();
    for token in tokenize(text, &mut issues) {
        state.shift(token);
    }
    let check = match state.result() {
        Some(check) => check,
        None => {
            issues.push(ParseIssue::Unparsable);
            Check::Never
        }
    };
    ParsedRule { check, issues }
}

/// Parses oslo's legacy list-of-lists rule syntax: the outer list is joined
/// with `or`, each inner list with `and`, and every string is a single check
/// (no operators or parentheses). An empty list always matches.
pub fn parse_list_rule(rule: &[Vec<String>]) -> ParsedRule {
    let mut issues = Vec::new();
    if rule.is_empty() {
        return ParsedRule {
            check: Check::Always,
            issues,
        };
    }
    let mut or_list: Vec<Check> = rule
        .iter()
        .filter(|inner| !inner.is_empty())
        .map(|inner| {
            let mut and_list: Vec<Check> =
                inner.iter().map(|s| parse_check(s, &mut issues)).collect();
            if and_list.len() == 1 {
                and_list.remove(0)
            } else {
                Check::And(and_list)
            }
        })
        .collect();
    let check = match or_list.len() {
        0 => Check::Never,
        1 => or_list.remove(0),
        _ => Check::Or(or_list),
    };
    ParsedRule { check, issues }
}

/// oslo `_parse_check`: one `KIND:MATCH` token to a check.
fn parse_check(token: &str, issues: &mut Vec<ParseIssue>) -> Check {
    match token {
        "!" => return Check::Never,
        "@" => return Check::Always,
        _ => {}
    }
    let Some((kind, value)) = token.split_once(':') else {
        issues.push(ParseIssue::MalformedCheck {
            token: token.to_owned(),
        });
        return Check::Never;
    };
    match kind {
        // oslo.policy ships these as stevedore plugins (remote HTTP calls).
        "http" | "https" => {
            issues.push(ParseIssue::UnsupportedCheck {
                kind: kind.to_owned(),
            });
            Check::Never
        }
        "rule" => Check::Rule(value.to_owned()),
        "role" => Check::Role(value.to_owned()),
        _ => Check::Generic {
            kind: kind.to_owned(),
            value: value.to_owned(),
        },
    }
}

#[derive(Debug)]
enum Token {
    Check(Check),
    AndExpr(Vec<Check>),
    OrExpr(Vec<Check>),
    And,
    Or,
    Not,
    LeftParen,
    RightParen,
    /// A quoted token. oslo's grammar has no rule that consumes it, so its
    /// presence makes the rule unparsable; kept for fidelity.
    Str,
}

/// oslo `_parse_tokenize`.
fn tokenize(rule: &str, issues: &mut Vec<ParseIssue>) -> Vec<Token> {
    let mut tokens = Vec::new();
    for tok in rule.split_whitespace() {
        let clean = tok.trim_start_matches('(');
        for _ in 0..(tok.len() - clean.len()) {
            tokens.push(Token::LeftParen);
        }
        if clean.is_empty() {
            continue;
        }
        let tok = clean;
        let clean = tok.trim_end_matches(')');
        let trail = tok.len() - clean.len();
        match clean.to_lowercase().as_str() {
            "and" => tokens.push(Token::And),
            "or" => tokens.push(Token::Or),
            "not" => tokens.push(Token::Not),
            _ if !clean.is_empty() => {
                // oslo tests the token *with* its trailing parentheses here.
                let quoted = tok.len() >= 2
                    && ((tok.starts_with('"') && tok.ends_with('"'))
                        || (tok.starts_with('\'') && tok.ends_with('\'')));
                if quoted {
                    tokens.push(Token::Str);
                } else {
                    tokens.push(Token::Check(parse_check(clean, issues)));
                }
            }
            _ => {}
        }
        for _ in 0..trail {
            tokens.push(Token::RightParen);
        }
    }
    tokens
}

/// oslo `ParseState`: a greedy shift-reduce parser.
#[derive(Default)]
struct ParseState {
    stack: Vec<Token>,
}

impl ParseState {
    fn shift(&mut self, token: Token) {
        self.stack.push(token);
        while self.reduce_once() {}
    }

    /// Applies the first matching reduction (three-token patterns before
    /// two-token ones, in oslo's order). Returns whether one applied.
    fn reduce_once(&mut self) -> bool {
        use Token as T;
        let n = self.stack.len();
        if n >= 3 {
            let pattern = match (&self.stack[n - 3], &self.stack[n - 2], &self.stack[n - 1]) {
                (T::LeftParen, T::Check(_) | T::AndExpr(_) | T::OrExpr(_), T::RightParen) => {
                    Some(Reduction::Parens)
                }
                (T::Check(_), T::And, T::Check(_)) => Some(Reduction::NewAnd),
                (T::AndExpr(_), T::And, T::Check(_)) => Some(Reduction::ExtendAnd),
                (T::OrExpr(_), T::And, T::Check(_)) => Some(Reduction::OrThenAnd),
                (T::Check(_) | T::AndExpr(_), T::Or, T::Check(_)) => Some(Reduction::NewOr),
                (T::OrExpr(_), T::Or, T::Check(_)) => Some(Reduction::ExtendOr),
                _ => None,
            };
            if let Some(reduction) = pattern {
                let c = self.stack.pop();
                let middle = self.stack.pop();
                let a = self.stack.pop();
                let reduced = match (reduction, a, c) {
                    // `( x )`: the operand is the middle token.
                    (Reduction::Parens, _, _) => middle.and_then(token_check).map(T::Check),
                    (Reduction::NewAnd, Some(T::Check(a)), Some(T::Check(c))) => {
                        Some(T::AndExpr(vec![a, c]))
                    }
                    (Reduction::ExtendAnd, Some(T::AndExpr(mut v)), Some(T::Check(c))) => {
                        v.push(c);
                        Some(T::AndExpr(v))
                    }
                    (Reduction::OrThenAnd, Some(T::OrExpr(mut v)), Some(T::Check(c))) => {
                        // `a or b and c`: `and` binds tighter, so it takes the
                        // last operand of the `or`.
                        let and = match v.pop() {
                            Some(Check::And(mut inner)) => {
                                inner.push(c);
                                Check::And(inner)
                            }
                            Some(last) => Check::And(vec![last, c]),
                            None => Check::And(vec![c]),
                        };
                        v.push(and);
                        Some(T::OrExpr(v))
                    }
                    (Reduction::NewOr, Some(T::Check(a)), Some(T::Check(c))) => {
                        Some(T::OrExpr(vec![a, c]))
                    }
                    (Reduction::NewOr, Some(T::AndExpr(a)), Some(T::Check(c))) => {
                        Some(T::OrExpr(vec![Check::And(a), c]))
                    }
                    (Reduction::ExtendOr, Some(T::OrExpr(mut v)), Some(T::Check(c))) => {
                        v.push(c);
                        Some(T::OrExpr(v))
                    }
                    _ => None,
                };
                match reduced {
                    Some(token) => {
                        self.stack.push(token);
                        return true;
                    }
                    // Unreachable given the pattern match above; leave the
                    // stack in a state `result()` rejects rather than panic.
                    None => {
                        self.stack.clear();
                        self.stack.push(T::Str);
                        return false;
                    }
                }
            }
        }
        if n >= 2
            && matches!(
                (&self.stack[n - 2], &self.stack[n - 1]),
                (T::Not, T::Check(_))
            )
        {
            if let Some(T::Check(c)) = self.stack.pop() {
                self.stack.pop();
                self.stack.push(T::Check(Check::Not(Box::new(c))));
                return true;
            }
        }
        false
    }

    /// The single check the stack reduced to, if it did.
    fn result(mut self) -> Option<Check> {
        if self.stack.len() != 1 {
            return None;
        }
        self.stack.pop().and_then(token_check)
    }
}

#[derive(Clone, Copy)]
enum Reduction {
    Parens,
    NewAnd,
    ExtendAnd,
    OrThenAnd,
    NewOr,
    ExtendOr,
}

/// The check a reduced token stands for (`None` for operators/strings).
fn token_check(token: Token) -> Option<Check> {
    match token {
        Token::Check(c) => Some(c),
        Token::AndExpr(v) => Some(Check::And(v)),
        Token::OrExpr(v) => Some(Check::Or(v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(rule: &str) -> String {
        parse_rule(rule).check.to_string()
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(
            show("role:a or role:b and role:c"),
            "(role:a or (role:b and role:c))"
        );
        assert_eq!(
            show("role:a and role:b or role:c"),
            "((role:a and role:b) or role:c)"
        );
        assert_eq!(
            show("role:a and role:b or role:c and role:d"),
            "((role:a and role:b) or (role:c and role:d))"
        );
        assert_eq!(show("not role:a and role:b"), "(not role:a and role:b)");
        assert_eq!(show("role:a and not role:b"), "(role:a and not role:b)");
        assert_eq!(
            show("NOT role:a AND role:b OR role:c"),
            "((not role:a and role:b) or role:c)"
        );
    }

    #[test]
    fn parentheses_group_and_nest() {
        assert_eq!(
            show("(role:a or role:b) and role:c"),
            "((role:a or role:b) and role:c)"
        );
        assert_eq!(show("((role:a))"), "role:a");
        assert_eq!(show("( role:a )"), "role:a");
        assert_eq!(show("not (role:a or role:b)"), "not (role:a or role:b)");
        assert_eq!(
            show("role:a or (role:b and role:c) and role:d"),
            "(role:a or (role:b and role:c and role:d))"
        );
        // The `%(...)s` parentheses are part of the check, not grouping.
        assert_eq!(
            parse_rule("(project_id:%(target.project.id)s)").check,
            Check::Generic {
                kind: "project_id".into(),
                value: "%(target.project.id)s".into()
            }
        );
    }

    #[test]
    fn special_checks_and_kinds() {
        assert_eq!(parse_rule("").check, Check::Always);
        assert_eq!(parse_rule("@").check, Check::Always);
        assert_eq!(parse_rule("!").check, Check::Never);
        assert_eq!(
            parse_rule("rule:admin_required").check,
            Check::Rule("admin_required".into())
        );
        assert_eq!(parse_rule("role:Admin").check, Check::Role("Admin".into()));
        // Only the first colon separates kind from match.
        assert_eq!(
            parse_rule("a:b:c").check,
            Check::Generic {
                kind: "a".into(),
                value: "b:c".into()
            }
        );
        for rule in ["", "@", "!", "role:x", "rule:y", "is_admin:1"] {
            assert!(parse_rule(rule).issues.is_empty(), "{rule}");
        }
    }

    #[test]
    fn malformed_rules_fail_closed_with_issues() {
        for rule in [
            " ",
            "role:a or",
            "and role:a",
            "(role:a",
            "role:a)",
            "()",
            "not",
            "'quoted'",
        ] {
            let parsed = parse_rule(rule);
            assert_eq!(parsed.check, Check::Never, "{rule:?}");
            assert!(parsed.issues.contains(&ParseIssue::Unparsable), "{rule:?}");
        }
        // A quoted token anywhere makes the whole rule unparsable.
        assert_eq!(parse_rule("role:a or \"quoted\"").check, Check::Never);
        // A token without a colon only poisons itself.
        let parsed = parse_rule("role:a or noColon");
        assert_eq!(parsed.check.to_string(), "(role:a or !)");
        assert_eq!(
            parsed.issues,
            vec![ParseIssue::MalformedCheck {
                token: "noColon".into()
            }]
        );
    }

    #[test]
    fn external_checks_are_reported_unsupported() {
        let parsed = parse_rule("role:admin or http://policy.example.com/check");
        assert_eq!(parsed.check.to_string(), "(role:admin or !)");
        assert_eq!(
            parsed.issues,
            vec![ParseIssue::UnsupportedCheck {
                kind: "http".into()
            }]
        );
    }

    #[test]
    fn list_syntax() {
        let s = |v: &[&[&str]]| -> Vec<Vec<String>> {
            v.iter()
                .map(|i| i.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        assert_eq!(parse_list_rule(&[]).check, Check::Always);
        assert_eq!(parse_list_rule(&s(&[&[]])).check, Check::Never);
        assert_eq!(
            parse_list_rule(&s(&[&["role:a"]])).check.to_string(),
            "role:a"
        );
        assert_eq!(
            parse_list_rule(&s(&[&["role:a", "role:b"], &["role:c"]]))
                .check
                .to_string(),
            "((role:a and role:b) or role:c)"
        );
        // No operator parsing inside list entries.
        let parsed = parse_list_rule(&s(&[&["role:a or role:b"]]));
        assert_eq!(parsed.check, Check::Role("a or role:b".into()));
    }

    #[test]
    fn rule_refs_are_visited() {
        let parsed = parse_rule("rule:a or (role:x and not rule:b)");
        let mut refs = Vec::new();
        parsed.check.for_each_rule_ref(&mut |r| refs.push(r));
        assert_eq!(refs, ["a", "b"]);
    }

    /// Every parse case in the golden file matches oslo's `str()` of the
    /// parsed tree and whether oslo logged a failure.
    #[test]
    fn parses_like_oslo() {
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../testdata/oslo_golden.json")).expect("golden");
        let cases = golden["parse"].as_array().expect("parse cases");
        assert!(cases.len() > 30);
        for case in cases {
            let rule = case["rule"].as_str().expect("rule");
            let parsed = parse_rule(rule);
            assert_eq!(
                parsed.check.to_string(),
                case["str"].as_str().expect("str"),
                "{rule:?}"
            );
            assert_eq!(
                !parsed.issues.is_empty(),
                case["logged"].as_bool().expect("logged"),
                "{rule:?}: {:?}",
                parsed.issues
            );
        }
    }
}
