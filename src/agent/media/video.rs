//! The sans-IO core of one user's video stream (PROTOCOL.md §1.7, §3.4, §9.2): no sockets, no
//! clock reads. Time comes in as arguments; datagrams go out through
//! [`VideoSession::poll_transmit`], completions through [`VideoSession::poll_event`], and
//! [`VideoSession::poll_timeout`] names the next frame slot (drain rule as for audio: after
//! any `handle*` or command, drain both polls and re-read `poll_timeout`).
//!
//! Send: access units of the seeded [`VideoSource`], one per `1/fps`, packetised in RFC 6184
//! mode 1 (with a PACSI in front of every access unit on the Lync leg), SRTP when keyed. A PLI,
//! a FIR or a VSR with the keyframe bit makes the next access unit an IDR (the source restarts
//! its GOP). Receive: every RTP packet goes to a [`VideoReceiver`]; an access unit is closed
//! when its marker packet arrives (as a decoder starts decoding), so frames are counted as
//! soon as they are whole. RTCP PLI/FIR/VSR are counted; whatever does not fit is an error
//! string in the report.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Component, SrtpKeys, Transmit};
use crate::media::demux::{PacketKind, classify};
use crate::media::feedback::{self, Fir, FirEntry, Vsr, VsrEntry};
use crate::media::h264::{LayerDescription, Packetizer, VideoConfig, VideoReceiver, VideoSource, VideoSummary};
use crate::media::rtcp::{self, PsfbFormat, Rtcp};
use crate::media::rtp::{self, Ssrc};
use crate::media::srtp::SrtpSession;

/// The largest RTP payload the agents send (an Ethernet MTU less IP/UDP/RTP/SRTP overhead).
pub const MAX_PAYLOAD: usize = 1200;

/// Everything a video session needs from the negotiated SDP.
#[derive(Debug, Clone)]
pub struct VideoLegConfig {
    /// The payload number of H.264 on this leg.
    pub pt: u8,
    /// Our SSRC (on the Lync leg inside our declared range).
    pub ssrc: u32,
    /// Seeds the source and the first sequence number and timestamp.
    pub seed: u64,
    /// Frames per second we send at.
    pub fps: u32,
    /// Where the far side receives RTP.
    pub remote_rtp: SocketAddr,
    /// Where the far side receives RTCP.
    pub remote_rtcp: SocketAddr,
    /// SRTP keys; `None` is plain RTP/AVP.
    pub srtp: Option<SrtpKeys>,
    /// Lync leg: a PACSI opens every access unit we send (MS-H264PF).
    pub pacsi: bool,
    /// The far side's declared `a=x-ssrc-range`: packets from other SSRCs are counted apart.
    pub expect_ssrc_range: Option<(u32, u32)>,
}

/// A keyframe request we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeRequest {
    /// RFC 4585 picture loss indication.
    Pli,
    /// RFC 5104 full intra request.
    Fir,
    /// MS-RTP Video Source Request (PSFB FMT 15) with the keyframe bit.
    Vsr,
}

/// What the video session saw and did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoReport {
    /// Access units sent.
    pub frames_sent: u64,
    /// IDR access units sent.
    pub idr_sent: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// What arrived, as the reassembler counts it.
    pub received: VideoSummary,
    /// The SSRC the received stream came from.
    pub received_ssrc: Option<u32>,
    /// Received packets whose SSRC lies outside the far side's declared range.
    pub out_of_range: u64,
    /// Keyframe requests received: PLI, FIR, VSR.
    pub pli_received: u64,
    pub fir_received: u64,
    pub vsr_received: u64,
    /// What went wrong on the wire.
    pub errors: Vec<String>,
}

/// A frame run, to be reported done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct VideoJob(pub(super) u64);

/// The sans-IO video session of one call leg.
#[derive(Debug)]
pub(super) struct VideoSession {
    cfg: VideoLegConfig,
    srtp: Option<SrtpSession>,
    source: VideoSource,
    packetizer: Packetizer,
    first_ts: u32,
    /// Frames still to send in the current run, and its id.
    queue: VecDeque<(VideoJob, u32)>,
    next_slot: Option<Instant>,
    last_slot: Option<Instant>,
    receiver: VideoReceiver,
    fir_seq: u8,
    next_id: u64,
    report: VideoReport,
    out: VecDeque<Transmit>,
    events: VecDeque<VideoJob>,
}

