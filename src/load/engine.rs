//! The load generator: many agents on two legs, as the gateway's next hops see them.
//!
//! One Lync Edge (TCP) carries every Lync agent and one Skype cloud endpoint (UDP) every Skype
//! agent, as a real deployment multiplexes its users. Agent `i` is the pair
//! `load<i>@<enterprise domain>` and `load<i>@outlook.com`. The legs speak through the
//! harness's own endpoint and dialect builders (the same code the conformance agents use),
//! with a tap that records nothing: a load run keeps counts and histograms, not packets.
//!
//! Each transaction is a task with a deadline; completions that arrive on the other leg (the
//! Skype watcher's NOTIFY) reach their task through a oneshot keyed by Call-ID, never through
//! a broadcast every waiter would wake on.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::mix::{Kind, Mix};
use super::stats::Stats;
use crate::dialect::call::{self as sdpcall, LocalAudio, ProfileCodec};
use crate::dialect::lync::{self, Availability, LyncProfile};
use crate::dialect::skype::{self, SkypeProfile};
use crate::media::srtp::MasterKey;
use crate::net::{EndpointConfig, EndpointHandle, Incoming, Tap, start, token};
use crate::sdp::Direction;
use crate::sip::dialog::Dialog;
use crate::sip::txn::{Peer, TxnId};
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The consumer domain of the Skype agents (an outlook.com account is addressed as itself on
/// both legs).
const SKYPE_DOMAIN: &str = "outlook.com";

/// What a run does.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Agents (user pairs).
    pub users: usize,
    /// Transactions started per second in the steady phase.
    pub rate: f64,
    /// Length of the steady phase.
    pub duration: Duration,
    /// What the steady phase draws.
    pub mix: Mix,
    /// The deadline of each transaction.
    pub deadline: Duration,
    /// Seed of agent picks, tags and keys.
    pub seed: u64,
    /// Subscriptions in flight at once while agents register.
    pub register_window: usize,
}

/// Where the gateway is.
#[derive(Debug, Clone, Copy)]
pub struct Faces {
    /// Its enterprise face (TCP; the Edge connects to it).
    pub enterprise: SocketAddr,
    /// Its consumer face (UDP).
    pub consumer: SocketAddr,
}

/// The two legs, bound before the gateway starts (it needs them as its next hops).
#[derive(Debug)]
pub struct Legs {
    edge: (EndpointHandle, mpsc::UnboundedReceiver<Incoming>),
    cloud: (EndpointHandle, mpsc::UnboundedReceiver<Incoming>),
}

impl Legs {
    /// Binds the Edge and the cloud endpoint (`port 0`: ephemeral).
    pub async fn bind(edge: SocketAddr, cloud: SocketAddr) -> std::io::Result<Self> {
        let cfg = |a: SocketAddr| {
            let mut c = EndpointConfig::ephemeral(a.ip());
            c.bind = a;
            c
        };
        Ok(Self {
            edge: start(cfg(edge), Tap::off(), "edge").await?,
            cloud: start(cfg(cloud), Tap::off(), "cloud").await?,
        })
    }

    /// The Edge's listening address (TCP): the gateway's enterprise next hop.
    pub fn edge(&self) -> SocketAddr {
        self.edge.0.tcp_addr()
    }

    /// The cloud's address (UDP): the gateway's consumer next hop.
    pub fn cloud(&self) -> SocketAddr {
        self.cloud.0.udp_addr()
    }
}

/// A subscription the Edge serves for one Lync agent (the gateway is its watcher).
#[derive(Debug)]
struct Notifier {
    dialog: Dialog,
    accept: String,
    benotify: bool,
}

/// One agent's run-time state.
#[derive(Debug, Default)]
struct Agent {
    /// Busy with a transaction of some kind (one at a time per agent, as a person would).
    busy: AtomicBool,
    /// Its Skype side's subscription is active (registered).
    registered: AtomicBool,
    /// The availability its Lync side last published.
    availability: AtomicU32,
}

