//! Sans-IO SIP transactions (RFC 3261 §17): the four state machines, matching, and the queue
//! of what the caller must do next.
//!
//! The layer owns no socket and reads no clock. Time comes in as the `now` argument of every
//! call; what must go on the wire and what the transaction user (TU) must hear comes out of
//! [`TxnLayer::poll_output`].
//!
//! # Drain rule
//!
//! After every call to [`TxnLayer::send_request`], [`TxnLayer::respond`],
//! [`TxnLayer::receive`], [`TxnLayer::transport_error`] or [`TxnLayer::handle_timeout`], the
//! caller drains [`TxnLayer::poll_output`] until it returns `None`, then re-reads
//! [`TxnLayer::poll_timeout`] and calls [`TxnLayer::handle_timeout`] once that instant has
//! come. Outputs come out in the order they happened; a transaction's
//! [`TxnEvent::Terminated`] always comes after its last other output.
//!
//! ```text
//! loop {
//!     // feed: layer.receive(now, msg, peer) / layer.send_request(now, req, peer) / ...
//!     while let Some(out) = layer.poll_output() { /* transmit or hand to the TU */ }
//!     let deadline = layer.poll_timeout();   // sleep until then (the caller's business)
//!     // at or after the deadline: layer.handle_timeout(now)
//! }
//! ```
//!
//! # What the layer does and does not do
//!
//! * Client INVITE (§17.1.1): Timer A (unreliable only) and B; the ACK for a 300-699 response
//!   is built and sent here (§17.1.1.3); a 2xx is passed up and ends the transaction, so 2xx
//!   retransmissions arrive as [`TxnEvent::Stray`] for the dialog layer to re-ACK. Timer B
//!   only runs in Calling: once a provisional response arrived the transaction waits for a
//!   final response as long as it takes (Figure 5); the TU ends a hung call with CANCEL.
//! * Client non-INVITE (§17.1.2): Timer E (unreliable only), F and K.
//! * Server INVITE (§17.2.1): no automatic 100 Trying (the TU decides); Timers G, H, I; a 2xx
//!   ends the transaction at once and the TU retransmits it (§13.3.1.4). A retransmitted
//!   INVITE arriving after that is a new [`TxnEvent::Request`], as in RFC 3261 (RFC 6026's
//!   Accepted state is not implemented).
//! * Server non-INVITE (§17.2.2): Timer J; request retransmissions re-send the last response.
//! * Responses on a server transaction go to the [`Peer`] the request came from; choosing
//!   another destination from the Via (§18.2.2) is the transport's business.
//! * A received request without a top Via carrying a branch cannot be matched (the RFC 2543
//!   fallback of §17.2.3 is not implemented); it comes out as [`TxnEvent::Stray`] so the TU can
//!   answer it (400) or drop it.
//! * Timer D is the RFC's fixed 32 s on unreliable transports. Timers that are 0 on reliable
//!   transports (D, I, J, K) are not armed: the transaction terminates at once.

mod client_invite;
mod client_non_invite;
mod key;
mod server_invite;
mod server_non_invite;
mod timers;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::sip::wire::{Message, Method};

use client_invite::ClientInvite;
use client_non_invite::ClientNonInvite;
use key::{ClientKey, ServerKey};
use server_invite::ServerInvite;
use server_non_invite::ServerNonInvite;
use timers::TimerTable;
pub use timers::{Timer, TimerConfig};

/// Identifies one transaction for as long as the layer lives; ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnId(u64);

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn#{}", self.0)
    }
}

/// The far end of a transaction: where requests go (client) or responses go (server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The remote transport address.
    pub addr: SocketAddr,
    /// True for TCP/TLS: no retransmissions, and the wait timers D, I, J, K are 0.
    pub reliable: bool,
}

/// Something the caller must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `peer`.
    Transmit {
        /// Destination.
        peer: Peer,
        /// The message, byte for byte.
        msg: Message,
    },
    /// Tell the TU.
    Event(TxnEvent),
}

