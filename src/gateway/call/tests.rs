//! Audio calls end to end on loopback (flows.md "Audio calls"): the pool and the cloud are raw
//! endpoints, every SDP is written out by hand, and raw UDP sockets play the far media peers.
//! Every wait is on an event with the rig's deadline.

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::gateway::testing::{Rig, WAIT, next_ack, next_request, ok, request};
use crate::net::NetError;
use crate::sdp::{Attribute, Candidate, Direction, MediaKind, Sdp};
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, Method};

pub(super) const ALICE: &str = "sip:alice@contoso.com";
/// carol's Lync-side URI (a consumer domain: undecorated) and her consumer URI.
pub(super) const CAROL: &str = "sip:carol@outlook.com";
/// Lync's three keys (base64 of 30 bytes each); the third has no MKI.
pub(super) const KEY_SCALE: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTEx";
pub(super) const KEY_MKI: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy";
pub(super) const KEY_PLAIN: &str = "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMz";
/// Lync's ICE credentials.
pub(super) const LYNC_UFRAG: &str = "LyUf";
pub(super) const LYNC_PWD: &str = "lyncpasswordlyncpassword";
/// Lync's SSRC range (size 1).
pub(super) const LYNC_SSRC: u32 = 0x1111_0000;

/// The media lines of Lync's ICE v19 audio offer: the profile's 15 payload types, telephone-event
/// at `te`, candidates for `rtp`/`rtcp` (plus TCP-ACT ones at port 9), three crypto lines.
pub(super) fn lync_v19(rtp: u16, rtcp: u16, version: u64, te: u8, tail: &str) -> String {
    format!(
        "v=0\r\no=- 0 {version} IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nb=CT:99980\r\nt=0 0\r\n\
a=x-devicecaps:audio:send,recv\r\n\
m=audio {rtp} RTP/SAVP 117 114 104 9 112 111 0 8 116 115 103 97 13 118 {te}\r\n\
a=ice-ufrag:{LYNC_UFRAG}\r\na=ice-pwd:{LYNC_PWD}\r\n\
a=candidate:1 1 UDP 2130706431 127.0.0.1 {rtp} typ host\r\n\
a=candidate:1 2 UDP 2130705918 127.0.0.1 {rtcp} typ host\r\n\
a=candidate:2 1 TCP-ACT 1684797439 127.0.0.1 9 typ host\r\n\
a=candidate:2 2 TCP-ACT 1684796926 127.0.0.1 9 typ host\r\n\
a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:{KEY_SCALE}|2^31|1:1\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY_MKI}|2^31|1:1\r\n\
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY_PLAIN}|2^31\r\n\
a=maxptime:200\r\na=rtcp:{rtcp}\r\na=rtcp-fb:* x-message app send:dsh recv:dsh\r\na=rtcp-rsize\r\n\
a=label:main-audio\r\na=x-source:main-audio\r\n\
a=rtpmap:117 G722/8000/2\r\na=rtpmap:114 x-msrta/16000\r\na=fmtp:114 bitrate=29000\r\n\
a=rtpmap:104 SILK/16000\r\na=fmtp:104 useinbandfec=1; usedtx=0\r\na=rtpmap:9 G722/8000\r\n\
a=rtpmap:112 G7221/16000\r\na=fmtp:112 bitrate=24000\r\na=rtpmap:111 SIREN/16000\r\na=fmtp:111 bitrate=16000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:116 AAL2-G726-32/8000\r\n\
a=rtpmap:115 x-msrta/8000\r\na=fmtp:115 bitrate=11800\r\na=rtpmap:103 SILK/8000\r\n\
a=fmtp:103 useinbandfec=1; usedtx=0\r\na=rtpmap:97 RED/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:118 CN/16000\r\n\
a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n\
a=x-ssrc-range:{LYNC_SSRC}-{LYNC_SSRC}\r\na=ptime:20\r\n{tail}"
    )
}

/// The draft-6 fallback part: PCMA only, so taking it by mistake shows in the consumer offer.
fn lync_draft6(rtp: u16, rtcp: u16) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nb=CT:99980\r\nt=0 0\r\n\
m=audio {rtp} RTP/SAVP 8\r\n\
a=candidate:dXNlcm5hbWVmb3JkcmFmdDY 1 cGFzc3dvcmRmb3JkcmFmdDY UDP 0.830 127.0.0.1 {rtp}\r\n\
a=candidate:dXNlcm5hbWVmb3JkcmFmdDY 2 cGFzc3dvcmRmb3JkcmFmdDY UDP 0.830 127.0.0.1 {rtcp}\r\n\
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY_PLAIN}|2^31\r\na=rtcp:{rtcp}\r\na=rtpmap:8 PCMA/8000\r\n"
    )
}

/// Lync's two-part offer (fallback first).
pub(super) fn lync_multipart(v19: &str, draft6: &str) -> (String, String) {
    let part = |sdp: &str, id: &str, disposition: &str| {
        format!(
            "--b1\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: 7bit\r\nContent-ID: <{id}@contoso.com>\r\nContent-Disposition: {disposition}\r\n\r\n{sdp}\r\n"
        )
    };
    let body = format!(
        "{}{}--b1--\r\n",
        part(draft6, "f", "session; handling=optional; ms-proxy-2007fallback"),
        part(v19, "v", "session; handling=optional")
    );
    ("multipart/alternative;boundary=\"b1\"".to_owned(), body)
}

