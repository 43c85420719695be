//! The certificate's content: per requirement of PROTOCOL.md §6 a verdict from the scenarios
//! that carry its tag, per scenario its verdict and evidence. One model, written three ways
//! (`certificate.json` straight from it with serde, `certificate.html`, `junit.xml`).

use std::collections::BTreeSet;

use serde::Serialize;

use super::catalogue::CatalogueEntry;
use super::requirements::{Level, ReqNumber, Requirements};

/// `certificate.json`'s format version; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A scenario's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioVerdict {
    /// Ran and passed.
    Passed,
    /// Ran and failed, or was selected and left no result.
    Failed,
    /// Not selected by the tag filter.
    Excluded,
}

/// A requirement's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReqVerdict {
    /// Every selected scenario carrying its tag passed.
    Pass,
    /// At least one of them failed.
    Fail,
    /// Scenarios carry its tag, but the filter excluded all of them.
    NotApplicable,
    /// No scenario carries its tag.
    NotCovered,
}

impl ReqVerdict {
    /// How the HTML shows it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NotApplicable => "not applicable",
            Self::NotCovered => "not covered",
        }
    }
}

/// A scenario as a requirement row names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioRef {
    /// Feature stem.
    pub feature: String,
    /// Title.
    pub name: String,
    /// Its verdict.
    pub verdict: ScenarioVerdict,
}

/// One row of the requirement table.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementRow {
    /// §6 number.
    pub number: ReqNumber,
    /// MUST or SHOULD.
    pub level: Level,
    /// One line.
    pub summary: String,
    /// Sources §6 cites.
    pub sources: Vec<String>,
    /// The verdict.
    pub verdict: ReqVerdict,
    /// Every scenario carrying its tag, run or excluded.
    pub scenarios: Vec<ScenarioRef>,
}

impl RequirementRow {
    /// The scenarios that failed it.
    pub fn failed(&self) -> impl Iterator<Item = &ScenarioRef> {
        self.scenarios.iter().filter(|s| s.verdict == ScenarioVerdict::Failed)
    }
}

/// What one scenario of the run left, as the certificate reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Feature stem.
    pub feature: String,
    /// Title.
    pub name: String,
    /// Feature file and line.
    pub location: String,
    /// All its tags.
    pub tags: Vec<String>,
    /// Requirements it covers.
    pub requirements: Vec<ReqNumber>,
    /// Its verdict.
    pub verdict: ScenarioVerdict,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its capture, relative to the certificate's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<String>,
    /// SIP messages the harness sent and received.
    pub sip_messages: usize,
    /// The seed of its tags, Call-IDs, keys and SSRCs (derived from the title, stable run to
    /// run).
    pub seed: u64,
    /// The canonical trace, as read back from the capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Why there is no trace (the capture could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_error: Option<String>,
    /// The unified diff of the trace so far against its golden, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Who and what was certified.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    /// SUT profile name.
    pub sut: String,
    /// The profile summarised (`kind embedded, fqdn …`).
    pub profile: Vec<(String, String)>,
    /// fedcert's version.
    pub fedcert_version: String,
    /// The git commit fedcert was built from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fedcert_commit: Option<String>,
    /// The run's id (also its directory name).
    pub run_id: String,
    /// When it started (UTC, RFC 3339).
    pub date: String,
    /// How seeds were chosen.
    pub seed: String,
    /// The tag expression, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// The features path.
    pub features: String,
}

/// Counts for the header.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Scenarios in the features.
    pub scenarios: usize,
    /// Selected by the filter.
    pub selected: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Excluded by the filter.
    pub excluded: usize,
    /// Requirements passed.
    pub requirements_pass: usize,
    /// Requirements failed.
    pub requirements_fail: usize,
    /// Requirements whose scenarios were all excluded.
    pub requirements_not_applicable: usize,
    /// Requirements no scenario covers.
    pub requirements_not_covered: usize,
}

/// The whole certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Who, what, when.
    pub header: Header,
    /// `pass` when every selected scenario passed.
    pub verdict: &'static str,
    /// Counts.
    pub counts: Counts,
    /// One row per §6 requirement, in order.
    pub requirements: Vec<RequirementRow>,
    /// The requirements no scenario covers yet.
    pub not_covered: Vec<ReqNumber>,
    /// Every scenario, run or excluded, by feature and title.
    pub scenarios: Vec<ScenarioResult>,
}