impl VideoSession {
    /// A session; errors on keys the SRTP layer refuses.
    pub(super) fn new(cfg: VideoLegConfig) -> Result<Self, String> {
        let srtp = match &cfg.srtp {
            Some(k) => Some(SrtpSession::new(&k.local, &k.remote).map_err(|e| format!("SRTP: {e}"))?),
            None => None,
        };
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let source = VideoSource::new(VideoConfig { fps: cfg.fps.max(1), ..VideoConfig::new(cfg.seed) });
        let c = source.config();
        let mut packetizer = Packetizer::new(cfg.pt, Ssrc(cfg.ssrc), rng.u16(..), MAX_PAYLOAD);
        if cfg.pacsi {
            packetizer = packetizer.with_pacsi(LayerDescription::base(c.width, c.height, c.fps, 1_000_000));
        }
        Ok(Self {
            first_ts: rng.u32(..),
            cfg,
            srtp,
            source,
            packetizer,
            queue: VecDeque::new(),
            next_slot: None,
            last_slot: None,
            receiver: VideoReceiver::new(),
            fir_seq: 0,
            next_id: 0,
            report: VideoReport::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// The next datagram to send.
    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next finished frame run.
    pub(super) fn poll_event(&mut self) -> Option<VideoJob> {
        self.events.pop_front()
    }

    /// When [`VideoSession::handle_timeout`] must next be called.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next_slot
    }

    /// What the session saw so far.
    pub(super) fn report(&self) -> VideoReport {
        let mut r = self.report.clone();
        r.received = self.receiver.summary();
        r.received_ssrc = self.receiver.ssrc().map(|s| s.0);
        r
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1) / self.cfg.fps.max(1)
    }

    /// Queues `frames` access units, one per frame interval; done at once for none.
    pub(super) fn send_frames(&mut self, now: Instant, frames: u32) -> VideoJob {
        let id = VideoJob(self.next_id);
        self.next_id += 1;
        if frames == 0 {
            self.events.push_back(id);
            return id;
        }
        self.queue.push_back((id, frames));
        if self.next_slot.is_none() {
            let spaced = self.last_slot.map_or(now, |last| (last + self.interval()).max(now));
            self.next_slot = Some(spaced);
        }
        self.pump(now);
        id
    }

    /// Sends a keyframe request of `kind` about the far side's stream.
    pub(super) fn request_keyframe(&mut self, kind: KeyframeRequest) {
        let me = Ssrc(self.cfg.ssrc);
        let media = Ssrc(self.receiver.ssrc().map_or(0, |s| s.0));
        let psfb = match kind {
            KeyframeRequest::Pli => Ok(feedback::pli(me, media)),
            KeyframeRequest::Fir => {
                self.fir_seq = self.fir_seq.wrapping_add(1);
                Fir { entries: vec![FirEntry { ssrc: media, seq: self.fir_seq }] }.to_psfb(me)
            }
            KeyframeRequest::Vsr => Vsr {
                msi: feedback::MSI_ANY,
                request_id: 1,
                version: 1,
                keyframe: true,
                entries: vec![VsrEntry::sipe_default(self.cfg.pt)],
            }
            .to_psfb(me, media),
        };
        let packet =
            psfb.map_err(|e| e.to_string()).and_then(|p| rtcp::build(&[Rtcp::Psfb(p)]).map_err(|e| e.to_string()));
        match packet {
            Ok(bytes) => self.send(Component::Rtcp, self.cfg.remote_rtcp, bytes),
            Err(e) => self.record_error(format!("{kind:?} not built: {e}")),
        }
    }

    /// Fires the frame slots due at `now`.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        self.pump(now);
    }

    fn pump(&mut self, now: Instant) {
        while let Some(slot) = self.next_slot.filter(|s| *s <= now) {
            self.send_frame();
            self.last_slot = Some(slot);
            self.next_slot = (!self.queue.is_empty()).then_some(slot + self.interval());
        }
    }

    fn send_frame(&mut self) {
        let Some((id, left)) = self.queue.front_mut() else { return };
        *left -= 1;
        let (id, done) = (*id, *left == 0);
        if done {
            self.queue.pop_front();
        }
        let au = self.source.next_access_unit();
        let ts = self.first_ts.wrapping_add(au.timestamp_offset);
        match self.packetizer.packetize(&au, ts) {
            Ok(packets) => {
                self.report.frames_sent += 1;
                self.report.idr_sent += u64::from(au.idr);
                self.report.packets_sent += packets.len() as u64;
                for p in packets {
                    self.send(Component::Rtp, self.cfg.remote_rtp, p);
                }
            }
            Err(e) => self.record_error(format!("access unit {} not packetised: {e}", au.index)),
        }
        if done {
            self.events.push_back(id);
        }
    }

    fn send(&mut self, component: Component, dst: SocketAddr, plain: Vec<u8>) {
        let bytes = match (&mut self.srtp, component) {
            (None, _) => Ok(plain),
            (Some(s), Component::Rtp) => s.protect_rtp(&plain),
            (Some(s), Component::Rtcp) => s.protect_rtcp(&plain),
        };
        match bytes {
            Ok(bytes) => self.out.push_back(Transmit { component, dst, bytes }),
            Err(e) => self.record_error(format!("SRTP protect for {dst}: {e}")),
        }
    }

    /// Notes a failure.
    pub(super) fn record_error(&mut self, what: String) {
        if self.report.errors.len() < 64 {
            self.report.errors.push(what);
        }
    }

