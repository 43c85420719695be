//! `fedcert selftest`: the suite judged against the reference gateway with each seeded defect
//! switched on, one at a time, and clean. Every defect must make at least one scenario fail,
//! and the clean gateway none; the result is a detection matrix (defect × scenarios that
//! caught it).
//!
//! Each run is a child `fedcert run` process: a suite run owns its process (cucumber's
//! configuration and the artefact list are process-wide), and a child that hangs or dies is
//! contained and named instead of taking the self-test with it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use crate::gateway::Defect;

/// How long one child run may take before it is killed and counted as an error.
pub const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// What to run.
#[derive(Debug, Clone)]
pub struct SelftestConfig {
    /// The `fedcert` executable to run children with.
    pub exe: PathBuf,
    /// The clean SUT profile (YAML text) that each defect is added to.
    pub profile: String,
    /// The features directory.
    pub features: PathBuf,
    /// The golden snapshots.
    pub snapshots: PathBuf,
    /// Scratch space for profiles, captures and reports of the child runs.
    pub work: PathBuf,
    /// Defects to try (every one by default).
    pub defects: Vec<Defect>,
    /// Run every feature for every defect instead of the features of its flow.
    pub all_features: bool,
    /// Child runs at once.
    pub jobs: usize,
}

/// One scenario that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catch {
    /// Feature stem.
    pub feature: String,
    /// Scenario title.
    pub scenario: String,
    /// The failing step's message.
    pub reason: String,
}

/// One row of the matrix.
#[derive(Debug, Clone)]
pub struct Row {
    /// The defect (`None`: the clean gateway).
    pub defect: Option<Defect>,
    /// The features run.
    pub features: Vec<String>,
    /// Scenarios run.
    pub scenarios: usize,
    /// Scenarios that failed.
    pub caught_by: Vec<Catch>,
}

impl Row {
    /// A defect row holds when something caught it; the clean row when nothing failed.
    pub fn holds(&self) -> bool {
        match self.defect {
            Some(_) => !self.caught_by.is_empty(),
            None => self.scenarios > 0 && self.caught_by.is_empty(),
        }
    }
}

/// A child run that could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    /// Scratch files could not be written or read.
    #[error("{path}: {detail}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A child run did not finish, or ended without a verdict.
    #[error("the run {what} {detail}; its output: {log}")]
    Run {
        /// Which run (`clean gateway`, `defect pt-passthrough`).
        what: String,
        /// What happened.
        detail: String,
        /// The child's output file.
        log: PathBuf,
    },
}

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    feature: String,
    scenario: String,
    verdict: String,
    #[serde(default)]
    reason: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SelftestError + '_ {
    move |e| SelftestError::Io { path: path.to_owned(), detail: e.to_string() }
}

/// The feature files a row runs: stems of `*.feature` in `dir`, limited to `only` when given.
fn feature_files(dir: &Path, only: Option<&[&str]>) -> Result<Vec<PathBuf>, SelftestError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if path.extension().is_some_and(|e| e == "feature") && only.is_none_or(|o| o.contains(&stem.as_str())) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Runs one row: the profile with `defect` added, the chosen features, in a child process.
async fn run_row(cfg: &SelftestConfig, defect: Option<Defect>) -> Result<Row, SelftestError> {
    let name = defect.map_or_else(|| "clean".to_owned(), |d| d.name());
    let what = defect.map_or_else(|| "clean gateway".to_owned(), |d| format!("defect {d}"));
    let dir = cfg.work.join(&name);
    let features_dir = dir.join("features");
    std::fs::create_dir_all(&features_dir).map_err(io(&features_dir))?;
    let only = match defect {
        Some(d) if !cfg.all_features => Some(d.features()),
        _ => None,
    };
    let files = feature_files(&cfg.features, only)?;
    let mut features = Vec::new();
    for f in &files {
        let to = features_dir.join(f.file_name().unwrap_or_default());
        std::fs::copy(f, &to).map_err(io(f))?;
        features.push(f.file_stem().unwrap_or_default().to_string_lossy().into_owned());
    }
    let mut profile = cfg.profile.clone();
    if let Some(d) = defect {
        profile.push_str(&format!("\ndefects: [{d}]\n"));
    }
    let profile_path = dir.join("sut.yaml");
    std::fs::write(&profile_path, profile).map_err(io(&profile_path))?;
    let log = dir.join("run.log");
    let out = std::fs::File::create(&log).map_err(io(&log))?;
    let err = out.try_clone().map_err(io(&log))?;
    let (captures, reports) = (dir.join("captures"), dir.join("reports"));
    let mut child = tokio::process::Command::new(&cfg.exe)
        .arg("run")
        .arg("--sut")
        .arg(&profile_path)
        .arg("--features")
        .arg(&features_dir)
        .arg("--snapshots")
        .arg(&cfg.snapshots)
        .arg("--captures")
        .arg(&captures)
        .arg("--reports")
        .arg(&reports)
        // A defect's diverging trace must not leave `.snap.new` files beside the goldens.
        .env("INSTA_UPDATE", "no")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SelftestError::Run {
            what: what.clone(),
            detail: format!("did not start: {e}"),
            log: log.clone(),
        })?;
    let status = match tokio::time::timeout(RUN_DEADLINE, child.wait()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(SelftestError::Run { what, detail: e.to_string(), log }),
        Err(_) => {
            let _ = child.kill().await;
            return Err(SelftestError::Run { what, detail: format!("took longer than {RUN_DEADLINE:?}"), log });
        }
    };
    // 0: all passed, 1: something failed; anything else is a run that could not judge.
    if !matches!(status.code(), Some(0 | 1)) {
        return Err(SelftestError::Run { what, detail: format!("exited with {status}"), log });
    }
    // The profile keeps the clean profile's name, so captures land under it.
    let manifest = std::fs::read_dir(&captures)
        .map_err(io(&captures))?
        .filter_map(Result::ok)
        .map(|e| e.path().join("manifest.json"))
        .find(|p| p.exists())
        .ok_or_else(|| SelftestError::Run {
            what: what.clone(),
            detail: "wrote no manifest".into(),
            log: log.clone(),
        })?;
    let text = std::fs::read_to_string(&manifest).map_err(io(&manifest))?;
    let entries: Vec<ManifestEntry> =
        serde_json::from_str(&text).map_err(|e| SelftestError::Io { path: manifest.clone(), detail: e.to_string() })?;
    let caught_by = entries
        .iter()
        .filter(|e| e.verdict != "passed")
        .map(|e| Catch {
            feature: e.feature.clone(),
            scenario: e.scenario.clone(),
            reason: e.reason.clone().unwrap_or_default(),
        })
        .collect();
    Ok(Row { defect, features, scenarios: entries.len(), caught_by })
}

