//! The tokio shell around the sans-IO transaction layer: one task owns a UDP socket, a TCP
//! listener and its connections, and the [`TxnLayer`]. Every byte in and out is recorded on the
//! [`Tap`] before anything else looks at it, so a capture never misses what a parser choked on.
//!
//! Callers talk to the task through an [`EndpointHandle`]; requests they send resolve to the
//! final response (or a timeout), incoming requests and stray messages arrive on a channel.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use super::tap::{Tap, TapKind, Transport};
use super::tls::StreamTls;
use crate::sip::txn::{Output, Peer, TimerConfig, TxnEvent, TxnId, TxnLayer};
use crate::sip::wire::{Frame, Message, MessageBuilder, StreamFramer, WireError};

/// Where and how an endpoint listens.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Address to bind (loopback in tests); port 0 picks an ephemeral port.
    pub bind: SocketAddr,
    /// Fixed TCP port, when different from the UDP one (0 = ephemeral).
    pub tcp_port: u16,
    /// RFC 3261 timer values.
    pub timers: TimerConfig,
    /// Largest message accepted on a stream.
    pub max_message: usize,
    /// TLS on stream connections (none: plain TCP).
    pub tls: StreamTls,
}

impl EndpointConfig {
    /// Ephemeral ports on `ip`, RFC timer defaults.
    pub fn ephemeral(ip: IpAddr) -> Self {
        Self {
            bind: SocketAddr::new(ip, 0),
            tcp_port: 0,
            timers: TimerConfig::default(),
            max_message: crate::sip::wire::DEFAULT_MAX_MESSAGE,
            tls: StreamTls::default(),
        }
    }
}

/// Why a request produced no final response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// Timer B or F fired: the peer never answered finally.
    #[error("no final response from {peer} (transaction timed out)")]
    Timeout {
        /// The peer.
        peer: SocketAddr,
    },
    /// The endpoint task has stopped.
    #[error("endpoint stopped")]
    Stopped,
    /// Binding or connecting failed.
    #[error("transport error towards {peer}: {detail}")]
    Transport {
        /// The peer.
        peer: SocketAddr,
        /// What the OS said.
        detail: String,
    },
}

