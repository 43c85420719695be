//! A simulated user's audio media (flows.md "Audio calls": "Media", "ICE", "RTCP"): one RTP and
//! one RTCP socket, the user's talk spurts and DTMF, answers to the far side's RTCP and STUN,
//! and what arrived, as a [`MediaReport`].
//!
//! Split as quinn splits quinn-proto from quinn: `session` is the sans-IO core (datagrams and
//! instants in, datagrams and events out, named timers); this module is its tokio shell: one
//! task owns both [`MediaSocket`]s and the core, and the [`MediaHandle`]s talk to it through an
//! mpsc of commands and a `watch` of reports. Drain rule of the core: after every `handle*`
//! or command, drain `poll_transmit` and `poll_event` to `None`, then re-read `poll_timeout`
//! before awaiting anything.
//!
//! Only syntax layers are used (`media`, `net`): the harness never shares dialect semantics
//! with the gateway under test.

mod session;
#[cfg(test)]
mod tests;
mod video;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use self::session::{Component, Event, JobId, Round, Session, Transmit};
pub use self::video::{KeyframeRequest, VideoLegConfig, VideoReport};
use self::video::{VideoJob, VideoSession};
use crate::media::srtp::MasterKey;
use crate::media::stats::Summary;
use crate::media::stun::{IcePassword, IceUfrag};
use crate::net::Tap;
use crate::net::media::{Datagram, MediaSocket};

/// The codec we send, as the answer's `a=rtpmap` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCodec {
    /// Payload type number on this leg.
    pub pt: u8,
    /// Encoding name (`SILK`, `PCMU`, `SILK_WB_V3`, …).
    pub name: String,
    /// RTP clock rate.
    pub clock: u32,
}

/// SDES-SRTP keys of one leg (RFC 4568): we send under ours and receive under theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The key of our own `a=crypto` line.
    pub local: MasterKey,
    /// The key of the far side's `a=crypto` line.
    pub remote: MasterKey,
}

/// ICE credentials of one leg. We are the full, controlling agent (RFC 5245 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceParams {
    /// Our `a=ice-ufrag`.
    pub local_ufrag: IceUfrag,
    /// Our `a=ice-pwd`: checks we receive are signed with it, and so are our answers.
    pub local_pwd: IcePassword,
    /// The far side's `a=ice-ufrag`.
    pub remote_ufrag: IceUfrag,
    /// The far side's `a=ice-pwd`: our checks are signed with it, and so are its answers.
    pub remote_pwd: IcePassword,
    /// Our ICE-CONTROLLING tie-breaker.
    pub tie_breaker: u64,
}

/// Everything a media session needs from the negotiated SDP.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// What we send.
    pub codec: SendCodec,
    /// The telephone-event number (one number for both directions of a leg).
    pub te_pt: Option<u8>,
    /// Our SSRC, fixed for the call.
    pub ssrc: u32,
    /// Our SDES CNAME.
    pub cname: String,
    /// Seeds the audio frames, the first sequence number and timestamp, and STUN transaction
    /// ids, so a run replays from its seed.
    pub seed: u64,
    /// Where the far side receives RTP (and sends it from).
    pub remote_rtp: SocketAddr,
    /// Where the far side receives RTCP (and sends it from).
    pub remote_rtcp: SocketAddr,
    /// SRTP keys; `None` is plain RTP/AVP.
    pub srtp: Option<SrtpKeys>,
    /// ICE credentials; `None` when the leg has no ICE.
    pub ice: Option<IceParams>,
    /// The far side's declared `a=x-ssrc-range`, checked by the receive statistics.
    pub expect_ssrc_range: Option<(u32, u32)>,
}

/// What arrived from one SSRC.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Timing-free counts (RFC 3550 A.1/A.3 bookkeeping, PROTOCOL.md §3).
    pub summary: Summary,
    /// Interarrival jitter in RTP timestamp units (RFC 3550 A.8).
    pub jitter: f64,
}