/// The consumer side's SDP: `pts` listed, each mapped as the skype-consumer profile maps it.
pub(super) fn consumer_sdp(rtp: u16, version: u64, pts: &[u8], direction: &str) -> String {
    let mut s = format!(
        "v=0\r\no=- 7 {version} IN IP4 127.0.0.1\r\ns=Skype call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp} RTP/AVP"
    );
    for pt in pts {
        s.push_str(&format!(" {pt}"));
    }
    s.push_str("\r\n");
    for pt in pts {
        let map = match pt {
            100 => "SILK_V3/24000",
            104 => "SILK_WB_V3/16000",
            102 => "SILK_MB_V3/12000",
            103 => "SILK_NB_V3/8000",
            117 => "NWC/16000",
            116 => "UNCODEDWB/16000",
            124 => "UNCODEDSWB/24000",
            9 => "G722/8000",
            0 => "PCMU/8000",
            8 => "PCMA/8000",
            18 => "G729/8000",
            _ => "telephone-event/8000",
        };
        s.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
        if map.starts_with("telephone-event") {
            s.push_str(&format!("a=fmtp:{pt} 0-16\r\n"));
        }
    }
    s.push_str(&format!("a=ptime:20\r\na={direction}\r\n"));
    s
}

pub(super) fn body(msg: &Message) -> String {
    String::from_utf8_lossy(msg.body()).into_owned()
}

pub(super) fn sdp_of(msg: &Message) -> Sdp {
    Sdp::parse(msg.body()).unwrap_or_else(|e| panic!("bad SDP ({e}):\n{}", body(msg)))
}

pub(super) async fn answered(h: JoinHandle<Result<Message, NetError>>) -> Message {
    timeout(WAIT, h).await.expect("no answer in time").unwrap().expect("request failed")
}

/// The far media peers of one call: a socket pair per leg as the tests' Lync client and Skype
/// client.
pub(super) struct Peers {
    pub lync_rtp: UdpSocket,
    pub lync_rtcp: UdpSocket,
    pub skype_rtp: UdpSocket,
    pub skype_rtcp: UdpSocket,
}

impl Peers {
    pub async fn bind() -> Self {
        let b = || UdpSocket::bind("127.0.0.1:0");
        let (skype_rtp, skype_rtcp) = Self::adjacent().await;
        Self { lync_rtp: b().await.unwrap(), lync_rtcp: b().await.unwrap(), skype_rtp, skype_rtcp }
    }

    /// An even port and the odd one above it: the consumer side's RTCP is on RTP + 1.
    async fn adjacent() -> (UdpSocket, UdpSocket) {
        for _ in 0..64 {
            let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let even = probe.local_addr().unwrap().port() & !1;
            drop(probe);
            if let (Ok(a), Ok(b)) =
                (UdpSocket::bind(("127.0.0.1", even)).await, UdpSocket::bind(("127.0.0.1", even + 1)).await)
            {
                return (a, b);
            }
        }
        panic!("no adjacent UDP port pair free");
    }

    pub fn port(s: &UdpSocket) -> u16 {
        s.local_addr().unwrap().port()
    }
}

/// A call that is up, as both far sides see it.
pub(super) struct Up {
    /// The pool's dialog (UAC for a Lync call, UAS for a Skype call).
    pub pool: Dialog,
    /// The cloud's dialog.
    pub cloud: Dialog,
    /// The gateway's SDP on each leg.
    pub lync_sdp: Sdp,
    pub consumer_sdp: Sdp,
    pub peers: Peers,
}

impl Up {
    /// The gateway's address for `component` (1 RTP, 2 RTCP) on the Lync leg.
    pub fn gw_lync(&self, component: u16) -> SocketAddr {
        let m = self.lync_sdp.first_media(&MediaKind::Audio).unwrap();
        let c = m.candidates().into_iter().find(|c| c.component() == component).unwrap();
        let (ip, port) = c.addr();
        SocketAddr::new(ip, port)
    }

    /// The gateway's RTP address on the consumer leg (RTCP is the next port).
    pub fn gw_consumer(&self) -> SocketAddr {
        let m = self.consumer_sdp.first_media(&MediaKind::Audio).unwrap();
        SocketAddr::new("127.0.0.1".parse().unwrap(), m.port)
    }
}

