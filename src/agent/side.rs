//! One simulated leg: an endpoint facing the gateway, the users behind it, and what they saw.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::call::CallState;
use super::identity::{Address, Side};
use super::im::ImState;
use super::presence::{LyncUser, Shown, SkypeUser, key};
use super::subscriptions::{Notifier, Watch};
use crate::dialect::lync::{self, Envelope, LyncProfile};
use crate::dialect::skype::{self, SkypeProfile};
use crate::net::{EndpointConfig, EndpointHandle, Incoming, Tap, start, token};
use crate::sip::txn::{Peer, TxnId};
use crate::sip::wire::ms::MsDiagnostics;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// Something a simulated user experienced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// An IM arrived; `from` is the URI its sender was presented as.
    ImReceived {
        /// Sender as presented (From URI, without `sip:`).
        from: String,
        /// Text.
        text: String,
    },
    /// The user sent an IM and it was accepted (2xx); `to` as the user addressed it.
    ImSent {
        /// Recipient as addressed.
        to: String,
        /// Text.
        text: String,
    },
    /// Someone's typing indication arrived (`active` false: they stopped).
    Typing {
        /// Sender as presented.
        from: String,
        /// Typing (true) or idle.
        active: bool,
    },
    /// The far side ended an IM session.
    SessionEnded {
        /// Who ended it, as presented.
        with: String,
    },
    /// Someone added the user as a contact: the Lync New tab alert, or a Skype contact request.
    ContactRequest {
        /// The requester, as presented.
        from: String,
    },
    /// What the user's client shows for a contact changed.
    Presence {
        /// The contact, as the user addressed it.
        of: String,
        /// What is shown.
        shown: Shown,
    },
    /// A call rings on the user's client.
    Ringing {
        /// The caller, as presented.
        from: String,
    },
    /// The caller hears ringback (180).
    RingBack {
        /// The callee, as addressed.
        to: String,
    },
    /// A call stopped ringing unanswered (cancelled, declined, ring timeout).
    RingStopped {
        /// The caller, as presented.
        from: String,
    },
    /// A call is up: media flows.
    CallUp {
        /// The far party.
        with: String,
        /// The codec this side sends, `NAME/clock`.
        codec: String,
    },
    /// A call the user placed was refused (or got no final response).
    CallRefused {
        /// The callee, as addressed.
        to: String,
        /// Final status, `None` when none came.
        status: Option<u16>,
        /// Reason phrase, or what went wrong.
        reason: String,
        /// `ms-client-diagnostics` (or `ms-diagnostics`) of the refusal.
        diagnostics: Option<String>,
    },
    /// A call ended (either side hung up).
    CallEnded {
        /// The far party.
        with: String,
    },
    /// The far side held (`a=inactive`) or resumed the call.
    CallHeld {
        /// The far party.
        with: String,
        /// Held (true) or resumed.
        held: bool,
    },
}

/// What happened to a request a user sent (an IM, a SUBSCRIBE, a search).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Final status code, or `None` when no final response came.
    pub status: Option<u16>,
    /// Reason phrase.
    pub reason: String,
    /// `ms-diagnostics`, if the response carried one.
    pub diagnostics: Option<MsDiagnostics>,
    /// `ms-diagnostics-public`, if the response carried one.
    pub public_diagnostics: Option<MsDiagnostics>,
    /// Transport-level failure, if any.
    pub error: Option<String>,
    /// The final response itself.
    pub response: Option<Message>,
}

/// What a failed step says about a transaction: `501 Not Implemented`, with diagnostics when
/// there were some, or the transport failure.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(code) => write!(f, "{code} {}", self.reason)?,
            None => write!(f, "no final response ({})", self.error.as_deref().unwrap_or("no error recorded"))?,
        }
        for (name, d) in [("ms-diagnostics", &self.diagnostics), ("ms-diagnostics-public", &self.public_diagnostics)] {
            if let Some(d) = d {
                write!(f, ", {name} {}", d.code)?;
                if let Some(r) = &d.reason {
                    write!(f, " \"{r}\"")?;
                }
            }
        }
        Ok(())
    }
}

