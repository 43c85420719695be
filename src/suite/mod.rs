//! The Gherkin suite: world, steps, golden comparison and the runner. It lives in the library
//! (not under `tests/`) because both `cargo test` (`tests/conformance.rs`) and `fedcert run`
//! execute the same features with the same steps.

mod call_steps;
mod contact_steps;
pub mod golden;
mod im_steps;
mod steps;
mod video_steps;
mod world;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cucumber::event::ScenarioFinished;
use cucumber::{World as _, WriterExt as _, writer};
use serde::Serialize;

pub use world::{FedWorld, Finished, seed as scenario_seed, slug};

use crate::sut::SutProfile;

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// The SUT profile.
    pub sut: SutProfile,
    /// The feature files (a directory or one file).
    pub features: PathBuf,
    /// Where pcaps go (`captures/`).
    pub captures: PathBuf,
    /// Where goldens are (`snapshots/`).
    pub snapshots: PathBuf,
    /// Where reports go (`reports/`).
    pub reports: PathBuf,
    /// Scenarios run at once.
    pub concurrency: usize,
}

static CONFIG: OnceLock<SuiteConfig> = OnceLock::new();

/// The run's configuration (set once per process by [`run`]).
pub(crate) fn config() -> &'static SuiteConfig {
    CONFIG.get().unwrap_or_else(|| panic!("suite::run was not called"))
}

/// What a scenario left behind.
#[derive(Debug, Clone, Serialize)]
pub struct Artefact {
    /// Feature file stem.
    pub feature: String,
    /// Scenario title.
    pub scenario: String,
    /// Verdict: `passed`, `failed` or `skipped`.
    pub verdict: String,
    /// The pcap.
    pub pcap: PathBuf,
    /// SIP messages the harness sent and received (what tshark must count in the pcap).
    pub sip_messages: usize,
    /// RTP streams the harness sent and received, with their packet counts (what tshark's
    /// `-z rtp,streams` must find in the pcap).
    pub rtp_streams: Vec<crate::trace::canonical::RtpStreamCount>,
    /// Why it failed: the failing step's error (absent when it passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The scenario's tags with the feature's, without `@` (`req-13`, `plain-proxy`).
    pub tags: Vec<String>,
    /// What the impairment relay did to the scenario's consumer leg, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impairment: Option<crate::net::impair::ImpairStats>,
}

static ARTEFACTS: Mutex<Vec<Artefact>> = Mutex::new(Vec::new());

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Scenarios passed.
    pub passed: usize,
    /// Scenarios failed (an undefined step counts as failed).
    pub failed: usize,
    /// True when anything failed, including feature parse errors and hooks.
    pub has_failed: bool,
    /// Per-scenario artefacts.
    pub scenarios: Vec<Artefact>,
    /// The JUnit report.
    pub junit: PathBuf,
    /// The capture manifest.
    pub manifest: PathBuf,
}

