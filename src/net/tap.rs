//! The tap: every datagram and stream chunk the harness sends or receives passes here as a
//! [`TapEvent`]. The pcap writer and the canonical trace read only these events, so what a
//! report shows is what crossed the harness's sockets, byte for byte.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Transport of a tapped packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Transport {
    /// UDP datagram.
    Udp,
    /// TCP stream.
    Tcp,
}

/// What happened on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapKind {
    /// A TCP connection from `src` to `dst` was established (the pcap writer synthesises the
    /// three-way handshake from it).
    TcpOpen,
    /// Payload bytes: one UDP datagram, or one chunk written to / read from a TCP stream.
    Data(Vec<u8>),
    /// The side at `src` closed the connection (FIN).
    TcpClose,
}

/// One observation on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapEvent {
    /// Time since the recorder started (monotonic; becomes the pcap timestamp).
    pub at: Duration,
    /// Transport.
    pub transport: Transport,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// What it was.
    pub kind: TapKind,
    /// The label of the harness endpoint that recorded the packet (`enterprise`, `consumer`);
    /// the canonical trace names the user on our side from the message itself.
    pub actor: Option<String>,
    /// The scenario step during which it happened (steps are the canonical trace's
    /// synchronisation points).
    pub step: usize,
}

/// A shared, append-only log of tap events for one scenario. Cheap to clone; every endpoint of
/// the scenario holds one.
#[derive(Debug, Clone, Default)]
pub struct Tap {
    inner: Arc<Mutex<TapLog>>,
}

#[derive(Debug, Default)]
struct TapLog {
    /// Records nothing: a tap nobody reads (the reference gateway's own, a load run's), so
    /// a long run does not keep a copy of every packet.
    off: bool,
    started: Option<std::time::Instant>,
    step: usize,
    events: Vec<TapEvent>,
    /// Who owns which harness address (media sockets are made per call, by their user).
    names: std::collections::BTreeMap<SocketAddr, String>,
    /// SRTP master keys (base64 key||salt) by the address that sends under them: the harness
    /// negotiated its own legs' keys, so the trace may read the payloads of its own streams.
    srtp: std::collections::BTreeMap<SocketAddr, String>,
}

impl Tap {
    /// A new empty tap.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tap that records nothing.
    pub fn off() -> Self {
        Self { inner: Arc::new(Mutex::new(TapLog { off: true, ..TapLog::default() })) }
    }

    /// Records an event now.
    pub fn record(&self, transport: Transport, src: SocketAddr, dst: SocketAddr, kind: TapKind, actor: Option<String>) {
        let mut log = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if log.off {
            return;
        }
        let now = std::time::Instant::now();
        let started = *log.started.get_or_insert(now);
        let step = log.step;
        log.events.push(TapEvent { at: now - started, transport, src, dst, kind, actor, step });
    }

    /// Marks the start of scenario step `n` (1-based); later events belong to it.
    pub fn set_step(&self, n: usize) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).step = n;
    }

    /// Records that `addr` belongs to `actor` (e.g. `lync:alice@contoso.com`), for the trace.
    pub fn name(&self, addr: SocketAddr, actor: &str) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).names.insert(addr, actor.to_owned());
    }

    /// Records that SRTP from `sender` is protected with `key` (base64 key||salt), for the
    /// trace's video summaries, which need the payload.
    pub fn srtp_key(&self, sender: SocketAddr, key: &str) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).srtp.insert(sender, key.to_owned());
    }

    /// Every SRTP key recorded so far, by sender.
    pub fn srtp_keys(&self) -> std::collections::BTreeMap<SocketAddr, String> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).srtp.clone()
    }

    /// Every address named so far.
    pub fn names(&self) -> std::collections::BTreeMap<SocketAddr, String> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).names.clone()
    }

    /// A copy of every event so far, in order.
    pub fn events(&self) -> Vec<TapEvent> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).events.clone()
    }
}
