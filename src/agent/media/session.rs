//! The sans-IO core of one user's audio stream: no sockets, no clock reads, no tasks. Time
//! comes in as arguments; datagrams go out through [`Session::poll_transmit`], completions
//! through [`Session::poll_event`], and [`Session::poll_timeout`] names the next instant it
//! needs to be woken at (drain rule: after any `handle*` or command, drain both polls to
//! `None` and re-read `poll_timeout` before waiting).
//!
//! What it does (flows.md "Audio calls", PROTOCOL.md §3):
//! - ICE as the full, controlling agent: one Binding request per component with
//!   USE-CANDIDATE, retransmitted per RFC 5389 §7.2.1 (RTO 100 ms doubling, Rc = 7, a final
//!   wait of Rm = 16 RTOs); it answers the far side's checks with our password.
//! - Talk spurts paced at 20 ms (the [`Timer::Pace`] timer), DTMF per RFC 4733 in the same
//!   sequence and timestamp space, each ended by one compound SR + SDES.
//! - Receive: RFC 7983 demux, SRTP/SRTCP unprotect, per-SSRC [`ReceiveStats`], DTMF
//!   reassembly, an RR + SDES answer to every SR; whatever does not fit is an error string
//!   in the report, never a panic.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{CheckFailure, IceParams, MediaConfig, MediaError, MediaReport, StreamReport};
use crate::media::demux::{PacketKind, classify};
use crate::media::dtmf::{self, DtmfPacket, DtmfReceiver};
use crate::media::rtcp::{self, ReceiverReport, ReportBlock, Rtcp, SdesCname, SenderInfo, SenderReport};
use crate::media::rtp::{self, RtpHeader, Ssrc, SsrcRange};
use crate::media::source::{AudioCodec, AudioSource};
use crate::media::srtp::SrtpSession;
use crate::media::stats::{ReceiveStats, StreamConfig};
use crate::media::stun::{
    BindingErrorCode, BindingRequest, IceRole, StunClass, StunMessage, StunMethod, TransactionId,
};

/// Packetisation time of everything we send.
pub(super) const PTIME: Duration = Duration::from_millis(20);
/// RFC 5389 §7.2.1 initial retransmission timeout.
pub(super) const RTO: Duration = Duration::from_millis(100);
/// RFC 5389 §7.2.1 Rc: requests sent in all.
pub(super) const MAX_REQUESTS: u32 = 7;
/// RFC 5389 §7.2.1 Rm: after the last request, wait this many initial RTOs.
const FINAL_WAIT_RTOS: u32 = 16;
/// Length of one DTMF key press.
const DIGIT_MS: u32 = 100;
/// Power level of our tones, in −dBm0.
const DIGIT_VOLUME: u8 = 10;
/// Errors kept in the report; more are counted in one closing line.
const MAX_ERRORS: usize = 256;
/// RFC 5245 §4.1.2.2 type preference of a peer-reflexive candidate.
const PRFLX_TYPE_PREFERENCE: u32 = 110;

/// An ICE component: which of the two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Component {
    /// Component 1: RTP.
    Rtp,
    /// Component 2: RTCP.
    Rtcp,
}

impl Component {
    /// The ICE component id.
    pub(super) fn id(self) -> u16 {
        match self {
            Self::Rtp => 1,
            Self::Rtcp => 2,
        }
    }

    fn index(self) -> usize {
        usize::from(self == Self::Rtcp)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rtp => "RTP",
            Self::Rtcp => "RTCP",
        }
    }

    const BOTH: [Self; 2] = [Self::Rtp, Self::Rtcp];
}

/// A datagram to send from one of our sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Transmit {
    /// The socket to send from.
    pub component: Component,
    /// Where to.
    pub dst: SocketAddr,
    /// What.
    pub bytes: Vec<u8>,
}

/// A talk spurt or a run of digits, to be reported done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct JobId(u64);

/// One [`Session::check`] call, to be reported done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Round(u64);

/// Something for the shell to pass on to a waiting handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Event {
    /// A spurt or digit run is sent (or was dropped on hold).
    Sent(JobId),
    /// A round of checks ended.
    Checked {
        /// Which.
        round: Round,
        /// How.
        result: Result<(), MediaError>,
    },
}

/// The session's timers; the next wake-up is the earliest armed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The next 20 ms packet slot of the send queue.
    Pace,
    /// The next retransmission of a component's check, or its final wait's end.
    Retransmit(Component),
    /// The `within` of the running round of checks.
    CheckDeadline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CheckState {
    InProgress,
    Succeeded,
    Failed(CheckFailure),
}

/// One component's connectivity check: an RFC 5389 client transaction.
#[derive(Debug)]
struct Check {
    tid: TransactionId,
    request: Vec<u8>,
    dst: SocketAddr,
    requests: u32,
    /// When the next retransmission is due (or, after the last, the final wait ends).
    next: Instant,
    /// The interval before `next` was set; doubles per retransmission.
    rto: Duration,
    state: CheckState,
    /// The last thing that came back without completing the check.
    seen: Option<CheckFailure>,
}

#[derive(Debug)]
struct Checks {
    round: Round,
    deadline: Instant,
    by_component: [Check; 2],
}

#[derive(Debug)]
enum JobKind {
    Speech { left: u32, first: bool },
    Digits { keys: VecDeque<char>, packets: VecDeque<DtmfPacket> },
}

#[derive(Debug)]
struct Job {
    id: JobId,
    kind: JobKind,
}

/// The send side: sequence and timestamp space, the frame source, the paced queue.
#[derive(Debug)]
struct Sender {
    seq: u16,
    /// Timestamp of the next 20 ms slot.
    ts: u32,
    step: u32,
    source: AudioSource,
    packets: u32,
    octets: u32,
    sending: bool,
    queue: VecDeque<Job>,
    /// When the next slot is due ([`Timer::Pace`]).
    next_slot: Option<Instant>,
    /// When the last packet went, so a new spurt keeps 20 ms from it.
    last_slot: Option<Instant>,
}