impl Summary {
    /// The impairment relay's figures over the whole run, when the profile had one.
    pub fn impairment(&self) -> Option<crate::net::impair::ImpairStats> {
        self.scenarios.iter().filter_map(|a| a.impairment).reduce(|a, b| a + b)
    }
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The features path does not exist.
    #[error("features: {0} does not exist")]
    NoFeatures(PathBuf),
    /// A report file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `run` was called twice in one process with another configuration.
    #[error("the suite can run once per process")]
    AlreadyConfigured,
    /// The external SUT could not be started or did not become ready.
    #[error("SUT `{name}`: {source}")]
    Sut {
        /// The profile's name.
        name: String,
        /// What went wrong.
        source: crate::sut::process::SutError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SuiteError + '_ {
    move |source| SuiteError::Io { path: path.to_owned(), source }
}

/// Why a scenario failed, in one line a CI log's tail can show: the step's panic message,
/// or what kept the scenario from running.
fn failure_reason(finished: &ScenarioFinished) -> Option<String> {
    let panic_text = |info: &cucumber::event::Info| {
        info.downcast_ref::<String>()
            .cloned()
            .or_else(|| info.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".into())
    };
    match finished {
        ScenarioFinished::StepPassed => None,
        ScenarioFinished::StepSkipped => Some("a step was skipped".into()),
        ScenarioFinished::BeforeHookFailed(info) => Some(format!("before the first step: {}", panic_text(info))),
        ScenarioFinished::StepFailed(_, _, cucumber::event::StepError::Panic(info)) => Some(panic_text(info)),
        ScenarioFinished::StepFailed(_, _, e) => Some(e.to_string()),
    }
}

impl Summary {
    /// One line per failed scenario: `feature: scenario: reason`.
    pub fn failure_lines(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .filter(|a| a.verdict != "passed")
            .map(|a| {
                let reason = a.reason.as_deref().unwrap_or("no reason recorded");
                format!("FAILED {}: {}: {}", a.feature, a.scenario, reason.replace('\n', " | "))
            })
            .collect()
    }
}

/// Where an external SUT's start command writes its output: `reports/sut/<feature>/<slug>.log`
/// per scenario, or `reports/sut/run/sut.log` for the whole run.
pub(crate) fn sut_log(feature: &str, title: &str) -> PathBuf {
    config().reports.join("sut").join(feature).join(format!("{}.log", slug(title)))
}

/// Runs the features against the configured SUT; writes JUnit, pcaps and a capture manifest.
pub async fn run(cfg: SuiteConfig) -> Result<Summary, SuiteError> {
    run_with_tags(cfg, None).await
}

/// [`run`], playing only the scenarios `tags` selects (cucumber's `--tags`: feature, rule and
/// scenario tags together; `fedcert certify --tags`).
pub async fn run_with_tags(
    cfg: SuiteConfig,
    tags: Option<cucumber::gherkin::tagexpr::TagOperation>,
) -> Result<Summary, SuiteError> {
    if !cfg.features.exists() {
        return Err(SuiteError::NoFeatures(cfg.features.clone()));
    }
    // insta resolves relative snapshot paths against the source file: anchor every path to
    // the working directory instead.
    let mut cfg = cfg;
    for p in [&mut cfg.features, &mut cfg.captures, &mut cfg.snapshots, &mut cfg.reports] {
        *p = std::path::absolute(&*p).map_err(io(p))?;
    }
    if cfg.sut.external.is_some() {
        // An external gateway is configured with the harness's fixed addresses: one
        // scenario at a time.
        cfg.concurrency = 1;
    }
    CONFIG.set(cfg.clone()).map_err(|_| SuiteError::AlreadyConfigured)?;
    std::fs::create_dir_all(&cfg.reports).map_err(io(&cfg.reports))?;
    let process = match &cfg.sut.external {
        Some(x) if x.lifecycle == crate::sut::Lifecycle::PerRun => Some(
            crate::sut::process::SutProcess::start(x, &sut_log("run", "sut"))
                .await
                .map_err(|source| SuiteError::Sut { name: cfg.sut.name.clone(), source })?,
        ),
        _ => None,
    };
    let junit = cfg.reports.join("junit.xml");
    let file = std::fs::File::create(&junit).map_err(io(&junit))?;
    let writer = writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
        .summarized()
        .tee::<FedWorld, _>(writer::JUnit::for_tee(file, 0))
        .normalized();
    let result = FedWorld::cucumber()
        .with_writer(writer)
        .fail_on_skipped()
        .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty> { tags_filter: tags, ..Default::default() })
        .max_concurrent_scenarios(cfg.concurrency)
        .before(|feature, _, scenario, world| {
            Box::pin(async move {
                let stem = feature.path.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned());
                let stem = stem.unwrap_or_else(|| slug(&feature.name));
                if let Err(e) = world.start(&stem, &scenario.name).await {
                    panic!("could not start the SUT and the simulated legs: {e}");
                }
            })
        })
        .after(|feature, _, scenario, finished, world| {
            Box::pin(async move {
                let mut verdict = match finished {
                    ScenarioFinished::StepPassed => "passed",
                    _ => "failed",
                };
                let mut reason = failure_reason(finished);
                if let Some(w) = world
                    && let Some(done) = w.finish(verdict != "passed").await
                {
                    // What the scenario's end found wrong fails it, after the step's own reason.
                    for extra in [done.sut_exit, done.evidence_fault].into_iter().flatten() {
                        eprintln!("── {}: {extra}", scenario.name);
                        verdict = "failed";
                        reason = Some(match reason {
                            Some(r) => format!("{r}; {extra}"),
                            None => extra,
                        });
                    }
                    let a = Artefact {
                        feature: w.feature.clone(),
                        scenario: scenario.name.clone(),
                        verdict: verdict.into(),
                        pcap: done.pcap,
                        sip_messages: done.sip_messages,
                        rtp_streams: done.rtp_streams,
                        reason,
                        tags: feature.tags.iter().chain(&scenario.tags).cloned().collect(),
                        impairment: done.impairment,
                    };
                    ARTEFACTS.lock().unwrap_or_else(|p| p.into_inner()).push(a);
                }
            })
        })
        .run(cfg.features.clone())
        .await;
    if let Some(p) = process
        && let Err(e) = p.stop().await
    {
        tracing::error!("stopping SUT `{}`: {e}", cfg.sut.name);
    }
    use cucumber::writer::Stats as _;
    let has_failed = result.execution_has_failed();
    let mut scenarios = std::mem::take(&mut *ARTEFACTS.lock().unwrap_or_else(|p| p.into_inner()));
    scenarios.sort_by(|a, b| (&a.feature, &a.scenario).cmp(&(&b.feature, &b.scenario)));
    let passed = scenarios.iter().filter(|a| a.verdict == "passed").count();
    let failed = scenarios.len() - passed;
    let dir = cfg.captures.join(&cfg.sut.name);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let manifest = dir.join("manifest.json");
    let json = serde_json::to_string_pretty(&scenarios).unwrap_or_default();
    std::fs::write(&manifest, json).map_err(io(&manifest))?;
    Ok(Summary { passed, failed, has_failed: has_failed || failed > 0, scenarios, junit, manifest })
}
