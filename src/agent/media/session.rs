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
            let what = format!("{kind:?}");
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

    /// Ends one component's check; the round's result goes out when it is known.
    fn finish_check(&mut self, component: Component, state: CheckState) {
        let Some(checks) = &mut self.checks else { return };
        let was_running = checks.by_component.iter().any(|c| c.state == CheckState::InProgress);
        if state == CheckState::Succeeded {
            self.report.checks_succeeded += 1;
        }
        checks.by_component[component.index()].state = state;
        if !was_running {
            return;
        }
        // The first failed component (in component order) decides; a failure ends the round.
        let failed = Component::BOTH.into_iter().find_map(|comp| match &checks.by_component[comp.index()].state {
            CheckState::Failed(f) => Some((comp, f.clone())),
            _ => None,
        });
        let result = match failed {
            Some((comp, failure)) => Err(MediaError::Check { component: comp.id(), failure }),
            None if checks.by_component.iter().all(|c| c.state == CheckState::Succeeded) => Ok(()),
            None => return,
        };
        for c in &mut checks.by_component {
            if c.state == CheckState::InProgress {
                let failure = c.seen.clone().unwrap_or(CheckFailure::NoResponse { requests: c.requests });
                c.state = CheckState::Failed(failure);
            }
        }
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