/// The sans-IO media session of one call leg.
#[derive(Debug)]
pub(super) struct Session {
    cfg: MediaConfig,
    epoch: Instant,
    epoch_ntp: u64,
    rng: fastrand::Rng,
    srtp: Option<SrtpSession>,
    stream: StreamConfig,
    sender: Sender,
    /// Per source, in order of first arrival.
    received: Vec<(u32, ReceiveStats)>,
    dtmf: DtmfReceiver,
    checks: Option<Checks>,
    /// Transaction ids of earlier rounds, whose late answers are no error.
    old_tids: HashSet<TransactionId>,
    next_id: u64,
    report: MediaReport,
    errors_dropped: u64,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Session {
    /// A session started at `now`, when the wall clock read `ntp_now` (NTP 32.32, for SRs).
    pub(super) fn new(cfg: MediaConfig, now: Instant, ntp_now: u64) -> Result<Self, MediaError> {
        let bad = |what: String| Err(MediaError::Config(what));
        if cfg.codec.pt > 127 {
            return bad(format!("payload type {} is above 127", cfg.codec.pt));
        }
        let step = u32::try_from(u64::from(cfg.codec.clock) * PTIME.as_millis() as u64 / 1000).unwrap_or(0);
        if step == 0 {
            return bad(format!("clock rate {} gives no samples per 20 ms", cfg.codec.clock));
        }
        match cfg.te_pt {
            Some(te) if te > 127 => return bad(format!("telephone-event payload type {te} is above 127")),
            Some(te) if te == cfg.codec.pt => return bad(format!("telephone-event and codec share number {te}")),
            _ => {}
        }
        if let Some((first, last)) = cfg.expect_ssrc_range
            && first > last
        {
            return bad(format!("SSRC range {first}-{last} is empty"));
        }
        let srtp = match &cfg.srtp {
            Some(keys) => Some(
                SrtpSession::new(&keys.local, &keys.remote).map_err(|e| MediaError::Config(format!("SRTP: {e}")))?,
            ),
            None => None,
        };
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let codec = AudioCodec::from_rtpmap(&cfg.codec.name, cfg.codec.clock);
        let sender = Sender {
            seq: rng.u16(..),
            ts: rng.u32(..),
            step,
            source: AudioSource::with_ptime(codec, PTIME, cfg.seed),
            packets: 0,
            octets: 0,
            sending: true,
            queue: VecDeque::new(),
            next_slot: None,
            last_slot: None,
        };
        let stream = StreamConfig {
            clock_rate: cfg.codec.clock,
            samples_per_packet: Some(step),
            dtmf_pt: cfg.te_pt,
            ssrc_range: cfg.expect_ssrc_range.map(SsrcRange::from),
        };
        Ok(Self {
            cfg,
            epoch: now,
            epoch_ntp: ntp_now,
            rng,
            srtp,
            stream,
            sender,
            received: Vec::new(),
            dtmf: DtmfReceiver::new(),
            checks: None,
            old_tids: HashSet::new(),
            next_id: 0,
            report: MediaReport::default(),
            errors_dropped: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    // === outputs ===

    /// The next datagram to send.
    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next completion to report.
    pub(super) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(_, at)| at)
    }

    /// The earliest armed timer.
    pub(super) fn next_timer(&self) -> Option<(Timer, Instant)> {
        let pace = self.sender.next_slot.map(|at| (Timer::Pace, at));
        let checks = self.checks.iter().flat_map(|c| {
            let retransmits = Component::BOTH
                .into_iter()
                .filter(|comp| c.by_component[comp.index()].state == CheckState::InProgress)
                .map(|comp| (Timer::Retransmit(comp), c.by_component[comp.index()].next));
            let running = c.by_component.iter().any(|k| k.state == CheckState::InProgress);
            retransmits.chain(running.then_some((Timer::CheckDeadline, c.deadline)))
        });
        pace.into_iter().chain(checks).min_by_key(|(_, at)| *at)
    }

    /// What the session saw so far.
    pub(super) fn report(&self) -> MediaReport {
        let mut report = self.report.clone();
        report.streams = self
            .received
            .iter()
            .map(|(ssrc, stats)| StreamReport { ssrc: *ssrc, summary: stats.summary(), jitter: stats.jitter() })
            .collect();
        report.digits = self.dtmf.digits();
        report.dtmf_violations = self.dtmf.violations().iter().map(|v| format!("{v:?}")).collect();
        if self.errors_dropped > 0 {
            report.errors.push(format!("{} more errors not recorded", self.errors_dropped));
        }
        report
    }

    /// Notes a failure the shell met (a send that failed).
    pub(super) fn record_error(&mut self, what: String) {
        if self.report.errors.len() < MAX_ERRORS {
            self.report.errors.push(what);
        } else {
            self.errors_dropped += 1;
        }
    }

    // === commands ===

    /// Starts a round of connectivity checks on both components; it ends by `now + within`.
    /// A round still running is ended as superseded.
    pub(super) fn check(&mut self, now: Instant, within: Duration) -> Result<Round, MediaError> {
        let ice = self.cfg.ice.clone().ok_or(MediaError::NoIce)?;
        if let Some(old) = self.checks.take() {
            self.old_tids.extend(old.by_component.iter().map(|c| c.tid));
            if old.by_component.iter().any(|c| c.state == CheckState::InProgress) {
                self.events.push_back(Event::Checked { round: old.round, result: Err(MediaError::Superseded) });
            }
        }
        let round = Round(self.fresh_id());
        let mut build = |component: Component, dst: SocketAddr| -> Result<Check, MediaError> {
            let tid = TransactionId::random(&mut self.rng);
            let request = binding_request(&ice, tid, component)?;
            Ok(Check { tid, request, dst, requests: 0, next: now, rto: RTO, state: CheckState::InProgress, seen: None })
        };
        let by_component = [build(Component::Rtp, self.cfg.remote_rtp)?, build(Component::Rtcp, self.cfg.remote_rtcp)?];
        self.checks = Some(Checks { round, deadline: now + within, by_component });
        for component in Component::BOTH {
            self.report.checks_sent += 1;
            self.send_request(component, now);
        }
        Ok(round)
    }

    /// Queues a talk spurt of `packets` packets; done at once on hold or for none.
    pub(super) fn speak(&mut self, now: Instant, packets: u32) -> JobId {
        let id = JobId(self.fresh_id());
        self.enqueue(now, Job { id, kind: JobKind::Speech { left: packets, first: true } });
        id
    }

    /// Queues DTMF keys on the telephone-event number.
    pub(super) fn send_digits(&mut self, now: Instant, digits: &str) -> Result<JobId, MediaError> {
        if self.cfg.te_pt.is_none() {
            return Err(MediaError::NoTelephoneEvent);
        }
        if let Some(bad) = digits.chars().find(|d| dtmf::digit_to_event(*d).is_none()) {
            return Err(MediaError::BadDigit(bad));
        }
        let id = JobId(self.fresh_id());
        self.enqueue(
            now,
            Job { id, kind: JobKind::Digits { keys: digits.chars().collect(), packets: VecDeque::new() } },
        );
        Ok(id)
    }

    /// Holds (drops the queue, a spurt under way is cut short without its SR) or resumes.
    pub(super) fn set_sending(&mut self, on: bool) {
        self.sender.sending = on;
        if !on {
            self.sender.next_slot = None;
            while let Some(job) = self.sender.queue.pop_front() {
                self.events.push_back(Event::Sent(job.id));
            }
        }
    }

    // === inputs ===

    /// One datagram received at `now` on `component` from `from`.
    pub(super) fn handle(&mut self, now: Instant, component: Component, from: SocketAddr, bytes: &[u8]) {
        let kind = classify(bytes);
        let expected = self.remote(component);
        if from != expected {
            let what = format!("{kind:?} datagram");
            self.error(component, from, &what, format!("unexpected sender (expected {expected})"));
        }
        match kind {
            PacketKind::Stun => self.on_stun(component, from, bytes),
            PacketKind::Rtp => {
                if component == Component::Rtcp {
                    self.error(component, from, "RTP", "RTP on the RTCP component".into());
                }
                self.on_rtp(now, component, from, bytes);
            }
            PacketKind::Rtcp => {
                if component == Component::Rtp {
                    self.error(component, from, "RTCP", "RTCP on the RTP component".into());
                }
                self.on_rtcp(now, component, from, bytes);
            }
            PacketKind::Dtls | PacketKind::Other => {
                let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
                let detail = format!("undecodable {kind:?} datagram of {} bytes ({})", bytes.len(), head.join(" "));
                self.error(component, from, "datagram", detail);
            }
        }
    }

    /// Fires every timer due at `now`.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        self.pump(now);
        self.retransmit(now);
        if let Some(checks) = &self.checks
            && checks.deadline <= now
            && checks.by_component.iter().any(|c| c.state == CheckState::InProgress)
        {
            self.end_round_at_deadline();
        }
    }

    // === send side ===

    fn enqueue(&mut self, now: Instant, job: Job) {
        let empty = match &job.kind {
            JobKind::Speech { left, .. } => *left == 0,
            JobKind::Digits { keys, .. } => keys.is_empty(),
        };
        if !self.sender.sending || empty {
            self.events.push_back(Event::Sent(job.id));
            return;
        }
        self.sender.queue.push_back(job);
        if self.sender.next_slot.is_none() {
            let spaced = self.sender.last_slot.map_or(now, |last| (last + PTIME).max(now));
            self.sender.next_slot = Some(spaced);
        }
        self.pump(now);
    }

    /// Sends one packet per slot due by `now` (a late wake-up sends the missed slots at once,
    /// as `MissedTickBehavior::Burst` would).
    fn pump(&mut self, now: Instant) {
        while let Some(slot) = self.sender.next_slot.filter(|slot| *slot <= now) {
            self.send_slot(now);
            self.sender.last_slot = Some(slot);
            self.sender.next_slot = (!self.sender.queue.is_empty()).then_some(slot + PTIME);
        }
    }

    fn send_slot(&mut self, now: Instant) {
        let cfg = &self.cfg;
        let Sender { seq, ts, step, source, packets: sent, octets, queue, .. } = &mut self.sender;
        let Some(job) = queue.front_mut() else { return };
        let base = RtpHeader { seq: *seq, ssrc: Ssrc(cfg.ssrc), ..RtpHeader::default() };
        let (header, payload, finished) = match &mut job.kind {
            JobKind::Speech { left, first } => {
                let header = RtpHeader { pt: cfg.codec.pt, marker: std::mem::take(first), timestamp: *ts, ..base };
                *left -= 1;
                (header, source.next_frame().payload, *left == 0)
            }
            JobKind::Digits { keys, packets } => {
                if packets.is_empty()
                    && let Some(key) = keys.pop_front()
                {
                    // Validated when queued, so this yields packets. The event starts at the
                    // slot's audio timestamp; each of its packets takes one slot.
                    packets.extend(dtmf::digit_packets(key, DIGIT_MS, DIGIT_VOLUME, *ts).unwrap_or_default());
                }
                let p = packets.pop_front();
                let finished = packets.is_empty() && keys.is_empty();
                let Some(p) = p else {
                    // Unreachable for validated keys; end the job rather than stall the queue.
                    let id = job.id;
                    queue.pop_front();
                    self.events.push_back(Event::Sent(id));
                    return;
                };
                let te = cfg.te_pt.unwrap_or_default();
                let header = RtpHeader { pt: te, marker: p.marker, timestamp: p.timestamp, ..base };
                (header, p.event.build().to_vec(), finished)
            }
        };
        *seq = seq.wrapping_add(1);
        *ts = ts.wrapping_add(*step);
        *sent = sent.wrapping_add(1);
        *octets = octets.wrapping_add(payload.len() as u32);
        let done = if finished { queue.pop_front().map(|j| j.id) } else { None };
        let dst = cfg.remote_rtp;
        match rtp::build(&header, &payload) {
            Ok(packet) => self.send_protected(Component::Rtp, dst, packet),
            Err(e) => self.record_error(format!("RTP seq {} not built: {e}", header.seq)),
        }
        if let Some(id) = done {
            self.events.push_back(Event::Sent(id));
            self.send_sender_report(now);
        }
    }

    fn send_sender_report(&mut self, now: Instant) {
        let s = &self.sender;
        let info = SenderInfo {
            ntp: self.ntp(now),
            rtp_timestamp: s.ts.wrapping_sub(s.step),
            packets: s.packets,
            octets: s.octets,
        };
        let sr = SenderReport { ssrc: Ssrc(self.cfg.ssrc), info, blocks: Vec::new(), extensions: Vec::new() };
        match rtcp::build(&[Rtcp::Sr(sr), self.sdes()]) {
            Ok(bytes) => self.send_protected(Component::Rtcp, self.cfg.remote_rtcp, bytes),
            Err(e) => self.record_error(format!("SR not built: {e}")),
        }
    }

    fn sdes(&self) -> Rtcp {
        Rtcp::Sdes(vec![SdesCname { ssrc: Ssrc(self.cfg.ssrc), cname: Some(self.cfg.cname.clone()) }])
    }

    /// Queues RTP (component 1) or RTCP (component 2), SRTP-protected when keyed.
    fn send_protected(&mut self, component: Component, dst: SocketAddr, plain: Vec<u8>) {
        let bytes = match (&mut self.srtp, component) {
            (None, _) => Ok(plain),
            (Some(srtp), Component::Rtp) => srtp.protect_rtp(&plain),
            (Some(srtp), Component::Rtcp) => srtp.protect_rtcp(&plain),
        };
        match bytes {
            Ok(bytes) => self.out.push_back(Transmit { component, dst, bytes }),
            Err(e) => self.record_error(format!("SRTP protect for {dst} on component {}: {e}", component.id())),
        }
    }

    // === ICE ===

    fn send_request(&mut self, component: Component, now: Instant) {
        let Some(checks) = &mut self.checks else { return };
        let check = &mut checks.by_component[component.index()];
        check.requests += 1;
        if check.requests > 1 {
            check.rto *= 2;
        }
        // After the last request the transaction waits Rm initial RTOs (RFC 5389 §7.2.1).
        let wait = if check.requests < MAX_REQUESTS { check.rto } else { RTO * FINAL_WAIT_RTOS };
        // Scheduled from when this request was due, so a late wake-up does not stretch it.
        let base = if check.requests == 1 { now } else { check.next };
        check.next = base + wait;
        self.out.push_back(Transmit { component, dst: check.dst, bytes: check.request.clone() });
    }

    fn retransmit(&mut self, now: Instant) {
        for component in Component::BOTH {
            let Some(checks) = &mut self.checks else { return };
            let check = &mut checks.by_component[component.index()];
            if check.state != CheckState::InProgress || check.next > now {
                continue;
            }
            if check.requests < MAX_REQUESTS {
                self.send_request(component, now);
            } else {
                let failure = check.seen.clone().unwrap_or(CheckFailure::NoResponse { requests: check.requests });
                self.finish_check(component, CheckState::Failed(failure));
            }
        }
    }

    fn end_round_at_deadline(&mut self) {
        let Some(checks) = &self.checks else { return };
        let pending: Vec<(Component, CheckFailure)> = Component::BOTH
            .into_iter()
            .filter_map(|comp| {
                let c = &checks.by_component[comp.index()];
                (c.state == CheckState::InProgress)
                    .then(|| (comp, c.seen.clone().unwrap_or(CheckFailure::NoResponse { requests: c.requests })))
            })
            .collect();
        for (component, failure) in pending {
            self.finish_check(component, CheckState::Failed(failure));
        }
    }

    /// Ends one component's check. The round ends when no component is left running; the
    /// error names the first failed component in component order, whatever came back first,
    /// so the verdict does not depend on arrival order.
    fn finish_check(&mut self, component: Component, state: CheckState) {
        let Some(checks) = &mut self.checks else { return };
        let check = &mut checks.by_component[component.index()];
        if check.state != CheckState::InProgress {
            return;
        }
        if state == CheckState::Succeeded {
            self.report.checks_succeeded += 1;
        }
        check.state = state;
        if checks.by_component.iter().any(|c| c.state == CheckState::InProgress) {
            return;
        }
        let failed = Component::BOTH.into_iter().find_map(|comp| match &checks.by_component[comp.index()].state {
            CheckState::Failed(f) => Some(MediaError::Check { component: comp.id(), failure: f.clone() }),
            _ => None,
        });
        let result = failed.map_or(Ok(()), Err);
        self.events.push_back(Event::Checked { round: checks.round, result });
    }

    fn on_stun(&mut self, component: Component, from: SocketAddr, bytes: &[u8]) {
        let msg = match StunMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.error(component, from, "STUN", format!("undecodable: {e}")),
        };
        match (msg.class, msg.method) {
            (StunClass::Request, StunMethod::Binding) => self.answer_check(component, from, &msg),
            (StunClass::Success | StunClass::Error, StunMethod::Binding) => self.on_response(component, from, &msg),
            (StunClass::Indication, _) => {}
            (class, method) => {
                self.error(component, from, "STUN", format!("unexpected {class:?} of method {method:?}"));
            }
        }
    }

