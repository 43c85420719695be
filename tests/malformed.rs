//! The malformed-input corpus (issue 8) against the embedded reference gateway, over UDP (its
//! consumer face) and TCP (its enterprise face) on loopback. Each case is followed by an
//! OPTIONS ping to the gateway: its 200 is the event that says the case was dealt with (the
//! gateway reads one source in order), so a dropped case is seen without sleeping. Every wait
//! has a deadline. All mismatches are collected and reported at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fedcert::gateway::Gateway;
use fedcert::sip::wire::malformed::{Carrier, Case, Reaction, Target, corpus};
use fedcert::sip::wire::{Frame, Message, StreamFramer};
use fedcert::sut::SutProfile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

const SEED: u64 = 0x8a1f;
/// How long one case (and its ping) may take before it counts as a hang.
const CASE_DEADLINE: Duration = Duration::from_secs(5);
/// A face is pinged on its own socket every this many cases.
const PING_EVERY: usize = 100;

/// Panics anywhere in the process (gateway tasks included), counted by a hook.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn watch_panics() -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        sink.lock().unwrap_or_else(|p| p.into_inner()).push(info.to_string());
        default(info);
    }));
    seen
}

fn ping(to: SocketAddr, from: SocketAddr, carrier: &str, call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/{carrier} {from};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@fedcert.invalid>;tag=p1\r\nTo: <sip:{to}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// What came back for one case.
#[derive(Debug, Default)]
struct Outcome {
    /// The case's first final status.
    status: Option<u16>,
    /// The ping after it got its 200.
    pinged: bool,
    /// The gateway closed the connection (TCP).
    closed: bool,
    /// The deadline passed first.
    timed_out: bool,
}

impl Outcome {
    /// Takes one message from the gateway.
    fn take(&mut self, m: &Message, case: &Case, ping_id: &str) {
        let Some(code) = m.status().filter(|c| *c >= 200) else { return };
        let call_id = m.call_id().ok();
        if call_id.as_deref() == Some(ping_id) {
            self.pinged |= code == 200;
        } else if self.status.is_none()
            && (call_id.as_deref() == Some(case.call_id.as_str())
                || m.top_via().ok().and_then(|v| v.branch().map(str::to_owned)).is_some_and(|b| {
                    // The corpus writes branch `z9hG4bK<id>x` for Call-ID `<id>@fedcert.invalid`.
                    b.strip_prefix("z9hG4bK")
                        .and_then(|b| b.strip_suffix('x'))
                        .is_some_and(|id| case.call_id == format!("{id}@fedcert.invalid"))
                }))
        {
            self.status = Some(code);
        }
    }

    /// Whether to stop reading: the ping is answered and, if the case wants a response, it came.
    fn done(&self, expect: Reaction) -> bool {
        let wants_final =
            matches!(expect, Reaction::Final(_) | Reaction::Handled | Reaction::Refused | Reaction::Answered);
        self.closed || (self.pinged && (self.status.is_some() || !wants_final))
    }
}

async fn udp_case(sock: &UdpSocket, server: SocketAddr, case: &Case, n: usize) -> Outcome {
    let ping_id = format!("ping-udp-{n}");
    let mut out = Outcome::default();
    let deadline = Instant::now() + CASE_DEADLINE;
    let local = sock.local_addr().expect("local address");
    sock.send_to(&case.bytes, server).await.expect("send case");
    sock.send_to(&ping(server, local, "UDP", &ping_id), server).await.expect("send ping");
    let mut buf = vec![0u8; 70_000];
    while !out.done(case.expect) {
        match timeout_at(deadline, sock.recv_from(&mut buf)).await {
            Ok(Ok((len, _))) => {
                if let Ok(m) = Message::parse_datagram(&buf[..len]) {
                    out.take(&m, case, &ping_id);
                }
            }
            Ok(Err(e)) => panic!("udp receive: {e}"),
            Err(_) => {
                out.timed_out = true;
                break;
            }
        }
    }
    out
}

async fn tcp_case(server: SocketAddr, case: &Case, n: usize) -> Outcome {
    let ping_id = format!("ping-tcp-{n}");
    let mut out = Outcome::default();
    let deadline = Instant::now() + CASE_DEADLINE;
    let mut stream = timeout_at(deadline, TcpStream::connect(server)).await.expect("connect in time").expect("connect");
    let local = stream.local_addr().expect("local address");
    // A write may fail once the gateway has closed a stream it cannot frame: that is a close.
    let mut wrote = stream.write_all(&case.bytes).await.is_ok();
    if case.end_stream {
        wrote &= stream.shutdown().await.is_ok();
    } else {
        wrote &= stream.write_all(&ping(server, local, "TCP", &ping_id)).await.is_ok();
    }
    out.closed = !wrote;
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    while !out.done(case.expect) {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => out.closed = true,
            Ok(Ok(len)) => {
                framer.push(&buf[..len]);
                while let Ok(Some(frame)) = framer.next_frame() {
                    if let Frame::Message(m) = frame {
                        out.take(&m, case, &ping_id);
                    }
                }
            }
            Err(_) => {
                out.timed_out = true;
                break;
            }
        }
    }
    out
}