/// A snapshot of what the session saw and did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaReport {
    /// One entry per SSRC received, in order of first arrival.
    pub streams: Vec<StreamReport>,
    /// DTMF keys received (RFC 4733 events, one key per event).
    pub digits: String,
    /// MS-RTPDT rules the received telephone-events broke.
    pub dtmf_violations: Vec<String>,
    /// RTCP sender reports received.
    pub sr_received: u32,
    /// RTCP receiver reports received.
    pub rr_received: u32,
    /// ICE connectivity checks started (one per component per [`MediaHandle::check`];
    /// retransmissions not counted).
    pub checks_sent: u32,
    /// ICE connectivity checks that got a verified success response.
    pub checks_succeeded: u32,
    /// Binding requests from the far side answered with a success response.
    pub binding_requests_answered: u32,
    /// What went wrong on the wire, each naming what and where (SRTP authentication failures,
    /// undecodable packets, unexpected senders or payload types, …).
    pub errors: Vec<String>,
}

impl MediaReport {
    /// The stream from `ssrc`, if any arrived.
    pub fn stream(&self, ssrc: u32) -> Option<&StreamReport> {
        self.streams.iter().find(|s| s.ssrc == ssrc)
    }

    /// RTP packets received from all sources.
    pub fn packets(&self) -> u64 {
        self.streams.iter().map(|s| s.summary.packets).sum()
    }
}

/// What came back for a failed ICE connectivity check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckFailure {
    /// A Binding error response (e.g. 401 for a wrong password).
    ErrorResponse {
        /// ERROR-CODE number.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// A success response whose MESSAGE-INTEGRITY (or FINGERPRINT) did not verify with the
    /// far side's password; discarded, as RFC 5389 §10.1.3 says.
    Integrity {
        /// Why verification failed.
        detail: String,
    },
    /// A response from another address than the request went to (RFC 5245 §7.1.3.1).
    UnexpectedSource {
        /// Where it came from.
        from: SocketAddr,
    },
    /// Nothing came back.
    NoResponse {
        /// Requests sent, retransmissions included.
        requests: u32,
    },
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ErrorResponse { code, reason } => write!(f, "error response {code} {reason}"),
            Self::Integrity { detail } => {
                write!(f, "a success response that failed verification with the remote password ({detail})")
            }
            Self::UnexpectedSource { from } => write!(f, "a response from an unexpected address {from}"),
            Self::NoResponse { requests } => write!(f, "no response to {requests} requests"),
        }
    }
}

/// Errors of the media layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The configuration cannot be used (bad payload type, clock, key or range).
    #[error("bad media configuration: {0}")]
    Config(String),
    /// An ICE connectivity check failed; `component` is 1 (RTP) or 2 (RTCP).
    #[error("ICE check of component {component} failed: {failure}")]
    Check {
        /// The ICE component.
        component: u16,
        /// What came back.
        failure: CheckFailure,
    },
    /// A check was asked of a leg without ICE.
    #[error("no ICE parameters: this leg does not check connectivity")]
    NoIce,
    /// Digits were asked of a leg without telephone-event.
    #[error("no telephone-event payload type negotiated")]
    NoTelephoneEvent,
    /// A character that is no DTMF key.
    #[error("{0:?} is not a DTMF key")]
    BadDigit(char),
    /// A newer check replaced this one before it ended.
    #[error("ICE check superseded by a newer one")]
    Superseded,
    /// The session was stopped.
    #[error("media session stopped")]
    Stopped,
}

/// Two bound sockets, RTP on an even port and RTCP on the next (RFC 3550 §11), before the
/// session starts.
#[derive(Debug)]
pub struct MediaEndpoint {
    rtp: MediaSocket,
    rtcp: MediaSocket,
}