    /// The far side checks us: success if USERNAME starts with our ufrag and the integrity
    /// verifies with our password, else 401 unsigned (RFC 5389 §10.1.2).
    fn answer_check(&mut self, component: Component, from: SocketAddr, msg: &StunMessage) {
        let Some(ice) = &self.cfg.ice else {
            return self.error(component, from, "STUN", "Binding request on a leg without ICE".into());
        };
        let ours = format!("{}:", ice.local_ufrag.as_str());
        let user_ok = msg.username.as_deref().is_some_and(|u| u.starts_with(&ours));
        let verified = msg.verify(&ice.local_pwd);
        let reply = if user_ok && verified.is_ok() {
            self.report.binding_requests_answered += 1;
            msg.binding_success(from, &ice.local_pwd)
        } else {
            let why = match verified {
                Err(e) if user_ok => e.to_string(),
                _ => format!("USERNAME {:?} does not start with {ours:?}", msg.username),
            };
            self.error(component, from, "STUN Binding request", format!("refused with 401: {why}"));
            msg.binding_error(BindingErrorCode::Unauthorized, None)
        };
        match reply {
            Ok(bytes) => self.out.push_back(Transmit { component, dst: from, bytes }),
            Err(e) => self.record_error(format!("STUN answer to {from} not built: {e}")),
        }
    }