impl Outcome {
    /// A 2xx final response came.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|c| (200..300).contains(&c))
    }

    pub(super) fn failed(e: &dyn std::fmt::Display) -> Self {
        Self {
            status: None,
            reason: String::new(),
            diagnostics: None,
            public_diagnostics: None,
            error: Some(e.to_string()),
            response: None,
        }
    }

    pub(super) fn from_response(r: &Message) -> Self {
        let diag = |n: &str| r.value(n).and_then(|v| MsDiagnostics::parse(&v).ok());
        Self {
            status: r.status(),
            reason: r.reason().unwrap_or_default().to_owned(),
            diagnostics: diag("ms-diagnostics"),
            public_diagnostics: diag("ms-diagnostics-public"),
            error: None,
            response: Some(r.clone()),
        }
    }
}

/// A wait that ended without the expected event.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{user} did not see {what} {}; saw: {seen}", ended(.within, .fault))]
pub struct WaitError {
    /// Who was waiting.
    pub user: String,
    /// What was expected.
    pub what: String,
    /// The deadline.
    pub within: Duration,
    /// Everything the user did see, for the report.
    pub seen: String,
    /// Malformed SIP from the gateway that ended the wait early: the scenario fails on it
    /// rather than at the deadline.
    pub fault: Option<String>,
}

fn ended(within: &Duration, fault: &Option<String>) -> String {
    match fault {
        Some(f) => format!("before the gateway sent {f}"),
        None => format!("within {within:?}"),
    }
}

#[derive(Debug)]
pub(super) struct State {
    users: BTreeSet<Address>,
    pub(super) events: Vec<(Address, AgentEvent)>,
    /// Faults the gateway committed towards this side (malformed SIP), for the verdict.
    pub(super) faults: Vec<String>,
    pub(super) rng: fastrand::Rng,
    /// Subscriptions our users hold, by Call-ID (ordered, so iteration repeats run to run).
    pub(super) watches: BTreeMap<String, Watch>,
    /// Subscriptions to our users, by Call-ID.
    pub(super) notifiers: BTreeMap<String, Notifier>,
    /// Pool state of each Lync user (enterprise leg), by address key.
    pub(super) lync_users: BTreeMap<String, LyncUser>,
    /// Cloud state of each Skype user (consumer leg), by address key.
    pub(super) skype_users: BTreeMap<String, SkypeUser>,
    /// The pool serves PIDF to watchers that take it (instead of msrtc categories).
    pub(super) pool_serves_pidf: bool,
    /// Requests of ours awaiting their final response (a step boundary waits for them).
    in_flight: usize,
    /// IM sessions and the pool's IM filter.
    pub(super) im: ImState,
    /// Calls and each user's call habits.
    pub(super) calls: CallState,
    /// Call-IDs of INVITEs we answered 2xx and whose ACK has not arrived (RFC 3261 §13.3.1.4).
    pub(super) awaiting_ack: BTreeSet<String>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) side: Side,
    pub(super) endpoint: EndpointHandle,
    pub(super) gateway: Peer,
    pub(super) host: String,
    /// The leg's address, where media sockets are bound too.
    pub(super) ip: IpAddr,
    /// The scenario's tap, for media sockets.
    pub(super) tap: Tap,
    pub(super) lync: LyncProfile,
    pub(super) skype: SkypeProfile,
    state: Mutex<State>,
    pub(super) notify: Notify,
}

/// Counts one of our requests as in flight until dropped.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.notify.notify_waiters();
    }
}

/// A simulated leg. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SimSide {
    pub(super) inner: Arc<Inner>,
}

impl SimSide {
    /// Starts the leg's endpoint on `ip`, facing the gateway face at `gateway`.
    pub async fn start(side: Side, ip: IpAddr, gateway: Peer, tap: Tap, seed: u64) -> std::io::Result<Self> {
        Self::start_at(side, std::net::SocketAddr::new(ip, 0), gateway, tap, seed).await
    }