impl MediaEndpoint {
    /// Binds an even/odd RTP/RTCP pair on `ip`; `tap` = `Some((tap, label))` records every
    /// datagram.
    pub async fn bind(ip: IpAddr, tap: Option<(Tap, String)>) -> io::Result<Self> {
        let (rtp, rtcp) = MediaSocket::bind_pair(ip, tap).await?;
        Ok(Self { rtp, rtcp })
    }

    /// Our RTP address (component 1).
    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr()
    }

    /// Our RTCP address (component 2).
    pub fn rtcp_addr(&self) -> SocketAddr {
        self.rtcp.local_addr()
    }

    /// Starts the session task (reading both sockets, answering RTCP and STUN). Must be called
    /// inside a tokio runtime. Errors on a configuration the core refuses.
    pub fn start(mut self, cfg: MediaConfig) -> Result<MediaHandle, MediaError> {
        let session = Session::new(cfg, Instant::now(), ntp_now())?;
        let (data_tx, data_rx) = mpsc::unbounded_channel();
        self.rtp.start_reading(data_tx.clone());
        self.rtcp.start_reading(data_tx);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (report_tx, report_rx) = watch::channel(session.report());
        let task = tokio::spawn(run(session, self, data_rx, cmd_rx, report_tx));
        Ok(MediaHandle { cmd: cmd_tx, report: report_rx, task: task.abort_handle() })
    }
}

impl MediaEndpoint {
    /// Starts a video session on the pair (PROTOCOL.md §3.4): frames are sent on command,
    /// received ones reassembled, keyframe requests answered with an IDR.
    pub fn start_video(mut self, cfg: VideoLegConfig) -> Result<VideoHandle, MediaError> {
        let session = VideoSession::new(cfg).map_err(MediaError::Config)?;
        let (data_tx, data_rx) = mpsc::unbounded_channel();
        self.rtp.start_reading(data_tx.clone());
        self.rtcp.start_reading(data_tx);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (report_tx, report_rx) = watch::channel(session.report());
        let task = tokio::spawn(run_video(session, self, data_rx, cmd_rx, report_tx));
        Ok(VideoHandle { cmd: cmd_tx, report: report_rx, task: task.abort_handle() })
    }
}

#[derive(Debug)]
enum VideoCommand {
    Frames { frames: u32, reply: oneshot::Sender<Result<(), MediaError>> },
    Keyframe(KeyframeRequest),
}

/// A running video session. Clones share it; the task ends on [`VideoHandle::stop`].
#[derive(Debug, Clone)]
pub struct VideoHandle {
    cmd: mpsc::UnboundedSender<VideoCommand>,
    report: watch::Receiver<VideoReport>,
    task: AbortHandle,
}

impl VideoHandle {
    /// Sends `frames` access units at the session's frame rate; `Ok` once the last is out.
    pub async fn send_frames(&self, frames: u32) -> Result<(), MediaError> {
        let (reply, answer) = oneshot::channel();
        self.cmd.send(VideoCommand::Frames { frames, reply }).map_err(|_| MediaError::Stopped)?;
        answer.await.map_err(|_| MediaError::Stopped)?
    }

    /// Sends a keyframe request (PLI, FIR or VSR) about the far side's stream.
    pub fn request_keyframe(&self, kind: KeyframeRequest) {
        let _ = self.cmd.send(VideoCommand::Keyframe(kind));
    }

    /// What the session saw so far.
    pub fn report(&self) -> VideoReport {
        self.report.borrow().clone()
    }

    /// Waits until `pred` holds for the report or `within` passes; `Err` carries the last one.
    pub async fn wait_until(
        &self,
        within: Duration,
        pred: impl Fn(&VideoReport) -> bool,
    ) -> Result<VideoReport, VideoReport> {
        let mut rx = self.report.clone();
        let met = match tokio::time::timeout(within, rx.wait_for(|r| pred(r))).await {
            Ok(Ok(r)) => Some(r.clone()),
            Ok(Err(_)) | Err(_) => None,
        };
        met.ok_or_else(|| rx.borrow().clone())
    }

