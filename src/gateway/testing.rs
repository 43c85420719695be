//! The test rig the gateway's loopback tests share: a gateway between two raw endpoints playing
//! the Lync pool (TCP) and the Skype cloud (UDP), with helpers to send as either side and to
//! wait for what reaches them. Documents are written out by hand in the tests, not with the
//! gateway's renderers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::gateway::{Defects, Gateway, GatewayConfig, Namespaces, NextHops};
use crate::net::{EndpointConfig, EndpointHandle, Incoming, NetError, Tap, TapKind, start};
use crate::sip::txn::{Peer, TxnId};
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The deadline of every wait in the tests.
pub(super) const WAIT: Duration = Duration::from_secs(5);
const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub(super) struct Rig {
    pub gw: Gateway,
    pub pool: EndpointHandle,
    pub pool_in: UnboundedReceiver<Incoming>,
    pub cloud: EndpointHandle,
    pub cloud_in: UnboundedReceiver<Incoming>,
    /// Everything the pool's endpoint sent and received, in wire order.
    pub pool_tap: Tap,
    pub rng: fastrand::Rng,
}

impl Rig {
    pub async fn new() -> Self {
        Self::with_defects(Defects::default()).await
    }

    pub async fn with_defects(defects: Defects) -> Self {
        let config = GatewayConfig {
            ip: IP,
            fqdn: "gw.fedcert.test".into(),
            namespaces: Namespaces { enterprise_domains: vec!["contoso.com".into()], ..Namespaces::default() },
            enterprise_users: ["alice@contoso.com".to_owned()].into(),
            defects,
            enterprise_tls: Default::default(),
        };
        let gw = Gateway::start(config, 7).await.unwrap();
        let pool_tap = Tap::new();
        let (pool, pool_in) = start(EndpointConfig::ephemeral(IP), pool_tap.clone(), "pool").await.unwrap();
        let (cloud, cloud_in) = start(EndpointConfig::ephemeral(IP), Tap::new(), "cloud").await.unwrap();
        gw.set_next_hops(NextHops { enterprise: pool.tcp_addr(), consumer: cloud.udp_addr() });
        Self { gw, pool, pool_in, cloud, cloud_in, pool_tap, rng: fastrand::Rng::with_seed(3) }
    }

    pub fn gw_enterprise(&self) -> Peer {
        Peer { addr: self.gw.enterprise_face(), reliable: true }
    }

    pub fn gw_consumer(&self) -> Peer {
        Peer { addr: self.gw.consumer_face(), reliable: false }
    }

    /// The cloud sends `msg` to the gateway; the handle yields the final response.
    pub fn cloud_sends(&self, msg: Message) -> JoinHandle<Result<Message, NetError>> {
        let (cloud, gw) = (self.cloud.clone(), self.gw_consumer());
        tokio::spawn(async move { cloud.request(msg, gw).await })
    }

    /// The pool sends `msg` to the gateway; the handle yields the final response.
    pub fn pool_sends(&self, msg: Message) -> JoinHandle<Result<Message, NetError>> {
        let (pool, gw) = (self.pool.clone(), self.gw_enterprise());
        tokio::spawn(async move { pool.request(msg, gw).await })
    }

    pub fn pool_via(&mut self) -> String {
        self.pool.via(true, &mut self.rng)
    }

    pub fn cloud_via(&mut self) -> String {
        self.cloud.via(false, &mut self.rng)
    }

    /// The pool's Contact for alice.
    pub fn pool_contact(&self) -> String {
        format!("<sip:alice@{};transport=tcp>", self.pool.tcp_addr())
    }

    /// The cloud's Contact.
    pub fn cloud_contact(&self) -> String {
        format!("<sip:{}>", self.cloud.udp_addr())
    }

    /// Everything the pool sent and received, as one text in wire order.
    pub fn pool_wire(&self) -> String {
        let mut out = String::new();
        for ev in self.pool_tap.events() {
            if let TapKind::Data(bytes) = &ev.kind {
                out.push_str(&String::from_utf8_lossy(bytes));
            }
        }
        out
    }

    pub fn subscriptions(&self) -> usize {
        self.gw.inner.lock().subscriptions.len()
    }
}

/// The next request on an endpoint. A stray message (a response nobody waits for) fails the
/// test: that is what an answered BENOTIFY would look like.
pub(super) async fn next_request(rx: &mut UnboundedReceiver<Incoming>) -> (TxnId, Message) {
    loop {
        match timeout(WAIT, rx.recv()).await.expect("no request in time").expect("endpoint stopped") {
            Incoming::Request { id, msg, .. } => return (id, msg),
            Incoming::Stray { msg, .. } => panic!("unexpected stray message: {}", msg.summary()),
            Incoming::Barrier(done) => {
                let _ = done.send(());
            }
            Incoming::Malformed { error, .. } => panic!("malformed: {error}"),
        }
    }
}

/// The next message on an endpoint must be the ACK for a 2xx (it arrives outside any
/// transaction, as a stray).
pub(super) async fn next_ack(rx: &mut UnboundedReceiver<Incoming>) -> Message {
    loop {
        match timeout(WAIT, rx.recv()).await.expect("no ACK in time").expect("endpoint stopped") {
            Incoming::Stray { msg, .. } if msg.method() == Some(&Method::ACK) => return msg,
            Incoming::Barrier(done) => {
                let _ = done.send(());
            }
            other => panic!("expected an ACK, got {other:?}"),
        }
    }
}

/// Asserts that nothing but barriers is queued on an endpoint: no request, no stray response.
pub(super) fn assert_quiet(rx: &mut UnboundedReceiver<Incoming>, who: &str) {
    while let Ok(ev) = rx.try_recv() {
        match ev {
            Incoming::Barrier(done) => {
                let _ = done.send(());
            }
            other => panic!("{who} got more: {other:?}"),
        }
    }
}

pub(super) fn ok(req: &Message, tag: Option<&str>) -> Message {
    MessageBuilder::response_to(req, 200, "OK", tag).build()
}

/// An out-of-dialog request as a simulated side writes it.
pub(super) fn request(
    method: Method,
    uri: &str,
    from: &str,
    call_id: &str,
    via: String,
    contact: &str,
) -> MessageBuilder {
    MessageBuilder::request(method.clone(), uri)
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", format!("<{from}>;tag=t-{call_id}"))
        .header("To", format!("<{uri}>"))
        .header("Call-ID", call_id)
        .header("CSeq", format!("1 {method}"))
        .header("Contact", contact)
}