    /// Starts a side listening (UDP and TCP) on `bind`: a fixed address an external gateway
    /// is configured to send to.
    pub async fn start_at(
        side: Side,
        bind: std::net::SocketAddr,
        gateway: Peer,
        tap: Tap,
        seed: u64,
    ) -> std::io::Result<Self> {
        let ip = bind.ip();
        let mut config = EndpointConfig::ephemeral(ip);
        config.bind = bind;
        let (endpoint, incoming) = start(config, tap.clone(), side.label()).await?;
        let inner = Arc::new(Inner {
            side,
            endpoint,
            gateway,
            host: ip.to_string(),
            ip,
            tap,
            lync: LyncProfile::builtin(),
            skype: SkypeProfile::builtin(),
            state: Mutex::new(State {
                users: BTreeSet::new(),
                events: Vec::new(),
                faults: Vec::new(),
                rng: fastrand::Rng::with_seed(seed),
                im: ImState::default(),
                calls: CallState::default(),
                awaiting_ack: BTreeSet::new(),
                watches: BTreeMap::new(),
                notifiers: BTreeMap::new(),
                lync_users: BTreeMap::new(),
                skype_users: BTreeMap::new(),
                pool_serves_pidf: false,
                in_flight: 0,
            }),
            notify: Notify::new(),
        });
        tokio::spawn(dispatch(Arc::clone(&inner), incoming));
        Ok(Self { inner })
    }

    /// Which leg.
    pub fn side(&self) -> Side {
        self.inner.side
    }

    /// The endpoint (for its addresses).
    pub fn endpoint(&self) -> &EndpointHandle {
        &self.inner.endpoint
    }

    /// Adds a user behind this leg.
    pub fn add_user(&self, user: Address) {
        let mut st = self.inner.lock();
        match self.inner.side {
            Side::Enterprise => drop(st.lync_users.entry(key(&user)).or_default()),
            Side::Consumer => drop(st.skype_users.entry(key(&user)).or_default()),
        }
        st.users.insert(user);
    }

    /// Malformed input seen from the gateway so far.
    pub fn faults(&self) -> Vec<String> {
        self.inner.lock().faults.clone()
    }

    /// Stops the endpoint and every call's media.
    pub fn shutdown(&self) {
        self.inner.lock().calls.stop_media();
        self.inner.endpoint.shutdown();
    }

    /// Stops the leg and waits until its SIP sockets are closed (a fixed address is bound
    /// again by the next scenario).
    pub async fn stop(&self) {
        self.inner.lock().calls.stop_media();
        self.inner.endpoint.shutdown_and_wait().await;
    }

    /// Brings the leg to rest at a step boundary: every final response we sent to an INVITE
    /// has been ACKed (a missing ACK is the gateway's fault and is reported), and every message we
    /// queued has been sent and tapped.
    pub async fn settle(&self, within: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (acks, in_flight) = {
                let st = self.inner.lock();
                (st.awaiting_ack.len(), st.in_flight)
            };
            if acks == 0 && in_flight == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() && in_flight > 0 {
                return Err(format!(
                    "{} leg: {in_flight} request(s) still without a final response after {within:?}",
                    self.inner.side.label()
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                let ids: Vec<String> = self.inner.lock().awaiting_ack.iter().cloned().collect();
                self.inner.lock().awaiting_ack.clear();
                let _ = tokio::time::timeout(within, self.inner.endpoint.flush_through()).await;
                return Err(format!(
                    "{} leg: no ACK within {within:?} for the 2xx answering INVITE(s) with Call-ID {ids:?}",
                    self.inner.side.label()
                ));
            }
        }
        // The ACK of a rejection we sent is hop-by-hop and absorbed by the transaction layer;
        // under load it can arrive after the far leg has already heard the rejection.
        if tokio::time::timeout_at(deadline, self.inner.endpoint.rejections_acked()).await.is_err() {
            let _ = tokio::time::timeout(within, self.inner.endpoint.flush_through()).await;
            return Err(format!(
                "{} leg: no ACK within {within:?} for a non-2xx final response we sent to an INVITE",
                self.inner.side.label()
            ));
        }
        match tokio::time::timeout_at(deadline, self.inner.endpoint.flush_through()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => {
                Err(format!("{} leg: the endpoint did not come to rest within {within:?}", self.inner.side.label()))
            }
        }
    }

    /// Waits until `user` has an event matching `pred`, or the deadline passes.
    pub async fn wait_for(
        &self,
        user: &Address,
        what: &str,
        within: Duration,
        pred: impl Fn(&AgentEvent) -> bool,
    ) -> Result<AgentEvent, WaitError> {
        self.wait_until(user, what, within, || self.find(user, &pred)).await
    }

    /// Waits until `check` finds something, re-checked whenever this side records anything,
    /// or the deadline passes. The error lists what the user did see.
    pub async fn wait_until<T>(
        &self,
        user: &Address,
        what: &str,
        within: Duration,
        check: impl Fn() -> Option<T>,
    ) -> Result<T, WaitError> {
        let deadline = tokio::time::Instant::now() + within;
        let faults_before = self.inner.lock().faults.len();
        let error = |fault| WaitError {
            user: user.to_string(),
            what: what.to_owned(),
            within,
            seen: format!("{:?}", self.events_of(user)),
            fault,
        };
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(t) = check() {
                return Ok(t);
            }
            // Garbage from the gateway fails the wait now, naming the packet, instead of
            // leaving the scenario to time out.
            let fault = self.inner.lock().faults.get(faults_before).cloned();
            if fault.is_some() {
                return Err(error(fault));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return check().ok_or_else(|| error(None));
            }
        }
    }

