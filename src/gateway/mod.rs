//! The reference gateway: the default system under test, running in-process with an enterprise
//! face (towards the Lync Edge, TCP) and a consumer face (towards the Skype cloud, UDP), each on
//! its own loopback port. It translates with its own code: it shares the SIP syntax layers with
//! the harness, never the dialect semantics, so one misreading cannot hide on both sides.

mod availability;
mod call;
mod categories;
mod defects;
mod im;
pub mod mapping;
mod pidf;
mod policy;
mod presence;
mod reply;
mod screen;
mod subscription;
#[cfg(test)]
mod testing;
mod xml;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::net::{EndpointConfig, EndpointHandle, Incoming, Tap, start};
use crate::sip::dialog::Dialog;
use crate::sip::txn::Peer;
use crate::sip::wire::Method;
pub use defects::{Defect, Defects};
pub use mapping::{Msa, Namespaces};
use subscription::SubscriptionPair;

/// The gateway's configuration (from the SUT profile).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address both faces bind to.
    pub ip: IpAddr,
    /// Host name the gateway uses in diagnostics.
    pub fqdn: String,
    /// Domain knowledge.
    pub namespaces: Namespaces,
    /// Lync users enabled for public IM connectivity (`user@domain`).
    pub enterprise_users: BTreeSet<String>,
    /// Seeded defects.
    pub defects: Defects,
    /// TLS on the enterprise face's connections (accepted from the Edge, opened to it); none
    /// for plain TCP.
    pub enterprise_tls: crate::net::tls::StreamTls,
}

/// Where the gateway sends what it originates on each leg.
#[derive(Debug, Clone, Copy)]
pub struct NextHops {
    /// The Lync Edge (TCP).
    pub enterprise: SocketAddr,
    /// The Skype cloud (UDP).
    pub consumer: SocketAddr,
}

/// One IM conversation (flows.md "IM sessions"): a Lync user and a Skype account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Conversation {
    /// The Lync user (`user@domain`, lower-case).
    lync_user: String,
    /// The Skype account.
    msa: Msa,
}

/// The enterprise-leg side of a conversation: the Lync INVITE dialog. The consumer leg is
/// pager-mode and has no session.
#[derive(Debug)]
struct ImSession {
    /// The enterprise-leg dialog.
    dialog: Dialog,
    /// The Lync side's `a=accept-types` (its offer, or its answer to the gateway's INVITE)
    /// lists `multipart/alternative` and `text/html`: IMs towards it carry both alternatives.
    rich: bool,
}

#[derive(Debug)]
struct State {
    next_hops: Option<NextHops>,
    rng: fastrand::Rng,
    /// Enterprise-leg IM sessions, one per conversation: opening one replaces the older, so
    /// which session an IM goes into never depends on map order.
    sessions: BTreeMap<Conversation, ImSession>,
    /// Bridged presence subscriptions by creation order.
    subscriptions: BTreeMap<u64, SubscriptionPair>,
    /// Both legs' Call-IDs of each subscription pair (the two sides draw Call-IDs separately,
    /// so only leg and Call-ID together are unique).
    subscription_ids: HashMap<(Leg, String), u64>,
    next_subscription: u64,
    /// Audio calls (B2BUA), by either leg's Call-ID.
    calls: call::Calls,
}

impl State {
    fn pair_mut(&mut self, leg: Leg, call_id: &str) -> Option<&mut SubscriptionPair> {
        let id = self.subscription_ids.get(&(leg, call_id.to_owned()))?;
        self.subscriptions.get_mut(id)
    }

