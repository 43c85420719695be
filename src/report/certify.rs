//! `fedcert certify`: checks its inputs, plays the selected scenarios with the suite runner
//! `fedcert run` uses, then writes `<out>/<sut>/<run-id>/` with `certificate.html`,
//! `certificate.json`, `junit.xml`, the captures (under `captures/`, linked relatively, so the
//! directory can be moved or zipped whole) and the suite's own reports (under `suite/`).
//! The evidence each scenario shows is read back from its capture, the same way
//! `fedcert check` reads a vendor's capture.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::catalogue::{self, CatalogueEntry};
use super::certificate::{Certificate, Header, Played};
use super::requirements::{self, Requirements};
use crate::suite::{self, Artefact, SuiteConfig, SuiteError};
use crate::sut::{SutKind, SutProfile};

/// What to certify and where to write.
#[derive(Debug, Clone)]
pub struct CertifyConfig {
    /// The SUT profile.
    pub sut: SutProfile,
    /// Feature file or directory.
    pub features: PathBuf,
    /// Tag expression (`--tags`), unparsed.
    pub tags: Option<String>,
    /// Golden snapshots.
    pub snapshots: PathBuf,
    /// Where `<sut>/<run-id>/` goes (`reports`).
    pub out: PathBuf,
    /// Scenarios at once.
    pub concurrency: usize,
}

/// Why certification could not be done (as opposed to a SUT that fails it).
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// Bad input: features, tags, paths.
    #[error("{0}")]
    Input(String),
    /// The suite could not run.
    #[error(transparent)]
    Suite(#[from] SuiteError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTML template failed (a bug, not input).
    #[error("certificate.html: {0}")]
    Template(#[from] minijinja::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertifyError + '_ {
    move |source| CertifyError::Io { path: path.to_owned(), source }
}

/// A finished certification.
#[derive(Debug)]
pub struct Certified {
    /// `<out>/<sut>/<run-id>/`.
    pub dir: PathBuf,
    /// What it found.
    pub certificate: Certificate,
}

/// The scenarios `cfg` selects, checked against the requirement list: every `@req-N` must
/// name a requirement of §6 and something must be selected.
pub fn plan(cfg: &CertifyConfig, reqs: &Requirements) -> Result<Vec<CatalogueEntry>, CertifyError> {
    let filter = cfg.tags.as_deref().map(catalogue::parse_tags).transpose().map_err(CertifyError::Input)?;
    let entries =
        catalogue::catalogue(&cfg.features, filter.as_ref()).map_err(|e| CertifyError::Input(e.to_string()))?;
    for e in &entries {
        if let Some(n) = reqs.unknown(&e.requirements).first() {
            return Err(CertifyError::Input(format!(
                "{}:{}: scenario `{}` is tagged @req-{n}, which {} does not list",
                e.file.display(),
                e.line,
                e.name,
                requirements::FILE
            )));
        }
    }
    if !entries.iter().any(|e| e.selected) {
        return Err(CertifyError::Input(format!(
            "--tags `{}` selects none of the {} scenarios in {}",
            cfg.tags.as_deref().unwrap_or_default(),
            entries.len(),
            cfg.features.display()
        )));
    }
    Ok(entries)
}

/// Runs the certification.
pub async fn certify(cfg: CertifyConfig) -> Result<Certified, CertifyError> {
    let reqs = Requirements::builtin();
    let entries = plan(&cfg, &reqs)?;
    let filter = cfg.tags.as_deref().map(catalogue::parse_tags).transpose().map_err(CertifyError::Input)?;
    let started = SystemTime::now();
    let out = std::path::absolute(&cfg.out).map_err(io(&cfg.out))?;
    let (run_id, dir) = make_run_dir(&out.join(&cfg.sut.name), started)?;
    let suite_cfg = SuiteConfig {
        sut: cfg.sut.clone(),
        features: cfg.features.clone(),
        captures: dir.join("captures"),
        snapshots: cfg.snapshots.clone(),
        reports: dir.join("suite"),
        concurrency: cfg.concurrency,
    };
    let summary = suite::run_with_tags(suite_cfg, filter).await?;
    let played: Vec<Played> = summary.scenarios.iter().map(|a| evidence(a, &dir)).collect();
    let header = Header {
        sut: cfg.sut.name.clone(),
        profile: profile_summary(&cfg.sut),
        fedcert_version: env!("CARGO_PKG_VERSION").into(),
        fedcert_commit: option_env!("FEDCERT_GIT_COMMIT").map(str::to_owned),
        run_id,
        date: rfc3339(started),
        seed: "per scenario, derived from its title (FNV-1a), so runs repeat; listed with each scenario".into(),
        tags: cfg.tags.clone(),
        features: cfg.features.display().to_string(),
    };
    let certificate = Certificate::build(header, &reqs, &entries, &played);
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io(&p))
    };
    write("certificate.json", serde_json::to_string_pretty(&certificate).unwrap_or_default())?;
    write("junit.xml", super::junit::render(&certificate))?;
    write("certificate.html", super::html::render(&certificate)?)?;
    Ok(Certified { dir, certificate })
}

