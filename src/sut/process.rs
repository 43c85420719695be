//! An external SUT's lifecycle: its start command in a process group of its own (so a
//! gateway that forks, as Kamailio does, is stopped whole), its log, and the readiness probe.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::{External, Face};
use crate::net::{EndpointConfig, Tap, start};
use crate::sip::txn::Peer;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// How long a stopped gateway's process group may take to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Why an external SUT could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SutError {
    /// The start command could not be spawned.
    #[error("external.start: cannot run `{command}`: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The start command exited before the gateway answered.
    #[error(
        "external.start: `{command}` exited ({status}) before the gateway was ready; its log ({log}) ends:\n{tail}"
    )]
    Exited {
        /// The command.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its log file.
        log: String,
        /// The log's last lines.
        tail: String,
    },
    /// No 200 to OPTIONS from a face before the deadline.
    #[error("readiness: the {face} face {addr} ({transport}) did not answer OPTIONS with 200 within {ms} ms: {last}")]
    NotReady {
        /// Which face.
        face: &'static str,
        /// Its address.
        addr: SocketAddr,
        /// Its transport.
        transport: &'static str,
        /// The deadline.
        ms: u64,
        /// The last attempt's outcome.
        last: String,
    },
    /// Local I/O (the log file, the probe's socket).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the start and stop commands find in their environment: `FEDCERT`, this executable,
/// and `FEDCERT_PROFILE_DIR`, the profile's directory (for config files beside it).
fn command_env(x: &External) -> Vec<(&'static str, std::ffi::OsString)> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("fedcert"));
    let mut env = vec![("FEDCERT", exe.into_os_string())];
    if let Some(dir) = &x.profile_dir {
        env.push(("FEDCERT_PROFILE_DIR", dir.clone().into_os_string()));
    }
    env
}

/// A started external gateway. Stop it with [`SutProcess::stop`]; dropped without that, its
/// process group is killed.
#[derive(Debug)]
pub struct SutProcess {
    child: Option<Child>,
    pgid: Option<Pid>,
    command: String,
    stop: Option<String>,
    log: PathBuf,
    /// The environment both commands get.
    env: Vec<(&'static str, std::ffi::OsString)>,
}

impl SutProcess {
    /// Runs the profile's start command (if any), then probes both faces until each answers
    /// OPTIONS with 200. The command's output goes to `log` (appended).
    pub async fn start(x: &External, log: &Path) -> Result<Self, SutError> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut me = Self {
            child: None,
            pgid: None,
            command: x.start.clone().unwrap_or_default(),
            stop: x.stop.clone(),
            log: log.to_owned(),
            env: command_env(x),
        };
        if let Some(command) = &x.start {
            let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
            let err = out.try_clone()?;
            let child = Command::new("sh")
                .arg("-c")
                .arg(command)
                .envs(me.env.iter().cloned())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .map_err(|source| SutError::Spawn { command: command.clone(), source })?;
            me.pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
            me.child = Some(child);
        }
        let deadline = Instant::now() + x.ready_timeout();
        for (face, f) in [("enterprise", x.enterprise_face), ("consumer", x.consumer_face)] {
            me.await_ready(face, f, deadline, x.ready_timeout_ms).await?;
        }
        Ok(me)
    }

