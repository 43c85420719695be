//! A seeded impairment relay between the harness and the SUT on a UDP leg (issue 8): it drops,
//! delays, duplicates and reorders datagrams, so a scenario proves that both ends retransmit
//! and absorb repeats (RFC 3261 §17) rather than assuming a perfect loopback.
//!
//! [`Impairer`] is the sans-IO core: datagrams and time in, datagrams due out. [`Relay`] is the
//! tokio shell: one socket faces the harness, one faces the SUT, and each has a TCP listener on
//! the same port that passes streams through untouched (a request over 1300 bytes moves to TCP,
//! RFC 3261 §18.1.1, and TCP recovers loss itself).
//!
//! A datagram is dropped at most once (its exact bytes are remembered): its retransmission
//! always passes, so every loss must be repaired by the sender and no scenario fails by bad
//! luck. That keeps the suite deterministic while still proving retransmission.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

/// How a leg is impaired: each a probability per datagram, and a delay range.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impairment {
    /// Probability that a datagram (never yet dropped) is dropped.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a datagram is sent twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Probability that a datagram is held back until the next one in its direction has
    /// passed (at most [`REORDER_HOLD`]).
    #[serde(default)]
    pub reorder: f64,
    /// Extra delay of every datagram, drawn uniformly from this range, in milliseconds.
    #[serde(default)]
    pub delay_ms: [u64; 2],
    /// The seed of every decision.
    #[serde(default)]
    pub seed: u64,
}

impl Impairment {
    /// Checks the figures; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder)] {
            // Above one half, most transactions would need several retransmissions: a test
            // of patience, not of correctness.
            if !(0.0..=0.5).contains(&p) {
                return Err(format!("impairment.{name}: {p} is not a probability between 0 and 0.5"));
            }
        }
        let [lo, hi] = self.delay_ms;
        if lo > hi || hi > 1000 {
            return Err(format!("impairment.delay_ms: [{lo}, {hi}] is not a range within 0..=1000 ms"));
        }
        Ok(())
    }
}

/// The longest a datagram is held back waiting for another to overtake it.
pub const REORDER_HOLD: Duration = Duration::from_millis(40);

/// Which way a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    /// From the harness to the SUT.
    ToSut,
    /// From the SUT to the harness.
    ToHarness,
}

/// What the relay did, for the run's summary and the test that proves it happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImpairStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Dropped (each at most once).
    pub dropped: u64,
    /// Sent twice.
    pub duplicated: u64,
    /// Overtaken by a later datagram of the same direction.
    pub reordered: u64,
    /// Held back that nothing overtook before the hold ended.
    pub held_alone: u64,
}

impl std::ops::Add for ImpairStats {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            datagrams: self.datagrams + o.datagrams,
            dropped: self.dropped + o.dropped,
            duplicated: self.duplicated + o.duplicated,
            reordered: self.reordered + o.reordered,
            held_alone: self.held_alone + o.held_alone,
        }
    }
}

impl std::fmt::Display for ImpairStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} datagrams, {} dropped (each then retransmitted), {} duplicated, {} reordered, {} held back alone",
            self.datagrams, self.dropped, self.duplicated, self.reordered, self.held_alone
        )
    }
}

/// The sans-IO core.
#[derive(Debug)]
pub struct Impairer {
    cfg: Impairment,
    rng: fastrand::Rng,
    dropped: HashSet<u64>,
    /// Due datagrams by (time, order of scheduling).
    due: BTreeMap<(Instant, u64), (Dir, Vec<u8>)>,
    next: u64,
    /// A datagram held back per direction, until this deadline.
    held: BTreeMap<Dir, (Instant, Vec<u8>)>,
    stats: ImpairStats,
}

