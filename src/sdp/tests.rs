//! Fixture round-trips and readers across the whole model: the Lync 2013 ICE and draft-6 offers
//! of PROTOCOL.md §2.1–2.4, a Skype consumer offer, video, hold, errors that name their line, and
//! generated round-trips.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

/// Joins lines with CRLF, the wire form.
fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

const KEY1: &str = "AAsWISw3Qk1YY255hI+apbC7xtHc5/L9CBMeKTQ/";
const KEY2: &str = "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllk";
const KEY3: &str = "SlVga3aBjJeirbjDztnk7/oFEBsmMTxHUl1oc36J";

/// A Lync 2013 ICE v19 audio offer (PROTOCOL.md §2.1–2.4).
fn lync_audio_offer() -> String {
    crlf(&[
        "v=0",
        "o=- 0 1 IN IP4 192.168.1.10",
        "s=session",
        "c=IN IP4 192.168.1.10",
        "b=CT:99980",
        "t=0 0",
        "a=x-devicecaps:audio:send,recv;video:send,recv",
        "m=audio 50000 RTP/SAVP 117 114 104 9 112 111 0 8 116 115 103 97 13 118 101",
        "a=x-ssrc-range:2130768897-2130768897",
        "a=rtcp-fb:* x-message app send:dsh recv:dsh",
        "a=rtcp-rsize",
        "a=label:main-audio",
        "a=x-source:main-audio",
        "a=ice-ufrag:4Tn9",
        "a=ice-pwd:Ht2QOpcRLoLo6Wr+5Cs9tMHs",
        "a=candidate:1 1 UDP 2130706431 192.168.1.10 50000 typ host",
        "a=candidate:1 2 UDP 2130705918 192.168.1.10 50001 typ host",
        "a=candidate:2 1 TCP-PASS 174455807 192.168.1.10 50002 typ host",
        "a=candidate:2 2 TCP-PASS 174455806 192.168.1.10 50002 typ host",
        "a=candidate:3 1 UDP 16648703 203.0.113.5 51234 typ relay raddr 198.51.100.7 rport 40000",
        "a=candidate:3 2 UDP 16648702 203.0.113.5 51235 typ relay raddr 198.51.100.7 rport 40001",
        "a=candidate:4 1 TCP-ACT 6556159 203.0.113.5 443 typ relay raddr 198.51.100.7 rport 40002",
        "a=candidate:4 2 TCP-ACT 6556158 203.0.113.5 443 typ relay raddr 198.51.100.7 rport 40002",
        "a=x-candidate-ipv6:5 1 UDP 2130706430 2001:db8::10 50010 typ host",
        &format!("a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:{KEY1}|2^31|1:1"),
        &format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY2}|2^31|1:1"),
        &format!("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY3}|2^31"),
        "a=maxptime:200",
        "a=rtcp:50001",
        "a=rtpmap:117 G722/8000/2",
        "a=rtpmap:114 x-msrta/16000",
        "a=fmtp:114 bitrate=29000",
        "a=rtpmap:104 SILK/16000",
        "a=fmtp:104 useinbandfec=1; usedtx=0",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:112 G7221/16000",
        "a=fmtp:112 bitrate=24000",
        "a=rtpmap:111 SIREN/16000",
        "a=fmtp:111 bitrate=16000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:116 AAL2-G726-32/8000",
        "a=rtpmap:115 x-msrta/8000",
        "a=fmtp:115 bitrate=11800",
        "a=rtpmap:103 SILK/8000",
        "a=fmtp:103 useinbandfec=1; usedtx=0",
        "a=rtpmap:97 RED/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:118 CN/16000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
    ])
}

/// The post-check re-offer: selected candidates only, and the remote ones.
fn lync_reoffer() -> String {
    crlf(&[
        "v=0",
        "o=- 0 2 IN IP4 192.168.1.10",
        "s=session",
        "c=IN IP4 192.168.1.10",
        "b=CT:99980",
        "t=0 0",
        "m=audio 50000 RTP/SAVP 104 0 101",
        "a=ice-ufrag:4Tn9",
        "a=ice-pwd:Ht2QOpcRLoLo6Wr+5Cs9tMHs",
        "a=candidate:1 1 UDP 2130706431 192.168.1.10 50000 typ host",
        "a=candidate:1 2 UDP 2130705918 192.168.1.10 50001 typ host",
        "a=remote-candidates:1 198.51.100.20 40000 2 198.51.100.20 40001",
        &format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY2}|2^31|1:1"),
        "a=rtcp:50001",
        "a=rtpmap:104 SILK/16000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
    ])
}