    fn on_response(&mut self, component: Component, from: SocketAddr, msg: &StunMessage) {
        let matched = self.checks.as_ref().and_then(|c| {
            let check = &c.by_component[component.index()];
            (check.tid == msg.transaction_id).then_some(check.state == CheckState::InProgress)
        });
        let running = match matched {
            Some(running) => running,
            None if self.old_tids.contains(&msg.transaction_id) => false,
            None => {
                let detail = format!("{:?} response matching no check ({:?})", msg.class, msg.transaction_id);
                return self.error(component, from, "STUN", detail);
            }
        };
        if !running {
            // A late answer to a retransmission, or to a round already over.
            return;
        }
        let Some(remote_pwd) = self.cfg.ice.as_ref().map(|i| i.remote_pwd.clone()) else { return };
        let dst = self.remote(component);
        if from != dst {
            return self.finish_check(component, CheckState::Failed(CheckFailure::UnexpectedSource { from }));
        }
        match msg.class {
            StunClass::Error => {
                let (code, reason) = msg.error_code.as_ref().map_or((0, String::new()), |e| (e.code, e.reason.clone()));
                self.finish_check(component, CheckState::Failed(CheckFailure::ErrorResponse { code, reason }));
            }
            _ => match msg.verify(&remote_pwd) {
                Ok(()) => self.finish_check(component, CheckState::Succeeded),
                Err(e) => {
                    // Discarded as if never received (RFC 5389 §10.1.3): retransmissions go on.
                    let detail = e.to_string();
                    self.error(component, from, "STUN success response", detail.clone());
                    if let Some(checks) = &mut self.checks {
                        checks.by_component[component.index()].seen = Some(CheckFailure::Integrity { detail });
                    }
                }
            },
        }
    }

    // === receive side ===

    fn on_rtp(&mut self, now: Instant, component: Component, from: SocketAddr, bytes: &[u8]) {
        let plain = match &mut self.srtp {
            Some(srtp) => match srtp.unprotect_rtp(bytes) {
                Ok(p) => p,
                Err(e) => return self.error(component, from, "SRTP", e.to_string()),
            },
            None => bytes.to_vec(),
        };
        let (header, range) = match rtp::parse(&plain) {
            Ok(parsed) => parsed,
            Err(e) => return self.error(component, from, "RTP", format!("undecodable: {e}")),
        };
        let payload = &plain[range];
        let is_dtmf = self.cfg.te_pt == Some(header.pt);
        if header.pt != self.cfg.codec.pt && !is_dtmf {
            let detail = format!("unknown payload type {} (ssrc {}, seq {})", header.pt, header.ssrc, header.seq);
            self.error(component, from, "RTP", detail);
        }
        let since = now.saturating_duration_since(self.epoch);
        let stats = self.stats_for(header.ssrc.0);
        stats.on_packet(&header, payload.len(), since);
        if is_dtmf {
            self.dtmf.on_packet(header.timestamp, payload);
        }
    }

    fn on_rtcp(&mut self, now: Instant, component: Component, from: SocketAddr, bytes: &[u8]) {
        let plain = match &mut self.srtp {
            Some(srtp) => match srtp.unprotect_rtcp(bytes) {
                Ok(p) => p,
                Err(e) => return self.error(component, from, "SRTCP", e.to_string()),
            },
            None => bytes.to_vec(),
        };
        let compound = match rtcp::parse(&plain) {
            Ok(c) => c,
            Err(e) => return self.error(component, from, "RTCP", format!("undecodable: {e}")),
        };
        for packet in compound.packets {
            match packet {
                Rtcp::Sr(sr) => {
                    self.report.sr_received += 1;
                    self.answer_sender_report(now, from, &sr);
                }
                Rtcp::Rr(_) => self.report.rr_received += 1,
                _ => {}
            }
        }
    }