impl Impairer {
    /// A core deciding by `cfg` (and its seed).
    pub fn new(cfg: Impairment) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(cfg.seed),
            cfg,
            dropped: HashSet::new(),
            due: BTreeMap::new(),
            next: 0,
            held: BTreeMap::new(),
            stats: ImpairStats::default(),
        }
    }

    /// What happened so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    fn schedule(&mut self, at: Instant, dir: Dir, bytes: Vec<u8>) {
        self.next += 1;
        self.due.insert((at, self.next), (dir, bytes));
    }

    /// Takes one datagram received at `now`.
    pub fn on_datagram(&mut self, now: Instant, dir: Dir, bytes: Vec<u8>) {
        self.stats.datagrams += 1;
        let mut h = DefaultHasher::new();
        (dir, &bytes).hash(&mut h);
        let key = h.finish();
        if self.rng.f64() < self.cfg.loss && self.dropped.insert(key) {
            self.stats.dropped += 1;
            return;
        }
        let [lo, hi] = self.cfg.delay_ms;
        let at = now + Duration::from_millis(self.rng.u64(lo..=hi));
        if self.rng.f64() < self.cfg.duplicate {
            self.stats.duplicated += 1;
            self.schedule(at + Duration::from_millis(1), dir, bytes.clone());
        }
        if let Some((_, older)) = self.held.remove(&dir) {
            // This one overtakes the held one, which follows right after it.
            self.stats.reordered += 1;
            self.schedule(at, dir, bytes);
            self.schedule(at, dir, older);
            return;
        }
        if self.rng.f64() < self.cfg.reorder {
            self.held.insert(dir, (now + REORDER_HOLD, bytes));
            return;
        }
        self.schedule(at, dir, bytes);
    }

    /// The next datagram due at or before `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(Dir, Vec<u8>)> {
        let expired: Vec<Dir> = self.held.iter().filter(|(_, (until, _))| *until <= now).map(|(d, _)| *d).collect();
        for dir in expired {
            if let Some((until, bytes)) = self.held.remove(&dir) {
                self.stats.held_alone += 1;
                self.schedule(until, dir, bytes);
            }
        }
        let first = *self.due.keys().next()?;
        if first.0 > now {
            return None;
        }
        self.due.remove(&first)
    }

    /// When [`Self::poll_transmit`] next has something.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let due = self.due.keys().next().map(|k| k.0);
        let held = self.held.values().map(|(until, _)| *until).min();
        due.into_iter().chain(held).min()
    }
}