/// The `ms-proxy-2007fallback` part: ICEv6 / draft-6 candidates.
fn draft6_offer() -> String {
    crlf(&[
        "v=0",
        "o=- 0 1 IN IP4 192.168.1.10",
        "s=session",
        "c=IN IP4 192.168.1.10",
        "b=CT:99980",
        "t=0 0",
        "m=audio 50020 RTP/SAVP 114 111 112 115 116 4 8 0 97 101",
        "a=candidate:qkMgmZsVlKxh4Mo4Kzay0jHwwUAV8TG7cE4mebsPTN4 1 s4RGJeoQ6w6NyfyD9KsUOg UDP 0.830 192.168.1.10 50020",
        "a=candidate:qkMgmZsVlKxh4Mo4Kzay0jHwwUAV8TG7cE4mebsPTN4 2 s4RGJeoQ6w6NyfyD9KsUOg UDP 0.830 192.168.1.10 50021",
        "a=candidate:7Fo3KJxEq0OM0pBcAmW8u6kDQvJt0cX2K5t6ANIvYWY 1 hJ3BIQ4X2cM6H1UO1lr7Gw TCP 0.190 203.0.113.5 443",
        &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}|2^31"),
        "a=maxptime:200",
        "a=rtcp:50021",
        "a=rtpmap:114 x-msrta/16000",
        "a=fmtp:114 bitrate=29000",
        "a=rtpmap:111 SIREN/16000",
        "a=fmtp:111 bitrate=16000",
        "a=rtpmap:112 G7221/16000",
        "a=fmtp:112 bitrate=24000",
        "a=rtpmap:115 x-msrta/8000",
        "a=fmtp:115 bitrate=11800",
        "a=rtpmap:116 AAL2-G726-32/8000",
        "a=rtpmap:4 G723/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:97 RED/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=encryption:optional",
        "a=ptime:20",
    ])
}

/// The Skype consumer offer seen at Microsoft's interop boundary (PROTOCOL.md §2.2).
fn skype_offer() -> String {
    crlf(&[
        "v=0",
        "o=- 3906235511 1 IN IP4 198.51.100.30",
        "s=-",
        "c=IN IP4 198.51.100.30",
        "t=0 0",
        "m=audio 23456 RTP/AVP 9 0 8 100 104 102 103 117 116 124 18 101",
        "a=rtpmap:100 SILK_V3/24000",
        "a=rtpmap:104 SILK_WB_V3/16000",
        "a=rtpmap:102 SILK_MB_V3/12000",
        "a=rtpmap:103 SILK_NB_V3/8000",
        "a=rtpmap:117 NWC/16000",
        "a=rtpmap:116 UNCODEDWB/16000",
        "a=rtpmap:124 UNCODEDSWB/24000",
        "a=fmtp:18 annexb=no",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=sendrecv",
    ])
}

/// Lync audio + video (PROTOCOL.md §1.7, §2.5), video on hold.
fn lync_video_on_hold() -> String {
    crlf(&[
        "v=0",
        "o=- 0 3 IN IP4 192.168.1.10",
        "s=session",
        "c=IN IP4 192.168.1.10",
        "b=CT:99980",
        "t=0 0",
        "a=x-mediabw:main-video send=8100;recv=8100",
        "m=audio 50000 RTP/SAVP 0",
        "a=rtcp:50001",
        "a=inactive",
        "m=video 50030 RTP/SAVP 122 121 123",
        "a=x-ssrc-range:2130768898-2130768997",
        "a=rtcp-fb:* x-message app send:src,x-pli recv:src,x-pli",
        "a=rtcp-rsize",
        "a=label:main-video",
        "a=x-source:main-video",
        "a=ice-ufrag:9xZq",
        "a=ice-pwd:p0Lk2Mz6Qw8Rt4Yu1Io3Pa5S",
        "a=candidate:1 1 UDP 2130706431 192.168.1.10 50030 typ host",
        "a=candidate:1 2 UDP 2130705918 192.168.1.10 50031 typ host",
        &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY3}|2^31"),
        "a=rtcp:50031",
        "a=rtpmap:122 X-H264UC/90000",
        "a=fmtp:122 packetization-mode=1;mst-mode=NI-TC",
        "a=rtpmap:121 x-rtvc1/90000",
        "a=rtpmap:123 x-ulpfecuc/90000",
        "a=x-caps:121 263:1920:1080:30.0:2000000:1;4359:1280:720:30.0:1500000:1;8455:640:480:30.0:600000:1",
        "a=rtcp-mux",
        "a=x-unknown-thing:kept as is",
        "a=x-flag",
        "a=inactive",
    ])
}