    /// Sends OPTIONS to the gateway itself, `sip:<host>` with no user part (RFC 3261 §11), as
    /// `from`: what any SIP element on the path must answer.
    pub async fn ping_gateway(&self, from: &Address, host: &str) -> Outcome {
        let msg = {
            let mut st = self.inner.lock();
            let rng = &mut st.rng;
            let uri = format!("sip:{host}");
            MessageBuilder::request(Method::OPTIONS, &uri)
                .header("Via", self.inner.via(rng))
                .header("Max-Forwards", 70)
                .header("From", format!("<{}>;tag={}", from.sip_uri(), token(rng, 10)))
                .header("To", format!("<{uri}>"))
                .header("Call-ID", token(rng, 24))
                .header("CSeq", "1 OPTIONS")
                .header("Accept", "application/sdp")
                .build()
        };
        self.inner.tracked(msg).await
    }

    /// Every event of `user` so far.
    pub fn events_of(&self, user: &Address) -> Vec<AgentEvent> {
        self.inner.lock().events.iter().filter(|(u, _)| u == user).map(|(_, e)| e.clone()).collect()
    }

    fn find(&self, user: &Address, pred: &impl Fn(&AgentEvent) -> bool) -> Option<AgentEvent> {
        self.inner.lock().events.iter().find(|(u, e)| u == user && pred(e)).map(|(_, e)| e.clone())
    }
}

impl Inner {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn via(&self, rng: &mut fastrand::Rng) -> String {
        self.endpoint.via(self.gateway.reliable, rng)
    }

    /// The ids of a new request from a Lync user: Via, tag, epid, Call-ID and GRUU Contact.
    pub(super) fn lync_envelope(&self, rng: &mut fastrand::Rng, from: &Address, to: &Address) -> Envelope {
        let epid = token(rng, 10).to_ascii_lowercase();
        Envelope {
            via: self.via(rng),
            from_uri: from.sip_uri(),
            from_tag: token(rng, 10),
            contact: format!("{};opaque=user:epid:{epid};gruu", from.sip_uri()),
            epid,
            to_uri: to.sip_uri(),
            call_id: token(rng, 24),
        }
    }

    /// The ids of a new request from a Skype user: Via, tag and Call-ID.
    pub(super) fn skype_envelope(&self, rng: &mut fastrand::Rng, from: &Address, to: &Address) -> skype::Envelope {
        skype::Envelope {
            via: self.via(rng),
            from_uri: from.sip_uri(),
            from_tag: token(rng, 10),
            to_uri: to.sip_uri(),
            call_id: token(rng, 24),
        }
    }

    pub(super) fn fault(&self, what: String) {
        self.lock().faults.push(what);
        self.notify.notify_waiters();
    }

    /// Marks a request of ours in flight until the guard drops.
    pub(super) fn in_flight(self: &Arc<Self>) -> InFlight {
        self.lock().in_flight += 1;
        InFlight(Arc::clone(self))
    }

    /// Sends a request and waits for its final response, with a deadline; a step boundary
    /// waits for it meanwhile.
    pub(super) async fn tracked(self: &Arc<Self>, msg: Message) -> Outcome {
        let _guard = self.in_flight();
        match tokio::time::timeout(crate::net::IO_DEADLINE, self.request(msg)).await {
            Ok(out) => out,
            Err(_) => Outcome::failed(&format!("no final response within {:?}", crate::net::IO_DEADLINE)),
        }
    }

    pub(super) fn record(&self, user: Address, ev: AgentEvent) {
        self.lock().events.push((user, ev));
        self.notify.notify_waiters();
    }