    /// One datagram received on `component` from `from`.
    pub(super) fn handle(&mut self, component: Component, from: SocketAddr, bytes: &[u8]) {
        match classify(bytes) {
            PacketKind::Rtp => {
                let plain = match &mut self.srtp {
                    Some(s) => s.unprotect_rtp(bytes).map_err(|e| e.to_string()),
                    None => Ok(bytes.to_vec()),
                };
                match plain.and_then(|p| rtp::parse(&p).map(|(h, b)| (h, p[b].to_vec())).map_err(|e| e.to_string())) {
                    Ok((h, payload)) => {
                        if self.cfg.expect_ssrc_range.is_some_and(|(a, b)| !(a..=b).contains(&h.ssrc.0)) {
                            self.report.out_of_range += 1;
                        }
                        self.receiver.on_packet(&h, &payload);
                        if h.marker {
                            // A decoder starts on the marker (RFC 6184 §5.1): the unit is whole.
                            self.receiver.finish();
                        }
                        while self.receiver.poll_frame().is_some() {}
                    }
                    Err(e) => self.record_error(format!("video RTP from {from} on {component:?}: {e}")),
                }
            }
            PacketKind::Rtcp => {
                let plain = match &mut self.srtp {
                    Some(s) => s.unprotect_rtcp(bytes).map_err(|e| e.to_string()),
                    None => Ok(bytes.to_vec()),
                };
                match plain.and_then(|p| rtcp::parse(&p).map_err(|e| e.to_string())) {
                    Ok(compound) => {
                        for p in &compound.packets {
                            if let Rtcp::Psfb(fb) = p {
                                self.on_feedback(fb.format);
                            }
                        }
                    }
                    Err(e) => self.record_error(format!("video RTCP from {from}: {e}")),
                }
            }
            other => self.record_error(format!("unexpected {other:?} datagram on the video stream from {from}")),
        }
    }

    fn on_feedback(&mut self, format: PsfbFormat) {
        match format {
            PsfbFormat::Pli => self.report.pli_received += 1,
            PsfbFormat::Fir => self.report.fir_received += 1,
            PsfbFormat::Vsr => self.report.vsr_received += 1,
            PsfbFormat::Other(n) => return self.record_error(format!("PSFB FMT {n} not understood")),
        }
        // Answered with an IDR: the next access unit restarts the GOP.
        self.source.restart_gop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pacsi: bool) -> VideoLegConfig {
        VideoLegConfig {
            pt: 122,
            ssrc: 500,
            seed: 9,
            fps: 30,
            remote_rtp: "127.0.0.1:7000".parse().unwrap(),
            remote_rtcp: "127.0.0.1:7001".parse().unwrap(),
            srtp: None,
            pacsi,
            expect_ssrc_range: Some((500, 599)),
        }
    }

    fn run(tx: &mut VideoSession, rx: &mut VideoSession, frames: u32) {
        let t0 = Instant::now();
        tx.send_frames(t0, frames);
        let mut now = t0;
        loop {
            while let Some(t) = tx.poll_transmit() {
                rx.handle(t.component, "127.0.0.1:7000".parse().unwrap(), &t.bytes);
            }
            match tx.poll_timeout() {
                Some(at) => {
                    now = at.max(now);
                    tx.handle_timeout(now);
                }
                None => break,
            }
        }
    }

    #[test]
    fn frames_sent_are_frames_reassembled_with_pacsi_only_when_asked() {
        for pacsi in [true, false] {
            let (mut a, mut b) = (VideoSession::new(cfg(pacsi)).unwrap(), VideoSession::new(cfg(false)).unwrap());
            run(&mut a, &mut b, 12);
            let r = b.report();
            assert_eq!((a.report().frames_sent, r.received.frames, r.received.complete), (12, 12, 12));
            assert_eq!(r.received.pacsi_frames, if pacsi { 12 } else { 0 });
            assert_eq!((r.received.marker_violations, r.received.lost, r.out_of_range), (0, 0, 0));
            assert_eq!(a.poll_event(), Some(VideoJob(0)));
        }
    }

    #[test]
    fn a_pli_makes_the_next_frame_an_idr() {
        let (mut a, mut b) = (VideoSession::new(cfg(false)).unwrap(), VideoSession::new(cfg(false)).unwrap());
        run(&mut a, &mut b, 3);
        assert_eq!(a.report().idr_sent, 1);
        b.request_keyframe(KeyframeRequest::Pli);
        let t = b.poll_transmit().expect("a PLI");
        assert_eq!(t.component, Component::Rtcp);
        a.handle(Component::Rtcp, "127.0.0.1:7001".parse().unwrap(), &t.bytes);
        run(&mut a, &mut b, 2);
        assert_eq!((a.report().pli_received, a.report().idr_sent), (1, 2));
        assert_eq!(b.report().received.idr, 2);
    }
}
