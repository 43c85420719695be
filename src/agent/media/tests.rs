//! Loopback tests of the media shell: real sockets on 127.0.0.1, real 20 ms pacing, every
//! wait on a report change or an answer, with a deadline.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::*;
use crate::media::stun::{BindingErrorCode, StunClass, StunMessage, StunMethod};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WITHIN: Duration = Duration::from_secs(5);
const A_SSRC: u32 = 0x0a0a_0001;
const B_SSRC: u32 = 0x0b0b_0002;
const LYNC_PWD: &str = "lyncpasswordlyncpassword";
const GW_PWD: &str = "gatewaypasswordgateway00";

fn config(ssrc: u32, remote_rtp: SocketAddr, remote_rtcp: SocketAddr) -> MediaConfig {
    MediaConfig {
        codec: SendCodec { pt: 104, name: "SILK".into(), clock: 16000 },
        te_pt: Some(101),
        ssrc,
        cname: format!("{ssrc:08x}@loopback"),
        seed: u64::from(ssrc),
        remote_rtp,
        remote_rtcp,
        srtp: None,
        ice: None,
        expect_ssrc_range: None,
    }
}

fn key(fill: u8) -> MasterKey {
    MasterKey::new([fill; 16], [fill.wrapping_mul(3); 14])
}

/// Two started endpoints sending to each other, with swapped keys when `srtp`.
async fn pair(srtp: bool, tap: Option<(Tap, String)>) -> (MediaHandle, MediaHandle) {
    let a = MediaEndpoint::bind(LO, tap).await.unwrap();
    let b = MediaEndpoint::bind(LO, None).await.unwrap();
    let mut cfg_a = config(A_SSRC, b.rtp_addr(), b.rtcp_addr());
    let mut cfg_b = config(B_SSRC, a.rtp_addr(), a.rtcp_addr());
    cfg_a.expect_ssrc_range = Some((B_SSRC, B_SSRC));
    cfg_b.expect_ssrc_range = Some((A_SSRC, A_SSRC));
    if srtp {
        cfg_a.srtp = Some(SrtpKeys { local: key(1), remote: key(2) });
        cfg_b.srtp = Some(SrtpKeys { local: key(2), remote: key(1) });
    }
    (a.start(cfg_a).unwrap(), b.start(cfg_b).unwrap())
}

async fn ten_packets_each_way(srtp: bool) {
    let tap = Tap::new();
    let (a, b) = pair(srtp, Some((tap.clone(), "lync".into()))).await;
    let (sa, sb) = tokio::join!(a.speak(10), b.speak(10));
    assert_eq!((sa, sb), (Ok(()), Ok(())));
    for (me, from) in [(&a, B_SSRC), (&b, A_SSRC)] {
        let done = |r: &MediaReport| {
            r.stream(from).is_some_and(|s| s.summary.packets == 10) && r.sr_received == 1 && r.rr_received == 1
        };
        let report = me.wait_until(WITHIN, done).await.unwrap_or_else(|r| panic!("{r:#?}"));
        let summary = &report.stream(from).unwrap().summary;
        assert_eq!((summary.lost, summary.ts_discontinuities, summary.marker_packets), (0, 0, 1), "{summary}");
        assert_eq!((summary.ssrc_in_range, report.streams.len()), (Some(true), 1));
        assert_eq!(report.errors, Vec::<String>::new());
    }
    // A's sockets saw 10 RTP + SR + RR out and the same in.
    assert_eq!(tap.events().len(), 24);
    a.stop();
    b.stop();
}

#[tokio::test]
async fn plain_endpoints_exchange_ten_packets_each_way_with_sr_and_rr() {
    ten_packets_each_way(false).await;
}

#[tokio::test]
async fn srtp_endpoints_with_swapped_keys_exchange_ten_packets_each_way() {
    ten_packets_each_way(true).await;
}

#[tokio::test]
async fn digits_cross_and_nothing_flows_on_hold() {
    let (a, b) = pair(true, None).await;
    a.send_digits("*5").await.unwrap();
    a.set_sending(false);
    a.speak(5).await.unwrap();
    a.set_sending(true);
    a.speak(1).await.unwrap();
    // Had the held spurt gone out, B would pass from 14 packets to 19 without seeing 15.
    let done = |r: &MediaReport| r.digits == "*5" && r.packets() == 15 && r.sr_received == 2;
    let report = b.wait_until(WITHIN, done).await.unwrap_or_else(|r| panic!("{r:#?}"));
    let summary = &report.stream(A_SSRC).unwrap().summary;
    assert_eq!((summary.dtmf_packets, summary.lost, summary.ts_discontinuities), (14, 0, 0));
    assert_eq!((report.dtmf_violations.len(), report.errors.len()), (0, 0));
    assert_eq!(b.send_digits("9z").await, Err(MediaError::BadDigit('z')));
    assert_eq!(b.check(WITHIN).await, Err(MediaError::NoIce));
}