    async fn request(&self, msg: Message) -> Outcome {
        match self.endpoint.request(msg, self.gateway).await {
            Ok(r) => Outcome::from_response(&r),
            Err(e) => Outcome::failed(&e),
        }
    }

    pub(super) fn respond(&self, id: TxnId, req: &Message, code: u16, reason: &str) {
        self.respond_with(id, req, code, reason, |b| b);
    }

    /// Responds with extra headers.
    pub(super) fn respond_with(
        &self,
        id: TxnId,
        req: &Message,
        code: u16,
        reason: &str,
        more: impl FnOnce(MessageBuilder) -> MessageBuilder,
    ) {
        let tag = token(&mut self.lock().rng, 10);
        self.respond_tagged(id, req, code, reason, &tag, more);
    }

    /// Responds with our dialog's tag (added to To when the request's To has none).
    pub(super) fn respond_tagged(
        &self,
        id: TxnId,
        req: &Message,
        code: u16,
        reason: &str,
        tag: &str,
        more: impl FnOnce(MessageBuilder) -> MessageBuilder,
    ) {
        self.endpoint.respond(id, more(MessageBuilder::response_to(req, code, reason, Some(tag))).build());
    }

    /// The local user a request is for, when it is one of ours.
    pub(super) fn target(&self, req: &Message) -> Option<Address> {
        let to = req.to_addr().ok()?.sip_uri().ok()?;
        let addr: Address = to.address_of_record().parse().ok()?;
        self.lock().users.contains(&addr).then_some(addr)
    }

    pub(super) fn sender(req: &Message) -> String {
        req.from_addr().map(|a| a.uri.trim_start_matches("sip:").to_owned()).unwrap_or_default()
    }

    fn on_request(self: &Arc<Self>, id: TxnId, req: Message) {
        let tagged = req.to_addr().is_ok_and(|t| t.tag().is_some());
        match req.method().map(Method::as_str) {
            Some("SUBSCRIBE") => return self.on_subscribe(id, &req),
            Some("NOTIFY" | "BENOTIFY") => return self.on_notify(id, &req),
            Some("CANCEL") => return self.on_cancel(id, &req),
            Some("INVITE" | "BYE") if self.in_call(&req) => return self.on_call_request(id, &req),
            Some("INVITE") if !tagged && !lync::is_im_invite(&req) => {
                tokio::spawn(Arc::clone(self).on_call_invite(id, req));
                return;
            }
            _ => {}
        }
        match (self.side, req.method().map(Method::as_str)) {
            (Side::Enterprise, Some("INVITE")) if lync::is_im_invite(&req) => self.lync_on_im_invite(id, &req),
            (Side::Enterprise, Some("MESSAGE" | "INFO" | "BYE")) => self.lync_on_in_dialog(id, &req),
            (Side::Consumer, Some("MESSAGE")) => self.skype_on_message(id, &req),
            _ => self.respond(id, &req, 501, "Not Implemented"),
        }
    }
}

async fn dispatch(inner: Arc<Inner>, mut incoming: tokio::sync::mpsc::UnboundedReceiver<Incoming>) {
    while let Some(ev) = incoming.recv().await {
        match ev {
            Incoming::Request { id, msg, .. } => inner.on_request(id, msg),
            Incoming::Stray { msg, .. } if msg.cseq().is_ok_and(|c| c.method == Method::BENOTIFY) => {
                inner.fault(format!(
                    "{} leg: the gateway answered a BENOTIFY ({}), which expects no response (PROTOCOL.md §6 req 12)",
                    inner.side.label(),
                    msg.summary()
                ));
            }
            Incoming::Stray { msg, .. } => {
                if msg.method() == Some(&Method::ACK)
                    && let Ok(call_id) = msg.call_id()
                    && inner.lock().awaiting_ack.contains(&call_id)
                {
                    inner.on_call_ack(&call_id);
                    inner.lock().awaiting_ack.remove(&call_id);
                    inner.notify.notify_waiters();
                }
            }
            Incoming::Barrier(done) => {
                let _ = done.send(());
            }
            Incoming::Malformed { peer, transport, error, packet } => {
                inner.fault(format!("malformed SIP from {peer} over {transport:?}: {error}; the packet: {packet}"));
            }
        }
    }
}
