//! Generated values for generic secrets (and database passwords), as AWS's
//! GetRandomPassword: a length, which character classes to draw from, characters to
//! exclude, and whether each included class must appear. Characters are drawn
//! uniformly (rejection sampling, no modulo bias) from the OS random generator.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{random, Result, SecretError};

/// Upper-case letters.
pub const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Lower-case letters.
pub const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
/// Digits.
pub const DIGITS: &str = "0123456789";
/// ASCII punctuation (as AWS).
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// Longest generated value.
pub const MAX_LENGTH: u32 = 4096;

/// How to generate a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationSpec {
    /// Number of characters, 1..=4096 (default 32).
    pub length: u32,
    /// Include A-Z.
    pub upper: bool,
    /// Include a-z.
    pub lower: bool,
    /// Include 0-9.
    pub digits: bool,
    /// Include ASCII punctuation.
    pub punctuation: bool,
    /// Include the space character.
    pub space: bool,
    /// Characters never to use.
    pub exclude: String,
    /// Every included class appears at least once (default true).
    pub require_each: bool,
}

impl Default for GenerationSpec {
    fn default() -> Self {
        Self {
            length: 32,
            upper: true,
            lower: true,
            digits: true,
            punctuation: true,
            space: false,
            exclude: String::new(),
            require_each: true,
        }
    }
}

impl GenerationSpec {
    /// A spec for database passwords: no characters that need quoting in a connection
    /// string or a shell (`'"\/@:` and space).
    pub fn database_password() -> Self {
        Self {
            exclude: "'\"\\/@:`$".into(),
            ..Self::default()
        }
    }

    /// The included classes after exclusions, in order, with the name of each.
    fn classes(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let mut out = Vec::new();
        for (on, name, set) in [
            (self.upper, "upper", UPPER),
            (self.lower, "lower", LOWER),
            (self.digits, "digits", DIGITS),
            (self.punctuation, "punctuation", PUNCTUATION),
            (self.space, "space", " "),
        ] {
            if !on {
                continue;
            }
            let chars: Vec<u8> = set
                .bytes()
                .filter(|b| !self.exclude.as_bytes().contains(b))
                .collect();
            if chars.is_empty() {
                if self.require_each {
                    return Err(SecretError::Generation(format!(
                        "class {name} is required but every character of it is excluded"
                    )));
                }
                continue;
            }
            out.push((name, chars));
        }
        Ok(out)
    }

    /// Checks that the spec can produce a value.
    pub fn check(&self) -> Result<()> {
        if !(1..=MAX_LENGTH).contains(&self.length) {
            return Err(SecretError::Generation(format!(
                "length {} must be 1..={MAX_LENGTH}",
                self.length
            )));
        }
        let classes = self.classes()?;
        if classes.is_empty() {
            return Err(SecretError::Generation(
                "no characters left to draw from".into(),
            ));
        }
        if self.require_each && classes.len() > self.length as usize {
            return Err(SecretError::Generation(format!(
                "length {} is shorter than the {} classes that must each appear",
                self.length,
                classes.len()
            )));
        }
        Ok(())
    }

    /// Generates a value.
    pub fn generate(&self) -> Result<Zeroizing<String>> {
        self.check()?;
        let classes = self.classes()?;
        let alphabet: Vec<u8> = classes
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .collect();
        let len = self.length as usize;
        let mut rng = Draw::new();
        let mut out = Zeroizing::new(vec![0u8; len]);
        // Rejection keeps every valid value equally likely; the bound only matters for
        // specs where valid values are rare (many classes, tiny length).
        for _ in 0..10_000 {
            for c in out.iter_mut() {
                *c = *alphabet.get(rng.below(alphabet.len())?).unwrap_or(&b'x');
            }
            if !self.require_each
                || classes
                    .iter()
                    .all(|(_, set)| out.iter().any(|c| set.contains(c)))
            {
                return Ok(Zeroizing::new(String::from_utf8_lossy(&out).into_owned()));
            }
        }
        // Fallback: one of each class at random positions.
        let mut positions: Vec<usize> = (0..len).collect();
        for (i, (_, set)) in classes.iter().enumerate() {
            let j = i + rng.below(len - i)?;
            positions.swap(i, j);
            let p = *positions.get(i).unwrap_or(&0);
            if let Some(slot) = out.get_mut(p) {
                *slot = *set.get(rng.below(set.len())?).unwrap_or(&b'x');
            }
        }
        Ok(Zeroizing::new(String::from_utf8_lossy(&out).into_owned()))
    }
}

/// Uniform draws from the OS generator, buffered.
struct Draw {
    buf: Zeroizing<[u8; 256]>,
    pos: usize,
}

impl Draw {
    fn new() -> Self {
        Self {
            buf: Zeroizing::new([0; 256]),
            pos: 256,
        }
    }