/// The running relay.
#[derive(Debug)]
pub struct Relay {
    /// Where the harness sends (it takes this for the SUT's face).
    pub harness_facing: SocketAddr,
    /// Where the SUT sends (it takes this for the harness).
    pub sut_facing: SocketAddr,
    harness: Arc<Mutex<Option<SocketAddr>>>,
    core: Arc<Mutex<Impairer>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Binds a UDP socket and a TCP listener on the same free port of `ip`.
async fn bind_pair(ip: std::net::IpAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    // An ephemeral UDP port may be taken for TCP by someone else: try a few.
    for _ in 0..16 {
        let udp = UdpSocket::bind((ip, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port pair")))
}

/// Passes every accepted stream through to `to()` untouched.
fn pass_streams(
    listener: TcpListener,
    to: impl Fn() -> Option<SocketAddr> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let Some(target) = to() else { continue };
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

impl Relay {
    /// Starts a relay on `ip` in front of the SUT face `sut`. The harness address is given
    /// once the harness has bound ([`Relay::set_harness`]).
    pub async fn start(ip: std::net::IpAddr, sut: SocketAddr, cfg: Impairment) -> std::io::Result<Self> {
        let (a, a_tcp) = bind_pair(ip).await?;
        let (b, b_tcp) = bind_pair(ip).await?;
        let (a, b) = (Arc::new(a), Arc::new(b));
        let harness: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let core = Arc::new(Mutex::new(Impairer::new(cfg)));
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for (sock, dir) in [(Arc::clone(&a), Dir::ToSut), (Arc::clone(&b), Dir::ToHarness)] {
            let (core, wake) = (Arc::clone(&core), Arc::clone(&wake));
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                    core.lock().unwrap_or_else(|p| p.into_inner()).on_datagram(Instant::now(), dir, buf[..n].to_vec());
                    wake.notify_one();
                }
            }));
        }
        let (sender_core, sender_harness) = (Arc::clone(&core), Arc::clone(&harness));
        let (sa, sb) = (Arc::clone(&a), Arc::clone(&b));
        tasks.push(tokio::spawn(async move {
            loop {
                let (out, next) = {
                    let mut c = sender_core.lock().unwrap_or_else(|p| p.into_inner());
                    let now = Instant::now();
                    let mut out = Vec::new();
                    while let Some(d) = c.poll_transmit(now) {
                        out.push(d);
                    }
                    (out, c.poll_timeout())
                };
                let to_harness = *sender_harness.lock().unwrap_or_else(|p| p.into_inner());
                for (dir, bytes) in out {
                    let _ = match (dir, to_harness) {
                        (Dir::ToSut, _) => sb.send_to(&bytes, sut).await,
                        (Dir::ToHarness, Some(h)) => sa.send_to(&bytes, h).await,
                        (Dir::ToHarness, None) => Ok(0),
                    };
                }
                match next {
                    Some(at) => {
                        let _ = tokio::time::timeout_at(at, wake.notified()).await;
                    }
                    None => wake.notified().await,
                }
            }
        }));
        tasks.push(pass_streams(a_tcp, move || Some(sut)));
        let h = Arc::clone(&harness);
        tasks.push(pass_streams(b_tcp, move || *h.lock().unwrap_or_else(|p| p.into_inner())));
        Ok(Self { harness_facing: a.local_addr()?, sut_facing: b.local_addr()?, harness, core, tasks })
    }

    /// Where datagrams from the SUT go on to.
    pub fn set_harness(&self, addr: SocketAddr) {
        *self.harness.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
    }

    /// What the relay did so far.
    pub fn stats(&self) -> ImpairStats {
        self.core.lock().unwrap_or_else(|p| p.into_inner()).stats()
    }

    /// Stops every task (sockets close with them).
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(loss: f64, duplicate: f64, reorder: f64) -> Impairment {
        Impairment { loss, duplicate, reorder, delay_ms: [0, 0], seed: 9 }
    }

    fn drain(c: &mut Impairer, now: Instant) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| c.poll_transmit(now)).map(|(_, b)| b).collect()
    }

    #[test]
    fn a_datagram_is_dropped_at_most_once_so_its_retransmission_passes() {
        let mut c = Impairer::new(cfg(0.5, 0.0, 0.0));
        let now = Instant::now();
        // Twenty copies at loss 0.5: one is dropped (the seeded draw hits well before the
        // twentieth), never a second.
        for _ in 0..20 {
            c.on_datagram(now, Dir::ToSut, b"same".to_vec());
        }
        assert_eq!(c.stats().dropped, 1);
        assert_eq!(drain(&mut c, now).len(), 19);
        // Many distinct datagrams: about half dropped.
        for i in 0..1000u32 {
            c.on_datagram(now, Dir::ToSut, i.to_be_bytes().to_vec());
        }
        let dropped = c.stats().dropped - 1;
        assert!((400..=600).contains(&dropped), "{dropped} of 1000");
    }

    #[test]
    fn a_held_datagram_is_overtaken_by_the_next_or_released_after_the_hold() {
        let mut c = Impairer::new(cfg(0.0, 0.0, 0.5));
        let now = Instant::now();
        let mut sent = Vec::new();
        for i in 0..200u8 {
            c.on_datagram(now, Dir::ToHarness, vec![i]);
            sent.push(vec![i]);
        }
        let out = drain(&mut c, now + REORDER_HOLD);
        assert_eq!(out.len(), 200, "nothing lost");
        assert_ne!(out, sent, "some overtaken");
        assert!(c.stats().reordered > 20, "{:?}", c.stats());
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, sent);
    }

    #[test]
    fn duplicates_and_delays_are_scheduled_and_timed() {
        let mut c = Impairer::new(Impairment { delay_ms: [10, 10], ..cfg(0.0, 0.5, 0.0) });
        let now = Instant::now();
        for i in 0..100u8 {
            c.on_datagram(now, Dir::ToSut, vec![i]);
        }
        assert!(drain(&mut c, now).is_empty(), "nothing before the delay");
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_millis(10)));
        let out = drain(&mut c, now + Duration::from_millis(11));
        assert_eq!(out.len() as u64, 100 + c.stats().duplicated);
        assert!(c.stats().duplicated > 20);
    }

    #[test]
    fn bad_figures_are_named() {
        assert!(cfg(0.6, 0.0, 0.0).validate().unwrap_err().contains("impairment.loss"));
        let e = Impairment { delay_ms: [5, 1], ..cfg(0.0, 0.0, 0.0) }.validate().unwrap_err();
        assert!(e.contains("impairment.delay_ms"), "{e}");
    }
}
