//! The call's media relay (flows.md "Audio calls", "RTP relay"): the sockets of both legs and
//! the thin task that feeds their datagrams to the sans-IO [`engine::Engine`] and sends what it
//! returns. One task per call; dropping the [`RelayTask`] stops it and closes the sockets.

mod engine;
mod video;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use engine::{Engine, Input, Port};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use video::VideoEngine;
pub(in crate::gateway) use video::VideoRelayConfig;

use super::codec::LegPayload;
use crate::net::media::{Datagram, MediaSocket};
use crate::sdp::SsrcRange;

/// The four sockets of a call: RTP and RTCP on the Lync leg (any two ports: `a=rtcp` says
/// where RTCP is), an even/odd pair on the consumer leg (RFC 3550 §11).
#[derive(Debug)]
pub(in crate::gateway) struct Sockets {
    pub lync_rtp: MediaSocket,
    pub lync_rtcp: MediaSocket,
    pub consumer_rtp: MediaSocket,
    pub consumer_rtcp: MediaSocket,
}

impl Sockets {
    /// Starts reading all four into one channel; with it, which port each local address is.
    fn read_all(&mut self) -> (mpsc::UnboundedReceiver<Datagram>, [(SocketAddr, Port); 4]) {
        let (tx, rx) = mpsc::unbounded_channel();
        let ports = [
            (self.lync_rtp.local_addr(), Port::LyncRtp),
            (self.lync_rtcp.local_addr(), Port::LyncRtcp),
            (self.consumer_rtp.local_addr(), Port::ConsumerRtp),
            (self.consumer_rtcp.local_addr(), Port::ConsumerRtcp),
        ];
        for s in [&mut self.lync_rtp, &mut self.lync_rtcp, &mut self.consumer_rtp, &mut self.consumer_rtcp] {
            s.start_reading(tx.clone());
        }
        (rx, ports)
    }

    /// The socket of `port`.
    fn get(&self, port: Port) -> &MediaSocket {
        match port {
            Port::LyncRtp => &self.lync_rtp,
            Port::LyncRtcp => &self.lync_rtcp,
            Port::ConsumerRtp => &self.consumer_rtp,
            Port::ConsumerRtcp => &self.consumer_rtcp,
        }
    }

    /// Binds all four on `ip`. The gateway's sockets are not tapped: the harness records what
    /// crosses its own.
    pub(in crate::gateway) async fn bind(ip: IpAddr) -> io::Result<Self> {
        let lync_rtp = MediaSocket::bind(ip, None).await?;
        let lync_rtcp = MediaSocket::bind(ip, None).await?;
        let (consumer_rtp, consumer_rtcp) = MediaSocket::bind_pair(ip, None).await?;
        Ok(Self { lync_rtp, lync_rtcp, consumer_rtp, consumer_rtcp })
    }
}

/// What the relay needs of the Lync leg.
#[derive(Debug, Clone)]
pub(in crate::gateway) struct LyncSide {
    /// Payload numbers on this leg.
    pub pay: LegPayload,
    /// The gateway's SRTP key and salt (base64): it sends with it.
    pub local_key: String,
    /// Lync's key and salt (base64): Lync sends with it.
    pub remote_key: String,
    /// The gateway's SSRC towards Lync (its whole `x-ssrc-range`).
    pub ssrc: u32,
    /// Lync's declared range: packets from other SSRCs are dropped.
    pub remote_range: Option<SsrcRange>,
    /// The gateway's ICE credentials: checks carry `USERNAME <ufrag>:<Lync ufrag>` and are
    /// signed with `pwd`.
    pub ufrag: String,
    pub pwd: String,
    /// Lync's ufrag, when its SDP had one.
    pub remote_ufrag: Option<String>,
    /// Where Lync receives RTP and RTCP until a check with USE-CANDIDATE says otherwise.
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
}

/// What the relay needs of the consumer leg.
#[derive(Debug, Clone)]
pub(in crate::gateway) struct ConsumerSide {
    /// Payload numbers on this leg.
    pub pay: LegPayload,
    /// The gateway's SSRC towards the consumer side.
    pub ssrc: u32,
    /// Where the consumer side receives RTP and RTCP.
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
}

/// Everything the relay of one call needs.
#[derive(Debug, Clone)]
pub(in crate::gateway) struct RelayConfig {
    pub lync: LyncSide,
    pub consumer: ConsumerSide,
    /// The CNAME of the gateway's SDES items.
    pub cname: String,
    /// Seeded defects the relay applies (payload numbers, SSRC, DTMF).
    pub defects: crate::gateway::Defects,
}

/// A running relay; dropping it stops the task and closes the sockets.
#[derive(Debug)]
pub(in crate::gateway) struct RelayTask {
    task: JoinHandle<()>,
}

impl Drop for RelayTask {
    fn drop(&mut self) {
        self.task.abort();
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

/// Starts relaying between the sockets. A configuration the engine refuses (the keys are
/// checked when the SDP is read, so this is not expected) leaves the call without media.
pub(in crate::gateway) fn start(mut sockets: Sockets, config: RelayConfig) -> RelayTask {
    let (mut rx, ports) = sockets.read_all();
    let task = tokio::spawn(async move {
        let mut engine = match Engine::new(config) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("call relay not started: {e}");
                return;
            }
        };
        while let Some(d) = rx.recv().await {
            let Some(port) = ports.iter().find(|(a, _)| *a == d.local).map(|(_, p)| *p) else { continue };
            engine.handle(Input { at: d.at, ntp: ntp_now(), port, from: d.from, bytes: &d.bytes });
            while let Some(t) = engine.poll_transmit() {
                if let Err(e) = sockets.get(t.from).send_to(&t.bytes, t.to).await {
                    tracing::debug!("relay send to {}: {e}", t.to);
                }
            }
        }
    });
    RelayTask { task }
}

/// Starts relaying one call's video between its four video sockets (PROTOCOL.md §3.4).
pub(in crate::gateway) fn start_video(mut sockets: Sockets, config: VideoRelayConfig) -> RelayTask {
    let (mut rx, ports) = sockets.read_all();
    let task = tokio::spawn(async move {
        let mut engine = match VideoEngine::new(config) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("video relay not started: {e}");
                return;
            }
        };
        while let Some(d) = rx.recv().await {
            let Some(port) = ports.iter().find(|(a, _)| *a == d.local).map(|(_, p)| *p) else { continue };
            engine.handle(port, &d.bytes);
            while let Some(t) = engine.poll_transmit() {
                if let Err(e) = sockets.get(t.from).send_to(&t.bytes, t.to).await {
                    tracing::debug!("video relay send to {}: {e}", t.to);
                }
            }
        }
    });
    RelayTask { task }
}