    fn u32(&mut self) -> Result<u32> {
        if self.pos + 4 > self.buf.len() {
            random(self.buf.as_mut())?;
            self.pos = 0;
        }
        let b = self
            .buf
            .get(self.pos..self.pos + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .unwrap_or_default();
        self.pos += 4;
        Ok(u32::from_le_bytes(b))
    }

    /// Uniform in 0..n (n ≥ 1).
    fn below(&mut self, n: usize) -> Result<usize> {
        let n = u32::try_from(n.max(1))
            .map_err(|_| SecretError::Generation("alphabet too large".into()))?;
        let zone = u32::MAX - (u32::MAX % n);
        loop {
            let x = self.u32()?;
            if x < zone {
                return Ok((x % n) as usize);
            }
        }
    }
}

/// Rotation of a generic secret: a freshly generated value; nothing outside to set.
pub struct GenerateTarget(pub GenerationSpec);

impl crate::RotationTarget for GenerateTarget {
    fn create_value(
        &mut self,
        _current: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, crate::TargetError> {
        let v = self
            .0
            .generate()
            .map_err(|e| crate::TargetError(e.to_string()))?;
        Ok(Zeroizing::new(v.as_bytes().to_vec()))
    }
    fn set(&mut self, _values: &crate::Values<'_>) -> Result<(), crate::TargetError> {
        Ok(())
    }
    fn test(&mut self, _values: &crate::Values<'_>) -> Result<(), crate::TargetError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_hold() {
        let spec = GenerationSpec {
            length: 12,
            exclude: "aeiou0O1l".into(),
            ..Default::default()
        };
        for _ in 0..500 {
            let v = spec.generate().unwrap();
            assert_eq!(v.len(), 12);
            assert!(v.bytes().any(|c| c.is_ascii_uppercase()));
            assert!(v.bytes().any(|c| c.is_ascii_lowercase()));
            assert!(v.bytes().any(|c| c.is_ascii_digit()));
            assert!(v.bytes().any(|c| c.is_ascii_punctuation()));
            assert!(!v.chars().any(|c| "aeiou0O1l ".contains(c)), "{}", &*v);
        }
        let digits = GenerationSpec {
            length: 6,
            upper: false,
            lower: false,
            punctuation: false,
            ..Default::default()
        };
        assert!(digits
            .generate()
            .unwrap()
            .bytes()
            .all(|c| c.is_ascii_digit()));
        let tiny = GenerationSpec {
            length: 4,
            space: true,
            ..Default::default()
        };
        tiny.check().unwrap_err();
        let tiny = GenerationSpec {
            length: 5,
            space: true,
            ..Default::default()
        };
        for _ in 0..50 {
            let v = tiny.generate().unwrap();
            assert!(v.contains(' ') && v.bytes().any(|c| c.is_ascii_digit()));
        }
        let db = GenerationSpec::database_password().generate().unwrap();
        assert!(!db.chars().any(|c| "'\"\\/@:`$".contains(c)));
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        let e = GenerationSpec {
            length: 0,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert!(e.to_string().contains("length 0"));
        let e = GenerationSpec {
            exclude: DIGITS.into(),
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert!(e.to_string().contains("digits"), "{e}");
        let relaxed = GenerationSpec {
            exclude: DIGITS.into(),
            require_each: false,
            ..Default::default()
        };
        assert!(!relaxed
            .generate()
            .unwrap()
            .bytes()
            .any(|c| c.is_ascii_digit()));
        let none = GenerationSpec {
            upper: false,
            lower: false,
            digits: false,
            punctuation: false,
            ..Default::default()
        };
        assert!(none
            .check()
            .unwrap_err()
            .to_string()
            .contains("no characters"));
    }

    #[test]
    fn distribution_is_uniform() {
        // 62 symbols, 200_000 draws: each expected ~3226; a chi-square over 61 degrees of
        // freedom above 120 happens with probability < 1e-5 for a uniform source.
        let spec = GenerationSpec {
            length: 4000,
            punctuation: false,
            require_each: false,
            ..Default::default()
        };
        let mut counts = std::collections::BTreeMap::<u8, u64>::new();
        for _ in 0..50 {
            for c in spec.generate().unwrap().bytes() {
                *counts.entry(c).or_default() += 1;
            }
        }
        assert_eq!(counts.len(), 62);
        let n: u64 = counts.values().sum();
        let e = n as f64 / 62.0;
        let chi: f64 = counts.values().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi < 120.0, "chi-square {chi}");
        // Two values never repeat.
        let a = GenerationSpec::default().generate().unwrap();
        let b = GenerationSpec::default().generate().unwrap();
        assert_ne!(*a, *b);
    }
}