    /// Stops the task and closes the sockets (idempotent).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// The video session task: the same drain rule as the audio one.
async fn run_video(
    mut session: VideoSession,
    sockets: MediaEndpoint,
    mut data: mpsc::UnboundedReceiver<Datagram>,
    mut commands: mpsc::UnboundedReceiver<VideoCommand>,
    report: watch::Sender<VideoReport>,
) {
    let rtp_addr = sockets.rtp_addr();
    let mut jobs: HashMap<VideoJob, oneshot::Sender<Result<(), MediaError>>> = HashMap::new();
    loop {
        while let Some(Transmit { component, dst, bytes }) = session.poll_transmit() {
            let socket = match component {
                Component::Rtp => &sockets.rtp,
                Component::Rtcp => &sockets.rtcp,
            };
            if let Err(e) = socket.send_to(&bytes, dst).await {
                session.record_error(format!("video send to {dst}: {e}"));
            }
        }
        while let Some(job) = session.poll_event() {
            if let Some(reply) = jobs.remove(&job) {
                let _ = reply.send(Ok(()));
            }
        }
        report.send_if_modified(|shown| {
            let now = session.report();
            let changed = *shown != now;
            if changed {
                *shown = now;
            }
            changed
        });
        let deadline = session.poll_timeout();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(d) = data.recv() => {
                let component = if d.local == rtp_addr { Component::Rtp } else { Component::Rtcp };
                session.handle(component, d.from, &d.bytes);
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    VideoCommand::Frames { frames, reply } => {
                        jobs.insert(session.send_frames(Instant::now(), frames), reply);
                    }
                    VideoCommand::Keyframe(kind) => session.request_keyframe(kind),
                }
            }
            () = timer => session.handle_timeout(Instant::now()),
        }
    }
}

/// A request from a handle to the session task.
#[derive(Debug)]
enum Command {
    Check { within: Duration, reply: oneshot::Sender<Result<(), MediaError>> },
    Speak { packets: u32, reply: oneshot::Sender<Result<(), MediaError>> },
    Digits { digits: String, reply: oneshot::Sender<Result<(), MediaError>> },
    Sending(bool),
}

/// A running media session. Clones share it; the task ends on [`MediaHandle::stop`] or when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    cmd: mpsc::UnboundedSender<Command>,
    report: watch::Receiver<MediaReport>,
    task: AbortHandle,
}

impl MediaHandle {
    /// Runs ICE connectivity checks (only with `cfg.ice`): one Binding request per component
    /// (RTP from the RTP socket to `remote_rtp`, RTCP from the RTCP socket to `remote_rtcp`)
    /// with USERNAME `<remote ufrag>:<local ufrag>`, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
    /// MESSAGE-INTEGRITY (remote password) and FINGERPRINT, retransmitted per RFC 5389 §7.2.1
    /// (RTO 100 ms, doubling, at most 7 requests) until a success response that verifies.
    /// `Ok` when both components succeeded; the error names the component and what came back
    /// (an error response, a response that failed verification, nothing) within `within`.
    pub async fn check(&self, within: Duration) -> Result<(), MediaError> {
        self.ask(|reply| Command::Check { within, reply }).await
    }

    /// Sends a talk spurt of `packets` RTP packets, one per 20 ms, the marker on the first,
    /// sequence numbers and timestamps continuing across spurts; then one compound SR + SDES.
    /// SRTP/SRTCP when the leg has keys. On hold ([`MediaHandle::set_sending`] `false`) it
    /// sends nothing and returns `Ok`.
    pub async fn speak(&self, packets: u32) -> Result<(), MediaError> {
        self.ask(|reply| Command::Speak { packets, reply }).await
    }

    /// Sends DTMF keys as RFC 4733 events on the telephone-event number (100 ms each, one
    /// packet per 20 ms, timestamps in step with the audio), then one SR + SDES.
    pub async fn send_digits(&self, digits: &str) -> Result<(), MediaError> {
        let digits = digits.to_owned();
        self.ask(|reply| Command::Digits { digits, reply }).await
    }

