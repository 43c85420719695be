//! The normative requirements of PROTOCOL.md §6, as `scenarios/requirements.yaml` transcribes
//! them (PROTOCOL.md lives outside the repository; the certificate must list every
//! requirement, covered or not). Which scenarios cover a requirement is never written here: it
//! comes from the features' `@req-N` tags at run time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::dialect::{ProfileError, load_profile};

/// A requirement number (`@req-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReqNumber(pub u16);

impl ReqNumber {
    /// The number a scenario tag names (`req-7`, without the `@` gherkin strips), if it is a
    /// requirement tag. `Err` for a tag that starts `req-` but names no number.
    pub fn from_tag(tag: &str) -> Option<Result<Self, String>> {
        let rest = tag.strip_prefix('@').unwrap_or(tag).strip_prefix("req-")?;
        Some(rest.parse::<u16>().map(Self).map_err(|_| format!("tag `@{tag}`: `{rest}` is not a requirement number")))
    }
}

impl std::fmt::Display for ReqNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// RFC 2119 strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    /// MUST / MUST NOT.
    #[serde(rename = "MUST")]
    Must,
    /// SHOULD.
    #[serde(rename = "SHOULD")]
    Should,
}

/// One requirement of §6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Its number in §6.
    pub number: ReqNumber,
    /// MUST or SHOULD.
    pub level: Level,
    /// The requirement in one line.
    pub summary: String,
    /// The sources §6 cites (PROTOCOL.md §8 tags, RFC sections).
    pub sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    requirements: Vec<Requirement>,
}

/// The whole list, numbered 1..=N without gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements(Vec<Requirement>);

/// Where the list is, as its errors name it.
pub const FILE: &str = "scenarios/requirements.yaml";

impl Requirements {
    /// The list shipped in `scenarios/requirements.yaml`.
    pub fn builtin() -> Self {
        Self::parse(FILE, include_str!("../../scenarios/requirements.yaml"))
            .unwrap_or_else(|e| panic!("built-in requirements: {e}"))
    }

    /// Parses a list; it must number its requirements 1, 2, … in order, each once.
    pub fn parse(file: &str, text: &str) -> Result<Self, ProfileError> {
        let f: File = load_profile(file, text)?;
        for (i, r) in f.requirements.iter().enumerate() {
            let want = u16::try_from(i + 1).unwrap_or(u16::MAX);
            if r.number.0 != want {
                return Err(ProfileError {
                    file: file.to_owned(),
                    detail: format!(
                        "requirements[{i}]: number {} where {want} was expected (1..=N, no gaps)",
                        r.number
                    ),
                });
            }
            if r.summary.trim().is_empty() || r.sources.is_empty() {
                return Err(ProfileError {
                    file: file.to_owned(),
                    detail: format!("requirement {}: a summary and at least one source are needed", r.number),
                });
            }
        }
        Ok(Self(f.requirements))
    }

    /// All of them, in order.
    pub fn all(&self) -> &[Requirement] {
        &self.0
    }

    /// The requirement with this number.
    pub fn get(&self, n: ReqNumber) -> Option<&Requirement> {
        self.0.get(usize::from(n.0).checked_sub(1)?)
    }

    /// The numbers of `tags` that name no requirement here.
    pub fn unknown<'a>(&self, tags: impl IntoIterator<Item = &'a ReqNumber>) -> BTreeSet<ReqNumber> {
        tags.into_iter().filter(|n| self.get(**n).is_none()).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_numbers_the_32_requirements_of_section_6_without_gaps() {
        let r = Requirements::builtin();
        let numbers: Vec<u16> = r.all().iter().map(|r| r.number.0).collect();
        assert_eq!(numbers, (1..=32).collect::<Vec<_>>());
        assert_eq!(r.get(ReqNumber(9)).map(|r| r.level), Some(Level::Must));
        assert!(r.all().iter().all(|r| r.summary.contains("MUST") || r.summary.contains("SHOULD")));
        assert!(r.get(ReqNumber(0)).is_none() && r.get(ReqNumber(33)).is_none());
    }

    #[test]
    fn a_gap_or_a_duplicate_is_named() {
        let one = |n: u16| format!("  - number: {n}\n    level: MUST\n    summary: x\n    sources: [a]\n");
        let text = format!("requirements:\n{}{}", one(1), one(3));
        let e = Requirements::parse("r.yaml", &text).unwrap_err().to_string();
        assert!(e.contains("r.yaml") && e.contains("number 3 where 2"), "{e}");
        let text = format!("requirements:\n{}{}", one(1), one(1));
        assert!(Requirements::parse("r.yaml", &text).is_err());
        let text = format!("requirements:\n{}{}", one(1), one(2));
        assert_eq!(Requirements::parse("r.yaml", &text).map(|r| r.all().len()).ok(), Some(2));
        let bad = "requirements:\n  - number: 1\n    level: MAY\n    summary: x\n    sources: [a]\n";
        assert!(Requirements::parse("r.yaml", bad).is_err());
    }

    #[test]
    fn requirement_tags_are_read_with_or_without_the_at_sign() {
        assert_eq!(ReqNumber::from_tag("req-7"), Some(Ok(ReqNumber(7))));
        assert_eq!(ReqNumber::from_tag("@req-12"), Some(Ok(ReqNumber(12))));
        assert_eq!(ReqNumber::from_tag("contoso"), None);
        assert!(matches!(ReqNumber::from_tag("req-x"), Some(Err(_))));
    }
}