/// What the endpoint hands to its owner.
#[derive(Debug)]
pub enum Incoming {
    /// A new request; answer it with [`EndpointHandle::respond`].
    Request {
        /// Server transaction.
        id: TxnId,
        /// The request.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// ACK for a 2xx, a stray response or an unmatched request.
    Stray {
        /// The message.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// A barrier from [`EndpointHandle::flush_through`]: answer it once every event before it
    /// has been handled.
    Barrier(oneshot::Sender<()>),
    /// Bytes from a peer that are not valid SIP. The endpoint answered 400 where it could.
    Malformed {
        /// Sender.
        peer: SocketAddr,
        /// Transport.
        transport: Transport,
        /// What is wrong.
        error: WireError,
        /// The packet's first line and size, to name it in a report.
        packet: String,
    },
}

/// A packet named for a report: its first line (escaped, cut at 80 characters) and size.
fn excerpt(bytes: &[u8]) -> String {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line: String = String::from_utf8_lossy(first).trim_end().chars().take(80).collect();
    format!("`{}` ({} bytes)", line.escape_debug(), bytes.len())
}

enum Command {
    Request {
        msg: Message,
        peer: Peer,
        reply: oneshot::Sender<Result<Message, NetError>>,
        progress: Option<mpsc::UnboundedSender<Message>>,
    },
    Respond {
        id: TxnId,
        msg: Message,
    },
    Stateless {
        msg: Message,
        peer: Peer,
    },
    Flush {
        done: oneshot::Sender<()>,
        through: bool,
    },
    RejectionsAcked {
        done: oneshot::Sender<()>,
    },
    /// Stop; `done` is answered once every socket is closed.
    Shutdown(Option<oneshot::Sender<()>>),
}

/// A client transaction in progress ([`EndpointHandle::request_with_progress`]).
#[derive(Debug)]
pub struct Progress {
    provisional: mpsc::UnboundedReceiver<Message>,
    done: oneshot::Receiver<Result<Message, NetError>>,
    stopped: bool,
}

/// What a [`Progress`] yields next.
#[derive(Debug)]
pub enum Heard {
    /// A provisional response (1xx other than retransmissions).
    Provisional(Message),
    /// The final response, or why there is none.
    Final(Result<Message, NetError>),
}

impl Progress {
    /// The next provisional response, or the final outcome. Provisionals queued before the
    /// final response are yielded first. Call again after a provisional; after `Final` the
    /// transaction is over.
    pub async fn next(&mut self) -> Heard {
        if self.stopped {
            return Heard::Final(Err(NetError::Stopped));
        }
        if let Ok(m) = self.provisional.try_recv() {
            return Heard::Provisional(m);
        }
        tokio::select! {
            biased;
            Some(m) = self.provisional.recv() => Heard::Provisional(m),
            r = &mut self.done => {
                self.stopped = true;
                Heard::Final(r.unwrap_or(Err(NetError::Stopped)))
            }
        }
    }
}

/// A cheap handle to an endpoint task.
#[derive(Debug, Clone)]
pub struct EndpointHandle {
    cmd: mpsc::UnboundedSender<Command>,
    udp: SocketAddr,
    tcp: SocketAddr,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl EndpointHandle {
    /// The UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// The TCP listening address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// The listening address for a transport.
    pub fn addr(&self, reliable: bool) -> SocketAddr {
        if reliable { self.tcp } else { self.udp }
    }

    /// A Via value for a new request over this transport, with a fresh branch from `rng`.
    pub fn via(&self, reliable: bool, rng: &mut fastrand::Rng) -> String {
        // Over TCP the connection may be reused for requests towards us (RFC 5923 `alias`).
        let (t, alias) = if reliable { ("TCP", ";alias") } else { ("UDP", "") };
        format!("SIP/2.0/{t} {};branch=z9hG4bK{}{alias}", self.addr(reliable), token(rng, 16))
    }

    /// Sends a request in a new client transaction and waits for its final response.
    /// Provisional responses are absorbed.
    pub async fn request(&self, msg: Message, peer: Peer) -> Result<Message, NetError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::Request { msg, peer, reply, progress: None }).map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Sends a request (an INVITE) in a new client transaction; provisional responses arrive
    /// on the returned [`Progress`], once each (retransmissions are absorbed), then the final.
    pub fn request_with_progress(&self, msg: Message, peer: Peer) -> Progress {
        let (reply, done) = oneshot::channel();
        let (tx, provisional) = mpsc::unbounded_channel();
        let sent = self.cmd.send(Command::Request { msg, peer, reply, progress: Some(tx) });
        Progress { provisional, done, stopped: sent.is_err() }
    }

    /// Answers a server transaction.
    pub fn respond(&self, id: TxnId, msg: Message) {
        let _ = self.cmd.send(Command::Respond { id, msg });
    }

    /// Sends outside any transaction (ACK for 2xx, RFC 3261 §13.2.2.4).
    pub fn send_stateless(&self, msg: Message, peer: Peer) {
        let _ = self.cmd.send(Command::Stateless { msg, peer });
    }

    /// Resolves once every command sent before it has been carried out (and so tapped).
    pub async fn flush(&self) -> Result<(), NetError> {
        self.barrier(false).await
    }

    /// Like [`Self::flush`], and also waits until the owner has handled every [`Incoming`]
    /// event queued before it (the owner answers [`Incoming::Barrier`]).
    pub async fn flush_through(&self) -> Result<(), NetError> {
        self.barrier(true).await
    }

    async fn barrier(&self, through: bool) -> Result<(), NetError> {
        let (done, rx) = oneshot::channel();
        self.cmd.send(Command::Flush { done, through }).map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Resolves once no INVITE server transaction waits for the ACK of a non-2xx final
    /// response we sent (each got its ACK, or Timer H ended it).
    pub async fn rejections_acked(&self) -> Result<(), NetError> {
        let (done, rx) = oneshot::channel();
        self.cmd.send(Command::RejectionsAcked { done }).map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Stops the task and closes its sockets.
    pub fn shutdown(&self) {
        let _ = self.cmd.send(Command::Shutdown(None));
    }

    /// Stops the task and returns once its sockets are closed, so the same fixed address can
    /// be bound again at once.
    pub async fn shutdown_and_wait(&self) {
        let (done, closed) = oneshot::channel();
        if self.cmd.send(Command::Shutdown(Some(done))).is_ok() {
            // An error means the task had already ended, sockets and all.
            let _ = closed.await;
        }
    }
}

/// How long one connect or write may block the endpoint task: a peer that stops reading must
/// not freeze timers and commands.
/// How long a connect, a write or a client transaction's answer may take before it counts as lost.
pub const IO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// A random token of `n` alphanumerics (tags, branches, Call-IDs).
pub fn token(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| rng.alphanumeric()).collect()
}

/// A stream connection of either kind: plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> Stream for T {}

enum NetIn {
    TcpChunk {
        peer: SocketAddr,
        local: SocketAddr,
        bytes: Vec<u8>,
    },
    TcpClosed {
        peer: SocketAddr,
        local: SocketAddr,
    },
    /// An accepted connection whose TLS handshake completed.
    Accepted {
        stream: Box<dyn Stream>,
        peer: SocketAddr,
        local: SocketAddr,
    },
}

struct Conn {
    local: SocketAddr,
    writer: tokio::io::WriteHalf<Box<dyn Stream>>,
    reader: tokio::task::AbortHandle,
    framer: StreamFramer,
}

struct Task {
    txn: TxnLayer,
    udp: UdpSocket,
    udp_addr: SocketAddr,
    /// Our TCP listening address, for requests that outgrow UDP.
    listen_tcp: SocketAddr,
    conns: HashMap<SocketAddr, Conn>,
    /// Advertised sent-by address → the connection (keyed by its peer) to reuse (RFC 5923).
    aliases: HashMap<SocketAddr, SocketAddr>,
    pending: HashMap<TxnId, (SocketAddr, oneshot::Sender<Result<Message, NetError>>)>,
    /// Where provisional responses of a client transaction go, when the caller asked.
    progress: HashMap<TxnId, mpsc::UnboundedSender<Message>>,
    tap: Tap,
    label: String,
    net_tx: mpsc::UnboundedSender<NetIn>,
    incoming: mpsc::UnboundedSender<Incoming>,
    max_message: usize,
    /// Callers of [`EndpointHandle::rejections_acked`], answered when no rejection waits.
    ack_waiters: Vec<oneshot::Sender<()>>,
    tls: StreamTls,
}

/// Binds UDP and TCP. Unless a separate TCP port is configured, TCP listens on the UDP port:
/// a request that outgrows UDP (RFC 3261 §18.1.1) goes over TCP to the port the peer
/// advertised, so every endpoint must take TCP there. An ephemeral UDP port whose TCP twin is
/// taken is given back and another drawn, a bounded number of times.
async fn bind(config: &EndpointConfig) -> std::io::Result<(UdpSocket, TcpListener)> {
    let ip = config.bind.ip();
    if config.tcp_port != 0 {
        let udp = UdpSocket::bind(config.bind).await?;
        return Ok((udp, TcpListener::bind(SocketAddr::new(ip, config.tcp_port)).await?));
    }
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind(config.bind).await?;
        match TcpListener::bind(SocketAddr::new(ip, udp.local_addr()?.port())).await {
            Ok(l) => return Ok((udp, l)),
            // A fixed port has no other choice; an ephemeral one draws again.
            Err(e) if config.bind.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port free for both UDP and TCP")))
}

/// Largest request sent over UDP when the path MTU is unknown (RFC 3261 §18.1.1).
pub const UDP_REQUEST_LIMIT: usize = 1300;

/// Starts an endpoint: binds, spawns its task, returns the handle and the incoming stream.
/// `label` names the endpoint on its tap events (`enterprise`, `consumer`).
pub async fn start(
    config: EndpointConfig,
    tap: Tap,
    label: &str,
) -> std::io::Result<(EndpointHandle, mpsc::UnboundedReceiver<Incoming>)> {
    let (udp, listener) = bind(&config).await?;
    let udp_addr = udp.local_addr()?;
    let tcp_addr = listener.local_addr()?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::unbounded_channel();
    let task = Task {
        txn: TxnLayer::new(config.timers),
        udp,
        udp_addr,
        listen_tcp: tcp_addr,
        conns: HashMap::new(),
        aliases: HashMap::new(),
        pending: HashMap::new(),
        progress: HashMap::new(),
        tap,
        label: label.to_owned(),
        net_tx,
        incoming: in_tx,
        max_message: config.max_message,
        ack_waiters: Vec::new(),
        tls: config.tls,
    };
    tokio::spawn(task.run(cmd_rx, net_rx, listener));
    Ok((EndpointHandle { cmd: cmd_tx, udp: udp_addr, tcp: tcp_addr }, in_rx))
}

impl Task {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
        mut net_rx: mpsc::UnboundedReceiver<NetIn>,
        listener: TcpListener,
    ) {
        let mut buf = vec![0u8; 65_535];
        let done = loop {
            let deadline = self.txn.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    None => break None,
                    Some(Command::Shutdown(done)) => break done,
                    Some(c) => self.command(c).await,
                },
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let bytes = buf[..n].to_vec();
                        self.record(Transport::Udp, from, self.udp_addr, TapKind::Data(bytes.clone()), None);
                        self.datagram(&bytes, from).await;
                    }
                    Err(e) => tracing::debug!("udp receive error: {e}"),
                },
                acc = listener.accept() => if let Ok((stream, peer)) = acc {
                    self.accepted(stream, peer);
                },
                Some(ev) = net_rx.recv() => self.net(ev).await,
                () = sleep_until(deadline) => {
                    self.txn.handle_timeout(Instant::now());
                }
            }
            self.drain().await;
            if !self.ack_waiters.is_empty() && self.txn.unacked_rejections() == 0 {
                for done in self.ack_waiters.drain(..) {
                    let _ = done.send(());
                }
            }
        };
        let conns: Vec<(SocketAddr, Conn)> = self.conns.drain().collect();
        for (peer, mut c) in conns {
            let _ = c.writer.shutdown().await;
            // The read half goes too: a peer that keeps the connection must not keep our
            // socket (and its port) alive.
            c.reader.abort();
            self.record(Transport::Tcp, c.local, peer, TapKind::TcpClose, None);
        }
        // Close the sockets before saying so: the waiter may bind the same address next.
        drop(listener);
        drop(self);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    fn record(&self, transport: Transport, src: SocketAddr, dst: SocketAddr, kind: TapKind, _: Option<String>) {
        self.tap.record(transport, src, dst, kind, Some(self.label.clone()));
    }

