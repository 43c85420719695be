//! `fedcert load`: many agents drive a mix of IMs, presence changes and calls through a SUT
//! and measure its capacity: throughput, success ratio and latency percentiles per kind, with
//! the generator's own saturation beside them so a saturated generator never reads as a slow
//! SUT. Bounded in agents, rate and time; stops by itself.

pub mod engine;
pub mod mix;
pub mod saturation;
pub mod stats;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use engine::{Faces, Legs, LoadConfig, Measured, Tick};
use mix::Kind;
use saturation::{Lag, LagProbe};
use stats::ms;

use crate::sut::process::SutProcess;
use crate::sut::{SutKind, SutProfile};

/// Why a load run could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The SUT could not be started or reached.
    #[error("the SUT: {0}")]
    Sut(String),
    /// Our legs could not bind.
    #[error("cannot bind the load legs on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// A whole run: the SUT and what to drive through it.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// The SUT profile (embedded: `fedcert gateway` is started as a child process).
    pub sut: SutProfile,
    /// The fedcert executable (to start the reference gateway).
    pub exe: PathBuf,
    /// Where the legs bind for an embedded SUT (the gateway binds there too).
    pub ip: IpAddr,
    /// Where an external SUT's start command writes its output.
    pub log: PathBuf,
    /// The load.
    pub config: LoadConfig,
}

/// What a run measured, ready to print.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The SUT's name.
    pub sut: String,
    /// The load asked for.
    pub config: LoadConfig,
    /// The counts and latencies.
    pub measured: Measured,
    /// Generator CPU time over the steady phase.
    pub cpu: Duration,
    /// SUT CPU time over the steady phase, when its process is known.
    pub sut_cpu: Option<Duration>,
    /// Generator peak resident memory, bytes.
    pub rss_peak: u64,
    /// SUT resident memory at the end (now, peak), bytes.
    pub sut_rss: Option<(u64, u64)>,
    /// Scheduling lag over the run.
    pub lag: Lag,
    /// Cores this machine offers.
    pub cores: usize,
}

/// A child `fedcert gateway` on ephemeral ports.
struct Reference {
    child: tokio::process::Child,
    faces: Faces,
}