/// A run's result for one scenario, keyed by feature stem and title.
#[derive(Debug, Clone)]
pub struct Played {
    /// Feature stem.
    pub feature: String,
    /// Title.
    pub name: String,
    /// Passed?
    pub passed: bool,
    /// Why not.
    pub reason: Option<String>,
    /// Capture path relative to the certificate's directory.
    pub pcap: Option<String>,
    /// SIP messages.
    pub sip_messages: usize,
    /// Canonical trace, or why not.
    pub trace: Result<String, String>,
    /// Golden diff, when failed.
    pub diff: Option<String>,
}

impl Certificate {
    /// Joins the catalogue (every scenario, selected or not) with what the run played.
    /// A selected scenario the run left no result for fails: a verdict only gets worse.
    pub fn build(header: Header, reqs: &Requirements, catalogue: &[CatalogueEntry], played: &[Played]) -> Self {
        let mut scenarios: Vec<ScenarioResult> = catalogue
            .iter()
            .map(|c| {
                let p = played.iter().find(|p| p.feature == c.feature && p.name == c.name);
                let verdict = match (c.selected, p) {
                    (false, _) => ScenarioVerdict::Excluded,
                    (true, Some(p)) if p.passed => ScenarioVerdict::Passed,
                    (true, _) => ScenarioVerdict::Failed,
                };
                let reason = match (c.selected, p) {
                    (true, None) => Some("selected, but the run left no result for it".into()),
                    (_, Some(p)) if !p.passed => {
                        Some(p.reason.clone().unwrap_or_else(|| "failed without a recorded reason".into()))
                    }
                    _ => None,
                };
                ScenarioResult {
                    feature: c.feature.clone(),
                    name: c.name.clone(),
                    location: format!("{}:{}", c.file.display(), c.line),
                    tags: c.tags.clone(),
                    requirements: c.requirements.iter().copied().collect(),
                    verdict,
                    reason,
                    pcap: p.and_then(|p| p.pcap.clone()),
                    sip_messages: p.map_or(0, |p| p.sip_messages),
                    seed: crate::suite::scenario_seed(&c.name),
                    trace: p.and_then(|p| p.trace.clone().ok()),
                    trace_error: p.and_then(|p| p.trace.clone().err()),
                    diff: p.and_then(|p| p.diff.clone()).filter(|_| verdict == ScenarioVerdict::Failed),
                }
            })
            .collect();
        scenarios.sort_by(|a, b| (&a.feature, &a.name).cmp(&(&b.feature, &b.name)));
        let requirements: Vec<RequirementRow> = reqs
            .all()
            .iter()
            .map(|r| {
                let refs: Vec<ScenarioRef> = scenarios
                    .iter()
                    .filter(|s| s.requirements.contains(&r.number))
                    .map(|s| ScenarioRef { feature: s.feature.clone(), name: s.name.clone(), verdict: s.verdict })
                    .collect();
                let has = |v| refs.iter().any(|s| s.verdict == v);
                let verdict = if refs.is_empty() {
                    ReqVerdict::NotCovered
                } else if has(ScenarioVerdict::Failed) {
                    ReqVerdict::Fail
                } else if has(ScenarioVerdict::Passed) {
                    ReqVerdict::Pass
                } else {
                    ReqVerdict::NotApplicable
                };
                RequirementRow {
                    number: r.number,
                    level: r.level,
                    summary: r.summary.clone(),
                    sources: r.sources.clone(),
                    verdict,
                    scenarios: refs,
                }
            })
            .collect();
        let count_s = |v| scenarios.iter().filter(|s| s.verdict == v).count();
        let count_r = |v| requirements.iter().filter(|r| r.verdict == v).count();
        let counts = Counts {
            scenarios: scenarios.len(),
            selected: scenarios.len() - count_s(ScenarioVerdict::Excluded),
            passed: count_s(ScenarioVerdict::Passed),
            failed: count_s(ScenarioVerdict::Failed),
            excluded: count_s(ScenarioVerdict::Excluded),
            requirements_pass: count_r(ReqVerdict::Pass),
            requirements_fail: count_r(ReqVerdict::Fail),
            requirements_not_applicable: count_r(ReqVerdict::NotApplicable),
            requirements_not_covered: count_r(ReqVerdict::NotCovered),
        };
        let not_covered =
            requirements.iter().filter(|r| r.verdict == ReqVerdict::NotCovered).map(|r| r.number).collect();
        let verdict = if counts.failed == 0 && counts.passed > 0 { "pass" } else { "fail" };
        Self { schema_version: SCHEMA_VERSION, header, verdict, counts, requirements, not_covered, scenarios }
    }