#[tokio::test]
async fn a_stopped_session_answers_stopped_and_wait_until_gives_the_last_report() {
    let (a, b) = pair(false, None).await;
    a.stop();
    a.stop();
    assert_eq!(a.speak(1).await, Err(MediaError::Stopped));
    let last = a.wait_until(WITHIN, |r| r.packets() > 0).await.unwrap_err();
    assert_eq!(last.packets(), 0);
    b.stop();
}

/// A minimal ICE-lite responder on two sockets: a Binding request that verifies with `pwd`
/// gets a success response signed with it, anything else a 401.
async fn lite_responder(pwd: &str) -> ([SocketAddr; 2], Vec<JoinHandle<()>>) {
    let pwd = IcePassword::new(pwd).unwrap();
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let sock = Arc::new(UdpSocket::bind((LO, 0)).await.unwrap());
        addrs.push(sock.local_addr().unwrap());
        let pwd = pwd.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0; 2048];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let Ok(msg) = StunMessage::parse(&buf[..n]) else { continue };
                if (msg.class, msg.method) != (StunClass::Request, StunMethod::Binding) {
                    continue;
                }
                let answer = match msg.verify(&pwd) {
                    Ok(()) => msg.binding_success(from, &pwd),
                    Err(_) => msg.binding_error(BindingErrorCode::Unauthorized, None),
                };
                let _ = sock.send_to(&answer.unwrap(), from).await;
            }
        }));
    }
    ([addrs[0], addrs[1]], tasks)
}

/// A started endpoint with ICE towards `remote`, expecting the far side's password `GW_PWD`.
async fn checking(remote: [SocketAddr; 2]) -> MediaHandle {
    let ep = MediaEndpoint::bind(LO, None).await.unwrap();
    let mut cfg = config(A_SSRC, remote[0], remote[1]);
    cfg.ice = Some(IceParams {
        local_ufrag: IceUfrag::new("LyUf").unwrap(),
        local_pwd: IcePassword::new(LYNC_PWD).unwrap(),
        remote_ufrag: IceUfrag::new("GwUf").unwrap(),
        remote_pwd: IcePassword::new(GW_PWD).unwrap(),
        tie_breaker: 0x0123_4567_89ab_cdef,
    });
    ep.start(cfg).unwrap()
}

#[tokio::test]
async fn check_succeeds_on_both_components_against_an_ice_lite_responder() {
    let (remote, tasks) = lite_responder(GW_PWD).await;
    let a = checking(remote).await;
    assert_eq!(a.check(WITHIN).await, Ok(()));
    let report = a.report();
    assert_eq!((report.checks_sent, report.checks_succeeded, report.errors.len()), (2, 2, 0));
    a.stop();
    tasks.iter().for_each(JoinHandle::abort);
}

#[tokio::test]
async fn check_against_a_responder_with_another_password_fails_naming_component_1() {
    let (remote, tasks) = lite_responder("anotherpasswordaltogether").await;
    let a = checking(remote).await;
    let failure = CheckFailure::ErrorResponse { code: 401, reason: "Unauthorized".into() };
    assert_eq!(a.check(WITHIN).await, Err(MediaError::Check { component: 1, failure }));
    assert_eq!(a.report().checks_succeeded, 0);
    a.stop();
    tasks.iter().for_each(JoinHandle::abort);
}

#[tokio::test]
async fn check_with_nothing_back_fails_at_its_deadline_naming_component_1() {
    let silent = [UdpSocket::bind((LO, 0)).await.unwrap(), UdpSocket::bind((LO, 0)).await.unwrap()];
    let a = checking([silent[0].local_addr().unwrap(), silent[1].local_addr().unwrap()]).await;
    let err = a.check(Duration::from_millis(250)).await.unwrap_err();
    assert!(
        matches!(err, MediaError::Check { component: 1, failure: CheckFailure::NoResponse { requests: 2 | 3 } }),
        "{err}"
    );
    a.stop();
}
