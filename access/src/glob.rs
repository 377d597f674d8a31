//! The one wildcard syntax of policies: `*` (any run of characters, possibly empty) and
//! `?` (exactly one character). `*` crosses `/`, as in AWS IAM resource patterns, so
//! `secret/prod/*` covers the whole `prod/` tree and `/opt/app/*` every file below
//! `/opt/app`. `[`, `]`, `{`, `}` and `\` are refused so nobody mistakes them for classes,
//! alternations or escapes; every other character (`.` included) is literal.

use std::fmt;

use crate::PolicyError;

const REFUSED: [char; 5] = ['[', ']', '{', '}', '\\'];

/// A checked wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// Checks `pattern`: not empty, no refused metacharacters.
    pub fn parse(pattern: &str) -> Result<Self, PolicyError> {
        if pattern.is_empty() {
            return Err(PolicyError::BadGlob {
                given: String::new(),
                why: "empty pattern".to_owned(),
            });
        }
        if let Some(c) = pattern.chars().find(|c| REFUSED.contains(c)) {
            return Err(PolicyError::BadGlob {
                given: pattern.to_owned(),
                why: format!("{c:?} is not supported; only * and ? are wildcards"),
            });
        }
        Ok(Glob(pattern.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` matches the whole pattern. Works on bytes when both are ASCII (the
    /// usual case: no allocation), else on characters, so `?` is always one character.
    pub fn matches(&self, text: &str) -> bool {
        if self.0.is_ascii() && text.is_ascii() {
            wildcard_match(self.0.as_bytes(), text.as_bytes(), b'*', b'?')
        } else {
            let pat: Vec<char> = self.0.chars().collect();
            let txt: Vec<char> = text.chars().collect();
            wildcard_match(&pat, &txt, '*', '?')
        }
    }
}

/// Backtracks only to the last `*`: O(pattern × text) at worst, no recursion.
fn wildcard_match<T: Copy + PartialEq>(pat: &[T], txt: &[T], star: T, one: T) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Where the last `*` was, and the text position it currently stands up to.
    let mut last_star: Option<(usize, usize)> = None;
    while t < txt.len() {
        match (pat.get(p), txt.get(t)) {
            (Some(&c), _) if c == star => {
                last_star = Some((p, t));
                p += 1;
            }
            (Some(&c), Some(&tc)) if c == one || c == tc => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, st)) => {
                    last_star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == star))
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::parse(p).unwrap().matches(t)
    }

    #[test]
    fn star_matches_empty_and_runs() {
        assert!(m("app*", "app"));
        assert!(m("app*", "app-1"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("**", "x"));
    }

    #[test]
    fn question_is_exactly_one_char() {
        assert!(m("k?y", "key"));
        assert!(!m("k?y", "ky"));
        assert!(!m("k?y", "keey"));
        assert!(m("?", "é"), "one character, not one byte");
        assert!(!m("?", ""));
        assert!(m("a*c", "aéc"));
        assert!(m("é?*", "éüx"));
        assert!(!m("é?", "é"));
    }

    #[test]
    fn dots_are_literal() {
        assert!(m("app.prod", "app.prod"));
        assert!(!m("app.prod", "appXprod"));
    }

    #[test]
    fn star_crosses_slashes() {
        assert!(m("prod/*", "prod/db/password"));
        assert!(m("/opt/app/*", "/opt/app/bin/tool"));
        assert!(!m("/opt/app/*", "/opt/application"));
    }

    #[test]
    fn whole_string_only() {
        assert!(!m("app", "app1"));
        assert!(!m("app", "xapp"));
    }

    #[test]
    fn refused_metacharacters_and_empty() {
        for bad in ["a[bc]", "{a,b}", "a\\*", "]"] {
            let err = Glob::parse(bad).unwrap_err().to_string();
            assert!(err.contains("only * and ? are wildcards"), "{err}");
        }
        assert!(Glob::parse("").is_err());
    }

    #[test]
    fn backtracking_stays_linear_enough() {
        let text = "a".repeat(2000);
        assert!(!m("*a*a*a*a*a*b", &text));
    }
}