#[derive(Debug, Default)]
struct LegState {
    /// Edge: subscriptions by Lync agent index.
    notifiers: HashMap<usize, Notifier>,
    /// Dialogs the legs answered (IM sessions on the Edge, calls on the cloud), by Call-ID.
    dialogs: HashSet<String>,
    /// Cloud: a task waiting for an active NOTIFY on this subscription Call-ID.
    notify_waiters: HashMap<String, oneshot::Sender<Instant>>,
    /// Cloud: each agent's subscription Call-ID.
    sub_ids: HashMap<usize, String>,
    /// Requests from the gateway the legs could not place (wrong user, unknown dialog).
    strays: u64,
    /// Malformed SIP from the gateway, and the first such.
    malformed: u64,
    last_malformed: Option<String>,
    rng: Option<fastrand::Rng>,
}

#[derive(Debug)]
struct Shared {
    edge: EndpointHandle,
    cloud: EndpointHandle,
    gw_enterprise: Peer,
    gw_consumer: Peer,
    domain: String,
    lync: LyncProfile,
    skype: SkypeProfile,
    agents: Vec<Agent>,
    state: Mutex<LegState>,
    stats: Mutex<Stats>,
    in_flight: AtomicU64,
    /// Draws that found every probed agent busy.
    skipped: AtomicU64,
    deadline: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, LegState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rng<T>(&self, f: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
        let mut st = self.lock();
        f(st.rng.get_or_insert_with(fastrand::Rng::new))
    }

    fn lync_uri(&self, i: usize) -> String {
        format!("sip:load{i}@{}", self.domain)
    }

    fn skype_uri(i: usize) -> String {
        format!("sip:load{i}@{SKYPE_DOMAIN}")
    }

    /// The agent index of a `load<i>@…` URI.
    fn agent_of(uri: &str) -> Option<usize> {
        let user = uri.trim_start_matches('<').trim_start_matches("sip:");
        user.strip_prefix("load")?.split('@').next()?.parse().ok()
    }

    fn skype_envelope(&self, i: usize) -> skype::Envelope {
        self.rng(|r| skype::Envelope {
            via: self.cloud.via(false, r),
            from_uri: Self::skype_uri(i),
            from_tag: token(r, 10),
            to_uri: self.lync_uri(i),
            call_id: token(r, 20),
        })
    }

    fn lync_envelope(&self, i: usize) -> lync::Envelope {
        self.rng(|r| {
            let epid = token(r, 10);
            lync::Envelope {
                via: self.edge.via(true, r),
                from_uri: self.lync_uri(i),
                from_tag: token(r, 10),
                contact: format!("{};opaque=user:epid:{epid};gruu", self.lync_uri(i)),
                epid,
                to_uri: Self::skype_uri(i),
                call_id: token(r, 20),
            }
        })
    }

    /// Claims agent `i` or one of the next few; `None` when all of them are busy.
    fn claim(&self, i: usize, needs_registration: bool) -> Option<usize> {
        let n = self.agents.len();
        (0..16.min(n)).map(|k| (i + k) % n).find(|&j| {
            let a = &self.agents[j];
            (!needs_registration || a.registered.load(Ordering::Acquire))
                && a.busy.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
        })
    }
}

/// A final response as a failure reason, or `Ok` for a 2xx.
fn final_ok(r: Result<Message, crate::net::NetError>) -> Result<Message, String> {
    match r {
        Ok(m) if m.status().is_some_and(|c| (200..300).contains(&c)) => Ok(m),
        Ok(m) => Err(format!("{} {}", m.status().unwrap_or_default(), m.reason().unwrap_or_default())),
        Err(crate::net::NetError::Timeout { .. }) => Err("no final response (timer B/F)".into()),
        Err(e) => Err(e.to_string()),
    }
}

async fn within<T>(d: Duration, f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(d, f).await.unwrap_or_else(|_| Err(format!("deadline of {d:?} passed")))
}