    async fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Request { msg, peer, reply, progress } => {
                let (msg, peer) = self.congestion_controlled(msg, peer);
                let id = self.txn.send_request(now, msg, peer);
                self.pending.insert(id, (peer.addr, reply));
                if let Some(p) = progress {
                    self.progress.insert(id, p);
                }
            }
            Command::Respond { id, msg } => {
                if let Err(e) = self.txn.respond(now, id, msg) {
                    tracing::debug!("respond on {id}: {e}");
                }
            }
            Command::Stateless { msg, peer } => self.transmit(peer, &msg).await,
            Command::Flush { done, through } => {
                self.drain().await;
                if through {
                    let _ = self.incoming.send(Incoming::Barrier(done));
                } else {
                    let _ = done.send(());
                }
            }
            Command::RejectionsAcked { done } => self.ack_waiters.push(done),
            Command::Shutdown(_) => {}
        }
    }

    /// RFC 3261 §18.1.1: a request larger than 1300 bytes goes over TCP even where UDP was
    /// chosen, with the top Via rewritten to say so (the transport owns the sent-by).
    fn congestion_controlled(&self, msg: Message, peer: Peer) -> (Message, Peer) {
        if peer.reliable || msg.as_bytes().len() <= UDP_REQUEST_LIMIT {
            return (msg, peer);
        }
        let Some(via) = msg.value("Via").map(|v| v.into_owned()) else { return (msg, peer) };
        let params = via.split_once(';').map(|(_, p)| format!(";{p}")).unwrap_or_default();
        let rewritten = format!("SIP/2.0/TCP {}{params};alias", self.listen_tcp);
        match msg.with_first_value("Via", &rewritten) {
            Ok(m) => (m, Peer { addr: peer.addr, reliable: true }),
            Err(e) => {
                tracing::warn!("cannot move a {}-byte request to TCP: {e}", msg.as_bytes().len());
                (msg, peer)
            }
        }
    }

    async fn net(&mut self, ev: NetIn) {
        match ev {
            NetIn::TcpChunk { peer, local, bytes } => {
                self.record(Transport::Tcp, peer, local, TapKind::Data(bytes.clone()), None);
                let mut frames = Vec::new();
                let mut failed = None;
                // A chunk from an older connection to the same peer (the 4-tuple differs) still
                // crossed the wire and is tapped, but must not feed the current one's framer.
                if let Some(conn) = self.conns.get_mut(&peer).filter(|c| c.local == local) {
                    conn.framer.push(&bytes);
                    loop {
                        match conn.framer.next_frame() {
                            Ok(Some(Frame::Message(m))) => frames.push(m),
                            Ok(Some(Frame::KeepAlive)) => {}
                            Ok(None) => break,
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                }
                for m in frames {
                    self.accept(m, Peer { addr: peer, reliable: true }).await;
                }
                if let Some(error) = failed {
                    let packet = excerpt(&bytes);
                    let _ = self.incoming.send(Incoming::Malformed { peer, transport: Transport::Tcp, error, packet });
                    if let Some(mut c) = self.conns.remove(&peer) {
                        let _ = c.writer.shutdown().await;
                        self.record(Transport::Tcp, c.local, peer, TapKind::TcpClose, None);
                    }
                }
            }
            NetIn::TcpClosed { peer, local } => {
                self.record(Transport::Tcp, peer, local, TapKind::TcpClose, None);
                // Only the current connection to this peer fails its transactions.
                if self.conns.get(&peer).is_some_and(|c| c.local == local) {
                    self.conns.remove(&peer);
                    self.txn.transport_error(Instant::now(), Peer { addr: peer, reliable: true });
                }
            }
            NetIn::Accepted { stream, peer, local } => self.adopt(stream, local, peer, false),
        }
    }

    async fn datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        // RFC 5626 keep-alives on UDP: a lone CRLFCRLF.
        if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return;
        }
        match Message::parse_datagram(bytes) {
            Ok(m) => self.accept(m, Peer { addr: from, reliable: false }).await,
            Err(error) => {
                // RFC 3261 §18.3: a request whose datagram ends before its body gets 400.
                if let Some(m) = Message::short_request(bytes) {
                    self.refuse(&m, &error, Peer { addr: from, reliable: false }).await;
                }
                let packet = excerpt(bytes);
                let _ =
                    self.incoming.send(Incoming::Malformed { peer: from, transport: Transport::Udp, error, packet });
            }
        }
    }

    /// A framed message: validate, then hand to the transaction layer.
    async fn accept(&mut self, m: Message, peer: Peer) {
        if let Err(error) = m.validate() {
            if m.is_request() && m.method() != Some(&crate::sip::wire::Method::ACK) {
                self.refuse(&m, &error, peer).await;
            }
            let transport = if peer.reliable { Transport::Tcp } else { Transport::Udp };
            let packet = excerpt(m.as_bytes());
            let _ = self.incoming.send(Incoming::Malformed { peer: peer.addr, transport, error, packet });
            return;
        }
        if peer.reliable && m.is_request() {
            self.learn_alias(&m, peer.addr);
        }
        self.txn.receive(Instant::now(), m, peer);
    }

    /// Answers a request the wire layer refused: 505 for another SIP version (RFC 3261
    /// §21.5.7), else 400 with the reason in a Warning.
    async fn refuse(&mut self, m: &Message, error: &WireError, peer: Peer) {
        let (code, reason) = match m.start_line() {
            crate::sip::wire::StartLine::Request { version, .. } if version != "SIP/2.0" => {
                (505, "Version Not Supported")
            }
            _ => (400, "Bad Request"),
        };
        let resp = MessageBuilder::response_to(m, code, reason, None)
            .header("Warning", format!("399 fedcert \"{}\"", error.detail.replace('"', "'")))
            .build();
        self.transmit(peer, &resp).await;
    }

    /// RFC 5923: a request over TCP whose top Via carries `alias` lets requests to its
    /// sent-by address ride back on the same connection. Lync keeps one connection to its
    /// Edge for everything; it also keeps a response and a NOTIFY that follows it in order.
    fn learn_alias(&mut self, m: &Message, conn_peer: SocketAddr) {
        let Ok(via) = m.top_via() else { return };
        if !via.params.iter().any(|(k, _)| k.eq_ignore_ascii_case("alias")) {
            return;
        }
        let host = via.host.trim_start_matches('[').trim_end_matches(']');
        if let (Ok(ip), Some(port)) = (host.parse::<std::net::IpAddr>(), via.port) {
            self.aliases.insert(SocketAddr::new(ip, port), conn_peer);
        }
    }

    async fn drain(&mut self) {
        while let Some(out) = self.txn.poll_output() {
            match out {
                Output::Transmit { peer, msg } => self.transmit(peer, &msg).await,
                Output::Event(ev) => self.event(ev),
            }
        }
    }

    fn event(&mut self, ev: TxnEvent) {
        match ev {
            TxnEvent::Request { id, msg, peer } => {
                let _ = self.incoming.send(Incoming::Request { id, msg, peer });
            }
            TxnEvent::Response { id, msg, retransmission } => {
                if msg.status().is_some_and(|c| c < 200) {
                    if !retransmission && let Some(p) = self.progress.get(&id) {
                        let _ = p.send(msg);
                    }
                    return;
                }
                self.progress.remove(&id);
                if msg.status().is_some_and(|c| c >= 200)
                    && let Some((_, reply)) = self.pending.remove(&id)
                {
                    let _ = reply.send(Ok(msg));
                }
            }
            TxnEvent::Timeout { id } => {
                self.progress.remove(&id);
                if let Some((peer, reply)) = self.pending.remove(&id) {
                    let _ = reply.send(Err(NetError::Timeout { peer }));
                }
            }
            TxnEvent::Stray { msg, peer } => {
                let _ = self.incoming.send(Incoming::Stray { msg, peer });
            }
            TxnEvent::Terminated { id } => {
                self.progress.remove(&id);
                if let Some((peer, reply)) = self.pending.remove(&id) {
                    let _ = reply.send(Err(NetError::Timeout { peer }));
                }
            }
        }
    }

    async fn transmit(&mut self, peer: Peer, msg: &Message) {
        if !peer.reliable {
            self.record(Transport::Udp, self.udp_addr, peer.addr, TapKind::Data(msg.as_bytes().to_vec()), None);
            if let Err(e) = self.udp.send_to(msg.as_bytes(), peer.addr).await {
                tracing::debug!("udp send to {}: {e}", peer.addr);
            }
            return;
        }
        let asked = peer;
        let peer = match self.aliases.get(&peer.addr) {
            Some(conn) if !self.conns.contains_key(&peer.addr) && self.conns.contains_key(conn) => {
                Peer { addr: *conn, reliable: true }
            }
            _ => peer,
        };
        if !self.conns.contains_key(&peer.addr) {
            match tokio::time::timeout(IO_DEADLINE, self.connect(peer.addr)).await {
                Ok(Ok((stream, local))) => self.adopt(stream, local, peer.addr, true),
                r => {
                    let e = r.map_or_else(
                        |_| "connect timed out".to_owned(),
                        |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                    );
                    tracing::warn!("{}: connect to {}: {e}", self.label, peer.addr);
                    self.txn.transport_error(Instant::now(), asked);
                    return;
                }
            }
        }
        let Some(local) = self.conns.get(&peer.addr).map(|c| c.local) else { return };
        self.record(Transport::Tcp, local, peer.addr, TapKind::Data(msg.as_bytes().to_vec()), None);
        let Some(conn) = self.conns.get_mut(&peer.addr) else { return };
        let written = tokio::time::timeout(IO_DEADLINE, conn.writer.write_all(msg.as_bytes())).await;
        if let Err(e) = written.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())) {
            tracing::debug!("tcp write to {}: {e}", peer.addr);
            self.conns.remove(&peer.addr);
            self.txn.transport_error(Instant::now(), asked);
        }
    }

    /// Opens a stream to `addr`, with the TLS handshake when the endpoint has a connector.
    async fn connect(&self, addr: SocketAddr) -> std::io::Result<(Box<dyn Stream>, SocketAddr)> {
        let stream = TcpStream::connect(addr).await?;
        let local = stream.local_addr()?;
        let _ = stream.set_nodelay(true);
        match &self.tls.connector {
            None => Ok((Box::new(stream), local)),
            Some(c) => {
                let tls =
                    c.connector.connect(c.name.clone(), stream).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("TLS handshake with {addr} refused: {e}"))
                    })?;
                Ok((Box::new(tls), local))
            }
        }
    }

    /// Takes an accepted connection: at once when plain, after its handshake (in its own
    /// task, bounded, so a slow or hostile client cannot hold the endpoint) when TLS.
    fn accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        let Ok(local) = stream.local_addr() else { return };
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = self.tls.acceptor.clone() else {
            return self.adopt(Box::new(stream), local, peer, false);
        };
        let (net_tx, label) = (self.net_tx.clone(), self.label.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(IO_DEADLINE, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = net_tx.send(NetIn::Accepted { stream: Box::new(tls), peer, local });
                }
                Ok(Err(e)) => tracing::warn!("{label}: TLS handshake from {peer} refused: {e}"),
                Err(_) => tracing::warn!("{label}: TLS handshake from {peer} did not finish in {IO_DEADLINE:?}"),
            }
        });
    }

    /// Takes over a connected stream: records the connection on the tap, spawns its reader.
    /// The tap sees what SIP sees: plaintext, before encryption and after decryption.
    fn adopt(&mut self, stream: Box<dyn Stream>, local: SocketAddr, peer: SocketAddr, outgoing: bool) {
        let (src, dst) = if outgoing { (local, peer) } else { (peer, local) };
        self.record(Transport::Tcp, src, dst, TapKind::TcpOpen, None);
        let (mut reader, writer) = tokio::io::split(stream);
        let net_tx = self.net_tx.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = net_tx.send(NetIn::TcpClosed { peer, local });
                        break;
                    }
                    Ok(n) => {
                        if net_tx.send(NetIn::TcpChunk { peer, local, bytes: buf[..n].to_vec() }).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        self.conns.insert(
            peer,
            Conn { local, writer, reader: reader.abort_handle(), framer: StreamFramer::new(self.max_message) },
        );
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::sip::wire::Method;

    const DEADLINE: Duration = Duration::from_secs(5);

    fn fast() -> EndpointConfig {
        let mut c = EndpointConfig::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST));
        c.timers =
            TimerConfig { t1: Duration::from_millis(5), t2: Duration::from_millis(40), t4: Duration::from_millis(50) };
        c
    }

    fn options(via: &str, call_id: &str) -> Message {
        MessageBuilder::request(Method::OPTIONS, "sip:gw@127.0.0.1")
            .header("Via", via)
            .header("From", "<sip:a@contoso.com>;tag=1")
            .header("To", "<sip:gw@127.0.0.1>")
            .header("Call-ID", call_id)
            .header("CSeq", "1 OPTIONS")
            .build()
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Incoming>) -> Incoming {
        tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("no event before the deadline")
            .expect("endpoint stopped")
    }

    #[tokio::test]
    async fn a_request_to_a_silent_peer_fails_with_timer_f() {
        let (ep, _rx) = start(fast(), Tap::new(), "t").await.unwrap();
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let peer = Peer { addr: silent.local_addr().unwrap(), reliable: false };
        let r =
            tokio::time::timeout(DEADLINE, ep.request(options(&ep.via(false, &mut rng), "c1"), peer)).await.unwrap();
        assert_eq!(r, Err(NetError::Timeout { peer: peer.addr }));
        // Timer E retransmitted the request before Timer F (64*T1) gave up.
        let mut buf = [0u8; 2048];
        let mut copies = 0;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(1), silent.recv_from(&mut buf)).await {
            copies += 1;
        }
        assert!(copies > 1, "expected retransmissions, got {copies} copies");
    }

    #[tokio::test]
    async fn malformed_sip_is_reported_with_its_sender_and_an_invalid_request_gets_400() {
        let tap = Tap::new();
        let (ep, mut rx) = start(fast(), tap.clone(), "t").await.unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"INVITE  sip:x@y SIP/2.0\r\n\r\n", ep.udp_addr()).await.unwrap();
        match next(&mut rx).await {
            Incoming::Malformed { peer: from, error, .. } => {
                assert_eq!(from, peer.local_addr().unwrap());
                assert_eq!(error.kind, crate::sip::wire::FaultKind::StartLine);
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        // Parses, but its CSeq method does not match: the endpoint answers 400 itself.
        let bad = MessageBuilder::request(Method::MESSAGE, "sip:x@127.0.0.1")
            .header("Via", format!("SIP/2.0/UDP {};branch=z9hG4bKbad", peer.local_addr().unwrap()))
            .header("From", "<sip:a@b>;tag=1")
            .header("To", "<sip:x@127.0.0.1>")
            .header("Call-ID", "c2")
            .header("CSeq", "1 INVITE")
            .build();
        peer.send_to(bad.as_bytes(), ep.udp_addr()).await.unwrap();
        assert!(matches!(next(&mut rx).await, Incoming::Malformed { .. }));
        let mut buf = [0u8; 2048];
        let (n, _) = tokio::time::timeout(DEADLINE, peer.recv_from(&mut buf)).await.unwrap().unwrap();
        let resp = Message::parse_datagram(&buf[..n]).unwrap();
        assert_eq!(resp.status(), Some(400));
        // Every datagram in and out was tapped, malformed ones included.
        ep.flush().await.unwrap();
        assert_eq!(tap.events().len(), 3);
    }

    #[tokio::test]
    async fn tcp_request_and_response_round_trip_and_every_byte_is_tapped() {
        let tap = Tap::new();
        let (client, _crx) = start(fast(), tap.clone(), "client").await.unwrap();
        let (server, mut srx) = start(fast(), Tap::new(), "server").await.unwrap();
        let mut rng = fastrand::Rng::with_seed(2);
        let peer = Peer { addr: server.tcp_addr(), reliable: true };
        let req = options(&client.via(true, &mut rng), "c3");
        let pending = tokio::spawn({
            let client = client.clone();
            async move { client.request(req, peer).await }
        });
        let Incoming::Request { id, msg, .. } = next(&mut srx).await else { panic!("expected a request") };
        server.respond(id, MessageBuilder::response_to(&msg, 200, "OK", Some("t")).build());
        let resp = tokio::time::timeout(DEADLINE, pending).await.unwrap().unwrap().unwrap();
        assert_eq!(resp.status(), Some(200));
        client.flush().await.unwrap();
        let kinds: Vec<_> = tap
            .events()
            .into_iter()
            .map(|e| match e.kind {
                TapKind::TcpOpen => "open".to_owned(),
                TapKind::Data(d) => Message::parse_datagram(&d).map(|m| m.summary()).unwrap_or_default(),
                TapKind::TcpClose => "close".to_owned(),
            })
            .collect();
        assert_eq!(kinds, ["open", "OPTIONS sip:gw@127.0.0.1", "200 OK"]);
        assert!(tap.events().iter().all(|e| e.transport == Transport::Tcp && e.actor.as_deref() == Some("client")));
    }

    #[tokio::test]
    async fn a_request_too_large_for_udp_goes_over_tcp_to_the_same_port() {
        let tap = Tap::new();
        let (client, _crx) = start(fast(), tap.clone(), "client").await.unwrap();
        let (server, mut srx) = start(fast(), Tap::new(), "server").await.unwrap();
        assert_eq!(server.tcp_addr().port(), server.udp_addr().port(), "TCP listens on the UDP port");
        let mut rng = fastrand::Rng::with_seed(3);
        let peer = Peer { addr: server.udp_addr(), reliable: false };
        let big = MessageBuilder::request(Method::MESSAGE, "sip:bob@127.0.0.1")
            .header("Via", client.via(false, &mut rng))
            .header("From", "<sip:a@contoso.com>;tag=1")
            .header("To", "<sip:bob@127.0.0.1>")
            .header("Call-ID", "c4")
            .header("CSeq", "1 MESSAGE")
            .body("text/plain", vec![b'x'; UDP_REQUEST_LIMIT])
            .build();
        let pending = tokio::spawn({
            let client = client.clone();
            async move { client.request(big, peer).await }
        });
        let Incoming::Request { id, msg, peer: from } = next(&mut srx).await else { panic!("expected a request") };
        assert!(from.reliable, "the request arrived over UDP");
        let via = msg.value("Via").unwrap().into_owned();
        assert!(via.starts_with(&format!("SIP/2.0/TCP {};branch=", client.tcp_addr())), "{via}");
        server.respond(id, MessageBuilder::response_to(&msg, 200, "OK", Some("t")).build());
        let resp = tokio::time::timeout(DEADLINE, pending).await.unwrap().unwrap().unwrap();
        assert_eq!(resp.status(), Some(200));
        client.flush().await.unwrap();
        assert!(tap.events().iter().all(|e| e.transport == Transport::Tcp));
    }

    #[tokio::test]
    async fn an_invite_yields_each_provisional_once_then_the_final_and_cancel_matches_it() {
        let (client, _crx) = start(fast(), Tap::new(), "client").await.unwrap();
        let (server, mut srx) = start(fast(), Tap::new(), "server").await.unwrap();
        let mut rng = fastrand::Rng::with_seed(4);
        let peer = Peer { addr: server.udp_addr(), reliable: false };
        let invite = MessageBuilder::request(Method::INVITE, "sip:bob@127.0.0.1")
            .header("Via", client.via(false, &mut rng))
            .header("Max-Forwards", 70)
            .header("From", "<sip:a@contoso.com>;tag=1")
            .header("To", "<sip:bob@127.0.0.1>")
            .header("Call-ID", "c5")
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:a@{}>", client.udp_addr()))
            .build();
        let mut progress = client.request_with_progress(invite.clone(), peer);
        let Incoming::Request { id, msg, .. } = next(&mut srx).await else { panic!("expected the INVITE") };
        let ringing = MessageBuilder::response_to(&msg, 180, "Ringing", Some("t")).build();
        server.respond(id, ringing.clone());
        server.respond(id, ringing);
        match tokio::time::timeout(DEADLINE, progress.next()).await.unwrap() {
            Heard::Provisional(m) => assert_eq!(m.status(), Some(180)),
            other => panic!("expected 180, got {other:?}"),
        }
        // The CANCEL is its own transaction, matched by the server to the pending INVITE.
        let cancel = MessageBuilder::cancel_for(&invite).build();
        let cancelled = tokio::spawn({
            let client = client.clone();
            async move { client.request(cancel, peer).await }
        });
        let Incoming::Request { id: cid, msg: c, .. } = next(&mut srx).await else { panic!("expected CANCEL") };
        assert_eq!(c.method(), Some(&Method::CANCEL));
        server.respond(cid, MessageBuilder::response_to(&c, 200, "OK", Some("t")).build());
        assert_eq!(tokio::time::timeout(DEADLINE, cancelled).await.unwrap().unwrap().unwrap().status(), Some(200));
        server.respond(id, MessageBuilder::response_to(&msg, 487, "Request Terminated", Some("t")).build());
        match tokio::time::timeout(DEADLINE, progress.next()).await.unwrap() {
            Heard::Final(Ok(m)) => assert_eq!(m.status(), Some(487)),
            other => panic!("expected 487 (the second 180 is a retransmission), got {other:?}"),
        }
        assert!(matches!(progress.next().await, Heard::Final(Err(NetError::Stopped))));
    }
}