/// OPTIONS to a face on a fresh socket: 200 within the deadline.
async fn face_answers(face: SocketAddr, carrier: Carrier, tag: &str) -> Result<(), String> {
    let id = format!("alive-{tag}");
    let deadline = Instant::now() + CASE_DEADLINE;
    let wait = |what: &str| format!("{carrier:?} ping to {face} ({tag}): {what}");
    match carrier {
        Carrier::Udp => {
            let sock = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| wait(&e.to_string()))?;
            let local = sock.local_addr().map_err(|e| wait(&e.to_string()))?;
            sock.send_to(&ping(face, local, "UDP", &id), face).await.map_err(|e| wait(&e.to_string()))?;
            let mut buf = vec![0u8; 65_536];
            loop {
                let (len, _) = timeout_at(deadline, sock.recv_from(&mut buf))
                    .await
                    .map_err(|_| wait("no 200 within 5 s"))?
                    .map_err(|e| wait(&e.to_string()))?;
                if let Ok(m) = Message::parse_datagram(&buf[..len])
                    && m.status() == Some(200)
                    && m.call_id().is_ok_and(|c| c == id)
                {
                    return Ok(());
                }
            }
        }
        Carrier::Tcp => {
            let mut s = timeout_at(deadline, TcpStream::connect(face))
                .await
                .map_err(|_| wait("connect timed out"))?
                .map_err(|e| wait(&e.to_string()))?;
            let local = s.local_addr().map_err(|e| wait(&e.to_string()))?;
            s.write_all(&ping(face, local, "TCP", &id)).await.map_err(|e| wait(&e.to_string()))?;
            let mut framer = StreamFramer::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let len = timeout_at(deadline, s.read(&mut buf))
                    .await
                    .map_err(|_| wait("no 200 within 5 s"))?
                    .map_err(|e| wait(&e.to_string()))?;
                if len == 0 {
                    return Err(wait("connection closed"));
                }
                framer.push(&buf[..len]);
                while let Ok(Some(f)) = framer.next_frame() {
                    if let Frame::Message(m) = f
                        && m.status() == Some(200)
                        && m.call_id().is_ok_and(|c| c == id)
                    {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The reaction seen, for the failure list.
fn seen(o: &Outcome) -> String {
    let mut s = match o.status {
        Some(c) => c.to_string(),
        None => "no response".to_owned(),
    };
    if o.closed {
        s.push_str(", connection closed");
    }
    if o.timed_out && !o.pinged {
        s.push_str(", and the ping after it unanswered within 5 s");
    }
    s
}

fn judge(case: &Case, o: &Outcome, carrier: Carrier, mismatches: &mut Vec<String>) {
    let mut ok = case.expect.accepts(o.status);
    // A case that leaves the stream open must not stop the gateway answering the ping after it.
    if !o.pinged && !o.closed && !case.end_stream {
        ok = false;
    }
    if !ok {
        mismatches.push(format!(
            "{carrier:?} {}: sent {}; expected {}; got {}",
            case.name,
            case.short(),
            case.expect,
            seen(o)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_meets_every_malformed_case_and_keeps_serving() {
    let panics = watch_panics();
    let ip = "127.0.0.1".parse().expect("ip");
    let config = SutProfile::embedded().gateway_config(ip);
    let gw = Gateway::start_on(config, (SocketAddr::new(ip, 0), SocketAddr::new(ip, 0)), SEED)
        .await
        .expect("start the gateway");
    let (enterprise, consumer) = (gw.enterprise_face(), gw.consumer_face());
    let mut mismatches = Vec::new();
    let mut alive = Vec::new();

    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let udp =
        corpus(SEED, &Target { carrier: Carrier::Udp, local: sock.local_addr().expect("addr"), server: consumer });
    let tcp_local: SocketAddr = "127.0.0.1:5999".parse().expect("addr");
    let tcp = corpus(SEED, &Target { carrier: Carrier::Tcp, local: tcp_local, server: enterprise });
    assert!(udp.len() >= 1000 && tcp.len() >= 1000, "corpus sizes {} and {}", udp.len(), tcp.len());

    for (n, case) in udp.iter().enumerate() {
        let o = udp_case(&sock, consumer, case, n).await;
        judge(case, &o, Carrier::Udp, &mut mismatches);
        if n % PING_EVERY == PING_EVERY - 1 {
            alive.extend(face_answers(consumer, Carrier::Udp, &format!("udp-{n}")).await.err());
            alive.extend(face_answers(enterprise, Carrier::Tcp, &format!("udp-{n}")).await.err());
        }
    }
    for (n, case) in tcp.iter().enumerate() {
        let o = tcp_case(enterprise, case, n).await;
        judge(case, &o, Carrier::Tcp, &mut mismatches);
        if n % PING_EVERY == PING_EVERY - 1 {
            alive.extend(face_answers(consumer, Carrier::Udp, &format!("tcp-{n}")).await.err());
            alive.extend(face_answers(enterprise, Carrier::Tcp, &format!("tcp-{n}")).await.err());
        }
    }
    // After the corpus: both faces, both transports.
    for (face, carrier) in
        [(enterprise, Carrier::Tcp), (enterprise, Carrier::Udp), (consumer, Carrier::Udp), (consumer, Carrier::Tcp)]
    {
        alive.extend(face_answers(face, carrier, "end").await.err());
    }
    gw.shutdown();

    let panicked = panics.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut report = String::new();
    if !panicked.is_empty() {
        report.push_str(&format!("{} panics:\n  {}\n", PANICS.load(Ordering::SeqCst), panicked.join("\n  ")));
    }
    if !alive.is_empty() {
        report.push_str(&format!("the gateway stopped answering OPTIONS:\n  {}\n", alive.join("\n  ")));
    }
    if !mismatches.is_empty() {
        report.push_str(&format!(
            "{} of {} cases got the wrong reaction:\n  {}\n",
            mismatches.len(),
            udp.len() + tcp.len(),
            mismatches.join("\n  ")
        ));
    }
    assert!(report.is_empty(), "{report}");
}

/// An agent that receives garbage fails the wait it is in at once, with a message naming the
/// sender, the transport, the parse error and the packet (not a panic, not a timeout later).
#[tokio::test]
async fn an_agent_fails_its_wait_naming_a_garbage_packet() {
    use fedcert::agent::{Address, Side, SimSide};
    use fedcert::net::Tap;
    use fedcert::sip::txn::Peer;

    let ip = "127.0.0.1".parse().expect("ip");
    let gateway = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let peer = Peer { addr: gateway.local_addr().expect("addr"), reliable: false };
    let side = SimSide::start(Side::Consumer, ip, peer, Tap::new(), 3).await.expect("start the agent");
    let user: Address = "bob@live.com".parse().expect("address");
    side.add_user(user.clone());
    let agent_addr = side.endpoint().udp_addr();

    // UDP: a datagram that is no SIP message.
    gateway.send_to(b"HELLO WORLD\r\n\r\n", agent_addr).await.expect("send");
    let e = side
        .wait_for(&user, "an IM", Duration::from_secs(30), |_| false)
        .await
        .expect_err("nothing can satisfy the wait");
    let from = gateway.local_addr().expect("addr").to_string();
    let fault = e.fault.clone().expect("the wait ended on the fault, not at its deadline");
    let text = e.to_string();
    for want in [from.as_str(), "over Udp", "bad start line", "`HELLO WORLD`", "(15 bytes)"] {
        assert!(fault.contains(want) && text.contains(want), "{want:?} missing from: {text}");
    }

    // TCP: a stream whose Content-Length is no number; the next wait fails on it too.
    let mut s = TcpStream::connect(side.endpoint().tcp_addr()).await.expect("connect");
    let tcp_from = s.local_addr().expect("addr").to_string();
    s.write_all(b"MESSAGE sip:bob@live.com SIP/2.0\r\nContent-Length: -4\r\n\r\n").await.expect("write");
    let e = side
        .wait_for(&user, "an IM", Duration::from_secs(30), |_| false)
        .await
        .expect_err("nothing can satisfy the wait");
    let text = e.to_string();
    for want in [tcp_from.as_str(), "over Tcp", "Content-Length `-4`", "`MESSAGE sip:bob@live.com SIP/2.0`"] {
        assert!(text.contains(want), "{want:?} missing from: {text}");
    }
    assert_eq!(side.faults().len(), 2, "{:?}", side.faults());
    side.stop().await;
}