    /// Probes one face; fails early when the start command has exited.
    async fn await_ready(&mut self, face: &'static str, f: Face, deadline: Instant, ms: u64) -> Result<(), SutError> {
        let bind = if f.address.is_ipv4() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        };
        let (ep, _incoming) = start(EndpointConfig::ephemeral(bind), Tap::new(), "probe").await?;
        let peer = Peer { addr: f.address, reliable: f.reliable() };
        let mut rng = fastrand::Rng::with_seed(u64::from(f.address.port()));
        let mut last = String::from("no attempt");
        let mut n = 0u32;
        let result = loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                break Err(SutError::Exited {
                    command: self.command.clone(),
                    status,
                    log: self.log.display().to_string(),
                    tail: tail(&self.log, 20),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(SutError::NotReady {
                    face,
                    addr: f.address,
                    transport: if f.reliable() { "tcp" } else { "udp" },
                    ms,
                    last,
                });
            }
            n += 1;
            let req = options(&ep.via(f.reliable(), &mut rng), f.address, n);
            // One attempt waits at most 500 ms: a UDP request's own Timer F is 32 s.
            let wait = (deadline - now).min(Duration::from_millis(500));
            match tokio::time::timeout(wait, ep.request(req, peer)).await {
                Ok(Ok(r)) if r.status() == Some(200) => break Ok(()),
                Ok(Ok(r)) => last = format!("answered {}", r.status().unwrap_or(0)),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = format!("no answer in {} ms", wait.as_millis()),
            }
            // Pacing between attempts of a probe (not a test wait): a refused TCP connect
            // returns at once, and the gateway needs a moment to bind.
            tokio::time::sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now()))).await;
        };
        ep.shutdown();
        result
    }

    /// Kills the whole process group at once (SIGKILL), as a crash would end it, and waits
    /// for the start command to be reaped: a fault probe, not a way to stop.
    pub async fn kill(&mut self) -> Result<(), SutError> {
        let Some(pgid) = self.pgid else {
            return Err(SutError::Io(std::io::Error::other(
                "the profile has no start command: fedcert did not start this SUT",
            )));
        };
        let _ = killpg(pgid, Signal::SIGKILL);
        if let Some(child) = self.child.as_mut() {
            tokio::time::timeout(TERM_GRACE, child.wait())
                .await
                .map_err(|_| SutError::Io(std::io::Error::other("the SUT did not exit after SIGKILL")))??;
        }
        Ok(())
    }

    /// When the start command has exited (on its own, or killed): how, with its log's tail.
    /// `None` while it runs, or when there is no start command.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(format!(
            "the SUT process (`{}`) exited during the scenario: {status}; last lines of {}:\n{}",
            self.command,
            self.log.display(),
            tail(&self.log, 10)
        ))
    }

    /// The start command's process id (its process group leader), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Runs the stop command (bounded), then ends the start command's process group: SIGTERM,
    /// and SIGKILL for what is left after a grace period. Returns once the group is gone.
    pub async fn stop(mut self) -> Result<(), SutError> {
        if let Some(cmd) = self.stop.take() {
            let status = Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .envs(self.env.iter().cloned())
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .status();
            match tokio::time::timeout(TERM_GRACE, status).await {
                Ok(Ok(s)) if s.success() => {}
                Ok(Ok(s)) => tracing::warn!("external.stop: `{cmd}` exited with {s}"),
                Ok(Err(e)) => tracing::warn!("external.stop: cannot run `{cmd}`: {e}"),
                Err(_) => tracing::warn!("external.stop: `{cmd}` did not finish in {TERM_GRACE:?}"),
            }
        }
        let Some(pgid) = self.pgid.take() else { return Ok(()) };
        let _ = killpg(pgid, Signal::SIGTERM);
        let deadline = Instant::now() + TERM_GRACE;
        if let Some(child) = self.child.as_mut() {
            let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
        }
        // The leader may be gone while forked children still hold the ports.
        while group_alive(pgid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if group_alive(pgid) {
            tracing::warn!("the SUT's process group {pgid} outlived SIGTERM by {TERM_GRACE:?}: SIGKILL");
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        self.child = None;
        Ok(())
    }
}

impl Drop for SutProcess {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// True while any process of the group exists (signal 0 probes without sending).
fn group_alive(pgid: Pid) -> bool {
    killpg(pgid, None).is_ok()
}

/// The last `n` lines of a log.
fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An OPTIONS to the gateway itself (no user part: RFC 3261 §11 capability query).
fn options(via: &str, to: SocketAddr, n: u32) -> Message {
    let uri = format!("sip:{to}");
    MessageBuilder::request(Method::OPTIONS, &uri)
        .header("Via", via)
        .header("Max-Forwards", "70")
        .header("From", "<sip:probe@fedcert.invalid>;tag=probe")
        .header("To", format!("<{uri}>"))
        .header("Call-ID", format!("fedcert-probe-{}-{n}", to.port()))
        .header("CSeq", format!("{n} OPTIONS"))
        .build()
}