    fn remove_pair(&mut self, id: u64) {
        if let Some(p) = self.subscriptions.remove(&id) {
            self.subscription_ids.remove(&(p.watcher_leg, p.watcher.key().call_id.clone()));
            self.subscription_ids.remove(&(p.notifier_leg(), p.far_call_id));
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: GatewayConfig,
    enterprise: EndpointHandle,
    consumer: EndpointHandle,
    state: Mutex<State>,
}

/// A running reference gateway. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    /// Binds both faces on ephemeral ports and starts serving. Its endpoints record nothing:
    /// the harness captures what it sees, as it would with an external gateway.
    pub async fn start(config: GatewayConfig, seed: u64) -> std::io::Result<Self> {
        let faces = (SocketAddr::new(config.ip, 0), SocketAddr::new(config.ip, 0));
        Self::start_on(config, faces, seed).await
    }

    /// Binds the faces on the given addresses (port 0: ephemeral) and starts serving: the
    /// standalone gateway of `fedcert gateway`. Each face takes UDP and TCP on its port.
    pub async fn start_on(config: GatewayConfig, faces: (SocketAddr, SocketAddr), seed: u64) -> std::io::Result<Self> {
        // Nobody reads the gateway's own tap (the harness captures on its side): it records
        // nothing, so a standalone gateway under load does not hold every packet.
        let private = Tap::off();
        let on = |addr: SocketAddr| {
            let mut c = EndpointConfig::ephemeral(addr.ip());
            c.bind = addr;
            c
        };
        let mut ent = on(faces.0);
        ent.tls = config.enterprise_tls.clone();
        let (enterprise, e_in) = start(ent, private.clone(), "gw-enterprise").await?;
        let (consumer, c_in) = start(on(faces.1), private, "gw-consumer").await?;
        let inner = Arc::new(Inner {
            config,
            enterprise,
            consumer,
            state: Mutex::new(State {
                next_hops: None,
                rng: fastrand::Rng::with_seed(seed),
                sessions: BTreeMap::new(),
                subscriptions: BTreeMap::new(),
                subscription_ids: HashMap::new(),
                next_subscription: 0,
                calls: call::Calls::default(),
            }),
        });
        tokio::spawn(serve(Arc::clone(&inner), e_in, Leg::Enterprise));
        tokio::spawn(serve(Arc::clone(&inner), c_in, Leg::Consumer));
        Ok(Self { inner })
    }

    /// The enterprise face (TCP).
    pub fn enterprise_face(&self) -> SocketAddr {
        self.inner.enterprise.tcp_addr()
    }

    /// The consumer face (UDP).
    pub fn consumer_face(&self) -> SocketAddr {
        self.inner.consumer.udp_addr()
    }

    /// Tells the gateway where the Lync Edge and the Skype cloud are.
    pub fn set_next_hops(&self, hops: NextHops) {
        self.inner.lock().next_hops = Some(hops);
    }

    /// Stops both faces.
    pub fn shutdown(&self) {
        self.inner.enterprise.shutdown();
        self.inner.consumer.shutdown();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Leg {
    Enterprise,
    Consumer,
}

impl Leg {
    fn other(self) -> Self {
        match self {
            Self::Enterprise => Self::Consumer,
            Self::Consumer => Self::Enterprise,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enterprise_peer(&self) -> Option<Peer> {
        self.lock().next_hops.map(|h| Peer { addr: h.enterprise, reliable: true })
    }

    fn consumer_peer(&self) -> Option<Peer> {
        self.lock().next_hops.map(|h| Peer { addr: h.consumer, reliable: false })
    }

    fn endpoint(&self, leg: Leg) -> &EndpointHandle {
        match leg {
            Leg::Enterprise => &self.enterprise,
            Leg::Consumer => &self.consumer,
        }
    }

    fn peer(&self, leg: Leg) -> Option<Peer> {
        match leg {
            Leg::Enterprise => self.enterprise_peer(),
            Leg::Consumer => self.consumer_peer(),
        }
    }

    /// The Contact of our face on `leg`.
    fn contact(&self, leg: Leg) -> String {
        match leg {
            Leg::Enterprise => format!("<sip:{};transport=tcp>", self.enterprise.tcp_addr()),
            Leg::Consumer => format!("<sip:{}>", self.consumer.udp_addr()),
        }
    }

    /// A Via for a new request on `leg` (its transport: TCP towards the pool, UDP towards the
    /// cloud; the endpoint moves a large request to TCP itself).
    fn via(&self, leg: Leg, rng: &mut fastrand::Rng) -> String {
        self.endpoint(leg).via(leg == Leg::Enterprise, rng)
    }
}

/// True when a request's URI names no user: it is addressed to the gateway itself.
fn to_the_gateway(msg: &crate::sip::wire::Message) -> bool {
    msg.request_uri().and_then(|u| crate::sip::wire::SipUri::parse(u).ok()).is_some_and(|u| u.user.is_none())
}

async fn serve(inner: Arc<Inner>, mut incoming: tokio::sync::mpsc::UnboundedReceiver<Incoming>, leg: Leg) {
    while let Some(ev) = incoming.recv().await {
        match ev {
            Incoming::Request { id, msg, .. } => {
                let inner = Arc::clone(&inner);
                // Taken here, in arrival order: each request runs in its own task.
                let mut turn = presence::Turn::take(&inner, leg, &msg);
                tokio::spawn(async move {
                    turn.wait().await;
                    if inner.screen(leg, id, &msg) {
                        drop(turn);
                        return;
                    }
                    let method = msg.method().map(Method::as_str);
                    if method == Some("OPTIONS") && to_the_gateway(&msg) {
                        // A capability query to the gateway itself (RFC 3261 §11): keepalives
                        // and readiness probes. A directory search names a user.
                        inner.ping(leg, id, &msg);
                        drop(turn);
                        return;
                    }
                    if call::takes(&inner, leg, &msg) {
                        call::handle(&inner, leg, id, msg).await;
                        drop(turn);
                        return;
                    }
                    match (leg, method) {
                        (_, Some("SUBSCRIBE" | "NOTIFY" | "BENOTIFY")) | (Leg::Consumer, Some("OPTIONS")) => {
                            presence::handle(&inner, leg, id, msg).await;
                        }
                        (Leg::Enterprise, _) => im::from_enterprise(&inner, id, msg).await,
                        (Leg::Consumer, _) => im::from_consumer(&inner, id, msg).await,
                    }
                    drop(turn);
                });
            }
            Incoming::Stray { .. } => {}
            Incoming::Barrier(done) => {
                let _ = done.send(());
            }
            Incoming::Malformed { peer, error, .. } => tracing::warn!(%peer, "gateway got malformed SIP: {error}"),
        }
    }
}