fn round_trips(text: &str) -> Sdp {
    let sdp = Sdp::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sdp.to_string(), text, "written form differs from the input");
    sdp
}

#[test]
fn lync_audio_offer_round_trips_byte_exact_and_reads() {
    let sdp = round_trips(&lync_audio_offer());
    assert_eq!(sdp.origin.session_version, 1);
    assert_eq!(sdp.bandwidths, [Bandwidth { kind: BwType::Ct, value: 99980 }]);
    let m = &sdp.media[0];
    assert_eq!(m.proto, Proto::RtpSavp);
    let codecs = m.codecs();
    assert_eq!(codecs.len(), 15);
    assert_eq!(codecs[0], Codec { pt: 117, name: "G722".into(), clock: 8000, channels: Some(2), fmtp: None });
    assert_eq!(codecs[2].fmtp.as_deref(), Some("useinbandfec=1; usedtx=0"));
    assert_eq!(codecs[14].name, "telephone-event");
    assert_eq!(m.direction(), Direction::SendRecv);
    assert_eq!(m.ice(), Some(IceCredentials { ufrag: "4Tn9".into(), pwd: "Ht2QOpcRLoLo6Wr+5Cs9tMHs".into() }));
    assert_eq!(m.ssrc_range(), Some(SsrcRange { first: 2130768897, last: 2130768897 }));
    assert_eq!(m.ssrc_range().map(|r| r.len()), Some(1));
    assert_eq!(m.rtcp_port(), Some(50001));
    let cands = m.candidates();
    assert_eq!(cands.len(), 9);
    let Candidate::Ice(relay_tcp) = cands[6] else { panic!("MS-ICE2 form expected") };
    assert_eq!(relay_tcp.transport, Transport::TcpAct);
    assert_eq!(relay_tcp.kind, CandidateType::Relay);
    assert_eq!(relay_tcp.related, Some(("198.51.100.7".parse().unwrap(), 40002)));
    assert_eq!(cands[2].transport(), Transport::TcpPass);
    assert!(cands[8].addr().0.is_ipv6());
    let cryptos = m.cryptos();
    assert_eq!(cryptos.iter().map(|c| c.tag).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(cryptos[0].key.mki.as_deref(), Some("1:1"));
    assert_eq!(cryptos[2].key, InlineKey { key_salt: KEY3.into(), lifetime: Some("2^31".into()), mki: None });
    assert!(matches!(&m.attributes[..], [_, Attribute::RtcpFb(RtcpFb { payload: FbPayload::All, .. }), ..]));
    let scale = m.attributes.iter().find_map(|a| match a {
        Attribute::CryptoScale(s) => Some(s),
        _ => None,
    });
    assert_eq!(scale.map(|s| &s.role), Some(&ScaleRole::Client));
}

#[test]
fn bare_lf_input_is_read_and_written_with_crlf() {
    let text = lync_audio_offer();
    let lf = text.replace("\r\n", "\n");
    assert_eq!(Sdp::parse(lf.as_bytes()).unwrap().to_string(), text);
}

#[test]
fn reoffer_with_remote_candidates_round_trips() {
    let sdp = round_trips(&lync_reoffer());
    let remote = sdp.media[0].attributes.iter().find_map(|a| match a {
        Attribute::RemoteCandidates(r) => Some(r.clone()),
        _ => None,
    });
    let ip: IpAddr = "198.51.100.20".parse().unwrap();
    assert_eq!(
        remote,
        Some(vec![
            RemoteCandidate { component: 1, ip, port: 40000 },
            RemoteCandidate { component: 2, ip, port: 40001 },
        ])
    );
}

#[test]
fn draft6_fallback_offer_round_trips_and_reads_candidates() {
    let sdp = round_trips(&draft6_offer());
    let m = &sdp.media[0];
    assert_eq!(m.ice(), None);
    let Candidate::Draft6(c) = m.candidates()[2] else { panic!("draft-6 form expected") };
    assert_eq!(c.username, "7Fo3KJxEq0OM0pBcAmW8u6kDQvJt0cX2K5t6ANIvYWY");
    assert_eq!(c.password, "hJ3BIQ4X2cM6H1UO1lr7Gw");
    assert_eq!((c.transport, c.qvalue.as_str(), c.port), (Transport::Tcp, "0.190", 443));
    assert!(m.attributes.contains(&Attribute::Encryption(EncryptionPolicy::Optional)));
    let reoffer = draft6_offer().replace(
        "a=maxptime:200\r\n",
        "a=remote-candidate:qkMgmZsVlKxh4Mo4Kzay0jHwwUAV8TG7cE4mebsPTN4\r\na=maxptime:200\r\n",
    );
    let sdp = round_trips(&reoffer);
    assert!(
        sdp.media[0]
            .attributes
            .contains(&Attribute::RemoteCandidate("qkMgmZsVlKxh4Mo4Kzay0jHwwUAV8TG7cE4mebsPTN4".into()))
    );
}

#[test]
fn skype_offer_round_trips_and_static_payload_types_resolve_without_rtpmap() {
    let sdp = round_trips(&skype_offer());
    let m = &sdp.media[0];
    assert_eq!(m.proto, Proto::RtpAvp);
    assert!(m.candidates().is_empty() && m.cryptos().is_empty() && m.ice().is_none());
    let codecs = m.codecs();
    let names: Vec<_> = codecs.iter().map(|c| (c.pt, c.name.as_str(), c.clock)).collect();
    assert_eq!(
        names,
        [
            (9, "G722", 8000),
            (0, "PCMU", 8000),
            (8, "PCMA", 8000),
            (100, "SILK_V3", 24000),
            (104, "SILK_WB_V3", 16000),
            (102, "SILK_MB_V3", 12000),
            (103, "SILK_NB_V3", 8000),
            (117, "NWC", 16000),
            (116, "UNCODEDWB", 16000),
            (124, "UNCODEDSWB", 24000),
            (18, "G729", 8000),
            (101, "telephone-event", 8000),
        ]
    );
    assert_eq!(codecs[10].fmtp.as_deref(), Some("annexb=no"));
    assert_eq!(m.rtcp_port(), Some(23457));
}

#[test]
fn video_section_reads_h264uc_caps_and_hundred_wide_range_and_hold() {
    let sdp = round_trips(&lync_video_on_hold());
    assert_eq!(sdp.media_bws(), [&MediaBw { label: "main-video".into(), send: 8100, recv: 8100 }]);
    assert_eq!(sdp.media[0].direction(), Direction::Inactive);
    let v = sdp.first_media(&MediaKind::Video).unwrap();
    assert_eq!(v.direction(), Direction::Inactive);
    assert_eq!(v.ssrc_range().map(|r| r.len()), Some(100));
    assert!(v.ssrc_range().unwrap().contains(2130768997));
    let h264 = &v.codecs()[0];
    assert_eq!((h264.name.as_str(), h264.clock), ("X-H264UC", 90000));
    assert_eq!(h264.fmtp.as_deref(), Some("packetization-mode=1;mst-mode=NI-TC"));
    assert!(v.attributes.iter().any(|a| matches!(a, Attribute::XCaps(XCaps { pt: 121, .. }))));
    assert!(v.attributes.contains(&Attribute::Other { name: "x-flag".into(), value: None }));
    // An explicit a=rtcp wins over rtcp-mux.
    assert_eq!(v.rtcp_port(), Some(50031));
}

#[test]
fn builder_makes_an_offer_that_parses_back_equal() {
    let ip: IpAddr = "192.168.1.10".parse().unwrap();
    let media = Media::new(MediaKind::Audio, 50000, Proto::RtpSavp)
        .with_codec(104, "SILK", 16000, None, Some("useinbandfec=1; usedtx=0"))
        .with_static(0)
        .with_codec(101, "telephone-event", 8000, None, Some("0-16"))
        .with(Attribute::SsrcRange(SsrcRange { first: 100, last: 100 }))
        .with(Attribute::Direction(Direction::Inactive));
    let mut sdp = Sdp::new(ip, 0, 1, "session")
        .with_connection(Connection::ip(ip))
        .with_bandwidth(BwType::Ct, 99980)
        .with_media(media);
    sdp.bump_version();
    let text = sdp.to_string();
    assert!(text.starts_with("v=0\r\no=- 0 2 IN IP4 192.168.1.10\r\ns=session\r\nc=IN IP4 192.168.1.10\r\n"));
    assert!(text.contains("m=audio 50000 RTP/SAVP 104 0 101\r\na=rtpmap:104 SILK/16000\r\n"));
    assert_eq!(Sdp::parse(text.as_bytes()).unwrap(), sdp);
    assert_eq!(sdp.media[0].codecs()[1].name, "PCMU");
}

fn err_of(text: &str) -> SdpError {
    Sdp::parse(text.as_bytes()).expect_err("must not parse")
}

fn assert_line(e: &SdpError, line: usize, needle: &str) {
    match e {
        SdpError::Syntax { line: l, .. } => assert_eq!(*l, line, "{e}"),
        other => panic!("expected a syntax error, got {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&format!("line {line} ")), "{msg}");
    assert!(msg.contains(needle), "{msg}");
}

#[test]
fn bad_m_line_names_its_line() {
    let text = skype_offer().replace("m=audio 23456 RTP/AVP", "m=audio 23x56 RTP/AVP");
    assert_line(&err_of(&text), 6, "m-line port");
    assert_line(
        &err_of(
            &skype_offer()
                .replace("m=audio 23456 RTP/AVP 9 0 8 100 104 102 103 117 116 124 18 101", "m=audio 23456 RTP/AVP"),
        ),
        6,
        "`m=",
    );
}

#[test]
fn bad_candidate_names_its_line() {
    let text = lync_audio_offer().replace("typ relay raddr 198.51.100.7 rport 40001", "typ relay raddr 198.51.100.7");
    assert_line(&err_of(&text), 21, "raddr");
    let text = lync_audio_offer().replace("2130705918 192.168.1.10", "2130705918 192.168.1.999");
    assert_line(&err_of(&text), 17, "IP address");
    let text = lync_audio_offer().replace("typ host\r\na=candidate:2 1", "typ hots\r\na=candidate:2 1");
    assert_line(&err_of(&text), 17, "candidate type");
}

#[test]
fn bad_crypto_names_its_line() {
    let text = lync_audio_offer().replace(&format!("inline:{KEY3}"), KEY3);
    let e = err_of(&text);
    assert_line(&e, 27, "inline:");
    assert!(e.to_string().contains("a=crypto:3"), "the message repeats the line: {e}");
    let text = lync_audio_offer().replace("a=cryptoscale:1 client ", "a=cryptoscale:x client ");
    assert_line(&err_of(&text), 25, "crypto tag");
}

#[test]
fn missing_version_line_is_line_one() {
    let text = skype_offer().replacen("v=0\r\n", "", 1);
    assert_line(&err_of(&text), 1, "`v=0`");
    assert_eq!(err_of(""), SdpError::Truncated { line: 0, expected: "`v=0`" });
}

#[test]
fn out_of_order_and_missing_timing_are_errors() {
    let text = skype_offer().replace("c=IN IP4 198.51.100.30\r\nt=0 0\r\n", "t=0 0\r\nc=IN IP4 198.51.100.30\r\n");
    assert_line(&err_of(&text), 5, "RFC 8866 order");
    let text = skype_offer().replace("t=0 0\r\n", "");
    assert_line(&err_of(&text), 5, "`t=`");
    let text = skype_offer().replace("a=sendrecv\r\n", "a=sendrecv\r\nc=IN IP4 1.2.3.4\r\n");
    assert_line(&err_of(&text), 18, "RFC 8866 order");
}

#[test]
fn size_caps_hold() {
    let many = format!("{}{}", skype_offer(), "a=x-pad\r\n".repeat(MAX_LINES));
    assert_eq!(err_of(&many), SdpError::TooLarge { what: "lines", limit: MAX_LINES });
    let media = format!("{}{}", skype_offer(), "m=audio 1 RTP/AVP 0\r\n".repeat(MAX_MEDIA));
    assert_eq!(err_of(&media), SdpError::TooLarge { what: "media sections", limit: MAX_MEDIA });
    assert_eq!(
        Sdp::parse(&vec![b'a'; MAX_BYTES + 1]).unwrap_err(),
        SdpError::TooLarge { what: "bytes", limit: MAX_BYTES }
    );
}

#[test]
fn long_garbage_line_is_cut_in_the_message() {
    let text = format!("v=0\r\n{}\r\n", "x".repeat(5000));
    let e = err_of(&text);
    assert!(e.to_string().len() < 300, "{e}");
    assert_line(&e, 2, "`<type>=<value>`");
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{1,12}"
}

fn ice_candidate() -> impl Strategy<Value = Candidate> {
    (
        token(),
        1u16..3,
        prop_oneof![Just(Transport::Udp), Just(Transport::TcpAct), Just(Transport::TcpPass)],
        any::<u32>(),
        any::<[u8; 4]>(),
        any::<u16>(),
        prop::option::of((any::<[u8; 4]>(), any::<u16>())),
    )
        .prop_map(|(foundation, component, transport, priority, ip, port, rel)| {
            Candidate::Ice(IceCandidate {
                foundation,
                component,
                transport,
                priority,
                ip: IpAddr::from(ip),
                port,
                kind: if rel.is_some() { CandidateType::Relay } else { CandidateType::Host },
                related: rel.map(|(i, p)| (IpAddr::from(i), p)),
                extensions: Vec::new(),
            })
        })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        ice_candidate().prop_map(Attribute::Candidate),
        (token(), 1u16..3, token(), "[0-9]\\.[0-9]{1,3}", any::<[u8; 4]>(), any::<u16>()).prop_map(
            |(username, component, password, qvalue, ip, port)| Attribute::Candidate(Candidate::Draft6(
                Draft6Candidate {
                    username,
                    component,
                    password,
                    transport: Transport::Udp,
                    qvalue,
                    ip: ip.into(),
                    port
                }
            ))
        ),
        (
            any::<u32>(),
            "[A-Za-z0-9+/]{40}",
            prop::option::of(Just("2^31".to_owned())),
            prop::option::of(Just("1:1".to_owned()))
        )
            .prop_map(|(tag, key_salt, lifetime, mki)| Attribute::Crypto(Crypto {
                tag,
                suite: CryptoSuite::AesCm128HmacSha1_80,
                key: InlineKey { key_salt, lifetime, mki },
                session_params: Vec::new(),
            })),
        (any::<u32>(), any::<u8>())
            .prop_map(|(first, w)| Attribute::SsrcRange(SsrcRange { first, last: first.saturating_add(u32::from(w)) })),
        (any::<u8>(), "[A-Za-z0-9-]{1,10}", 1u32..100_000, prop::option::of(1u8..3))
            .prop_map(|(pt, encoding, clock, channels)| Attribute::Rtpmap(Rtpmap { pt, encoding, clock, channels })),
        (any::<u8>(), "[a-z=0-9;]{1,20}").prop_map(|(pt, params)| Attribute::Fmtp(Fmtp { pt, params })),
        any::<u16>().prop_map(|port| Attribute::Rtcp(Rtcp { port, connection: None })),
        Just(Attribute::RtcpMux),
        Just(Attribute::Direction(Direction::Inactive)),
        ("x-gen-[a-z]{1,6}", prop::option::of("[a-z0-9 ]{0,10}"))
            .prop_map(|(name, value)| Attribute::Other { name, value }),
    ]
}

fn media() -> impl Strategy<Value = Media> {
    (any::<u16>(), prop::collection::vec(any::<u8>(), 1..6), prop::collection::vec(attribute(), 0..8)).prop_map(
        |(port, pts, attributes)| {
            let mut m = Media::new(MediaKind::Audio, port, Proto::RtpSavp);
            m.formats = pts.iter().map(u8::to_string).collect();
            m.attributes = attributes;
            m
        },
    )
}

proptest! {
    #[test]
    fn generated_descriptions_round_trip(
        version in any::<u64>(),
        ip in any::<[u8; 4]>(),
        session_attrs in prop::collection::vec(attribute(), 0..4),
        media in prop::collection::vec(media(), 0..4),
    ) {
        let mut sdp = Sdp::new(IpAddr::from(ip), 0, version, "session").with_bandwidth(BwType::Ct, 99980);
        sdp.attributes = session_attrs;
        sdp.media = media;
        let text = sdp.to_string();
        let back = Sdp::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &sdp);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn garbage_never_panics_and_what_parses_writes_back_stably(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(sdp) = Sdp::parse(&bytes) {
            let text = sdp.to_string();
            prop_assert_eq!(Sdp::parse(text.as_bytes()).unwrap(), sdp);
        }
    }

    #[test]
    fn mutated_lync_offer_never_panics(cut in 0usize..3000, byte in any::<u8>()) {
        let mut text = lync_audio_offer().into_bytes();
        let at = cut % text.len();
        text[at] = byte;
        let _ = Sdp::parse(&text);
    }
}

mod multipart_offer {
    use super::*;
    use crate::sdp::alternative::{self, OfferPart};

    #[test]
    fn lync_two_part_offer_writes_and_reads_back() {
        let fallback = OfferPart { content_id: "fb1@contoso.com".into(), sdp: draft6_offer().parse().unwrap() };
        let ice = OfferPart { content_id: "ice2@contoso.com".into(), sdp: lync_audio_offer().parse().unwrap() };
        let body = alternative::write("----=_NextPart_000_001E", &fallback, &ice);
        assert_eq!(body.content_type, "multipart/alternative;boundary=\"----=_NextPart_000_001E\"");
        let text = String::from_utf8(body.bytes.clone()).unwrap();
        assert!(text.starts_with(
            "------=_NextPart_000_001E\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: 7bit\r\n\
             Content-ID: <fb1@contoso.com>\r\nContent-Disposition: session; handling=optional; ms-proxy-2007fallback\r\n\r\nv=0\r\n"
        ));
        assert!(text.contains("Content-Disposition: session; handling=optional\r\n\r\nv=0\r\n"));
        let parts = alternative::read(&body.content_type, &body.bytes).unwrap();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].fallback && !parts[1].fallback);
        assert_eq!(parts[0].sdp, fallback.sdp);
        assert_eq!(parts[1].sdp.to_string(), lync_audio_offer());
        assert_eq!(parts[1].content_id.as_deref(), Some("ice2@contoso.com"));
    }

    #[test]
    fn plain_sdp_is_one_part() {
        let parts = alternative::read("application/sdp", skype_offer().as_bytes()).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(!parts[0].fallback);
    }

    #[test]
    fn wrong_content_types_and_parts_are_typed_errors() {
        assert!(matches!(alternative::read("text/plain", b"x"), Err(SdpError::ContentType { .. })));
        assert!(matches!(alternative::read("multipart/alternative", b"x"), Err(SdpError::ContentType { .. })));
        let body = b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n";
        assert!(matches!(
            alternative::read("multipart/alternative;boundary=b", body),
            Err(SdpError::Part { part: 1, .. })
        ));
        let bad =
            format!("--b\r\nContent-Type: application/sdp\r\n\r\n{}\r\n--b--\r\n", skype_offer().replace("v=0", "v=1"));
        let e = alternative::read("multipart/alternative; boundary=\"b\"", bad.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("part 1") && e.to_string().contains("line 1"), "{e}");
        assert!(matches!(
            alternative::read("multipart/alternative;boundary=b", b"--b\r\nno end"),
            Err(SdpError::Multipart(_))
        ));
    }
}