    /// Holds (`false`: nothing more is sent, a spurt under way is cut short) or resumes.
    /// Ordered with the other commands of this handle.
    pub fn set_sending(&self, on: bool) {
        let _ = self.cmd.send(Command::Sending(on));
    }

    /// What the session saw so far.
    pub fn report(&self) -> MediaReport {
        self.report.borrow().clone()
    }

    /// Waits until `pred` holds for the report (checked on every change: each datagram
    /// received, each thing sent) or `within` passes; `Err` carries the last report.
    pub async fn wait_until(
        &self,
        within: Duration,
        pred: impl Fn(&MediaReport) -> bool,
    ) -> Result<MediaReport, MediaReport> {
        let mut rx = self.report.clone();
        let met = match tokio::time::timeout(within, rx.wait_for(|r| pred(r))).await {
            Ok(Ok(r)) => Some(r.clone()),
            Ok(Err(_)) | Err(_) => None,
        };
        met.ok_or_else(|| rx.borrow().clone())
    }

    /// Stops the task and closes the sockets (idempotent).
    pub fn stop(&self) {
        self.task.abort();
    }

    async fn ask(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), MediaError>>) -> Command,
    ) -> Result<(), MediaError> {
        let (reply, answer) = oneshot::channel();
        self.cmd.send(command(reply)).map_err(|_| MediaError::Stopped)?;
        answer.await.map_err(|_| MediaError::Stopped)?
    }
}

/// Seconds from the NTP era (1900) to the Unix epoch (RFC 868).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The wall clock as a 64-bit NTP timestamp (32.32 fixed point), for SRs.
fn ntp_now() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | frac
}

type Reply = oneshot::Sender<Result<(), MediaError>>;

/// The session task: feeds the core, sends what it returns, answers the handles.
async fn run(
    mut session: Session,
    sockets: MediaEndpoint,
    mut data: mpsc::UnboundedReceiver<Datagram>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    report: watch::Sender<MediaReport>,
) {
    let rtp_addr = sockets.rtp_addr();
    let mut jobs: HashMap<JobId, Reply> = HashMap::new();
    let mut rounds: HashMap<Round, Reply> = HashMap::new();
    loop {
        // Drain rule: transmits, then events, then the report, then the next timeout.
        while let Some(t) = session.poll_transmit() {
            let socket = match t.component {
                Component::Rtp => &sockets.rtp,
                Component::Rtcp => &sockets.rtcp,
            };
            if let Err(e) = socket.send_to(&t.bytes, t.dst).await {
                session.record_error(format!("send to {} from component {}: {e}", t.dst, t.component.id()));
            }
        }
        while let Some(event) = session.poll_event() {
            let (reply, result) = match event {
                Event::Sent(job) => (jobs.remove(&job), Ok(())),
                Event::Checked { round, result } => (rounds.remove(&round), result),
            };
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
        report.send_if_modified(|shown| {
            let now = session.report();
            let changed = *shown != now;
            if changed {
                *shown = now;
            }
            changed
        });
        let deadline = session.poll_timeout();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(d) = data.recv() => {
                let component = if d.local == rtp_addr { Component::Rtp } else { Component::Rtcp };
                session.handle(d.at, component, d.from, &d.bytes);
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                let now = Instant::now();
                match command {
                    Command::Check { within, reply } => match session.check(now, within) {
                        Ok(round) => {
                            rounds.insert(round, reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    },
                    Command::Speak { packets, reply } => {
                        jobs.insert(session.speak(now, packets), reply);
                    }
                    Command::Digits { digits, reply } => match session.send_digits(now, &digits) {
                        Ok(job) => {
                            jobs.insert(job, reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    },
                    Command::Sending(on) => session.set_sending(on),
                }
            }
            () = timer => session.handle_timeout(Instant::now()),
        }
    }
}
