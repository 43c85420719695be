//! Media sockets: one UDP socket per RTP or RTCP component, with every datagram in and out
//! passing the tap (when the socket belongs to the harness), so RTP, SRTP, RTCP and STUN land
//! in the scenario's pcap next to the SIP that negotiated them. Packet meaning is not parsed
//! here: the owner demultiplexes (`media::demux`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::tap::{Tap, TapKind, Transport};

/// One received datagram.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The socket it arrived on.
    pub local: SocketAddr,
    /// Its sender.
    pub from: SocketAddr,
    /// When it was read.
    pub at: Instant,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A bound UDP media socket. Dropping it stops its reader.
#[derive(Debug)]
pub struct MediaSocket {
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    tap: Option<(Tap, String)>,
    reader: Option<JoinHandle<()>>,
}

impl MediaSocket {
    /// Binds an ephemeral port on `ip`. `tap` names the harness leg that records it; the
    /// reference gateway's sockets pass `None` (the harness taps what crosses its own sockets).
    pub async fn bind(ip: IpAddr, tap: Option<(Tap, String)>) -> io::Result<Self> {
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        Ok(Self::wrap(sock, tap))
    }

    /// Binds an even port and the odd port above it: plain RTP puts RTCP on the RTP port + 1
    /// (RFC 3550 §11), so the pair must be adjacent.
    pub async fn bind_pair(ip: IpAddr, tap: Option<(Tap, String)>) -> io::Result<(Self, Self)> {
        let mut last = None;
        for _ in 0..64 {
            let probe = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
            let port = probe.local_addr()?.port();
            let even = port & !1;
            drop(probe);
            if even < 1024 {
                continue;
            }
            let rtp = match UdpSocket::bind(SocketAddr::new(ip, even)).await {
                Ok(s) => s,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match UdpSocket::bind(SocketAddr::new(ip, even + 1)).await {
                Ok(rtcp) => return Ok((Self::wrap(rtp, tap.clone()), Self::wrap(rtcp, tap))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no adjacent even/odd UDP port pair free")))
    }

    fn wrap(sock: UdpSocket, tap: Option<(Tap, String)>) -> Self {
        let local = sock.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Self { sock: Arc::new(sock), local, tap, reader: None }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram (tapped first, so the pcap shows it even if the send fails).
    pub async fn send_to(&self, bytes: &[u8], dst: SocketAddr) -> io::Result<()> {
        if let Some((tap, label)) = &self.tap {
            tap.record(Transport::Udp, self.local, dst, TapKind::Data(bytes.to_vec()), Some(label.clone()));
        }
        self.sock.send_to(bytes, dst).await.map(|_| ())
    }

    /// Starts delivering received datagrams to `tx` (tapped on receipt). Once per socket; the
    /// reader stops when the socket is dropped or `tx` is closed.
    pub fn start_reading(&mut self, tx: mpsc::UnboundedSender<Datagram>) {
        if self.reader.is_some() {
            return;
        }
        let (sock, local, tap) = (self.sock.clone(), self.local, self.tap.clone());
        self.reader = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                // A failed read (an ICMP error surfacing) loses nothing; let others run first.
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let bytes = buf[..n].to_vec();
                if let Some((tap, label)) = &tap {
                    tap.record(Transport::Udp, from, local, TapKind::Data(bytes.clone()), Some(label.clone()));
                }
                if tx.send(Datagram { local, from, at: Instant::now(), bytes }).is_err() {
                    break;
                }
            }
        }));
    }
}

impl Drop for MediaSocket {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            r.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_pair_is_even_and_odd_and_datagrams_are_delivered_and_tapped_both_ways() {
        let tap = Tap::new();
        let (mut rtp, rtcp) = MediaSocket::bind_pair(LO, Some((tap.clone(), "consumer".into()))).await.unwrap();
        assert_eq!(rtp.local_addr().port() % 2, 0);
        assert_eq!(rtcp.local_addr().port(), rtp.local_addr().port() + 1);
        let (tx, mut rx) = mpsc::unbounded_channel();
        rtp.start_reading(tx);
        let far = MediaSocket::bind(LO, None).await.unwrap();
        far.send_to(b"\x80\x00hello", rtp.local_addr()).await.unwrap();
        let d = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert_eq!((d.from, d.local, d.bytes.as_slice()), (far.local_addr(), rtp.local_addr(), &b"\x80\x00hello"[..]));
        rtp.send_to(b"back", far.local_addr()).await.unwrap();
        let ev = tap.events();
        assert_eq!(ev.len(), 2, "the gateway-side socket records nothing; ours records both");
        assert_eq!((ev[0].src, ev[0].dst), (far.local_addr(), rtp.local_addr()));
        assert_eq!((ev[1].src, ev[1].dst), (rtp.local_addr(), far.local_addr()));
        assert!(ev.iter().all(|e| e.actor.as_deref() == Some("consumer") && e.transport == Transport::Udp));
    }
}