/// A second's counts for the progress line.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Time since the steady phase began.
    pub elapsed: Duration,
    /// Transactions started so far.
    pub started: u64,
    /// Succeeded so far.
    pub ok: u64,
    /// Failed so far.
    pub failed: u64,
    /// In flight now.
    pub in_flight: u64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Per kind.
    pub stats: Stats,
    /// Agents whose subscription became active.
    pub registered: usize,
    /// How long registering every agent took.
    pub register_time: Duration,
    /// Length of the steady phase as run (to its last start).
    pub steady: Duration,
    /// Draws that found their agents busy (not started).
    pub skipped: u64,
    /// Requests from the gateway the legs could not place.
    pub strays: u64,
    /// Malformed SIP from the gateway, with the first one named.
    pub malformed: (u64, Option<String>),
    /// Transactions still unfinished when the drain deadline passed.
    pub abandoned: u64,
    /// CPU time this process used over the steady phase.
    pub cpu: Duration,
    /// CPU time the SUT process used over the steady phase, when its pid is known.
    pub sut_cpu: Option<Duration>,
}

/// Runs the load: registers every agent, then drives the mix at the rate for the duration,
/// then waits for what is in flight (up to the transaction deadline). `tick` gets the progress
/// once a second.
/// `sut_pid` is the SUT's process, whose CPU time is read over the steady phase as ours is.
pub async fn run(
    legs: Legs,
    faces: Faces,
    domain: &str,
    cfg: &LoadConfig,
    sut_pid: Option<u32>,
    mut tick: impl FnMut(Tick),
) -> Measured {
    let Legs { edge: (edge, edge_in), cloud: (cloud, cloud_in) } = legs;
    let shared = Arc::new(Shared {
        edge,
        cloud,
        gw_enterprise: Peer { addr: faces.enterprise, reliable: true },
        gw_consumer: Peer { addr: faces.consumer, reliable: false },
        domain: domain.to_owned(),
        lync: LyncProfile::builtin(),
        skype: SkypeProfile::builtin(),
        agents: (0..cfg.users).map(|_| Agent::default()).collect(),
        state: Mutex::new(LegState { rng: Some(fastrand::Rng::with_seed(cfg.seed)), ..LegState::default() }),
        stats: Mutex::new(Stats::default()),
        in_flight: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        deadline: cfg.deadline,
    });
    tokio::spawn(serve(Arc::clone(&shared), edge_in, edge_request));
    tokio::spawn(serve(Arc::clone(&shared), cloud_in, cloud_request));

    // Registration: every agent's Skype side subscribes to its Lync buddy, a window at a time.
    let reg_start = Instant::now();
    let window = Arc::new(tokio::sync::Semaphore::new(cfg.register_window.max(1)));
    let mut regs = tokio::task::JoinSet::new();
    for i in 0..cfg.users {
        let Ok(permit) = Arc::clone(&window).acquire_owned().await else { break };
        let s = Arc::clone(&shared);
        regs.spawn(async move {
            transaction(&s, Kind::Subscribe, i).await;
            drop(permit);
        });
    }
    while regs.join_next().await.is_some() {}
    let register_time = reg_start.elapsed();
    let registered = shared.agents.iter().filter(|a| a.registered.load(Ordering::Acquire)).count();

    // Steady phase: open loop, starts due by elapsed time × rate, checked every millisecond.
    let mut rng = fastrand::Rng::with_seed(cfg.seed ^ 0x9e37_79b9_7f4a_7c15);
    let cpu0 = super::saturation::cpu_time();
    let sut_cpu0 = sut_pid.and_then(super::saturation::cpu_of);
    let begin = Instant::now();
    let mut started: u64 = 0;
    let mut last_tick = begin;
    let mut running = tokio::task::JoinSet::new();
    loop {
        let elapsed = begin.elapsed();
        if elapsed >= cfg.duration {
            break;
        }
        let due = (elapsed.as_secs_f64() * cfg.rate) as u64;
        while started < due {
            started += 1;
            let kind = cfg.mix.pick(&mut rng);
            let i = rng.usize(..cfg.users);
            let s = Arc::clone(&shared);
            running.spawn(async move { transaction(&s, kind, i).await });
        }
        while running.try_join_next().is_some() {}
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            tick(progress(&shared, elapsed));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let steady = begin.elapsed();
    let cpu = super::saturation::cpu_time().saturating_sub(cpu0);
    let sut_cpu = sut_pid.and_then(super::saturation::cpu_of).zip(sut_cpu0).map(|(b, a)| b.saturating_sub(a));
    let drain = tokio::time::timeout(cfg.deadline + Duration::from_secs(1), async {
        while running.join_next().await.is_some() {}
    })
    .await;
    let abandoned = if drain.is_err() { running.len() as u64 } else { 0 };
    running.abort_all();
    tick(progress(&shared, steady));
    let stats = shared.stats().clone();
    let (strays, malformed) = {
        let st = shared.lock();
        (st.strays, (st.malformed, st.last_malformed.clone()))
    };
    Measured {
        stats,
        registered,
        register_time,
        steady,
        skipped: shared.skipped.load(Ordering::Relaxed),
        strays,
        malformed,
        abandoned,
        cpu,
        sut_cpu,
    }
}

fn progress(shared: &Shared, elapsed: Duration) -> Tick {
    let (started, ok, finished) = shared.stats().totals(|k| k != Kind::Subscribe);
    Tick { elapsed, started, ok, failed: finished - ok, in_flight: shared.in_flight.load(Ordering::Relaxed) }
}

/// One transaction of `kind` by agent `i` (or a free neighbour), recorded in the stats.
async fn transaction(s: &Arc<Shared>, kind: Kind, i: usize) {
    let Some(i) = s.claim(i, kind == Kind::Presence) else {
        s.skipped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    s.stats().kind(kind).started += 1;
    s.in_flight.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let result = match kind {
        Kind::Subscribe => subscribe(s, i).await,
        Kind::Im => im(s, i).await,
        Kind::Presence => presence(s, i).await,
        Kind::Call => call(s, i).await,
    };
    {
        let mut st = s.stats();
        let k = st.kind(kind);
        match result {
            Ok(at) => k.success(at.saturating_duration_since(t0)),
            Err(e) => k.failure(e),
        }
    }
    s.in_flight.fetch_sub(1, Ordering::Relaxed);
    s.agents[i].busy.store(false, Ordering::Release);
}

/// The Skype side subscribes to its Lync buddy; done at the first active NOTIFY.
async fn subscribe(s: &Arc<Shared>, i: usize) -> Result<Instant, String> {
    let env = s.skype_envelope(i);
    let msg = skype::presence_subscribe(&s.skype, &env, &Shared::skype_uri(i), 3600);
    let (tx, rx) = oneshot::channel();
    {
        let mut st = s.lock();
        st.notify_waiters.insert(env.call_id.clone(), tx);
        st.sub_ids.insert(i, env.call_id.clone());
    }
    let r = within(s.deadline, async {
        final_ok(s.cloud.request(msg, s.gw_consumer).await)?;
        rx.await.map_err(|_| "no active NOTIFY".to_owned())
    })
    .await;
    if r.is_ok() {
        s.agents[i].registered.store(true, Ordering::Release);
    } else {
        s.lock().notify_waiters.remove(&env.call_id);
    }
    r
}

/// A Skype user's IM to its Lync buddy.
async fn im(s: &Arc<Shared>, i: usize) -> Result<Instant, String> {
    let env = s.skype_envelope(i);
    let text = format!("load message to load{i}");
    let msg = skype::pager(&s.skype, &env, &s.skype.im_content_type, text.into_bytes());
    within(s.deadline, async { final_ok(s.cloud.request(msg, s.gw_consumer).await).map(|_| Instant::now()) }).await
}

/// The Lync side publishes a new availability; done when the Skype watcher's NOTIFY arrives.
async fn presence(s: &Arc<Shared>, i: usize) -> Result<Instant, String> {
    let a = &s.agents[i];
    // Online and Busy in turn, so every change is a change on the consumer leg too.
    let next = if a.availability.load(Ordering::Relaxed) == Availability::BUSY.0 {
        Availability::AVAILABLE
    } else {
        Availability::BUSY
    };
    let (tx, rx) = oneshot::channel();
    let (msg, benotify) = {
        let via = s.rng(|r| s.edge.via(true, r));
        let mut st = s.lock();
        let Some(sub) = st.sub_ids.get(&i).cloned() else { return Err("agent not registered".into()) };
        let entity = s.lync_uri(i);
        let Some(n) = st.notifiers.get_mut(&i) else { return Err("the gateway holds no subscription".into()) };
        let method = if n.benotify { Method::BENOTIFY } else { Method::NOTIFY };
        let msg = presence_note(&mut n.dialog, method, &via, &entity, &n.accept, next, 3600);
        let benotify = n.benotify;
        st.notify_waiters.insert(sub, tx);
        (msg, benotify)
    };
    a.availability.store(next.0, Ordering::Relaxed);
    if benotify {
        s.edge.send_stateless(msg, s.gw_enterprise);
    } else {
        let edge = s.edge.clone();
        let peer = s.gw_enterprise;
        tokio::spawn(async move { edge.request(msg, peer).await });
    }
    within(s.deadline, async { rx.await.map_err(|_| "no NOTIFY on the consumer leg".to_owned()) }).await
}

/// The Lync pool's (BE)NOTIFY of `entity`'s availability in the subscription `dialog`, in the
/// format the watcher's Accept asks for.
fn presence_note(
    dialog: &mut Dialog,
    method: Method,
    via: &str,
    entity: &str,
    accept: &str,
    a: Availability,
    expires: u32,
) -> Message {
    let (ct, body) = lync::presence_body(accept, false, entity, a);
    dialog
        .request(method, via)
        .header("Contact", format!("<{entity}>"))
        .header("Event", "presence")
        .header("Subscription-State", format!("active;expires={expires}"))
        .body(ct, body.into_bytes())
        .build()
}

fn lync_audio(r: &mut fastrand::Rng, ip: IpAddr, port: u16) -> LocalAudio {
    let ssrc = r.u32(1..);
    LocalAudio {
        ip,
        rtp_port: port,
        rtcp_port: port + 1,
        ice: Some((token(r, 4), token(r, 24))),
        keys: (0..3).map(|_| MasterKey::random(r).to_base64()).collect(),
        ssrc_range: Some((ssrc, ssrc)),
        direction: Direction::SendRecv,
        session_id: 0,
        version: 0,
        remote_candidates: None,
    }
}

/// A Lync user calls its Skype buddy: INVITE to 200 (the measured setup), then ACK and BYE.
/// Signalling only: the ports the SDP announces are never sent to (SIPp's stock call scenario
/// carries no media either).
async fn call(s: &Arc<Shared>, i: usize) -> Result<Instant, String> {
    let env = s.lync_envelope(i);
    let invite = s.rng(|r| {
        let audio = lync_audio(r, s.edge.tcp_addr().ip(), 40_000);
        let ids = (token(r, 20), token(r, 32), token(r, 24), token(r, 10), token(r, 10), token(r, 22));
        let (ct, body) = sdpcall::lync_offer(&s.lync.audio_codecs, &audio, &ids.0, (&ids.1, &ids.2), (&ids.3, &ids.4));
        lync::call_invite(&s.lync, &env, &ids.5, &ct, body)
    });
    let answered = within(s.deadline, async {
        let ok = final_ok(s.edge.request(invite.clone(), s.gw_enterprise).await)?;
        Ok((Instant::now(), ok))
    })
    .await?;
    let (at, ok) = answered;
    let mut dialog = Dialog::uac(&invite, &ok).map_err(|e| format!("the 200 forms no dialog: {e}"))?;
    let via = s.rng(|r| s.edge.via(true, r));
    s.edge.send_stateless(dialog.ack(1, &via).build(), s.gw_enterprise);
    let via = s.rng(|r| s.edge.via(true, r));
    let bye = dialog.request(Method::BYE, &via).build();
    within(s.deadline, async { final_ok(s.edge.request(bye, s.gw_enterprise).await) })
        .await
        .map_err(|e| format!("BYE: {e}"))?;
    Ok(at)
}

fn respond(ep: &EndpointHandle, id: TxnId, req: &Message, code: u16, reason: &str, tag: Option<&str>) {
    ep.respond(id, MessageBuilder::response_to(req, code, reason, tag).build());
}

/// Answers an in-dialog request: 200 in a dialog the leg knows, else 481 (counted as a stray).
fn in_dialog(s: &Shared, ep: &EndpointHandle, id: TxnId, req: &Message, known: bool) {
    if known {
        respond(ep, id, req, 200, "OK", None);
    } else {
        s.lock().strays += 1;
        respond(ep, id, req, 481, "Call/Transaction Does Not Exist", None);
    }
}

/// One leg's incoming loop: each request goes to `handle`; strays (the ACKs of our 2xx) are
/// dropped; malformed input (the endpoint answered 400 where it could) is counted, the first
/// one kept for the report.
async fn serve(
    s: Arc<Shared>,
    mut incoming: mpsc::UnboundedReceiver<Incoming>,
    handle: fn(&Arc<Shared>, TxnId, Message),
) {
    while let Some(ev) = incoming.recv().await {
        match ev {
            Incoming::Request { id, msg, .. } => handle(&s, id, msg),
            Incoming::Barrier(done) => {
                let _ = done.send(());
            }
            Incoming::Malformed { peer, error, .. } => {
                let mut st = s.lock();
                st.malformed += 1;
                st.last_malformed.get_or_insert_with(|| format!("from {peer}: {error}"));
            }
            Incoming::Stray { .. } => {}
        }
    }
}

/// The Edge: answers what the gateway sends the Lync agents.
fn edge_request(s: &Arc<Shared>, id: TxnId, msg: Message) {
    let call_id = msg.call_id().unwrap_or_default();
    let tag = s.rng(|r| token(r, 10));
    let target = msg.to_addr().ok().and_then(|a| Shared::agent_of(&a.uri)).filter(|i| *i < s.agents.len());
    match msg.method().map(Method::as_str) {
        Some("INVITE") if lync::is_im_invite(&msg) => {
            let Some(i) = target else {
                respond(&s.edge, id, &msg, 404, "Not Found", Some(&tag));
                return;
            };
            s.lock().dialogs.insert(call_id);
            let sdp = lync::im_sdp_answer(&s.lync, &s.edge.tcp_addr().ip().to_string(), &s.lync_uri(i));
            let resp = MessageBuilder::response_to(&msg, 200, "OK", Some(&tag))
                .header("Contact", format!("<{};opaque=user:epid:{tag};gruu>", s.lync_uri(i)))
                .header("Supported", "ms-text-format")
                .body("application/sdp", sdp)
                .build();
            s.edge.respond(id, resp);
        }
        Some("MESSAGE" | "INFO") => {
            let known = s.lock().dialogs.contains(&call_id);
            in_dialog(s, &s.edge, id, &msg, known);
        }
        Some("BYE") => {
            s.lock().dialogs.remove(&call_id);
            respond(&s.edge, id, &msg, 200, "OK", None);
        }
        Some("SUBSCRIBE") => edge_subscribe(s, id, &msg, target, &tag),
        Some("NOTIFY" | "OPTIONS") => respond(&s.edge, id, &msg, 200, "OK", None),
        Some("BENOTIFY") => {}
        _ => {
            s.lock().strays += 1;
            respond(&s.edge, id, &msg, 501, "Not Implemented", None);
        }
    }
}

/// The Lync pool accepts the gateway's subscription for agent `i` and serves its availability.
fn edge_subscribe(s: &Arc<Shared>, id: TxnId, req: &Message, target: Option<usize>, tag: &str) {
    let Some(i) = target else {
        respond(&s.edge, id, req, 404, "Not Found", Some(tag));
        return;
    };
    let expires = req.value("Expires").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(3600);
    if expires == 0 {
        s.lock().notifiers.remove(&i);
        respond(&s.edge, id, req, 200, "OK", Some(tag));
        return;
    }
    let Ok(mut dialog) = Dialog::uas(req, tag) else {
        s.lock().strays += 1;
        respond(&s.edge, id, req, 400, "Bad Request", Some(tag));
        return;
    };
    let accept = req.value("Accept").unwrap_or_default().into_owned();
    let benotify = req.list("Supported").iter().any(|t| t.eq_ignore_ascii_case("ms-benotify"));
    let entity = s.lync_uri(i);
    let resp = MessageBuilder::response_to(req, 200, "OK", Some(tag))
        .header("Expires", expires)
        .header("Contact", format!("<{entity};opaque=user:epid:{tag};gruu>"))
        .build();
    s.edge.respond(id, resp);
    let via = s.rng(|r| s.edge.via(true, r));
    let notify = presence_note(&mut dialog, Method::NOTIFY, &via, &entity, &accept, Availability::AVAILABLE, expires);
    s.agents[i].availability.store(Availability::AVAILABLE.0, Ordering::Relaxed);
    s.lock().notifiers.insert(i, Notifier { dialog, accept, benotify });
    let (edge, peer) = (s.edge.clone(), s.gw_enterprise);
    tokio::spawn(async move { edge.request(notify, peer).await });
}

/// The cloud: answers what the gateway sends the Skype agents.
fn cloud_request(s: &Arc<Shared>, id: TxnId, msg: Message) {
    let call_id = msg.call_id().unwrap_or_default();
    match msg.method().map(Method::as_str) {
        Some("NOTIFY") => {
            respond(&s.cloud, id, &msg, 200, "OK", None);
            let state = msg.value("Subscription-State").unwrap_or_default();
            if state.trim_start().starts_with("active") && !msg.body().is_empty() {
                let waiter = s.lock().notify_waiters.remove(&call_id);
                if let Some(w) = waiter {
                    let _ = w.send(Instant::now());
                }
            }
        }
        Some("INVITE") => cloud_invite(s, id, &msg),
        Some("BYE") => {
            let known = s.lock().dialogs.remove(&call_id);
            in_dialog(s, &s.cloud, id, &msg, known);
        }
        Some("MESSAGE" | "OPTIONS") => respond(&s.cloud, id, &msg, 200, "OK", None),
        _ => {
            s.lock().strays += 1;
            respond(&s.cloud, id, &msg, 501, "Not Implemented", None);
        }
    }
}

/// The Skype side answers a call at once with the codecs it shares with the offer.
fn cloud_invite(s: &Arc<Shared>, id: TxnId, req: &Message) {
    let tag = s.rng(|r| token(r, 10));
    let target = req.to_addr().ok().and_then(|a| Shared::agent_of(&a.uri)).filter(|i| *i < s.agents.len());
    let offer = crate::sdp::parse(req.body()).ok().and_then(|sdp| sdpcall::remote_audio(&sdp));
    let (Some(i), Some(offer)) = (target, offer) else {
        respond(&s.cloud, id, req, 488, "Not Acceptable Here", Some(&tag));
        return;
    };
    // In the offer's order, renumbered to its payload types (RFC 3264 §6.1).
    let codecs: Vec<ProfileCodec> = offer
        .codecs
        .iter()
        .filter_map(|rc| s.skype.audio_codecs.iter().find(|pc| pc.is(rc)).map(|pc| pc.renumbered(rc.pt)))
        .collect();
    if codecs.is_empty() {
        respond(&s.cloud, id, req, 488, "Not Acceptable Here", Some(&tag));
        return;
    }
    let audio = s.rng(|r| LocalAudio {
        ip: s.cloud.udp_addr().ip(),
        rtp_port: 42_000,
        rtcp_port: 42_001,
        ice: None,
        keys: Vec::new(),
        ssrc_range: None,
        direction: Direction::SendRecv,
        session_id: r.u64(1..1 << 32),
        version: 1,
        remote_candidates: None,
    });
    let sdp = sdpcall::skype_audio(&s.skype.call_session_name, &codecs, &audio);
    s.lock().dialogs.insert(req.call_id().unwrap_or_default());
    let resp = MessageBuilder::response_to(req, 200, "OK", Some(&tag))
        .header("Contact", format!("<{}>", Shared::skype_uri(i)))
        .body("application/sdp", sdp.to_bytes())
        .build();
    s.cloud.respond(id, resp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_indices_read_from_their_uris() {
        assert_eq!(Shared::agent_of("sip:load17@contoso.com"), Some(17));
        assert_eq!(Shared::agent_of("<sip:load0@outlook.com>"), Some(0));
        assert_eq!(Shared::agent_of("sip:alice@contoso.com"), None);
    }
}