/// What the TU hears from the transaction layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnEvent {
    /// New request for the transaction user (a server transaction was created; ACK never creates one).
    Request {
        /// The new server transaction; answer with [`TxnLayer::respond`].
        id: TxnId,
        /// The request.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// Response matched to a client transaction (provisional or final). `retransmission` is
    /// true for a provisional response byte-identical to one already passed up; a final
    /// response is passed up once (INVITE 2xx retransmissions arrive as [`TxnEvent::Stray`],
    /// because a 2xx ends the client INVITE transaction).
    Response {
        /// The client transaction.
        id: TxnId,
        /// The response.
        msg: Message,
        /// See above.
        retransmission: bool,
    },
    /// Timer B or F fired, or a transport error was reported: the client transaction failed.
    Timeout {
        /// The client transaction.
        id: TxnId,
    },
    /// A message that matched no transaction: ACK for a 2xx, or a stray response. The TU/dialog layer decides.
    /// Also a request whose top Via has no branch, which cannot be matched (answer 400 or drop it).
    Stray {
        /// The message.
        msg: Message,
        /// Where it came from.
        peer: Peer,
    },
    /// A transaction reached Terminated and was removed.
    Terminated {
        /// The transaction.
        id: TxnId,
    },
}

/// States of Figures 5-8 of RFC 3261, for diagnostics ([`TxnLayer::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// Client INVITE, request sent, nothing heard.
    Calling,
    /// Non-INVITE (client: request sent, nothing heard; server: request received, nothing sent).
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response was received (client) or a final non-2xx / non-INVITE final sent (server).
    Completed,
    /// Server INVITE: the ACK for the non-2xx final response arrived.
    Confirmed,
    /// Done; the layer removes a transaction as soon as it gets here.
    Terminated,
}

/// Misuse of the server-transaction API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// No live server transaction has this id (never existed, terminated, or a client one).
    #[error("no live server transaction {0}")]
    UnknownTransaction(TxnId),
    /// The server transaction already sent its final response (§17.2.1, §17.2.2).
    #[error("server transaction {0} already sent a final response")]
    AlreadyCompleted(TxnId),
    /// `respond` was handed a request.
    #[error("`{0}` is a request, not a response")]
    NotAResponse(String),
}

/// The four machines behind one enum.
#[derive(Debug)]
enum Txn {
    InviteClient(ClientInvite),
    NonInviteClient(ClientNonInvite),
    InviteServer(ServerInvite),
    NonInviteServer(ServerNonInvite),
}

impl Txn {
    fn timers(&self) -> &TimerTable {
        match self {
            Self::InviteClient(t) => &t.timers,
            Self::NonInviteClient(t) => &t.timers,
            Self::InviteServer(t) => &t.timers,
            Self::NonInviteServer(t) => &t.timers,
        }
    }

    fn state(&self) -> TxnState {
        match self {
            Self::InviteClient(t) => t.state,
            Self::NonInviteClient(t) => t.state,
            Self::InviteServer(t) => t.state,
            Self::NonInviteServer(t) => t.state,
        }
    }

    fn peer(&self) -> Peer {
        match self {
            Self::InviteClient(t) => t.peer,
            Self::NonInviteClient(t) => t.peer,
            Self::InviteServer(t) => t.peer,
            Self::NonInviteServer(t) => t.peer,
        }
    }

    fn on_timer(&mut self, timer: Timer, at: Instant, out: &mut VecDeque<Output>) {
        match self {
            Self::InviteClient(t) => t.on_timer(timer, at, out),
            Self::NonInviteClient(t) => t.on_timer(timer, at, out),
            Self::InviteServer(t) => t.on_timer(timer, at, out),
            Self::NonInviteServer(t) => t.on_timer(timer, at, out),
        }
    }
}

/// Where a transaction sits in the matching indexes, so removal can undo it.
#[derive(Debug)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
    Unindexed,
}

#[derive(Debug)]
struct Entry {
    txn: Txn,
    key: Key,
}

/// Every live transaction of one SIP element, with matching and the output queue.
#[derive(Debug)]
pub struct TxnLayer {
    config: TimerConfig,
    next_id: u64,
    txns: BTreeMap<TxnId, Entry>,
    clients: HashMap<ClientKey, TxnId>,
    servers: HashMap<ServerKey, TxnId>,
    out: VecDeque<Output>,
    /// Each live transaction's earliest armed timer, ordered: the next deadline is the first
    /// entry, so neither `poll_timeout` nor `handle_timeout` scans every transaction (a loaded
    /// endpoint holds tens of thousands, most of them waiting out Timer J or K).
    deadlines: BTreeSet<(Instant, TxnId)>,
    /// The deadline each transaction is indexed under in `deadlines`.
    indexed: HashMap<TxnId, Instant>,
}

