//! The scenarios a features path holds, with their tags and the requirements they cover, and
//! which of them a tag expression selects: the certificate needs the scenarios a run did
//! *not* play too (a requirement whose scenarios were all filtered out is "not applicable",
//! one no scenario names is "not covered"). Parsing, outline expansion and tag evaluation are
//! cucumber's own (`gherkin`, `feature::Ext::expand_examples`, `TagOperation::eval` over
//! feature, rule and scenario tags in that order), so the selection here is the run's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cucumber::feature::Ext as _;
use cucumber::gherkin::{self, GherkinEnv, tagexpr::TagOperation};
use cucumber::tag::Ext as _;
use serde::Serialize;

use super::requirements::ReqNumber;

/// One scenario (an outline's example row counts as one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogueEntry {
    /// Feature file stem (`im`): captures and goldens are named by it.
    pub feature: String,
    /// The feature file.
    pub file: PathBuf,
    /// Line of the scenario (of its example row, for an outline).
    pub line: usize,
    /// Scenario title, placeholders filled in.
    pub name: String,
    /// Feature, rule, scenario and example tags, without `@`.
    pub tags: Vec<String>,
    /// The requirements its `@req-N` tags name.
    pub requirements: BTreeSet<ReqNumber>,
    /// Whether the tag expression selects it (always, without one).
    pub selected: bool,
}

/// Features that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The path does not exist or cannot be listed.
    #[error("features: {path}: {detail}")]
    Path {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A feature file does not parse or its outline does not expand.
    #[error("{path}: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// A tag `@req-…` that names no number.
    #[error("{path}:{line}: {detail}")]
    Tag {
        /// The file.
        path: PathBuf,
        /// The scenario's line.
        line: usize,
        /// What is wrong.
        detail: String,
    },
}

/// Parses a tag expression as `--tags` takes it (`@req-1 and not @msn`).
pub fn parse_tags(expr: &str) -> Result<TagOperation, String> {
    if expr.trim().is_empty() {
        return Err("--tags: the expression is empty".into());
    }
    expr.parse::<TagOperation>().map_err(|e| format!("--tags `{expr}`: not a tag expression: {e}"))
}

/// The `*.feature` files under `path` (or `path` itself), sorted as cucumber runs them.
pub fn feature_files(path: &Path) -> Result<Vec<PathBuf>, CatalogueError> {
    let err = |detail: String| CatalogueError::Path { path: path.to_owned(), detail };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(d) = dirs.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| CatalogueError::Path { path: d.clone(), detail: e.to_string() })?;
        for entry in rd {
            let p = entry.map_err(|e| CatalogueError::Path { path: d.clone(), detail: e.to_string() })?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("feature")) {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(err("holds no .feature file".into()));
    }
    Ok(out)
}

/// Every scenario under `path`, with whether `filter` selects it.
pub fn catalogue(path: &Path, filter: Option<&TagOperation>) -> Result<Vec<CatalogueEntry>, CatalogueError> {
    let mut out = Vec::new();
    for file in feature_files(path)? {
        let parse_err = |detail: String| CatalogueError::Parse { path: file.clone(), detail };
        let feature = gherkin::Feature::parse_path(&file, GherkinEnv::default())
            .map_err(|e| parse_err(e.to_string()))?
            .expand_examples()
            .map_err(|e| parse_err(e.to_string()))?;
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let in_rules = feature.rules.iter().flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s)));
        for (rule, scenario) in feature.scenarios.iter().map(|s| (None, s)).chain(in_rules) {
            let tags: Vec<String> = feature
                .tags
                .iter()
                .chain(rule.iter().flat_map(|r: &&gherkin::Rule| &r.tags))
                .chain(scenario.tags.iter())
                .cloned()
                .collect();
            let selected = filter.is_none_or(|f| f.eval(tags.iter()));
            let mut requirements = BTreeSet::new();
            for t in &tags {
                match ReqNumber::from_tag(t) {
                    Some(Ok(n)) => {
                        requirements.insert(n);
                    }
                    Some(Err(detail)) => {
                        return Err(CatalogueError::Tag { path: file.clone(), line: scenario.position.line, detail });
                    }
                    None => {}
                }
            }
            out.push(CatalogueEntry {
                feature: stem.clone(),
                file: file.clone(),
                line: scenario.position.line,
                name: scenario.name.clone(),
                tags,
                requirements,
                selected,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::requirements::Requirements;

    fn features() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("features")
    }

    #[test]
    fn every_requirement_tag_in_the_features_names_a_requirement_of_section_6() {
        let all = catalogue(&features(), None).expect("the features parse");
        assert!(all.len() > 100, "only {} scenarios", all.len());
        let reqs = Requirements::builtin();
        for s in &all {
            let unknown = reqs.unknown(&s.requirements);
            assert!(
                unknown.is_empty(),
                "{}:{} `{}` names unknown requirements {unknown:?}",
                s.file.display(),
                s.line,
                s.name
            );
        }
        assert!(all.iter().any(|s| !s.requirements.is_empty()));
    }

    #[test]
    fn outline_rows_are_scenarios_of_their_own_and_example_tags_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "@f\nFeature: F\n  @req-2\n  Scenario Outline: to <who>\n    Given x\n\n    @req-3\n    Examples:\n      | who |\n      | a |\n      | b |\n\n  Scenario: plain\n    Given y\n";
        std::fs::write(dir.path().join("x.feature"), text).expect("write");
        let op = parse_tags("@req-3 and not @nothing").expect("parses");
        let all = catalogue(dir.path(), Some(&op)).expect("catalogue");
        let names: Vec<(&str, bool)> = all.iter().map(|s| (s.name.as_str(), s.selected)).collect();
        assert_eq!(names, [("to a", true), ("to b", true), ("plain", false)]);
        assert_eq!(all[0].requirements, [ReqNumber(2), ReqNumber(3)].into());
        assert_eq!(all[0].tags, ["f", "req-2", "req-3"]);
        assert_eq!(all[0].feature, "x");
    }

    #[test]
    fn bad_input_is_named() {
        assert!(parse_tags("@a and").is_err());
        assert!(parse_tags("  ").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let e = catalogue(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("no .feature file"), "{e}");
        assert!(catalogue(&dir.path().join("missing"), None).is_err());
        std::fs::write(dir.path().join("bad.feature"), "Feature: F\n  @req-x\n  Scenario: s\n    Given y\n")
            .expect("write");
        let e = catalogue(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("bad.feature:3") && e.contains("req-x"), "{e}");
    }
}