async fn start_reference(run: &LoadRun, legs: &Legs) -> Result<Reference, LoadError> {
    use tokio::io::AsyncBufReadExt as _;
    let any = SocketAddr::new(run.ip, 0).to_string();
    let mut child = tokio::process::Command::new(&run.exe)
        .args(["gateway", "--enterprise", &any, "--consumer", &any])
        .args(["--edge", &legs.edge().to_string(), "--cloud", &legs.cloud().to_string()])
        .args(["--load-users", &run.config.users.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LoadError::Sut(format!("cannot start {} gateway: {e}", run.exe.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| LoadError::Sut("the gateway has no stdout".into()))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
    let line = match first {
        Ok(Ok(Some(l))) => l,
        Ok(Ok(None)) => return Err(LoadError::Sut("the reference gateway exited before it was ready".into())),
        Ok(Err(e)) => return Err(LoadError::Sut(format!("reading the gateway's output: {e}"))),
        Err(_) => return Err(LoadError::Sut("the reference gateway was not ready within 10 s".into())),
    };
    // Keep reading so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr_after =
        |key: &str| -> Option<SocketAddr> { line.split(key).nth(1)?.split([',', ';']).next()?.trim().parse().ok() };
    let (Some(enterprise), Some(consumer)) = (addr_after("enterprise face "), addr_after("consumer face ")) else {
        return Err(LoadError::Sut(format!("cannot read the gateway's faces from `{line}`")));
    };
    Ok(Reference { child, faces: Faces { enterprise, consumer } })
}

/// Runs the load against the SUT and measures it. `tick` gets the progress once a second.
pub async fn run(run: &LoadRun, tick: impl FnMut(Tick)) -> Result<LoadReport, LoadError> {
    let domain = run.sut.enterprise_domains.first().cloned().unwrap_or_else(|| "contoso.com".into());
    let (legs, faces, mut reference, external) = match (&run.sut.kind, &run.sut.external) {
        (SutKind::External, Some(x)) => {
            let bind = |addr| Legs::bind(addr, x.harness.consumer);
            let legs = bind(x.harness.enterprise)
                .await
                .map_err(|source| LoadError::Bind { addr: x.harness.enterprise, source })?;
            let process = SutProcess::start(x, &run.log).await.map_err(|e| LoadError::Sut(e.to_string()))?;
            let faces = Faces { enterprise: x.enterprise_face.address, consumer: x.consumer_face.address };
            (legs, faces, None, Some(process))
        }
        _ => {
            let any = SocketAddr::new(run.ip, 0);
            let legs = Legs::bind(any, any).await.map_err(|source| LoadError::Bind { addr: any, source })?;
            let r = start_reference(run, &legs).await?;
            let faces = r.faces;
            (legs, faces, Some(r), None)
        }
    };
    let sut_pid = reference.as_ref().and_then(|r| r.child.id()).or_else(|| external.as_ref().and_then(SutProcess::pid));
    let probe = LagProbe::start();
    let measured = engine::run(legs, faces, &domain, &run.config, sut_pid, tick).await;
    let sut_rss = sut_pid.and_then(|p| saturation::rss_of(&p.to_string()));
    let lag = probe.finish().await;
    let rss_peak = saturation::rss_of("self").map(|r| r.1).unwrap_or_default();
    if let Some(r) = reference.as_mut() {
        if let Some(pid) = r.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), r.child.wait()).await.is_err() {
            let _ = r.child.kill().await;
        }
    }
    if let Some(p) = external {
        p.stop().await.map_err(|e| LoadError::Sut(format!("stopping: {e}")))?;
    }
    Ok(LoadReport {
        sut: run.sut.name.clone(),
        config: run.config.clone(),
        cpu: measured.cpu,
        sut_cpu: measured.sut_cpu,
        measured,
        rss_peak,
        sut_rss,
        lag,
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    })
}

/// The progress line.
pub fn progress_line(t: &Tick) -> String {
    let secs = t.elapsed.as_secs_f64().max(1e-9);
    format!(
        "t={:>5.1}s started {} ok {} failed {} in flight {} ({:.0}/s ok)",
        t.elapsed.as_secs_f64(),
        t.started,
        t.ok,
        t.failed,
        t.in_flight,
        t.ok as f64 / secs
    )
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

impl LoadReport {
    /// Successful steady-phase transactions per second.
    pub fn throughput(&self) -> f64 {
        let (_, ok, _) = self.measured.stats.totals(|k| k != Kind::Subscribe);
        ok as f64 / self.measured.steady.as_secs_f64().max(1e-9)
    }

    /// Successes over finished steady-phase transactions (skipped draws and abandoned ones
    /// count as failures: the load asked for them).
    pub fn success_ratio(&self) -> f64 {
        let (_, ok, finished) = self.measured.stats.totals(|k| k != Kind::Subscribe);
        let asked = finished + self.measured.skipped + self.measured.abandoned;
        if asked == 0 { 0.0 } else { ok as f64 / asked as f64 }
    }

    /// The run's verdict: the success ratio reached `min_percent` and the SUT sent nothing
    /// malformed.
    pub fn passed(&self, min_percent: f64) -> bool {
        self.success_ratio() * 100.0 >= min_percent && self.measured.malformed.0 == 0
    }

    /// Why the generator's figures may bound the run rather than the SUT's, if they may.
    pub fn saturation(&self) -> Option<String> {
        let steady = self.measured.steady.as_secs_f64().max(1e-9);
        let load = self.cpu.as_secs_f64() / steady;
        let mut why = Vec::new();
        if load >= 0.9 * self.cores as f64 {
            why.push(format!("it used {load:.2} of {} cores", self.cores));
        }
        if self.lag.p99 > Duration::from_millis(10) {
            why.push(format!("its scheduler ran p99 {} ms late", ms(self.lag.p99)));
        }
        if self.measured.skipped > 0 {
            why.push(format!(
                "{} draws found their agents busy (more agents needed for this rate × latency)",
                self.measured.skipped
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// The end-of-run report.
    pub fn render(&self) -> String {
        let c = &self.config;
        let m = &self.measured;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "load: SUT {}, {} agents, mix {}, {} started/s for {:.1} s, deadline {} ms per transaction",
            self.sut,
            c.users,
            c.mix,
            c.rate,
            m.steady.as_secs_f64(),
            c.deadline.as_millis()
        );
        let _ = writeln!(
            out,
            "registered {} of {} agents in {:.2} s ({:.0} subscriptions/s)",
            m.registered,
            c.users,
            m.register_time.as_secs_f64(),
            m.registered as f64 / m.register_time.as_secs_f64().max(1e-9)
        );
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "kind", "started", "ok", "failed", "success", "p50 ms", "p95 ms", "p99 ms"
        );
        for (k, s) in &m.stats.kinds {
            let _ = writeln!(
                out,
                "{:<10} {:>9} {:>9} {:>7} {:>8.3}% {:>9} {:>9} {:>9}",
                k.name(),
                s.started,
                s.ok,
                s.finished() - s.ok,
                s.success_ratio() * 100.0,
                ms(s.quantile(0.50)),
                ms(s.quantile(0.95)),
                ms(s.quantile(0.99))
            );
            for (why, n) in &s.failures {
                let _ = writeln!(out, "  {n} × {why}");
            }
        }
        let _ = writeln!(
            out,
            "throughput {:.1} transactions/s, success {:.3}% (skipped {}, abandoned {}, stray requests {})",
            self.throughput(),
            self.success_ratio() * 100.0,
            m.skipped,
            m.abandoned,
            m.strays
        );
        if let (n @ 1.., first) = &m.malformed {
            let _ = writeln!(out, "malformed SIP from the SUT: {n} (first {})", first.as_deref().unwrap_or("?"));
        }
        let steady = m.steady.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "generator: CPU {:.2} cores of {}, scheduling lag p50 {} ms p99 {} ms max {} ms, peak RSS {}",
            self.cpu.as_secs_f64() / steady,
            self.cores,
            ms(self.lag.p50),
            ms(self.lag.p99),
            ms(self.lag.max),
            mib(self.rss_peak)
        );
        match (self.sut_cpu, self.sut_rss) {
            (Some(cpu), Some((now, peak))) => {
                let _ = writeln!(
                    out,
                    "SUT process: CPU {:.2} cores, RSS {} (peak {})",
                    cpu.as_secs_f64() / steady,
                    mib(now),
                    mib(peak)
                );
            }
            _ => {
                let _ = writeln!(out, "SUT process: not known (no start command)");
            }
        }
        match self.saturation() {
            Some(why) => {
                let _ = writeln!(out, "generator SATURATED: {why}; these figures may bound the generator, not the SUT");
            }
            None => {
                let _ = writeln!(out, "generator not saturated: the figures are the SUT's");
            }
        }
        out
    }
}