    /// One RR reporting on the SR's sender, plus our SDES, to where the SR came from.
    fn answer_sender_report(&mut self, now: Instant, from: SocketAddr, sr: &SenderReport) {
        let since = now.saturating_duration_since(self.epoch);
        let block = match self.received.iter_mut().find(|(ssrc, _)| *ssrc == sr.ssrc.0) {
            Some((_, stats)) => {
                stats.on_sender_report(sr.info.ntp, since);
                stats.report_block(since)
            }
            None => None,
        };
        // Before any RTP from it the block still names the sender, with its LSR.
        let block = block.unwrap_or(ReportBlock {
            ssrc: sr.ssrc,
            lsr: rtcp::ntp_middle32(sr.info.ntp),
            ..ReportBlock::default()
        });
        let rr = ReceiverReport { ssrc: Ssrc(self.cfg.ssrc), blocks: vec![block], extensions: Vec::new() };
        match rtcp::build(&[Rtcp::Rr(rr), self.sdes()]) {
            Ok(bytes) => self.send_protected(Component::Rtcp, from, bytes),
            Err(e) => self.record_error(format!("RR for {from} not built: {e}")),
        }
    }

    fn stats_for(&mut self, ssrc: u32) -> &mut ReceiveStats {
        let at = match self.received.iter().position(|(s, _)| *s == ssrc) {
            Some(at) => at,
            None => {
                self.received.push((ssrc, ReceiveStats::new(self.stream)));
                self.received.len() - 1
            }
        };
        &mut self.received[at].1
    }

    // === helpers ===

    fn remote(&self, component: Component) -> SocketAddr {
        match component {
            Component::Rtp => self.cfg.remote_rtp,
            Component::Rtcp => self.cfg.remote_rtcp,
        }
    }

    fn error(&mut self, component: Component, from: SocketAddr, what: &str, detail: String) {
        let at = format!("component {} ({})", component.id(), component.name());
        self.record_error(format!("{what} from {from} on {at}: {detail}"));
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The wall clock at `now` as NTP 32.32.
    fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.epoch);
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.epoch_ntp.wrapping_add((d.as_secs() << 32) | frac)
    }
}