/// The shortest retransmission interval the layer will use, so a zero T1 cannot spin.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl TxnLayer {
    /// A layer with no transactions. A zero T1 is raised to 1 ms, and T2 to at least T1.
    pub fn new(config: TimerConfig) -> Self {
        let t1 = config.t1.max(MIN_INTERVAL);
        let config = TimerConfig { t1, t2: config.t2.max(t1), t4: config.t4 };
        Self {
            config,
            next_id: 0,
            txns: BTreeMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            out: VecDeque::new(),
            deadlines: BTreeSet::new(),
            indexed: HashMap::new(),
        }
    }

    fn alloc_id(&mut self) -> TxnId {
        self.next_id += 1;
        TxnId(self.next_id)
    }

    /// Starts a client transaction (INVITE or non-INVITE by method). The request must carry a
    /// top Via with a branch; without one it is still sent and retransmitted, but no response
    /// can match it (they come out as [`TxnEvent::Stray`]) and it ends in a timeout.
    ///
    /// The request must not be ACK (an ACK for a 2xx is not a transaction, §17.1.1.3). An ACK
    /// passed anyway is transmitted once, no transaction is created, and the returned id comes
    /// out at once in [`TxnEvent::Terminated`].
    pub fn send_request(&mut self, now: Instant, req: Message, peer: Peer) -> TxnId {
        let id = self.alloc_id();
        let method = req.method().cloned();
        let Some(method) = method.filter(|m| *m != Method::ACK) else {
            let summary = req.summary();
            tracing::warn!(%id, %summary, "send_request given an ACK or a response: sent without a transaction");
            self.out.push_back(Output::Transmit { peer, msg: req });
            self.out.push_back(Output::Event(TxnEvent::Terminated { id }));
            return id;
        };
        let key = match ClientKey::for_request(&req) {
            Some(k) => {
                if let Some(old) = self.clients.insert(k.clone(), id) {
                    tracing::warn!(%id, %old, branch = %k.branch, "branch reused: older transaction stops matching");
                }
                Key::Client(k)
            }
            None => {
                let summary = req.summary();
                tracing::warn!(%id, %summary, "request has no top-Via branch: responses cannot match it");
                Key::Unindexed
            }
        };
        let txn = if method == Method::INVITE {
            Txn::InviteClient(ClientInvite::start(id, now, req, peer, self.config, &mut self.out))
        } else {
            Txn::NonInviteClient(ClientNonInvite::start(id, now, req, peer, self.config, &mut self.out))
        };
        self.txns.insert(id, Entry { txn, key });
        self.reap(id);
        id
    }

    /// Sends a response on a server transaction (provisional or final). Returns Err if the id
    /// is unknown or already completed.
    pub fn respond(&mut self, now: Instant, id: TxnId, resp: Message) -> Result<(), TxnError> {
        if resp.is_request() {
            return Err(TxnError::NotAResponse(resp.summary()));
        }
        let entry = self.txns.get_mut(&id).ok_or(TxnError::UnknownTransaction(id))?;
        match &mut entry.txn {
            Txn::InviteServer(t) => t.respond(now, resp, &mut self.out)?,
            Txn::NonInviteServer(t) => t.respond(now, resp, &mut self.out)?,
            Txn::InviteClient(_) | Txn::NonInviteClient(_) => return Err(TxnError::UnknownTransaction(id)),
        }
        self.reap(id);
        Ok(())
    }

    /// Feeds a received message. Matching per RFC 3261 §17.1.3 (responses: top-Via branch +
    /// CSeq method) and §17.2.3 (requests: branch + sent-by + method, ACK matches the INVITE
    /// server txn, CANCEL is its own txn). Retransmitted requests re-send the last response and
    /// are not passed up again.
    pub fn receive(&mut self, now: Instant, msg: Message, peer: Peer) {
        if msg.is_request() {
            self.receive_request(now, msg, peer);
        } else {
            self.receive_response(now, msg, peer);
        }
    }

    fn receive_response(&mut self, now: Instant, msg: Message, peer: Peer) {
        let found = ClientKey::for_response(&msg).and_then(|k| self.clients.get(&k).copied());
        let Some(id) = found else {
            self.out.push_back(Output::Event(TxnEvent::Stray { msg, peer }));
            return;
        };
        match self.txns.get_mut(&id).map(|e| &mut e.txn) {
            Some(Txn::InviteClient(t)) => t.on_response(now, msg, &mut self.out),
            Some(Txn::NonInviteClient(t)) => t.on_response(now, msg, &mut self.out),
            _ => self.out.push_back(Output::Event(TxnEvent::Stray { msg, peer })),
        }
        self.reap(id);
    }

    fn receive_request(&mut self, now: Instant, msg: Message, peer: Peer) {
        let Some(key) = ServerKey::for_request(&msg) else {
            tracing::debug!(summary = %msg.summary(), "request without a top-Via branch: stray");
            self.out.push_back(Output::Event(TxnEvent::Stray { msg, peer }));
            return;
        };
        if let Some(&id) = self.servers.get(&key) {
            match self.txns.get_mut(&id).map(|e| &mut e.txn) {
                Some(Txn::InviteServer(t)) => t.on_request(now, &msg, &mut self.out),
                Some(Txn::NonInviteServer(t)) => t.on_request(&msg, &mut self.out),
                _ => {}
            }
            self.reap(id);
            return;
        }
        let is_ack = msg.method() == Some(&Method::ACK);
        if is_ack {
            self.out.push_back(Output::Event(TxnEvent::Stray { msg, peer }));
            return;
        }
        let id = self.alloc_id();
        if msg.method() == Some(&Method::BENOTIFY) {
            // [MS-SIP] §3.5: a BENOTIFY is never answered, so nothing is kept for it (a server
            // transaction would wait in Trying for ever); responding to its id is refused.
            self.out.push_back(Output::Event(TxnEvent::Request { id, msg, peer }));
            return;
        }
        let txn = if msg.method() == Some(&Method::INVITE) {
            Txn::InviteServer(ServerInvite::new(id, peer, self.config))
        } else {
            Txn::NonInviteServer(ServerNonInvite::new(id, peer, self.config))
        };
        self.servers.insert(key.clone(), id);
        self.txns.insert(id, Entry { txn, key: Key::Server(key) });
        self.reap(id);
        self.out.push_back(Output::Event(TxnEvent::Request { id, msg, peer }));
    }

    /// The transport failed to deliver to this peer: client transactions to it time out (RFC 3261 §17.1.4).
    ///
    /// Those still waiting for a final response report [`TxnEvent::Timeout`]; those already
    /// Completed (their final response was passed up) just terminate. Server transactions are
    /// left to their own timers.
    pub fn transport_error(&mut self, _now: Instant, peer: Peer) {
        let ids: Vec<TxnId> = self.txns.iter().filter(|(_, e)| e.txn.peer() == peer).map(|(id, _)| *id).collect();
        for id in ids {
            match self.txns.get_mut(&id).map(|e| &mut e.txn) {
                Some(Txn::InviteClient(t)) => t.on_transport_error(&mut self.out),
                Some(Txn::NonInviteClient(t)) => t.on_transport_error(&mut self.out),
                _ => continue,
            }
            self.reap(id);
        }
    }

    /// Fires every timer due at `now`, earliest deadline first across all transactions.
    /// Retransmission timers are re-armed from their deadline, not from `now`, so the RFC's
    /// schedule holds exactly however late the call comes.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(next, id)) = self.deadlines.first() {
            if next > now {
                break;
            }
            let due = self.txns.get(&id).and_then(|e| e.txn.timers().due(now));
            if let (Some((at, timer)), Some(entry)) = (due, self.txns.get_mut(&id)) {
                entry.txn.on_timer(timer, at, &mut self.out);
            }
            self.reap(id);
        }
    }

    /// The earliest armed timer of any transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The next thing to do, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Timers currently armed for a transaction, for tests and diagnostics.
    pub fn armed_timers(&self, id: TxnId) -> Vec<(Timer, Instant)> {
        self.txns.get(&id).map(|e| e.txn.timers().list()).unwrap_or_default()
    }

    /// The state of a live transaction; `None` once it was removed.
    pub fn state(&self, id: TxnId) -> Option<TxnState> {
        self.txns.get(&id).map(|e| e.txn.state())
    }

    /// The live INVITE server transaction a received CANCEL refers to (RFC 3261 §9.2: same
    /// branch and sent-by, method INVITE). The CANCEL itself is its own transaction.
    pub fn matching_invite(&self, cancel: &Message) -> Option<TxnId> {
        ServerKey::invite_for(cancel).and_then(|k| self.servers.get(&k).copied())
    }

    /// INVITE server transactions that sent a non-2xx final response and still wait for its
    /// ACK (Completed, RFC 3261 §17.2.1). A step boundary waits for these to reach zero, so the
    /// hop-by-hop ACK lands in the step whose action caused the rejection.
    pub fn unacked_rejections(&self) -> usize {
        self.txns.values().filter(|e| matches!(&e.txn, Txn::InviteServer(t) if t.state == TxnState::Completed)).count()
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    /// True with no live transaction.
    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// After anything touched transaction `id`: re-indexes its next deadline, and removes it if
    /// it reached Terminated, undoing its index entries, and says so.
    fn reap(&mut self, id: TxnId) {
        if let Some(old) = self.indexed.remove(&id) {
            self.deadlines.remove(&(old, id));
        }
        let live = self.txns.get(&id).filter(|e| e.txn.state() != TxnState::Terminated);
        if let Some(e) = live {
            if let Some(at) = e.txn.timers().next() {
                self.deadlines.insert((at, id));
                self.indexed.insert(id, at);
            }
            return;
        }
        let Some(entry) = self.txns.remove(&id) else {
            return;
        };
        match entry.key {
            Key::Client(k) => {
                if self.clients.get(&k) == Some(&id) {
                    self.clients.remove(&k);
                }
            }
            Key::Server(k) => {
                if self.servers.get(&k) == Some(&id) {
                    self.servers.remove(&k);
                }
            }
            Key::Unindexed => {}
        }
        self.out.push_back(Output::Event(TxnEvent::Terminated { id }));
    }
}

