//! Identities of simulated users. The harness states addresses explicitly in scenarios (the
//! Lync-side form of a Skype user is written out in the Gherkin), so nothing here maps between
//! namespaces: that is the gateway's job, and judging it with shared code would hide errors.

use std::fmt;
use std::str::FromStr;

/// Which leg a user lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Lync users behind the enterprise face.
    Enterprise,
    /// Skype users behind the consumer face.
    Consumer,
}

impl Side {
    /// `enterprise` / `consumer`, as the tap labels endpoints.
    pub fn label(self) -> &'static str {
        match self {
            Self::Enterprise => "enterprise",
            Self::Consumer => "consumer",
        }
    }

    /// Actor prefix in traces.
    pub fn actor_prefix(self) -> &'static str {
        match self {
            Self::Enterprise => "lync",
            Self::Consumer => "skype",
        }
    }
}

/// A user address `local@domain` as written in a scenario (no scheme). Case of the domain is
/// folded; the local part is kept (Lync-side decorated forms carry parentheses).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

/// A malformed address in a scenario.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not an address of the form local@domain")]
pub struct AddressError(String);

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_start_matches("sip:");
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| AddressError(s.to_owned()))?;
        if local.is_empty() || domain.is_empty() || s.contains(char::is_whitespace) {
            return Err(AddressError(s.to_owned()));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
}

impl Address {
    /// `sip:local@domain`.
    pub fn sip_uri(&self) -> String {
        format!("sip:{}", self.0)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity an address names when compared: %-escapes undone, domain folded
    /// (RFC 3261 §19.1.4). Used only to compare what the harness observed with what a step
    /// expects.
    pub fn comparable(&self) -> String {
        crate::sip::wire::unescape(&self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