/// Runs the clean row and every defect row, `jobs` child runs at a time, rows in order.
pub async fn run(cfg: &SelftestConfig) -> Result<Vec<Row>, SelftestError> {
    let rows: Vec<Option<Defect>> = std::iter::once(None).chain(cfg.defects.iter().copied().map(Some)).collect();
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(cfg.jobs.max(1)) {
        let results = futures::future::join_all(chunk.iter().map(|d| run_row(cfg, *d))).await;
        for r in results {
            out.push(r?);
        }
    }
    Ok(out)
}

/// The detection matrix as text: one line per row, then the scenarios that caught each
/// defect with the first line of the reason.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<30} {:<22} {:>9} {:>7}  verdict", "gateway", "features", "scenarios", "failed");
    for r in rows {
        let name = r.defect.map_or_else(|| "clean".to_owned(), |d| d.name());
        let verdict = match (r.defect, r.holds()) {
            (None, true) => "passes, as it must",
            (None, false) => "FAILS: the clean gateway must pass",
            (Some(_), true) => "caught",
            (Some(_), false) => "NOT CAUGHT",
        };
        let features = r.features.join(",");
        let _ = writeln!(s, "{name:<30} {features:<22} {:>9} {:>7}  {verdict}", r.scenarios, r.caught_by.len());
    }
    for r in rows {
        let name = r.defect.map_or_else(|| "clean".to_owned(), |d| d.name());
        for c in &r.caught_by {
            let reason = c.reason.lines().next().unwrap_or_default();
            let reason: String = reason.chars().take(140).collect();
            let _ = writeln!(s, "  {name}: {}: {}: {reason}", c.feature, c.scenario);
        }
    }
    let caught = rows.iter().filter(|r| r.defect.is_some() && r.holds()).count();
    let defects = rows.iter().filter(|r| r.defect.is_some()).count();
    let clean = rows.iter().find(|r| r.defect.is_none()).is_some_and(Row::holds);
    let _ = writeln!(
        s,
        "selftest: {caught} of {defects} defects caught, clean gateway {}",
        if clean { "passes" } else { "FAILS" }
    );
    s
}

/// True when every defect was caught and the clean gateway passed.
pub fn holds(rows: &[Row]) -> bool {
    rows.iter().all(Row::holds) && rows.iter().any(|r| r.defect.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(defect: Option<Defect>, failed: usize) -> Row {
        let c = Catch { feature: "audio".into(), scenario: "s".into(), reason: "why\nmore".into() };
        Row { defect, features: vec!["audio".into()], scenarios: 3, caught_by: vec![c; failed] }
    }

    #[test]
    fn the_matrix_holds_only_when_every_defect_is_caught_and_the_clean_gateway_passes() {
        let good = [row(None, 0), row(Some(Defect::PtPassthrough), 1)];
        assert!(holds(&good));
        let text = render(&good);
        assert!(text.contains("selftest: 1 of 1 defects caught, clean gateway passes"), "{text}");
        assert!(text.contains("  pt-passthrough: audio: s: why\n"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("pt-passthrough") && l.contains(" audio ")), "{text}");
        assert!(!holds(&[row(None, 0), row(Some(Defect::PtPassthrough), 0)]));
        assert!(!holds(&[row(None, 1), row(Some(Defect::PtPassthrough), 1)]));
        assert!(!holds(&[row(Some(Defect::PtPassthrough), 1)]), "without the clean row nothing is proven");
        assert!(render(&[row(Some(Defect::DtmfDropped), 0)]).contains("dtmf-dropped"));
    }
}
