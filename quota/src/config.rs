//! The quota configuration (TOML): limits per instance and per access point, each class
//! counted separately.

use std::collections::BTreeMap;

use crate::ConfigError;

/// The largest configurable rate; at this rate the integer nanosecond interval is off by
/// at most 0.1 % (see the crate docs, "Precision").
pub const MAX_PER_SECOND: u64 = 1_000_000;
/// The largest configurable wait bound.
pub const MAX_WAIT_MS: u64 = 10_000;
/// The default wait bound when `max_wait_ms` is not given.
pub const DEFAULT_MAX_WAIT_MS: u64 = 100;
/// Access points with their own limits, at most.
pub const MAX_ACCESS_POINTS: usize = 1024;
/// An access point's name, at most (bytes); it is stored in the shared file for `status`.
pub const MAX_NAME_LEN: usize = 128;

/// Which kind of operation is counted: symmetric (AES, HMAC, ...) and asymmetric (RSA,
/// ECDSA, ...) have separate limits, as a hardware instance's capacity differs by far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Symmetric,
    Asymmetric,
}

impl Class {
    /// Both classes, in their order in the shared file.
    pub const ALL: [Class; 2] = [Class::Symmetric, Class::Asymmetric];

    /// The class's number in the shared file.
    pub(crate) fn index(self) -> usize {
        match self {
            Class::Symmetric => 0,
            Class::Asymmetric => 1,
        }
    }

    pub(crate) fn from_index(i: u64) -> Option<Class> {
        match i {
            0 => Some(Class::Symmetric),
            1 => Some(Class::Asymmetric),
            _ => None,
        }
    }

    /// The name used in configuration and status output.
    pub fn name(self) -> &'static str {
        match self {
            Class::Symmetric => "symmetric",
            Class::Asymmetric => "asymmetric",
        }
    }
}

/// The quota section of an instance's configuration.
///
/// ```toml
/// [instance.symmetric]
/// per_second = 2000
/// burst = 4000          # default: one second's worth (= per_second)
/// max_wait_ms = 50      # default: 100
/// [instance.asymmetric]
/// per_second = 200
/// [access_points.payments.symmetric]
/// per_second = 500
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Limits on everything done with the instance, whichever access point does it.
    #[serde(default)]
    pub instance: Limits,
    /// Limits on one access point (by name), on top of the instance's.
    #[serde(default)]
    pub access_points: BTreeMap<String, Limits>,
}

/// The limits of one scope; a class without a limit is counted but never held back.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asymmetric: Option<Rate>,
}

impl Limits {
    /// The limit of `class`, if any.
    pub fn get(&self, class: Class) -> Option<&Rate> {
        match class {
            Class::Symmetric => self.symmetric.as_ref(),
            Class::Asymmetric => self.asymmetric.as_ref(),
        }
    }
}

/// One token bucket's limit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained operations per second (1 to [`MAX_PER_SECOND`]).
    pub per_second: u64,
    /// Operations admitted at once after a quiet spell; default `per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// How long an operation over the limit may wait for its turn before it is refused
    /// (0 to [`MAX_WAIT_MS`]; 0 refuses at once).
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
}

fn default_max_wait_ms() -> u64 {
    DEFAULT_MAX_WAIT_MS
}

impl Rate {
    /// The burst in effect (the default is one second's worth).
    pub fn burst(&self) -> u64 {
        self.burst.unwrap_or(self.per_second)
    }

    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        let field = |name: &str, why: String| ConfigError::Field {
            field: format!("{at}.{name}"),
            why,
        };
        if !(1..=MAX_PER_SECOND).contains(&self.per_second) {
            return Err(field(
                "per_second",
                format!("{} is out of range 1..={MAX_PER_SECOND}", self.per_second),
            ));
        }
        let max_burst = self.per_second.saturating_mul(60);
        if let Some(burst) = self.burst {
            if !(1..=max_burst).contains(&burst) {
                return Err(field(
                    "burst",
                    format!("{burst} is out of range 1..={max_burst} (one minute's worth)"),
                ));
            }
        }
        if self.max_wait_ms > MAX_WAIT_MS {
            return Err(field(
                "max_wait_ms",
                format!("{} is over the maximum {MAX_WAIT_MS}", self.max_wait_ms),
            ));
        }
        Ok(())
    }
}

impl QuotaConfig {
    /// Reads and checks a quota configuration.
    pub fn from_toml(text: &str) -> Result<QuotaConfig, ConfigError> {
        let config: QuotaConfig =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every limit; the error names the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_limits(&self.instance, "instance")?;
        if self.access_points.len() > MAX_ACCESS_POINTS {
            return Err(ConfigError::Field {
                field: "access_points".into(),
                why: format!(
                    "{} access points, at most {MAX_ACCESS_POINTS}",
                    self.access_points.len()
                ),
            });
        }
        for (name, limits) in &self.access_points {
            if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
                return Err(ConfigError::Field {
                    field: format!("access_points.{name:?}"),
                    why: format!("a name has 1 to {MAX_NAME_LEN} bytes and no NUL"),
                });
            }
            validate_limits(limits, &format!("access_points.{name}"))?;
        }
        Ok(())
    }
}

fn validate_limits(limits: &Limits, at: &str) -> Result<(), ConfigError> {
    for class in Class::ALL {
        if let Some(rate) = limits.get(class) {
            rate.validate(&format!("{at}.{}", class.name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_limits_with_defaults() {
        let c = QuotaConfig::from_toml(
            "[instance.symmetric]\nper_second = 2000\nburst = 4000\nmax_wait_ms = 50\n\
             [instance.asymmetric]\nper_second = 200\n\
             [access_points.payments.symmetric]\nper_second = 500\n",
        )
        .unwrap();
        let sym = c.instance.symmetric.as_ref().unwrap();
        assert_eq!(
            (sym.per_second, sym.burst(), sym.max_wait_ms),
            (2000, 4000, 50)
        );
        let asym = c.instance.asymmetric.as_ref().unwrap();
        assert_eq!((asym.burst(), asym.max_wait_ms), (200, DEFAULT_MAX_WAIT_MS));
        let p = &c.access_points["payments"];
        assert_eq!(p.symmetric.as_ref().unwrap().per_second, 500);
        assert!(p.asymmetric.is_none());
    }

    #[test]
    fn empty_config_limits_nothing() {
        let c = QuotaConfig::from_toml("").unwrap();
        assert_eq!(c, QuotaConfig::default());
    }

    #[test]
    fn unknown_fields_are_named() {
        let e = QuotaConfig::from_toml("[instance.symmetric]\nper_second = 1\nburts = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("burts"), "{e}");
        let e = QuotaConfig::from_toml("[instance.symetric]\nper_second = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("symetric"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let cases = [
            (
                "[instance.symmetric]\nper_second = 0\n",
                "instance.symmetric.per_second",
            ),
            (
                "[access_points.pay.asymmetric]\nper_second = 10\nburst = 0\n",
                "access_points.pay.asymmetric.burst",
            ),
            (
                "[instance.asymmetric]\nper_second = 10\nmax_wait_ms = 60000\n",
                "instance.asymmetric.max_wait_ms",
            ),
            (
                "[instance.symmetric]\nper_second = 2000000\n",
                "instance.symmetric.per_second",
            ),
        ];
        for (text, field) in cases {
            match QuotaConfig::from_toml(text) {
                Err(ConfigError::Field { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