/// alice calls carol with `te` as Lync's telephone-event number; the cloud rings and answers
/// with `answer_pts`. Returns the call once the pool has ACKed.
pub(super) async fn lync_calls(rig: &mut Rig, call_id: &str, te: u8, answer_pts: &[u8]) -> Up {
    let peers = Peers::bind().await;
    let (rtp, rtcp) = (Peers::port(&peers.lync_rtp), Peers::port(&peers.lync_rtcp));
    let (ct, b) = lync_multipart(&lync_v19(rtp, rtcp, 0, te, ""), &lync_draft6(rtp, rtcp));
    let via = rig.pool_via();
    let invite = request(Method::INVITE, CAROL, ALICE, call_id, via, &rig.pool_contact()).body(&ct, b).build();
    let mut progress = rig.pool.request_with_progress(invite.clone(), rig.gw_enterprise());
    let (id, offer) = next_request(&mut rig.cloud_in).await;
    assert_eq!((offer.method(), offer.request_uri()), (Some(&Method::INVITE), Some(CAROL)));
    let offered = sdp_of(&offer);
    rig.cloud.respond(id, MessageBuilder::response_to(&offer, 180, "Ringing", Some("c")).build());
    match timeout(WAIT, progress.next()).await.expect("no 180 in time") {
        crate::net::Heard::Provisional(p) => assert_eq!(p.status(), Some(180)),
        other => panic!("expected 180, got {other:?}"),
    }
    let answer = consumer_sdp(Peers::port(&peers.skype_rtp), 0, answer_pts, "sendrecv");
    let resp = MessageBuilder::response_to(&offer, 200, "OK", Some("c"))
        .header("Contact", rig.cloud_contact())
        .body("application/sdp", answer)
        .build();
    let mut cloud = Dialog::uas(&offer, "c").unwrap();
    cloud.confirm(&resp).unwrap();
    rig.cloud.respond(id, resp);
    assert_eq!(next_ack(&mut rig.cloud_in).await.method(), Some(&Method::ACK));
    let resp = match timeout(WAIT, progress.next()).await.expect("no 200 in time") {
        crate::net::Heard::Final(Ok(r)) => r,
        other => panic!("expected the final response, got {other:?}"),
    };
    assert_eq!(resp.status(), Some(200), "{}", resp.summary());
    let pool = Dialog::uac(&invite, &resp).unwrap();
    let via = rig.pool_via();
    rig.pool.send_stateless(pool.ack(1, &via).build(), rig.gw_enterprise());
    Up { pool, cloud, lync_sdp: sdp_of(&resp), consumer_sdp: offered, peers }
}

fn attr_lines(sdp: &Sdp, prefix: &str) -> Vec<String> {
    sdp.to_string().lines().filter(|l| l.starts_with(prefix)).map(str::to_owned).collect()
}

#[tokio::test]
async fn a_lync_call_takes_the_v19_part_offers_translated_codecs_and_gets_an_ice_lite_answer() {
    let mut rig = Rig::new().await;
    let up = lync_calls(&mut rig, "call-1", 101, &[0, 101]).await;
    // Consumer offer: the translatable codecs in Lync's order, consumer names and numbers.
    let offer = up.consumer_sdp.to_string();
    assert!(offer.contains("m=audio ") && offer.contains(" RTP/AVP 104 9 0 8 103 101\r\n"), "{offer}");
    for l in ["a=rtpmap:104 SILK_WB_V3/16000", "a=rtpmap:103 SILK_NB_V3/8000", "a=rtpmap:101 telephone-event/8000"] {
        assert!(offer.contains(l), "{l} missing:\n{offer}");
    }
    assert!(!offer.contains("crypto") && !offer.contains("candidate") && !offer.contains("ice"), "{offer}");
    assert_eq!(up.consumer_sdp.first_media(&MediaKind::Audio).unwrap().port % 2, 0, "RTP on an even port");
    // Lync answer: ICE-lite, the chosen codec and telephone-event in the offer's numbers.
    let a = &up.lync_sdp;
    assert!(a.attributes.contains(&Attribute::Other { name: "ice-lite".into(), value: None }), "{a}");
    let m = a.first_media(&MediaKind::Audio).unwrap();
    assert_eq!(m.formats, ["0", "101"]);
    assert_eq!(m.proto.to_string(), "RTP/SAVP");
    let ice = m.ice().expect("ufrag and pwd");
    assert_eq!((ice.ufrag.len(), ice.pwd.len()), (4, 24));
    let comps: Vec<_> = m.candidates().iter().map(|c| (c.component(), c.transport())).collect();
    assert_eq!(comps, [(1, crate::sdp::Transport::Udp), (2, crate::sdp::Transport::Udp)]);
    assert_eq!(m.rtcp_port(), Some(up.gw_lync(2).port()));
    let cryptos = m.cryptos();
    assert_eq!(cryptos.len(), 1);
    assert_eq!(cryptos[0].tag, 3, "the tag of the offer's first crypto line without MKI");
    assert_eq!((cryptos[0].key.mki.as_ref(), cryptos[0].key.lifetime.as_deref()), (None, Some("2^31")));
    assert!(![KEY_SCALE, KEY_MKI, KEY_PLAIN].contains(&cryptos[0].key.key_salt.as_str()), "a fresh key");
    let range = m.ssrc_range().expect("x-ssrc-range");
    assert_eq!(range.len(), 1);
    assert_eq!(attr_lines(a, "a=ptime"), ["a=ptime:20"]);
    assert_eq!(rig.gw.inner.lock().calls.len(), 1);
}