/// Pushes a transmission.
fn transmit(out: &mut VecDeque<Output>, peer: Peer, msg: &Message) {
    out.push_back(Output::Transmit { peer, msg: msg.clone() });
}

/// Pushes an event.
fn event(out: &mut VecDeque<Output>, ev: TxnEvent) {
    out.push_back(Output::Event(ev));
}

/// Shared helpers for the tests of every machine: virtual time, peers, messages, and a driver
/// that runs the layer's timers up to an instant and records when each output came out.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::sip::wire::MessageBuilder;

    pub(crate) fn udp() -> Peer {
        Peer { addr: "192.0.2.10:5060".parse().unwrap(), reliable: false }
    }

    pub(crate) fn tcp() -> Peer {
        Peer { addr: "192.0.2.10:5061".parse().unwrap(), reliable: true }
    }

    /// A request as a Lync edge would send it to a federation gateway.
    pub(crate) fn request(method: Method, branch: &str) -> Message {
        MessageBuilder::request(method.clone(), "sip:bob@fabrikam.com")
            .header("Via", format!("SIP/2.0/UDP edge.contoso.com:5060;branch={branch}"))
            .header("Via", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKinner")
            .header("Route", "<sip:proxy1.fabrikam.com;lr>")
            .header("Route", "<sip:proxy2.fabrikam.com;lr>")
            .header("Max-Forwards", "70")
            .header("From", "\"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304")
            .header("To", "<sip:bob@fabrikam.com>")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", format!("7 {method}"))
            .header("Contact", "<sip:alice@edge.contoso.com:5060;transport=udp>")
            .build()
    }

    pub(crate) fn response(req: &Message, code: u16, reason: &str) -> Message {
        MessageBuilder::response_to(req, code, reason, Some("b9")).build()
    }

    /// A drained batch of outputs.
    pub(crate) fn drain(layer: &mut TxnLayer) -> Vec<Output> {
        std::iter::from_fn(|| layer.poll_output()).collect()
    }

    pub(crate) fn transmitted(outs: &[Output]) -> Vec<Message> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Transmit { msg, .. } => Some(msg.clone()),
                Output::Event(_) => None,
            })
            .collect()
    }

    pub(crate) fn events(outs: &[Output]) -> Vec<TxnEvent> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                Output::Transmit { .. } => None,
            })
            .collect()
    }

    /// Runs every timer due up to `until` (ms after `t0`), each exactly at its deadline as a
    /// well-behaved caller would, and returns each output with the millisecond it came out at.
    pub(crate) fn run_until(layer: &mut TxnLayer, t0: Instant, until_ms: u64) -> Vec<(u64, Output)> {
        let end = t0 + Duration::from_millis(until_ms);
        let mut log = Vec::new();
        while let Some(at) = layer.poll_timeout().filter(|at| *at <= end) {
            layer.handle_timeout(at);
            let ms = u64::try_from(at.duration_since(t0).as_millis()).unwrap();
            log.extend(drain(layer).into_iter().map(|o| (ms, o)));
        }
        log
    }

    /// The instants (ms) at which `log` transmitted something.
    pub(crate) fn transmit_times(log: &[(u64, Output)]) -> Vec<u64> {
        log.iter().filter(|(_, o)| matches!(o, Output::Transmit { .. })).map(|(ms, _)| *ms).collect()
    }

    /// The events of `log` with their instants.
    pub(crate) fn timed_events(log: &[(u64, Output)]) -> Vec<(u64, TxnEvent)> {
        log.iter()
            .filter_map(|(ms, o)| match o {
                Output::Event(e) => Some((*ms, e.clone())),
                Output::Transmit { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::sip::wire::MessageBuilder;

    #[test]
    fn response_with_another_branch_or_cseq_method_is_stray() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let req = request(Method::MESSAGE, "z9hG4bKm1");
        let id = layer.send_request(t0, req.clone(), udp());
        drain(&mut layer);

        let other_branch = response(&request(Method::MESSAGE, "z9hG4bKm2"), 200, "OK");
        layer.receive(t0, other_branch.clone(), udp());
        assert_eq!(events(&drain(&mut layer)), vec![TxnEvent::Stray { msg: other_branch, peer: udp() }]);

        // Same branch, but CSeq says INFO: §17.1.3 rule 2 keeps it off the MESSAGE transaction.
        let text = String::from_utf8(response(&req, 200, "OK").as_bytes().to_vec()).unwrap();
        let other_method = Message::parse_datagram(text.replace("CSeq: 7 MESSAGE", "CSeq: 7 INFO").as_bytes()).unwrap();
        layer.receive(t0, other_method.clone(), udp());
        assert_eq!(events(&drain(&mut layer)), vec![TxnEvent::Stray { msg: other_method, peer: udp() }]);

        assert_eq!(layer.state(id), Some(TxnState::Trying));
        let ok = response(&req, 200, "OK");
        layer.receive(t0, ok.clone(), udp());
        assert_eq!(events(&drain(&mut layer)), vec![TxnEvent::Response { id, msg: ok, retransmission: false }]);
    }

    #[test]
    fn a_benotify_is_delivered_without_a_transaction_and_cannot_be_answered() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let req = request(Method::BENOTIFY, "z9hG4bKbe1");
        layer.receive(t0, req.clone(), tcp());
        let evs = events(&drain(&mut layer));
        let [TxnEvent::Request { id, msg, .. }] = evs.as_slice() else { panic!("{evs:?}") };
        assert_eq!(msg, &req);
        assert!(layer.is_empty(), "no transaction is kept for a BENOTIFY");
        assert!(layer.respond(t0, *id, response(&req, 200, "OK")).is_err());
        assert!(transmitted(&drain(&mut layer)).is_empty());
    }

    #[test]
    fn ack_for_a_2xx_is_stray() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKinv");
        layer.receive(t0, invite.clone(), udp());
        let id = match events(&drain(&mut layer)).as_slice() {
            [TxnEvent::Request { id, .. }] => *id,
            other => panic!("expected one Request, got {other:?}"),
        };
        layer.respond(t0, id, response(&invite, 200, "OK")).unwrap();
        let outs = drain(&mut layer);
        assert_eq!(transmitted(&outs).len(), 1);
        assert_eq!(events(&outs), vec![TxnEvent::Terminated { id }]);

        // The ACK for a 2xx is a transaction of its own, with a new branch (§17.1.1.3).
        let ack = MessageBuilder::request(Method::ACK, "sip:alice@edge.contoso.com:5060;transport=udp")
            .header("Via", "SIP/2.0/UDP edge.contoso.com:5060;branch=z9hG4bKack2xx")
            .header("From", "\"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304")
            .header("To", "<sip:bob@fabrikam.com>;tag=b9")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", "7 ACK")
            .build();
        layer.receive(t0, ack.clone(), udp());
        assert_eq!(events(&drain(&mut layer)), vec![TxnEvent::Stray { msg: ack, peer: udp() }]);
        assert!(layer.is_empty());
    }

    #[test]
    fn cancel_creates_its_own_server_transaction() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKsame");
        let cancel = request(Method::CANCEL, "z9hG4bKsame");
        layer.receive(t0, invite, udp());
        layer.receive(t0, cancel.clone(), udp());
        let evs = events(&drain(&mut layer));
        let (TxnEvent::Request { id: inv_id, .. }, TxnEvent::Request { id: cancel_id, msg, .. }) = (&evs[0], &evs[1])
        else {
            panic!("expected two Request events, got {evs:?}");
        };
        assert_eq!(evs.len(), 2);
        assert_ne!(inv_id, cancel_id);
        assert_eq!(msg.method(), Some(&Method::CANCEL));
        assert_eq!(layer.len(), 2);
        assert_eq!(layer.matching_invite(&cancel), Some(*inv_id));

        // Answering the CANCEL does not touch the INVITE transaction.
        layer.respond(t0, *cancel_id, response(&cancel, 200, "OK")).unwrap();
        drain(&mut layer);
        assert_eq!(layer.state(*inv_id), Some(TxnState::Proceeding));
        assert_eq!(layer.state(*cancel_id), Some(TxnState::Completed));
    }

    #[test]
    fn client_cancel_and_invite_with_one_branch_get_their_own_responses() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKboth");
        let cancel = request(Method::CANCEL, "z9hG4bKboth");
        let inv_id = layer.send_request(t0, invite.clone(), udp());
        let cancel_id = layer.send_request(t0, cancel.clone(), udp());
        drain(&mut layer);
        let ok = response(&cancel, 200, "OK");
        layer.receive(t0, ok.clone(), udp());
        let terminated = response(&invite, 487, "Request Terminated");
        layer.receive(t0, terminated.clone(), udp());
        let evs = events(&drain(&mut layer));
        assert_eq!(evs[0], TxnEvent::Response { id: cancel_id, msg: ok, retransmission: false });
        assert!(evs.contains(&TxnEvent::Response { id: inv_id, msg: terminated, retransmission: false }));
    }

    #[test]
    fn request_without_a_branch_is_stray_and_respond_rejects_bad_calls() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let text = "OPTIONS sip:bob@fabrikam.com SIP/2.0\r\nVia: SIP/2.0/UDP edge.contoso.com\r\n\
            CSeq: 1 OPTIONS\r\nCall-ID: x\r\n\r\n";
        let no_branch = Message::parse_datagram(text.as_bytes()).unwrap();
        layer.receive(t0, no_branch.clone(), udp());
        assert_eq!(events(&drain(&mut layer)), vec![TxnEvent::Stray { msg: no_branch.clone(), peer: udp() }]);

        let id = layer.send_request(t0, request(Method::OPTIONS, "z9hG4bKo"), udp());
        drain(&mut layer);
        assert_eq!(layer.respond(t0, id, response(&no_branch, 200, "OK")), Err(TxnError::UnknownTransaction(id)));
        assert!(matches!(layer.respond(t0, id, no_branch), Err(TxnError::NotAResponse(_))));
    }

    #[test]
    fn transport_error_times_out_the_client_transactions_to_that_peer_only() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let a = layer.send_request(t0, request(Method::INVITE, "z9hG4bKa"), tcp());
        let b = layer.send_request(t0, request(Method::MESSAGE, "z9hG4bKb"), tcp());
        let c = layer.send_request(t0, request(Method::MESSAGE, "z9hG4bKc"), udp());
        drain(&mut layer);
        layer.transport_error(t0, tcp());
        assert_eq!(
            events(&drain(&mut layer)),
            vec![
                TxnEvent::Timeout { id: a },
                TxnEvent::Terminated { id: a },
                TxnEvent::Timeout { id: b },
                TxnEvent::Terminated { id: b },
            ]
        );
        assert_eq!(layer.len(), 1);
        assert_eq!(layer.state(c), Some(TxnState::Trying));
    }

    #[test]
    fn ack_given_to_send_request_goes_out_once_without_a_transaction() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let ack = request(Method::ACK, "z9hG4bKack");
        let id = layer.send_request(t0, ack.clone(), udp());
        assert_eq!(
            drain(&mut layer),
            vec![Output::Transmit { peer: udp(), msg: ack }, Output::Event(TxnEvent::Terminated { id })]
        );
        assert!(layer.is_empty());
        assert_eq!(layer.poll_timeout(), None);
    }
}