    /// True when every selected scenario passed (and some did).
    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// Scenarios that ran (selected), for JUnit.
    pub fn selected(&self) -> impl Iterator<Item = &ScenarioResult> {
        self.scenarios.iter().filter(|s| s.verdict != ScenarioVerdict::Excluded)
    }

    /// Requirement numbers that some scenario covers.
    pub fn covered(&self) -> BTreeSet<ReqNumber> {
        self.requirements.iter().filter(|r| r.verdict != ReqVerdict::NotCovered).map(|r| r.number).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    pub(crate) fn header() -> Header {
        Header {
            sut: "embedded".into(),
            profile: vec![("kind".into(), "embedded".into())],
            fedcert_version: "0.1.0".into(),
            fedcert_commit: None,
            run_id: "20261122T183000Z-abcd".into(),
            date: "2026-11-22T18:30:00Z".into(),
            seed: "per scenario".into(),
            tags: Some("@req-1 or @req-2".into()),
            features: "features".into(),
        }
    }

    pub(crate) fn entry(feature: &str, name: &str, reqs: &[u16], selected: bool) -> CatalogueEntry {
        CatalogueEntry {
            feature: feature.into(),
            file: PathBuf::from(format!("features/{feature}.feature")),
            line: 3,
            name: name.into(),
            tags: reqs.iter().map(|n| format!("req-{n}")).collect(),
            requirements: reqs.iter().map(|n| ReqNumber(*n)).collect(),
            selected,
        }
    }

    pub(crate) fn played(feature: &str, name: &str, passed: bool) -> Played {
        Played {
            feature: feature.into(),
            name: name.into(),
            passed,
            reason: (!passed).then(|| "expected 480, got 200".into()),
            pcap: Some(format!("captures/embedded/{feature}/{name}.pcapng")),
            sip_messages: 2,
            trace: Ok("step 1  When x\n  enterprise  lync:a@b -> gw:enterprise  MESSAGE sip:c@d  [call-1]\n".into()),
            diff: (!passed).then(|| "--- golden\n+++ trace so far\n-a\n+b\n".into()),
        }
    }

    #[test]
    fn requirement_verdicts_follow_their_scenarios() {
        let cat = [
            entry("im", "a", &[1, 2], true),
            entry("im", "b", &[2], true),
            entry("im", "c", &[3], false),
            entry("im", "d", &[4], true),
            entry("im", "e", &[4], false),
        ];
        let played = [played("im", "a", true), played("im", "b", false), played("im", "d", true)];
        let c = Certificate::build(header(), &Requirements::builtin(), &cat, &played);
        let v = |n: usize| c.requirements[n - 1].verdict;
        assert_eq!(
            [v(1), v(2), v(3), v(4), v(5)],
            [ReqVerdict::Pass, ReqVerdict::Fail, ReqVerdict::NotApplicable, ReqVerdict::Pass, ReqVerdict::NotCovered]
        );
        assert_eq!(c.requirements[1].failed().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(c.requirements.len(), 32);
        assert_eq!(c.not_covered.len(), 28);
        assert_eq!(c.covered(), [1, 2, 3, 4].map(ReqNumber).into());
        assert_eq!((c.counts.passed, c.counts.failed, c.counts.excluded, c.counts.selected), (2, 1, 2, 3));
        assert!(!c.passed());
        let b = c.scenarios.iter().find(|s| s.name == "b").expect("b");
        assert!(b.diff.is_some() && b.reason.as_deref() == Some("expected 480, got 200"));
        assert!(c.scenarios.iter().find(|s| s.name == "a").is_some_and(|s| s.diff.is_none()));
    }

    #[test]
    fn a_selected_scenario_without_a_result_fails_and_nothing_passing_is_no_pass() {
        let c = Certificate::build(header(), &Requirements::builtin(), &[entry("im", "a", &[1], true)], &[]);
        assert_eq!(c.requirements[0].verdict, ReqVerdict::Fail);
        assert!(c.scenarios[0].reason.as_deref().is_some_and(|r| r.contains("no result")));
        let c = Certificate::build(header(), &Requirements::builtin(), &[entry("im", "a", &[1], false)], &[]);
        assert!(!c.passed(), "nothing ran");
        let c = Certificate::build(
            header(),
            &Requirements::builtin(),
            &[entry("im", "a", &[1], true)],
            &[played("im", "a", true)],
        );
        assert!(c.passed());
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["requirements"][0]["verdict"], "pass");
        assert_eq!(json["requirements"][4]["verdict"], "not-covered");
        assert_eq!(json["requirements"][0]["level"], "MUST");
    }
}