#[tokio::test]
async fn telephone_event_keeps_each_legs_own_number() {
    let mut rig = Rig::new().await;
    let up = lync_calls(&mut rig, "call-te", 121, &[104, 101]).await;
    assert!(up.consumer_sdp.to_string().contains(" RTP/AVP 104 9 0 8 103 101\r\n"));
    let m = up.lync_sdp.first_media(&MediaKind::Audio).unwrap();
    assert_eq!(m.formats, ["104", "121"], "SILK/16000 and telephone-event in Lync's numbers");
    assert!(up.lync_sdp.to_string().contains("a=rtpmap:104 SILK/16000\r\n"));
}

/// The pool opens an IM session with `text`; the cloud's next request must be that MESSAGE.
/// Proves nothing else crossed before it.
async fn probe(rig: &mut Rig, text: &str) {
    let via = rig.pool_via();
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\na=accept-types:text/plain\r\n";
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let invite = request(Method::INVITE, CAROL, ALICE, &format!("probe-{text}"), via, &rig.pool_contact())
        .header("ms-text-format", format!("text/plain; charset=UTF-8; ms-body={b64}"))
        .body("application/sdp", sdp)
        .build();
    let h = rig.pool_sends(invite);
    let (id, m) = next_request(&mut rig.cloud_in).await;
    assert_eq!((m.method(), body(&m).as_str()), (Some(&Method::MESSAGE), text), "something else crossed first");
    rig.cloud.respond(id, ok(&m, Some("p")));
    answered(h).await;
}