/// `<base>/<run-id>/`, created here (never reused): the id is the UTC time plus a random
/// suffix, and a directory that exists already gets a fresh suffix.
fn make_run_dir(base: &Path, now: SystemTime) -> Result<(String, PathBuf), CertifyError> {
    std::fs::create_dir_all(base).map_err(io(base))?;
    let stamp = rfc3339(now).replace(['-', ':'], "");
    let mut last = None;
    for _ in 0..16 {
        let id = format!("{stamp}-{:04x}", fastrand::u16(..));
        let dir = base.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io(&dir)(e)),
        }
    }
    Err(io(base)(last.unwrap_or_else(|| std::io::Error::other("no free run id"))))
}

/// A scenario's evidence: its capture (relative to `dir`), the canonical trace read back
/// from it, and, when it failed, the diff the suite wrote beside it.
fn evidence(a: &Artefact, dir: &Path) -> Played {
    let file = a.pcap.display().to_string();
    let trace = crate::trace::read_capture_file(&a.pcap)
        .map_err(|e| format!("{file}: {e}"))
        .and_then(|c| crate::trace::check::trace_of(&c, &file, None))
        .map(|t| t.rendered.text);
    let pcap = a.pcap.strip_prefix(dir).ok().filter(|_| a.pcap.exists()).map(|p| p.display().to_string());
    let passed = a.verdict == "passed";
    let diff_file =
        dir.join("suite").join("traces").join(&a.feature).join(format!("{}.diff", suite::slug(&a.scenario)));
    let diff = if passed { None } else { std::fs::read_to_string(diff_file).ok() };
    Played {
        feature: a.feature.clone(),
        name: a.scenario.clone(),
        passed,
        reason: a.reason.clone(),
        pcap,
        sip_messages: a.sip_messages,
        trace,
        diff,
    }
}

fn profile_summary(p: &SutProfile) -> Vec<(String, String)> {
    let mut v = vec![
        (
            "kind".to_owned(),
            match p.kind {
                SutKind::Embedded => "embedded (the reference gateway, in-process)".to_owned(),
                SutKind::External => "external".to_owned(),
            },
        ),
        ("fqdn".into(), p.fqdn.clone()),
        ("enterprise domains".into(), p.enterprise_domains.join(", ")),
        ("enterprise users".into(), p.enterprise_users.join(", ")),
    ];
    if !p.defects.is_empty() {
        v.push(("seeded defects".into(), p.defects.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")));
    }
    if let Some(x) = &p.external {
        let face = |f: &crate::sut::Face| format!("{} {:?}", f.address, f.transport).to_lowercase();
        v.push(("enterprise face".into(), face(&x.enterprise_face)));
        v.push(("consumer face".into(), face(&x.consumer_face)));
        v.push(("lifecycle".into(), format!("{:?}", x.lifecycle).to_lowercase()));
    }
    v
}

/// `2026-11-22T18:30:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(i64::try_from(days).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`); std has no calendar and this is the only date the crate prints.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_utc_rfc3339() {
        let at = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_372_245), "2026-11-22T18:30:45Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn run_directories_never_collide() {
        let base = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        let ids: std::collections::BTreeSet<String> =
            (0..20).map(|_| make_run_dir(base.path(), now).expect("made").0).collect();
        assert_eq!(ids.len(), 20);
        assert!(ids.iter().all(|id| id.len() == "20261122T183045Z-abcd".len() && id.ends_with(char::is_alphanumeric)));
    }

    fn cfg(features: &Path, tags: Option<&str>) -> CertifyConfig {
        CertifyConfig {
            sut: SutProfile::embedded(),
            features: features.to_owned(),
            tags: tags.map(str::to_owned),
            snapshots: "snapshots".into(),
            out: "reports".into(),
            concurrency: 1,
        }
    }

    #[test]
    fn plans_name_bad_tags_unknown_requirements_and_empty_selections() {
        let reqs = Requirements::builtin();
        let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("features");
        let e = plan(&cfg(&features, Some("@req-1 and")), &reqs).unwrap_err().to_string();
        assert!(e.contains("--tags `@req-1 and`"), "{e}");
        let e = plan(&cfg(&features, Some("@no-such-tag")), &reqs).unwrap_err().to_string();
        assert!(e.contains("selects none of the"), "{e}");
        let p = plan(&cfg(&features, Some("@req-1")), &reqs).expect("plans");
        assert!(p.iter().filter(|e| e.selected).all(|e| e.requirements.contains(&requirements::ReqNumber(1))));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x.feature"), "Feature: F\n  @req-99\n  Scenario: s\n    Given y\n")
            .expect("write");
        let e = plan(&cfg(dir.path(), None), &reqs).unwrap_err().to_string();
        assert!(e.contains("x.feature:3") && e.contains("@req-99"), "{e}");
    }
}