/// Our check for one component (RFC 5245 §7.1.2): PRIORITY of a peer-reflexive candidate of
/// that component, ICE-CONTROLLING, USE-CANDIDATE (aggressive nomination, as Lync does).
fn binding_request(ice: &IceParams, tid: TransactionId, component: Component) -> Result<Vec<u8>, MediaError> {
    let priority = (PRFLX_TYPE_PREFERENCE << 24) | (0xffff << 8) | (256 - u32::from(component.id()));
    BindingRequest {
        transaction_id: tid,
        remote_ufrag: ice.remote_ufrag.clone(),
        local_ufrag: ice.local_ufrag.clone(),
        priority,
        role: IceRole::Controlling { tie_breaker: ice.tie_breaker },
        use_candidate: true,
    }
    .encode(&ice.remote_pwd)
    .map_err(|e| MediaError::Config(format!("STUN check for component {}: {e}", component.id())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::media::{SendCodec, SrtpKeys};
    use crate::media::srtp::MasterKey;
    use crate::media::stun::{IcePassword, IceUfrag};

    const LYNC_PWD: &str = "lyncpasswordlyncpassword";
    const GW_PWD: &str = "gatewaypasswordgateway00";
    const NTP0: u64 = 0xe000_0000_0000_0000;
    const A_SSRC: u32 = 0xaaaa_0001;
    const B_SSRC: u32 = 0xbbbb_0002;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A's sockets and B's (the far side's).
    const A: (u16, u16) = (4000, 4001);
    const B: (u16, u16) = (6000, 6001);

    fn ice() -> IceParams {
        IceParams {
            local_ufrag: IceUfrag::new("LyUf").unwrap(),
            local_pwd: IcePassword::new(LYNC_PWD).unwrap(),
            remote_ufrag: IceUfrag::new("GwUf").unwrap(),
            remote_pwd: IcePassword::new(GW_PWD).unwrap(),
            tie_breaker: 7,
        }
    }

    fn key(fill: u8) -> MasterKey {
        MasterKey::new([fill; 16], [fill ^ 0x5a; 14])
    }

    /// The config of the side with `ssrc`, sending to `to`.
    fn config(ssrc: u32, to: (u16, u16)) -> MediaConfig {
        MediaConfig {
            codec: SendCodec { pt: 0, name: "PCMU".into(), clock: 8000 },
            te_pt: Some(101),
            ssrc,
            cname: format!("{ssrc:08x}@test"),
            seed: u64::from(ssrc),
            remote_rtp: addr(to.0),
            remote_rtcp: addr(to.1),
            srtp: None,
            ice: None,
            expect_ssrc_range: None,
        }
    }

    fn srtp(mut cfg: MediaConfig, local: u8, remote: u8) -> MediaConfig {
        cfg.srtp = Some(SrtpKeys { local: key(local), remote: key(remote) });
        cfg
    }

    fn with_ice(mut cfg: MediaConfig) -> MediaConfig {
        cfg.ice = Some(ice());
        cfg
    }

    fn session(cfg: MediaConfig, t0: Instant) -> Session {
        Session::new(cfg, t0, NTP0).unwrap()
    }

    fn drain(s: &mut Session) -> Vec<Transmit> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    fn events(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    /// Fires every timer up to `until`, returning what went out and when.
    fn run_until(s: &mut Session, t0: Instant, until: Instant) -> Vec<(Duration, Transmit)> {
        let mut out: Vec<(Duration, Transmit)> = drain(s).into_iter().map(|t| (Duration::ZERO, t)).collect();
        while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
            s.handle_timeout(at);
            out.extend(drain(s).into_iter().map(|t| (at - t0, t)));
        }
        out
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `sent` (from the side sending to B's sockets) to `s` as B, arriving 5 ms later.
    fn deliver(s: &mut Session, t0: Instant, from: (u16, u16), sent: &[(Duration, Transmit)]) {
        for (at, t) in sent {
            let (component, src) = match t.component {
                Component::Rtp => (Component::Rtp, addr(from.0)),
                Component::Rtcp => (Component::Rtcp, addr(from.1)),
            };
            s.handle(t0 + *at + ms(5), component, src, &t.bytes);
        }
    }

    // === ICE ===

    #[test]
    fn checks_retransmit_at_rfc5389_intervals_then_fail_with_nothing_back() {
        let t0 = Instant::now();
        let mut s = session(with_ice(config(A_SSRC, B)), t0);
        let round = s.check(t0, Duration::from_secs(60)).unwrap();
        assert_eq!(s.next_timer(), Some((Timer::Retransmit(Component::Rtp), t0 + ms(100))));
        let sent = run_until(&mut s, t0, t0 + ms(7899));
        for component in Component::BOTH {
            let times: Vec<u64> =
                sent.iter().filter(|(_, t)| t.component == component).map(|(at, _)| at.as_millis() as u64).collect();
            assert_eq!(times, [0, 100, 300, 700, 1500, 3100, 6300], "component {}", component.id());
        }
        // Retransmissions repeat the request byte for byte, to the component's remote address.
        for component in Component::BOTH {
            let mine: Vec<&Transmit> = sent.iter().map(|(_, t)| t).filter(|t| t.component == component).collect();
            assert!(mine.iter().all(|t| t.dst == s.remote(component) && t.bytes == mine[0].bytes));
        }
        assert_eq!(events(&mut s), []);
        assert_eq!(s.next_timer(), Some((Timer::Retransmit(Component::Rtp), t0 + ms(7900))));
        assert!(run_until(&mut s, t0, t0 + ms(7900)).is_empty());
        let failure = CheckFailure::NoResponse { requests: 7 };
        assert_eq!(
            events(&mut s),
            [Event::Checked { round, result: Err(MediaError::Check { component: 1, failure }) }]
        );
        assert_eq!(s.poll_timeout(), None, "nothing left to retransmit");
        let report = s.report();
        assert_eq!((report.checks_sent, report.checks_succeeded), (2, 0));
    }

    /// The requests of a fresh round, parsed, RTP's first.
    fn requests(s: &mut Session, now: Instant) -> (Round, [StunMessage; 2]) {
        let round = s.check(now, Duration::from_secs(1)).unwrap();
        let sent = drain(s);
        assert_eq!(
            sent.iter().map(|t| (t.component, t.dst)).collect::<Vec<_>>(),
            [(Component::Rtp, addr(B.0)), (Component::Rtcp, addr(B.1))]
        );
        (round, [StunMessage::parse(&sent[0].bytes).unwrap(), StunMessage::parse(&sent[1].bytes).unwrap()])
    }

    #[test]
    fn verified_successes_on_both_components_complete_the_round() {
        let t0 = Instant::now();
        let mut s = session(with_ice(config(A_SSRC, B)), t0);
        let (round, [rtp, rtcp]) = requests(&mut s, t0);
        let gw = IcePassword::new(GW_PWD).unwrap();
        for (msg, component) in [(&rtp, 1u32), (&rtcp, 2)] {
            assert_eq!(msg.username.as_deref(), Some("GwUf:LyUf"));
            assert_eq!(msg.priority, Some((110 << 24) | (0xffff << 8) | (256 - component)));
            assert_eq!(msg.role, Some(IceRole::Controlling { tie_breaker: 7 }));
            assert!(msg.use_candidate);
            assert_eq!(msg.verify(&gw), Ok(()));
        }
        assert_ne!(rtp.transaction_id, rtcp.transaction_id);
        s.handle(t0 + ms(3), Component::Rtp, addr(B.0), &rtp.binding_success(addr(A.0), &gw).unwrap());
        assert_eq!(events(&mut s), [], "component 2 is still running");
        assert_eq!(s.next_timer(), Some((Timer::Retransmit(Component::Rtcp), t0 + ms(100))));
        s.handle(t0 + ms(4), Component::Rtcp, addr(B.1), &rtcp.binding_success(addr(A.1), &gw).unwrap());
        assert_eq!(events(&mut s), [Event::Checked { round, result: Ok(()) }]);
        assert_eq!(s.poll_timeout(), None);
        // A late answer to a retransmission is no error.
        s.handle(t0 + ms(5), Component::Rtp, addr(B.0), &rtp.binding_success(addr(A.0), &gw).unwrap());
        let report = s.report();
        assert_eq!((report.checks_sent, report.checks_succeeded), (2, 2));
        assert_eq!(report.errors, Vec::<String>::new());
    }

    #[test]
    fn an_error_response_fails_the_round_naming_its_component() {
        let t0 = Instant::now();
        let mut s = session(with_ice(config(A_SSRC, B)), t0);
        let (round, [rtp, rtcp]) = requests(&mut s, t0);
        let gw = IcePassword::new(GW_PWD).unwrap();
        // Component 2 answers first, so the verdict cannot come from arrival order.
        s.handle(t0 + ms(2), Component::Rtcp, addr(B.1), &rtcp.binding_success(addr(A.1), &gw).unwrap());
        let refused = rtp.binding_error(BindingErrorCode::Unauthorized, None).unwrap();
        s.handle(t0 + ms(3), Component::Rtp, addr(B.0), &refused);
        let failure = CheckFailure::ErrorResponse { code: 401, reason: "Unauthorized".into() };
        let err = MediaError::Check { component: 1, failure };
        assert_eq!(err.to_string(), "ICE check of component 1 failed: error response 401 Unauthorized");
        assert_eq!(events(&mut s), [Event::Checked { round, result: Err(err) }]);
    }

    #[test]
    fn a_success_signed_with_another_password_is_discarded_and_named_at_the_deadline() {
        let t0 = Instant::now();
        let mut s = session(with_ice(config(A_SSRC, B)), t0);
        let (round, [rtp, rtcp]) = requests(&mut s, t0);
        let gw = IcePassword::new(GW_PWD).unwrap();
        let other = IcePassword::new("someotherpasswordentirely").unwrap();
        s.handle(t0 + ms(2), Component::Rtp, addr(B.0), &rtp.binding_success(addr(A.0), &other).unwrap());
        s.handle(t0 + ms(3), Component::Rtcp, addr(B.1), &rtcp.binding_success(addr(A.1), &gw).unwrap());
        assert_eq!(events(&mut s), []);
        // Still retransmitting component 1 until the round's deadline.
        assert_eq!(s.next_timer(), Some((Timer::Retransmit(Component::Rtp), t0 + ms(100))));
        let sent = run_until(&mut s, t0, t0 + ms(1000));
        let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis() as u64).collect();
        assert_eq!(times, [100, 300, 700]);
        let [Event::Checked { round: r, result: Err(MediaError::Check { component: 1, failure }) }] =
            &events(&mut s)[..]
        else {
            panic!("no failure naming component 1")
        };
        assert_eq!(*r, round);
        assert!(
            matches!(failure, CheckFailure::Integrity { detail } if detail.contains("MESSAGE-INTEGRITY")),
            "{failure:?}"
        );
        let report = s.report();
        assert_eq!(report.checks_succeeded, 1);
        assert!(report.errors.iter().any(|e| e.contains("component 1 (RTP)") && e.contains("success response")));
    }

    #[test]
    fn a_response_from_another_address_fails_the_check() {
        let t0 = Instant::now();
        let mut s = session(with_ice(config(A_SSRC, B)), t0);
        let (round, [rtp, rtcp]) = requests(&mut s, t0);
        let gw = IcePassword::new(GW_PWD).unwrap();
        let elsewhere = addr(B.0 + 100);
        s.handle(t0 + ms(2), Component::Rtp, elsewhere, &rtp.binding_success(addr(A.0), &gw).unwrap());
        s.handle(t0 + ms(3), Component::Rtcp, addr(B.1), &rtcp.binding_success(addr(A.1), &gw).unwrap());
        let failure = CheckFailure::UnexpectedSource { from: elsewhere };
        assert_eq!(
            events(&mut s),
            [Event::Checked { round, result: Err(MediaError::Check { component: 1, failure }) }]
        );
        assert_eq!(s.report().checks_succeeded, 1);
    }

    #[test]
    fn far_side_checks_are_answered_with_our_password_or_401() {
        let t0 = Instant::now();
        let mut s = session(with_ice(config(A_SSRC, B)), t0);
        let check = |pwd: &str| {
            BindingRequest {
                transaction_id: TransactionId::new([9; 12]),
                remote_ufrag: IceUfrag::new("LyUf").unwrap(),
                local_ufrag: IceUfrag::new("GwUf").unwrap(),
                priority: 1,
                role: IceRole::Controlled { tie_breaker: 1 },
                use_candidate: false,
            }
            .encode(&IcePassword::new(pwd).unwrap())
            .unwrap()
        };
        s.handle(t0, Component::Rtcp, addr(B.1), &check(LYNC_PWD));
        let [t] = &drain(&mut s)[..] else { panic!("one answer") };
        assert_eq!((t.component, t.dst), (Component::Rtcp, addr(B.1)));
        let ok = StunMessage::parse(&t.bytes).unwrap();
        assert_eq!((ok.class, ok.xor_mapped_address), (StunClass::Success, Some(addr(B.1))));
        assert_eq!(ok.verify(&IcePassword::new(LYNC_PWD).unwrap()), Ok(()));
        s.handle(t0, Component::Rtp, addr(B.0), &check(GW_PWD));
        let [t] = &drain(&mut s)[..] else { panic!("one answer") };
        let refused = StunMessage::parse(&t.bytes).unwrap();
        assert_eq!((refused.class, refused.error_code.map(|e| e.code)), (StunClass::Error, Some(401)));
        let report = s.report();
        assert_eq!(report.binding_requests_answered, 1);
        assert!(report.errors.iter().any(|e| e.contains("component 1 (RTP)") && e.contains("401")), "{report:?}");
    }

    #[test]
    fn a_leg_without_ice_refuses_to_check() {
        let mut s = session(config(A_SSRC, B), Instant::now());
        assert_eq!(s.check(Instant::now(), ms(10)), Err(MediaError::NoIce));
    }

    // === RTP and RTCP ===

    fn rtp_from_b(seq: u16, ts: u32) -> Vec<u8> {
        let h = RtpHeader { pt: 0, seq, timestamp: ts, ssrc: Ssrc(B_SSRC), ..RtpHeader::default() };
        rtp::build(&h, &[0xd5; 160]).unwrap()
    }

    fn sr_from_b(ntp: u64) -> Vec<u8> {
        let info = SenderInfo { ntp, rtp_timestamp: 800, packets: 5, octets: 800 };
        let sr = SenderReport { ssrc: Ssrc(B_SSRC), info, blocks: vec![], extensions: vec![] };
        let sdes = Rtcp::Sdes(vec![SdesCname { ssrc: Ssrc(B_SSRC), cname: Some("b@test".into()) }]);
        rtcp::build(&[Rtcp::Sr(sr), sdes]).unwrap()
    }

    #[test]
    fn an_sr_is_answered_with_one_rr_and_sdes_to_its_sender() {
        let t0 = Instant::now();
        let mut s = session(config(A_SSRC, B), t0);
        for seq in [1u16, 2, 4, 5] {
            s.handle(t0 + ms(20 * u64::from(seq)), Component::Rtp, addr(B.0), &rtp_from_b(seq, u32::from(seq) * 160));
        }
        assert_eq!(drain(&mut s), []);
        let ntp = 0x1234_5678_9abc_def0;
        s.handle(t0 + ms(120), Component::Rtcp, addr(B.1), &sr_from_b(ntp));
        let [t] = &drain(&mut s)[..] else { panic!("one answer") };
        assert_eq!((t.component, t.dst), (Component::Rtcp, addr(B.1)));
        let answer = rtcp::parse(&t.bytes).unwrap();
        let [Rtcp::Rr(rr), Rtcp::Sdes(sdes)] = &answer.packets[..] else { panic!("{answer}") };
        assert_eq!(rr.ssrc, Ssrc(A_SSRC));
        let [block] = &rr.blocks[..] else { panic!("one block") };
        assert_eq!(
            (block.ssrc, block.ext_highest_seq, block.cumulative_lost, block.lsr, block.dlsr),
            (Ssrc(B_SSRC), 5, 1, rtcp::ntp_middle32(ntp), 0)
        );
        assert_eq!(sdes[0].cname.as_deref(), Some("aaaa0001@test"));
        let report = s.report();
        assert_eq!((report.sr_received, report.rr_received), (1, 0));
        let summary = &report.stream(B_SSRC).unwrap().summary;
        assert_eq!((summary.packets, summary.lost), (4, 1));
        // An RR is counted, not answered.
        let rr = rtcp::build(&[Rtcp::Rr(rr.clone())]).unwrap();
        s.handle(t0 + ms(130), Component::Rtcp, addr(B.1), &rr);
        assert_eq!((drain(&mut s), s.report().rr_received), (vec![], 1));
    }

    #[test]
    fn speech_is_paced_at_20_ms_with_one_marker_and_ends_with_sr_and_sdes() {
        let t0 = Instant::now();
        let mut s = session(config(A_SSRC, B), t0);
        let job = s.speak(t0, 3);
        assert_eq!(s.next_timer(), Some((Timer::Pace, t0 + ms(20))));
        let sent = run_until(&mut s, t0, t0 + ms(500));
        let kinds: Vec<(u64, Component)> = sent.iter().map(|(at, t)| (at.as_millis() as u64, t.component)).collect();
        assert_eq!(kinds, [(0, Component::Rtp), (20, Component::Rtp), (40, Component::Rtp), (40, Component::Rtcp)]);
        let headers: Vec<RtpHeader> = sent[..3].iter().map(|(_, t)| rtp::parse(&t.bytes).unwrap().0).collect();
        assert_eq!(headers.iter().map(|h| h.marker).collect::<Vec<_>>(), [true, false, false]);
        assert!(
            headers
                .windows(2)
                .all(|w| w[1].seq == w[0].seq.wrapping_add(1) && w[1].timestamp == w[0].timestamp.wrapping_add(160))
        );
        let compound = rtcp::parse(&sent[3].1.bytes).unwrap();
        assert!(compound.is_rfc3550_compound());
        let Rtcp::Sr(sr) = &compound.packets[0] else { panic!("{compound}") };
        assert_eq!((sr.ssrc, sr.info.packets, sr.info.rtp_timestamp), (Ssrc(A_SSRC), 3, headers[2].timestamp));
        assert_eq!(sr.info.ntp, NTP0 + (ms(40).as_nanos() as u64 * (1 << 32) / 1_000_000_000));
        assert_eq!(events(&mut s), [Event::Sent(job)]);
        // The next spurt keeps 20 ms from the last packet and continues seq and timestamp.
        s.speak(t0 + ms(45), 1);
        assert_eq!(s.next_timer(), Some((Timer::Pace, t0 + ms(60))));
        let next = run_until(&mut s, t0, t0 + ms(60));
        let (h, _) = rtp::parse(&next[0].1.bytes).unwrap();
        assert_eq!((h.marker, h.seq, h.timestamp), (true, headers[2].seq.wrapping_add(1), headers[2].timestamp + 160));
    }

    #[test]
    fn srtp_round_trip_between_two_cores_with_swapped_keys() {
        let t0 = Instant::now();
        let mut a = session(srtp(config(A_SSRC, B), 1, 2), t0);
        let mut b = session(srtp(config(B_SSRC, A), 2, 1), t0);
        a.speak(t0, 10);
        let sent = run_until(&mut a, t0, t0 + ms(1000));
        assert_eq!(sent.len(), 11);
        assert!(
            sent.iter().all(|(_, t)| rtp::parse(&t.bytes).map_or(true, |(_, p)| p.len() != 160)),
            "payloads are encrypted and tagged"
        );
        deliver(&mut b, t0, A, &sent);
        let report = b.report();
        let summary = &report.stream(A_SSRC).unwrap().summary;
        assert_eq!((summary.packets, summary.lost, summary.ts_discontinuities, summary.marker_packets), (10, 0, 0, 1));
        assert_eq!((report.sr_received, report.errors.clone()), (1, vec![]));
        let answer: Vec<(Duration, Transmit)> = drain(&mut b).into_iter().map(|t| (ms(200), t)).collect();
        assert_eq!(answer.len(), 1, "one RR");
        deliver(&mut a, t0, B, &answer);
        assert_eq!((a.report().rr_received, a.report().errors), (1, vec![]));
    }

    #[test]
    fn a_wrong_key_is_an_error_and_counts_nothing() {
        let t0 = Instant::now();
        let mut a = session(srtp(config(A_SSRC, B), 1, 2), t0);
        let mut b = session(srtp(config(B_SSRC, A), 2, 3), t0);
        a.speak(t0, 2);
        let sent = run_until(&mut a, t0, t0 + ms(1000));
        deliver(&mut b, t0, A, &sent);
        let report = b.report();
        assert_eq!((report.streams.len(), report.sr_received), (0, 0));
        assert_eq!(drain(&mut b), [], "no RR for an SR that does not authenticate");
        assert_eq!(report.errors.len(), 3, "{:?}", report.errors);
        assert!(report.errors[0].starts_with("SRTP from 127.0.0.1:4000 on component 1 (RTP): "));
        assert!(report.errors[2].starts_with("SRTCP from 127.0.0.1:4001 on component 2 (RTCP): "));
        assert!(report.errors.iter().all(|e| e.contains("authentication tag")), "{:?}", report.errors);
    }

    #[test]
    fn digits_keep_the_audio_timestamps_and_are_reassembled() {
        let t0 = Instant::now();
        let mut a = session(config(A_SSRC, B), t0);
        let mut b = session(config(B_SSRC, A), t0);
        a.speak(t0, 2);
        let digits = a.send_digits(t0, "1#").unwrap();
        a.speak(t0, 2);
        let sent = run_until(&mut a, t0, t0 + ms(2000));
        let rtp: Vec<RtpHeader> = sent
            .iter()
            .filter(|(_, t)| t.component == Component::Rtp)
            .map(|(_, t)| rtp::parse(&t.bytes).unwrap().0)
            .collect();
        assert_eq!(rtp.len(), 2 + 7 + 7 + 2, "100 ms digits: four packets and three ends each");
        let ts0 = rtp[0].timestamp;
        assert_eq!((rtp[2].pt, rtp[2].timestamp, rtp[2].marker), (101, ts0 + 2 * 160, true));
        assert_eq!((rtp[9].pt, rtp[9].timestamp, rtp[9].marker), (101, ts0 + 9 * 160, true));
        assert_eq!((rtp[16].pt, rtp[16].timestamp, rtp[16].marker), (0, ts0 + 16 * 160, true));
        assert!(rtp.windows(2).all(|w| w[1].seq == w[0].seq.wrapping_add(1)));
        assert!(events(&mut a).contains(&Event::Sent(digits)));
        deliver(&mut b, t0, A, &sent);
        let report = b.report();
        assert_eq!((report.digits.as_str(), report.dtmf_violations.len(), report.sr_received), ("1#", 0, 3));
        let summary = &report.stream(A_SSRC).unwrap().summary;
        assert_eq!((summary.packets, summary.lost, summary.dtmf_packets, summary.ts_discontinuities), (18, 0, 14, 0));
        assert_eq!(a.send_digits(t0, "1x"), Err(MediaError::BadDigit('x')));
        let mut no_te = config(A_SSRC, B);
        no_te.te_pt = None;
        assert_eq!(session(no_te, t0).send_digits(t0, "1"), Err(MediaError::NoTelephoneEvent));
    }

    #[test]
    fn hold_cuts_the_spurt_short_and_sends_nothing_until_resumed() {
        let t0 = Instant::now();
        let mut s = session(config(A_SSRC, B), t0);
        let job = s.speak(t0, 10);
        assert_eq!(drain(&mut s).len(), 1);
        s.set_sending(false);
        assert_eq!(events(&mut s), [Event::Sent(job)]);
        assert_eq!(s.poll_timeout(), None);
        let held = s.speak(t0 + ms(30), 5);
        assert_eq!((drain(&mut s), events(&mut s)), (vec![], vec![Event::Sent(held)]));
        s.set_sending(true);
        s.speak(t0 + ms(40), 1);
        assert_eq!(run_until(&mut s, t0, t0 + ms(100)).len(), 2, "one packet and its SR");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let t0 = Instant::now();
        let mut same = config(A_SSRC, B);
        same.te_pt = Some(0);
        let mut clockless = config(A_SSRC, B);
        clockless.codec.clock = 0;
        let mut range = config(A_SSRC, B);
        range.expect_ssrc_range = Some((5, 4));
        for cfg in [same, clockless, range] {
            assert!(matches!(Session::new(cfg, t0, NTP0), Err(MediaError::Config(_))));
        }
    }

    #[test]
    fn unexpected_senders_payload_types_and_garbage_are_errors_never_panics() {
        let t0 = Instant::now();
        let mut s = session(config(A_SSRC, B), t0);
        let h = RtpHeader { pt: 96, seq: 1, ssrc: Ssrc(B_SSRC), ..RtpHeader::default() };
        s.handle(t0, Component::Rtp, addr(9999), &rtp::build(&h, &[1, 2]).unwrap());
        let errors = s.report().errors;
        assert_eq!(
            errors,
            [
                "Rtp datagram from 127.0.0.1:9999 on component 1 (RTP): unexpected sender (expected 127.0.0.1:6000)",
                "RTP from 127.0.0.1:9999 on component 1 (RTP): unknown payload type 96 (ssrc bbbb0002, seq 1)",
            ]
        );
        let mut rng = fastrand::Rng::with_seed(3);
        let mut sessions = [
            session(config(A_SSRC, B), t0),
            session(srtp(config(A_SSRC, B), 1, 2), t0),
            session(with_ice(config(A_SSRC, B)), t0),
        ];
        let _ = sessions[2].check(t0, ms(100));
        for s in &mut sessions {
            for i in 0..3000 {
                let len = rng.usize(0..64);
                let mut junk: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
                if let Some(first) = junk.first_mut() {
                    *first = [0x00, 0x01, 0x80, 0x81, 0x90, 20, 64][i % 7];
                }
                let component = if i % 2 == 0 { Component::Rtp } else { Component::Rtcp };
                s.handle(t0 + ms(i as u64), component, s.remote(component), &junk);
                drain(s);
            }
            let report = s.report();
            assert_eq!(report.errors.len(), MAX_ERRORS + 1, "capped, with a closing count");
            assert!(report.errors.last().unwrap().ends_with("more errors not recorded"));
        }
    }
}
