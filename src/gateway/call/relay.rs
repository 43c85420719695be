//! The call's media relay (flows.md "Audio calls", "RTP relay"): the sockets of both legs and
//! the task that carries packets between them. Placeholder until the media syntax layers land:
//! it keeps the sockets bound so the ports written in SDP stay the gateway's.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::task::JoinHandle;

use super::codec::LegPayload;
use crate::net::media::MediaSocket;
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

/// Starts relaying between the sockets.
pub(in crate::gateway) fn start(sockets: Sockets, config: RelayConfig) -> RelayTask {
    let task = tokio::spawn(async move {
        let _keep = (sockets, config);
        std::future::pending::<()>().await;
    });
    RelayTask { task }
}