#[tokio::test]
async fn an_unencrypted_lync_offer_gets_488_52017_and_nothing_crosses() {
    let mut rig = Rig::new().await;
    let sdp = lync_v19(4000, 4001, 0, 101, "a=encryption:rejected\r\n")
        .replace("RTP/SAVP", "RTP/AVP")
        .lines()
        .filter(|l| !l.starts_with("a=crypto"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>();
    let via = rig.pool_via();
    let invite =
        request(Method::INVITE, CAROL, ALICE, "plain", via, &rig.pool_contact()).body("application/sdp", sdp).build();
    let resp = answered(rig.pool_sends(invite)).await;
    assert_eq!((resp.status(), resp.reason()), (Some(488), Some("Encryption Levels not compatible")));
    let diag = resp.value("ms-client-diagnostics").expect("ms-client-diagnostics").into_owned();
    assert_eq!(diag, "52017;reason=\"Encryption levels dont match\"");
    probe(&mut rig, "after-488").await;
    assert_eq!(rig.gw.inner.lock().calls.len(), 0);
}

#[tokio::test]
async fn malformed_lync_sdp_gets_488_naming_the_line() {
    let mut rig = Rig::new().await;
    let via = rig.pool_via();
    let invite = request(Method::INVITE, CAROL, ALICE, "garbage", via, &rig.pool_contact())
        .body("application/sdp", "v=0\r\no=broken\r\n")
        .build();
    let resp = answered(rig.pool_sends(invite)).await;
    assert_eq!(resp.status(), Some(488));
    let warning = resp.value("Warning").expect("a Warning naming the problem").into_owned();
    assert!(warning.contains("line 2"), "{warning}");
    assert!(resp.value("ms-client-diagnostics").is_some_and(|d| d.starts_with("52063;")));
}

/// What the pool gets for a Skype call: the INVITE's id and message.
async fn skype_calls(rig: &mut Rig, call_id: &str, rtp: u16) -> (JoinHandle<Result<Message, NetError>>, Message) {
    let via = rig.cloud_via();
    let invite = request(Method::INVITE, ALICE, CAROL, call_id, via, &rig.cloud_contact())
        .body(
            "application/sdp",
            consumer_sdp(rtp, 0, &[9, 0, 8, 100, 104, 102, 103, 117, 116, 124, 18, 101], "sendrecv"),
        )
        .build();
    let h = rig.cloud_sends(invite.clone());
    (h, invite)
}

/// The pool's side of a Skype call: answers 180 and 200 with `answer`, returns its dialog.
async fn pool_answers(rig: &mut Rig, id: TxnId, invite: &Message, answer: String) -> Dialog {
    rig.pool.respond(id, MessageBuilder::response_to(invite, 180, "Ringing", Some("l")).build());
    let resp = MessageBuilder::response_to(invite, 200, "OK", Some("l"))
        .header("Contact", rig.pool_contact())
        .body("application/sdp", answer)
        .build();
    let mut d = Dialog::uas(invite, "l").unwrap();
    d.confirm(&resp).unwrap();
    rig.pool.respond(id, resp);
    d
}

#[tokio::test]
async fn a_skype_call_is_offered_multipart_and_once_more_with_v19_alone_after_415() {
    let mut rig = Rig::new().await;
    let peers = Peers::bind().await;
    let (h, _) = skype_calls(&mut rig, "sky-1", Peers::port(&peers.skype_rtp)).await;
    let (id, first) = next_request(&mut rig.pool_in).await;
    assert_eq!((first.method(), first.request_uri()), (Some(&Method::INVITE), Some(ALICE)));
    assert!(first.value("From").unwrap().contains(CAROL));
    let ct = first.value("Content-Type").unwrap().into_owned();
    let parts = crate::sdp::alternative::read(&ct, first.body()).expect("a multipart offer");
    assert_eq!(parts.iter().map(|p| p.fallback).collect::<Vec<_>>(), [true, false]);
    let v19 = &parts[1].sdp;
    let m = v19.first_media(&MediaKind::Audio).unwrap();
    // The consumer's order (9 0 8 … 104 … 103 … 101), Lync's names and numbers.
    assert_eq!(m.formats, ["9", "0", "8", "104", "103", "101"]);
    assert!(v19.to_string().contains("a=rtpmap:104 SILK/16000\r\n"), "{v19}");
    assert_eq!(m.cryptos().iter().map(|c| c.tag).collect::<Vec<_>>(), [1]);
    assert!(v19.attributes.contains(&Attribute::Other { name: "ice-lite".into(), value: None }));
    let d6 = parts[0].sdp.first_media(&MediaKind::Audio).unwrap();
    assert!(d6.candidates().iter().all(|c| matches!(c, Candidate::Draft6(_))) && d6.ice().is_none());
    rig.pool.respond(
        id,
        MessageBuilder::response_to(
            &first,
            415,
            "Mutipart mime in content type not supported by Archiving CDR service",
            Some("x"),
        )
        .build(),
    );
    let (id, second) = next_request(&mut rig.pool_in).await;
    assert_eq!(second.value("Content-Type").as_deref(), Some("application/sdp"));
    assert_eq!(second.cseq().unwrap().seq, 2);
    assert_eq!(second.call_id().unwrap(), first.call_id().unwrap());
    assert_eq!(sdp_of(&second).first_media(&MediaKind::Audio).unwrap().formats, m.formats);
    let answer = lync_v19(Peers::port(&peers.lync_rtp), Peers::port(&peers.lync_rtcp), 0, 101, "")
        .replace(" 117 114 104 9 112 111 0 8 116 115 103 97 13 118 101", " 104 101")
        .replace("a=crypto:3", "a=crypto:1");
    let _pool = pool_answers(&mut rig, id, &second, answer).await;
    assert_eq!(next_ack(&mut rig.pool_in).await.cseq().unwrap().seq, 2);
    let resp = answered(h).await;
    assert_eq!(resp.status(), Some(200));
    let a = sdp_of(&resp);
    let am = a.first_media(&MediaKind::Audio).unwrap();
    assert_eq!(
        (am.proto.to_string(), am.formats.clone()),
        ("RTP/AVP".to_owned(), vec!["104".to_owned(), "101".to_owned()])
    );
    assert!(a.to_string().contains("a=rtpmap:104 SILK_WB_V3/16000\r\n"), "{a}");
}

#[tokio::test]
async fn a_cancelled_lync_call_ends_in_487_on_both_legs() {
    let mut rig = Rig::new().await;
    let (ct, b) = lync_multipart(&lync_v19(4000, 4001, 0, 101, ""), &lync_draft6(4000, 4001));
    let via = rig.pool_via();
    let invite = request(Method::INVITE, CAROL, ALICE, "cancel-1", via, &rig.pool_contact()).body(&ct, b).build();
    let mut progress = rig.pool.request_with_progress(invite.clone(), rig.gw_enterprise());
    let (id, offer) = next_request(&mut rig.cloud_in).await;
    rig.cloud.respond(id, MessageBuilder::response_to(&offer, 180, "Ringing", Some("c")).build());
    assert!(matches!(timeout(WAIT, progress.next()).await.unwrap(), crate::net::Heard::Provisional(_)));
    let cancel = rig.pool_sends(MessageBuilder::cancel_for(&invite).build());
    let (cid, c) = next_request(&mut rig.cloud_in).await;
    assert_eq!((c.method(), c.call_id().unwrap()), (Some(&Method::CANCEL), offer.call_id().unwrap()));
    assert_eq!(answered(cancel).await.status(), Some(200), "the CANCEL is answered at once");
    rig.cloud.respond(cid, ok(&c, Some("c")));
    rig.cloud.respond(id, MessageBuilder::response_to(&offer, 487, "Request Terminated", Some("c")).build());
    match timeout(WAIT, progress.next()).await.unwrap() {
        crate::net::Heard::Final(Ok(r)) => assert_eq!(r.status(), Some(487)),
        other => panic!("expected 487, got {other:?}"),
    }
    probe(&mut rig, "after-cancel").await;
    assert_eq!(rig.gw.inner.lock().calls.len(), 0);
}

#[tokio::test]
async fn busy_is_relayed_with_its_reason_phrase_and_warning() {
    let mut rig = Rig::new().await;
    let (h, _) = skype_calls(&mut rig, "busy-1", 5000).await;
    let (id, invite) = next_request(&mut rig.pool_in).await;
    let busy = MessageBuilder::response_to(&invite, 486, "Busy Here", Some("l"))
        .header("Warning", "399 pool.contoso.com \"In a call\"")
        .build();
    rig.pool.respond(id, busy);
    let resp = answered(h).await;
    assert_eq!((resp.status(), resp.reason()), (Some(486), Some("Busy Here")));
    assert_eq!(resp.value("Warning").as_deref(), Some("399 pool.contoso.com \"In a call\""));
    assert_eq!(rig.gw.inner.lock().calls.len(), 0);
}

#[tokio::test]
async fn a_bye_from_either_side_is_answered_and_sent_on_the_other_leg() {
    let mut rig = Rig::new().await;
    let mut up = lync_calls(&mut rig, "bye-1", 101, &[0, 101]).await;
    let via = rig.cloud_via();
    let bye = up.cloud.request(Method::BYE, &via).build();
    let h = rig.cloud_sends(bye);
    let (id, b) = next_request(&mut rig.pool_in).await;
    assert_eq!((b.method(), b.call_id().unwrap()), (Some(&Method::BYE), up.pool.key().call_id.clone()));
    up.pool.accepts(&b).expect("the BYE is in the pool's dialog");
    rig.pool.respond(id, ok(&b, None));
    assert_eq!(answered(h).await.status(), Some(200));
    assert_eq!(rig.gw.inner.lock().calls.len(), 0);
    // The dialog is gone: a second BYE gets 481.
    let via = rig.pool_via();
    let again = up.pool.request(Method::BYE, &via).build();
    assert_eq!(answered(rig.pool_sends(again)).await.status(), Some(481));
}

#[tokio::test]
async fn lync_post_check_reinvite_is_answered_locally_and_hold_is_carried() {
    let mut rig = Rig::new().await;
    let mut up = lync_calls(&mut rig, "hold-1", 101, &[0, 101]).await;
    let (rtp, rtcp) = (Peers::port(&up.peers.lync_rtp), Peers::port(&up.peers.lync_rtcp));
    let (gw_rtp, gw_rtcp) = (up.gw_lync(1).port(), up.gw_lync(2).port());
    let reoffer = |version: u64, tail: &str| {
        let remote = format!("a=remote-candidates:1 127.0.0.1 {gw_rtp} 2 127.0.0.1 {gw_rtcp}\r\n");
        lync_v19(rtp, rtcp, version, 101, &format!("{remote}{tail}"))
    };
    // Post-check re-INVITE: answered with the previous answer, version + 1, nothing crosses.
    let via = rig.pool_via();
    let re = up
        .pool
        .request(Method::INVITE, &via)
        .header("Contact", rig.pool_contact())
        .body("application/sdp", reoffer(1, ""))
        .build();
    let resp = answered(rig.pool_sends(re)).await;
    assert_eq!(resp.status(), Some(200));
    let again = sdp_of(&resp);
    assert_eq!(again.origin.session_version, up.lync_sdp.origin.session_version + 1);
    let strip = |s: &Sdp| s.to_string().lines().filter(|l| !l.starts_with("o=")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&again), strip(&up.lync_sdp), "the same answer, keys unchanged");
    let via = rig.pool_via();
    rig.pool.send_stateless(up.pool.ack(up.pool.local_seq().unwrap(), &via).build(), rig.gw_enterprise());
    // Hold: carried to the consumer leg, answered with the consumer side's direction.
    let via = rig.pool_via();
    let hold = up
        .pool
        .request(Method::INVITE, &via)
        .header("Contact", rig.pool_contact())
        .body("application/sdp", reoffer(2, "a=inactive\r\n"))
        .build();
    let h = rig.pool_sends(hold);
    let (id, carried) = next_request(&mut rig.cloud_in).await;
    assert_eq!(carried.method(), Some(&Method::INVITE));
    up.cloud.accepts(&carried).expect("in the consumer dialog");
    let c = sdp_of(&carried);
    assert_eq!(c.first_media(&MediaKind::Audio).unwrap().direction(), Direction::Inactive);
    assert_eq!(c.origin.session_version, up.consumer_sdp.origin.session_version + 1);
    let answer = consumer_sdp(Peers::port(&up.peers.skype_rtp), 1, &[0, 101], "inactive");
    rig.cloud.respond(
        id,
        MessageBuilder::response_to(&carried, 200, "OK", None)
            .header("Contact", rig.cloud_contact())
            .body("application/sdp", answer)
            .build(),
    );
    assert_eq!(next_ack(&mut rig.cloud_in).await.cseq().unwrap().seq, carried.cseq().unwrap().seq);
    let resp = answered(h).await;
    assert_eq!(resp.status(), Some(200));
    let held = sdp_of(&resp);
    let m = held.first_media(&MediaKind::Audio).unwrap();
    assert_eq!(m.direction(), Direction::Inactive);
    assert_eq!(
        m.cryptos()[0].key,
        up.lync_sdp.first_media(&MediaKind::Audio).unwrap().cryptos()[0].key,
        "keys unchanged"
    );
}

#[tokio::test]
async fn requests_in_unknown_call_dialogs_get_481() {
    let rig = Rig::new().await;
    let mut rig = rig;
    let via = rig.cloud_via();
    let bye = request(Method::BYE, ALICE, CAROL, "nope", via, &rig.cloud_contact()).build();
    let bye = bye.with_first_value("To", &format!("<{ALICE}>;tag=zz")).unwrap();
    assert_eq!(answered(rig.cloud_sends(bye)).await.status(), Some(481));
    let via = rig.cloud_via();
    let cancel = request(Method::CANCEL, ALICE, CAROL, "nope2", via, &rig.cloud_contact()).build();
    assert_eq!(answered(rig.cloud_sends(cancel)).await.status(), Some(481));
}

mod media {
    //! The relay on real loopback sockets: the tests' sockets play Lync's and Skype's media.

    use std::net::SocketAddr;

    use tokio::net::UdpSocket;
    use tokio::time::timeout;

    use super::*;
    use crate::media::rtcp::{self, Rtcp, SdesCname, SenderInfo, SenderReport};
    use crate::media::rtp::{self, RtpHeader, Ssrc};
    use crate::media::srtp::{MasterKey, SrtpSession};
    use crate::media::stun::{BindingRequest, IcePassword, IceRole, IceUfrag, StunClass, StunMessage, TransactionId};

    const SKYPE_SSRC: u32 = 0xabcd_0001;

    async fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0u8; 2048];
        let (n, from) = timeout(WAIT, sock.recv_from(&mut buf)).await.expect("nothing arrived in time").unwrap();
        buf.truncate(n);
        (buf, from)
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool) -> Vec<u8> {
        let h = RtpHeader { pt, marker, seq, timestamp: ts, ssrc: Ssrc(ssrc), ..RtpHeader::default() };
        rtp::build(&h, &[0x55; 40]).unwrap()
    }

    /// Lync's SRTP session: it sends with its offer's key without MKI, receives with the
    /// gateway's answer key.
    fn lync_srtp(up: &Up) -> SrtpSession {
        let m = up.lync_sdp.first_media(&MediaKind::Audio).unwrap();
        let gw = MasterKey::from_inline(&format!("inline:{}", m.cryptos()[0].key.key_salt)).unwrap();
        SrtpSession::new(&MasterKey::from_inline(&format!("inline:{KEY_PLAIN}")).unwrap(), &gw).unwrap()
    }

    fn gw_ice(up: &Up) -> (String, IcePassword) {
        let ice = up.lync_sdp.first_media(&MediaKind::Audio).unwrap().ice().unwrap();
        (ice.ufrag, IcePassword::new(&ice.pwd).unwrap())
    }

    fn check(up: &Up, pwd: &IcePassword, seed: u8) -> Vec<u8> {
        let (ufrag, _) = gw_ice(up);
        BindingRequest {
            transaction_id: TransactionId::new([seed; 12]),
            remote_ufrag: IceUfrag::new(&ufrag).unwrap(),
            local_ufrag: IceUfrag::new(LYNC_UFRAG).unwrap(),
            priority: 2_130_706_431,
            role: IceRole::Controlling { tie_breaker: 7 },
            use_candidate: true,
        }
        .encode(pwd)
        .unwrap()
    }

    #[tokio::test]
    async fn stun_checks_are_answered_with_integrity_fingerprint_and_the_mapped_address() {
        let mut rig = Rig::new().await;
        let up = lync_calls(&mut rig, "stun-1", 101, &[0, 101]).await;
        let (_, pwd) = gw_ice(&up);
        for (component, sock) in [(1, &up.peers.lync_rtp), (2, &up.peers.lync_rtcp)] {
            sock.send_to(&check(&up, &pwd, component as u8), up.gw_lync(component)).await.unwrap();
            let (bytes, from) = recv(sock).await;
            assert_eq!(from, up.gw_lync(component), "answered from the checked candidate");
            let resp = StunMessage::parse(&bytes).unwrap();
            assert_eq!(resp.class, StunClass::Success);
            assert_eq!(resp.transaction_id, TransactionId::new([component as u8; 12]));
            assert_eq!(resp.xor_mapped_address, Some(sock.local_addr().unwrap()));
            assert!(resp.has_fingerprint);
            resp.verify(&pwd).expect("MESSAGE-INTEGRITY with the gateway's password");
        }
        // Signed with another password: 401.
        let wrong = IcePassword::new("notthegatewayspassword00").unwrap();
        up.peers.lync_rtp.send_to(&check(&up, &wrong, 9), up.gw_lync(1)).await.unwrap();
        let (bytes, _) = recv(&up.peers.lync_rtp).await;
        let resp = StunMessage::parse(&bytes).unwrap();
        assert_eq!((resp.class, resp.error_code.map(|e| e.code)), (StunClass::Error, Some(401)));
    }

    #[tokio::test]
    async fn srtp_from_lync_arrives_as_plain_rtp_and_comes_back_encrypted_in_the_gateways_range() {
        let mut rig = Rig::new().await;
        let up = lync_calls(&mut rig, "rtp-1", 101, &[0, 101]).await;
        let mut srtp = lync_srtp(&up);
        let mut ssrcs = Vec::new();
        for (i, marker) in [(0u16, true), (1, false)] {
            let sent = srtp.protect_rtp(&packet(0, 1000 + i, 160 * u32::from(i), LYNC_SSRC, marker)).unwrap();
            up.peers.lync_rtp.send_to(&sent, up.gw_lync(1)).await.unwrap();
            let (bytes, from) = recv(&up.peers.skype_rtp).await;
            assert_eq!(from, up.gw_consumer());
            let (h, payload) = rtp::parse(&bytes).expect("plain RTP on the consumer leg");
            assert_eq!((h.pt, h.seq, h.timestamp, h.marker), (0, 1000 + i, 160 * u32::from(i), marker));
            assert_eq!(&bytes[payload], &[0x55; 40]);
            ssrcs.push(h.ssrc);
        }
        assert_ne!(ssrcs[0], Ssrc(LYNC_SSRC), "the gateway's own SSRC");
        assert_eq!(ssrcs[0], ssrcs[1], "fixed for the call");
        // And back: encrypted with the gateway's key, its SSRC inside its declared range.
        up.peers.skype_rtp.send_to(&packet(0, 7, 320, SKYPE_SSRC, true), up.gw_consumer()).await.unwrap();
        let (bytes, from) = recv(&up.peers.lync_rtp).await;
        assert_eq!(from, up.gw_lync(1));
        let plain = srtp.unprotect_rtp(&bytes).expect("SRTP under the gateway's key");
        let (h, _) = rtp::parse(&plain).unwrap();
        let range = up.lync_sdp.first_media(&MediaKind::Audio).unwrap().ssrc_range().unwrap();
        assert!(range.contains(h.ssrc.0), "{:x} outside {range:?}", h.ssrc.0);
        assert_eq!((h.pt, h.seq, h.timestamp, h.marker), (0, 7, 320, true));
    }

    #[tokio::test]
    async fn telephone_event_is_renumbered_per_leg_and_unknown_payload_types_are_dropped() {
        let mut rig = Rig::new().await;
        let up = lync_calls(&mut rig, "te-1", 121, &[0, 101]).await;
        let mut srtp = lync_srtp(&up);
        // PCMA was not chosen: dropped. The next packet is the first to arrive.
        for pt in [8, 121] {
            let sent = srtp.protect_rtp(&packet(pt, 10 + u16::from(pt), 0, LYNC_SSRC, true)).unwrap();
            up.peers.lync_rtp.send_to(&sent, up.gw_lync(1)).await.unwrap();
        }
        let (bytes, _) = recv(&up.peers.skype_rtp).await;
        let (h, _) = rtp::parse(&bytes).unwrap();
        assert_eq!((h.pt, h.seq), (101, 10 + 121), "Lync's 121 is the consumer's 101");
        up.peers.skype_rtp.send_to(&packet(101, 5, 0, SKYPE_SSRC, true), up.gw_consumer()).await.unwrap();
        let (bytes, _) = recv(&up.peers.lync_rtp).await;
        let (h, _) = rtp::parse(&srtp.unprotect_rtp(&bytes).unwrap()).unwrap();
        assert_eq!(h.pt, 121, "and back to Lync's number");
    }

    #[tokio::test]
    async fn an_sr_is_answered_with_rr_on_its_leg_and_the_gateways_sr_on_the_other() {
        let mut rig = Rig::new().await;
        let up = lync_calls(&mut rig, "rtcp-1", 101, &[0, 101]).await;
        let mut srtp = lync_srtp(&up);
        let sr = SenderReport {
            ssrc: Ssrc(SKYPE_SSRC),
            info: SenderInfo { ntp: 0x1234_5678_9abc_def0, rtp_timestamp: 1, packets: 1, octets: 40 },
            ..SenderReport::default()
        };
        let sdes = Rtcp::Sdes(vec![SdesCname { ssrc: Ssrc(SKYPE_SSRC), cname: Some("bob".into()) }]);
        let report = rtcp::build(&[Rtcp::Sr(sr), sdes]).unwrap();
        let gw_rtcp = SocketAddr::new(up.gw_consumer().ip(), up.gw_consumer().port() + 1);
        up.peers.skype_rtcp.send_to(&report, gw_rtcp).await.unwrap();
        let (bytes, from) = recv(&up.peers.skype_rtcp).await;
        assert_eq!(from, gw_rtcp);
        let answer = rtcp::parse(&bytes).unwrap();
        assert_eq!(answer.to_string(), "[RR(1 block), SDES]");
        let Rtcp::Rr(rr) = &answer.packets[0] else { unreachable!() };
        assert_eq!(
            (rr.blocks[0].ssrc, rr.blocks[0].lsr),
            (Ssrc(SKYPE_SSRC), rtcp::ntp_middle32(0x1234_5678_9abc_def0))
        );
        let (bytes, from) = recv(&up.peers.lync_rtcp).await;
        assert_eq!(from, up.gw_lync(2));
        let own = rtcp::parse(&srtp.unprotect_rtcp(&bytes).expect("SRTCP under the gateway's key")).unwrap();
        assert_eq!(own.to_string(), "[SR(0 blocks), SDES]");
        let Rtcp::Sr(sr) = &own.packets[0] else { unreachable!() };
        let range = up.lync_sdp.first_media(&MediaKind::Audio).unwrap().ssrc_range().unwrap();
        assert!(range.contains(sr.ssrc.0));
    }
}
