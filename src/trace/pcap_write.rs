//! Writing tap events as a capture Wireshark and tshark open without help: pcapng for the
//! suite ([`write_pcapng_file`]), whose section header carries the fedcert metadata document
//! and whose every packet carries `step N` as its comment ([`super::meta`]); and classic pcap
//! (magic `a1b2c3d4`, v2.4, microsecond timestamps, [`write_pcap`]), kept because the
//! reader's tests of classic pcap (truncation at every record, link types) generate their
//! input with it.
//!
//! Every event becomes one or more Ethernet II + IPv4/IPv6 + UDP/TCP frames with checksums
//! filled in. The tap sees payload, not segments, so the TCP layer is synthesised per
//! connection: a three-way handshake on [`TapKind::TcpOpen`] (or before the first data of a
//! connection whose open was not recorded), data segments of at most [`MAX_TCP_SEGMENT`] bytes
//! with consistent sequence and acknowledgement numbers, and FIN + ACK on
//! [`TapKind::TcpClose`]. That is enough for Wireshark's stream reassembly and
//! "Follow TCP Stream".

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use etherparse::{PacketBuilder, TcpOptionElement};

use super::TraceError;
use super::meta::{CaptureMeta, step_comment};
use crate::net::tap::{TapEvent, TapKind, Transport};

/// Snapshot length written in the file header; every frame we write is shorter.
pub const SNAPLEN: u32 = 262_144;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest TCP payload put in one segment. Keeps IPv4 total length (20 + 20 + payload) and
/// IPv6 payload length (20 + payload) below 65 535.
pub const MAX_TCP_SEGMENT: usize = 65_000;
/// Largest UDP payload one IPv4 packet can carry (65 535 − 20 − 8); we do not fragment.
const MAX_UDP_V4: usize = 65_507;
/// Largest UDP payload one IPv6 packet can carry without a jumbogram (65 535 − 8).
const MAX_UDP_V6: usize = 65_527;
/// Locally administered MACs: the lower socket address of a pair gets the first.
const MAC_LOW: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_HIGH: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Window scale announced in SYN and SYN-ACK, so that the unscaled window of 65 535 means about
/// 8 MiB and Wireshark does not flag large unacknowledged messages as "window full".
const WINDOW_SCALE: u8 = 7;
const WINDOW: u16 = u16::MAX;
/// MSS announced in SYN and SYN-ACK.
const MSS: u16 = MAX_TCP_SEGMENT as u16;

/// Writes `events` as a classic pcap to `out` and returns the number of packets written.
pub fn write_pcap(events: &[TapEvent], out: &mut impl Write) -> Result<usize, TraceError> {
    write_named(events, out, "<writer>", &Format::Classic)
}

/// Writes `events` as a classic pcap file at `path`, creating parent directories; returns the
/// number of packets written.
pub fn write_pcap_file(events: &[TapEvent], path: impl AsRef<Path>) -> Result<usize, TraceError> {
    write_file(events, path.as_ref(), &Format::Classic)
}

/// Writes `events` as pcapng to `out`, with `meta` in the section header and each packet's
/// step as its comment; returns the number of packets written.
pub fn write_pcapng(events: &[TapEvent], meta: &CaptureMeta, out: &mut impl Write) -> Result<usize, TraceError> {
    write_named(events, out, "<writer>", &Format::Ng(meta.to_json()))
}

/// [`write_pcapng`] to a file at `path`, creating parent directories.
pub fn write_pcapng_file(events: &[TapEvent], meta: &CaptureMeta, path: impl AsRef<Path>) -> Result<usize, TraceError> {
    write_file(events, path.as_ref(), &Format::Ng(meta.to_json()))
}

/// The container: classic pcap, or pcapng with the metadata document's text.
enum Format {
    Classic,
    Ng(String),
}

fn write_file(events: &[TapEvent], path: &Path, format: &Format) -> Result<usize, TraceError> {
    let name = path.display().to_string();
    let io = |action: &'static str| {
        let name = name.clone();
        move |source| TraceError::Io { file: name, action, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("create the parent directory of"))?;
    }
    let file = std::fs::File::create(path).map_err(io("create"))?;
    let mut out = std::io::BufWriter::new(file);
    let n = write_named(events, &mut out, &name, format)?;
    out.flush().map_err(io("write"))?;
    Ok(n)
}

fn write_named(events: &[TapEvent], out: &mut impl Write, name: &str, format: &Format) -> Result<usize, TraceError> {
    let ng = matches!(format, Format::Ng(_));
    let mut w =
        PcapWriter { out, name, ng, step: 0, conns: HashMap::new(), generation: 0, packets: 0, frame: Vec::new() };
    match format {
        Format::Classic => w.header()?,
        Format::Ng(meta) => w.ng_header(meta)?,
    }
    for (index, event) in events.iter().enumerate() {
        w.step = event.step;
        w.event(index, event)?;
    }
    Ok(w.packets)
}

/// TCP flags of a synthesised segment besides ACK, which is set whenever an acknowledgement
/// number is given.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    psh: bool,
    fin: bool,
}

/// One synthesised TCP connection. Side 0 is the client (sent the SYN), side 1 the server.
#[derive(Debug, Clone, Copy)]
struct Conn {
    client: SocketAddr,
    /// Next sequence number each side sends.
    next_seq: [u32; 2],
    /// Whether each side has sent its FIN.
    fin: [bool; 2],
}

impl Conn {
    fn side(&self, src: SocketAddr) -> usize {
        usize::from(src != self.client)
    }
}

struct PcapWriter<'w, 'n, W: Write> {
    out: &'w mut W,
    name: &'n str,
    /// pcapng (else classic pcap).
    ng: bool,
    /// The step of the event being written (each pcapng packet's comment).
    step: usize,
    /// Live connections by (lower, higher) socket address.
    conns: HashMap<(SocketAddr, SocketAddr), Conn>,
    /// Connections opened so far; varies the initial sequence numbers so that Wireshark sees a
    /// reused 4-tuple as a new connection.
    generation: u32,
    packets: usize,
    frame: Vec<u8>,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Deterministic initial sequence numbers. The client's first ISN sits 64 KiB below 2^32, so
/// any stream longer than that wraps the sequence space: readers must use wrapping arithmetic.
fn isn(generation: u32, side: usize) -> u32 {
    let base = if side == 0 { 0xFFFF_0000u32 } else { 0x7FFE_0000 };
    base.wrapping_add(generation.wrapping_mul(0x0101_0000))
}

/// Both addresses in one family: an IPv4-mapped IPv6 address becomes IPv4 when the other side
/// is IPv4, otherwise the IPv4 side is mapped into IPv6.
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (s, d) = (canon(src), canon(dst));
    match (s.ip(), d.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => (s, d),
        (IpAddr::V4(a), IpAddr::V6(_)) => (SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), s.port()), dst),
        (IpAddr::V6(_), IpAddr::V4(b)) => (src, SocketAddr::new(IpAddr::V6(b.to_ipv6_mapped()), d.port())),
    }
}

impl<W: Write> PcapWriter<'_, '_, W> {
    fn io(&self, source: std::io::Error) -> TraceError {
        TraceError::Io { file: self.name.to_owned(), action: "write", source }
    }

    // The 24-byte file header and 16-byte record headers are written by hand rather than with
    // pcap-parser's `ToVec`: that would copy every frame into a fresh Vec and report failures
    // as cookie-factory `GenError`s, for what is five little-endian integers.
    fn header(&mut self) -> Result<(), TraceError> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        self.out.write_all(&h).map_err(|e| self.io(e))
    }

    /// pcapng: the Section Header Block with `meta` as its comment and our name as
    /// `shb_userappl`, then one Interface Description Block (Ethernet, nanosecond stamps).
    fn ng_header(&mut self, meta: &str) -> Result<(), TraceError> {
        let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
        ng_option(&mut body, OPT_COMMENT, meta.as_bytes()).map_err(|what| self.meta_err(what))?;
        let appl = concat!("fedcert ", env!("CARGO_PKG_VERSION"));
        ng_option(&mut body, SHB_USERAPPL, appl.as_bytes()).map_err(|what| self.meta_err(what))?;
        body.extend_from_slice(&[0; 4]); // opt_endofopt
        self.ng_block(0x0A0D_0D0A, &body)?;
        let mut idb = (LINKTYPE_ETHERNET as u16).to_le_bytes().to_vec();
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&SNAPLEN.to_le_bytes());
        // if_tsresol 9: nanoseconds, so the tap's timestamps survive exactly.
        ng_option(&mut idb, IF_TSRESOL, &[9]).map_err(|what| self.meta_err(what))?;
        idb.extend_from_slice(&[0; 4]);
        self.ng_block(1, &idb)
    }

    fn meta_err(&self, what: String) -> TraceError {
        TraceError::File { file: self.name.to_owned(), what: format!("cannot write the pcapng header: {what}") }
    }

    /// One pcapng block: type, total length, body (padded by the caller to 32 bits), total
    /// length.
    fn ng_block(&mut self, kind: u32, body: &[u8]) -> Result<(), TraceError> {
        let len = u32::try_from(12 + body.len()).unwrap_or(u32::MAX);
        let w = |out: &mut W| -> std::io::Result<()> {
            out.write_all(&kind.to_le_bytes())?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(body)?;
            out.write_all(&len.to_le_bytes())
        };
        w(self.out).map_err(|e| self.io(e))
    }

    /// Writes `self.frame` as one record stamped `at`.
    fn record(&mut self, at: Duration) -> Result<(), TraceError> {
        if self.ng {
            return self.enhanced_packet(at);
        }
        let secs = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
        // The frame is at most 14 + 65 535 bytes, far below SNAPLEN: caplen == origlen.
        let len = u32::try_from(self.frame.len()).unwrap_or(u32::MAX);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&at.subsec_micros().to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h).and_then(|()| self.out.write_all(&self.frame)).map_err(|e| self.io(e))?;
        self.packets += 1;
        Ok(())
    }

    /// Writes `self.frame` as an Enhanced Packet Block stamped `at` in nanoseconds, commented
    /// with its step.
    fn enhanced_packet(&mut self, at: Duration) -> Result<(), TraceError> {
        let ts = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        let len = u32::try_from(self.frame.len()).unwrap_or(u32::MAX);
        let mut body = Vec::with_capacity(20 + self.frame.len() + 24);
        for w in [0, (ts >> 32) as u32, ts as u32, len, len] {
            body.extend_from_slice(&w.to_le_bytes());
        }
        body.extend_from_slice(&self.frame);
        body.resize(body.len().div_ceil(4) * 4, 0);
        // A step comment is a few bytes: it always fits an option.
        let _ = ng_option(&mut body, OPT_COMMENT, step_comment(self.step).as_bytes());
        body.extend_from_slice(&[0; 4]);
        self.ng_block(6, &body)?;
        self.packets += 1;
        Ok(())
    }

    fn event(&mut self, index: usize, ev: &TapEvent) -> Result<(), TraceError> {
        let (src, dst) = same_family(ev.src, ev.dst);
        match (ev.transport, &ev.kind) {
            (Transport::Udp, TapKind::Data(payload)) => self.udp(index, ev.at, src, dst, payload),
            (Transport::Udp, kind) => {
                tracing::debug!(index, ?kind, "connection event on UDP ignored");
                Ok(())
            }
            (Transport::Tcp, TapKind::TcpOpen) => {
                match self.conns.get(&key(src, dst)) {
                    Some(c) if !c.fin.iter().any(|f| *f) => {
                        tracing::debug!(index, %src, %dst, "TcpOpen for a live connection ignored");
                    }
                    _ => {
                        self.open(index, ev.at, src, dst)?;
                    }
                }
                Ok(())
            }
            (Transport::Tcp, TapKind::Data(payload)) => self.tcp_data(index, ev.at, src, dst, payload),
            (Transport::Tcp, TapKind::TcpClose) => self.close(index, ev.at, src, dst),
        }
    }

    fn udp(
        &mut self,
        index: usize,
        at: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Result<(), TraceError> {
        let max = if src.is_ipv4() { MAX_UDP_V4 } else { MAX_UDP_V6 };
        if payload.len() > max {
            return Err(TraceError::Event {
                event: index,
                what: format!(
                    "UDP datagram of {} bytes exceeds the {max} bytes one IP packet can carry",
                    payload.len()
                ),
            });
        }
        self.frame.clear();
        let built = ip_step(src, dst).udp(src.port(), dst.port()).write_to_vec(&mut self.frame, payload);
        built.map_err(|e| TraceError::Event { event: index, what: format!("cannot build UDP frame: {e}") })?;
        self.record(at)
    }

    /// Synthesises SYN, SYN-ACK, ACK for a new connection from `src` to `dst`.
    fn open(&mut self, index: usize, at: Duration, src: SocketAddr, dst: SocketAddr) -> Result<Conn, TraceError> {
        let g = self.generation;
        self.generation = self.generation.wrapping_add(1);
        let (c, s) = (isn(g, 0), isn(g, 1));
        let syn = Flags { syn: true, ..Flags::default() };
        self.segment(index, at, src, dst, c, None, syn, &[])?;
        self.segment(index, at, dst, src, s, Some(c.wrapping_add(1)), syn, &[])?;
        let conn = Conn { client: src, next_seq: [c.wrapping_add(1), s.wrapping_add(1)], fin: [false; 2] };
        self.segment(index, at, src, dst, conn.next_seq[0], Some(conn.next_seq[1]), Flags::default(), &[])?;
        self.conns.insert(key(src, dst), conn);
        Ok(conn)
    }

    fn tcp_data(
        &mut self,
        index: usize,
        at: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Result<(), TraceError> {
        if payload.is_empty() {
            return Ok(());
        }
        let mut conn = match self.conns.get(&key(src, dst)) {
            // Data from a side that already closed means the 4-tuple was reused.
            Some(c) if !c.fin[c.side(src)] => *c,
            _ => self.open(index, at, src, dst)?,
        };
        let side = conn.side(src);
        let chunks = payload.chunks(MAX_TCP_SEGMENT);
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.enumerate() {
            let flags = Flags { psh: i == last, ..Flags::default() };
            let (seq, ack) = (conn.next_seq[side], conn.next_seq[1 - side]);
            self.segment(index, at, src, dst, seq, Some(ack), flags, chunk)?;
            // `chunk.len()` ≤ MAX_TCP_SEGMENT, so the cast is lossless.
            conn.next_seq[side] = seq.wrapping_add(chunk.len() as u32);
        }
        self.conns.insert(key(src, dst), conn);
        Ok(())
    }

    /// FIN|ACK from `src`, ACK back from `dst`. Forgets the connection once both sides closed.
    fn close(&mut self, index: usize, at: Duration, src: SocketAddr, dst: SocketAddr) -> Result<(), TraceError> {
        let k = key(src, dst);
        let Some(mut conn) = self.conns.get(&k).copied() else {
            tracing::debug!(index, %src, %dst, "TcpClose for an unknown connection ignored");
            return Ok(());
        };
        let side = conn.side(src);
        if conn.fin[side] {
            return Ok(());
        }
        let (seq, peer) = (conn.next_seq[side], conn.next_seq[1 - side]);
        self.segment(index, at, src, dst, seq, Some(peer), Flags { fin: true, ..Flags::default() }, &[])?;
        conn.next_seq[side] = seq.wrapping_add(1);
        conn.fin[side] = true;
        self.segment(index, at, dst, src, peer, Some(conn.next_seq[side]), Flags::default(), &[])?;
        if conn.fin == [true, true] {
            self.conns.remove(&k);
        } else {
            self.conns.insert(k, conn);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        index: usize,
        at: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: Option<u32>,
        flags: Flags,
        payload: &[u8],
    ) -> Result<(), TraceError> {
        let fail = |what: String| TraceError::Event { event: index, what };
        let mut b = ip_step(src, dst).tcp(src.port(), dst.port(), seq, WINDOW);
        if let Some(a) = ack {
            b = b.ack(a);
        }
        if flags.syn {
            b = b
                .syn()
                .options(&[TcpOptionElement::MaximumSegmentSize(MSS), TcpOptionElement::WindowScale(WINDOW_SCALE)])
                .map_err(|e| fail(format!("cannot set TCP options: {e}")))?;
        }
        if flags.psh {
            b = b.psh();
        }
        if flags.fin {
            b = b.fin();
        }
        self.frame.clear();
        b.write_to_vec(&mut self.frame, payload).map_err(|e| fail(format!("cannot build TCP frame: {e}")))?;
        self.record(at)
    }
}

/// pcapng option codes (pcapng draft §3.5, §4.1, §4.2).
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_TSRESOL: u16 = 9;

/// Appends one pcapng option (code, length, value padded to 32 bits).
fn ng_option(out: &mut Vec<u8>, code: u16, value: &[u8]) -> Result<(), String> {
    let len = u16::try_from(value.len())
        .map_err(|_| format!("option {code} holds {} bytes; an option holds at most 65535", value.len()))?;
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().div_ceil(4) * 4, 0);
    Ok(())
}

/// Ethernet II plus the IP header for `src` → `dst` (same family, see [`same_family`]).
fn ip_step(src: SocketAddr, dst: SocketAddr) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let (smac, dmac) = if src <= dst { (MAC_LOW, MAC_HIGH) } else { (MAC_HIGH, MAC_LOW) };
    let eth = PacketBuilder::ethernet2(smac, dmac);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (s, d) => eth.ipv6(v6(s).octets(), v6(d).octets(), 64),
    }
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    use super::*;
    use crate::trace::test_support::{addr, data, ev, records, request, scenario};
    use crate::trace::{read_capture_bytes, sip_messages};

    fn pcap(events: &[TapEvent]) -> Vec<u8> {
        let mut out = Vec::new();
        write_pcap(events, &mut out).expect("write");
        out
    }

    /// One TCP frame as written.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Seg {
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: Option<u32>,
        syn: bool,
        fin: bool,
        len: usize,
    }

    /// Every TCP frame, checking on the way that each frame parses strictly, that its IP length
    /// fields match the frame and that its TCP checksum holds.
    fn tcp_frames(pcap: &[u8]) -> Vec<Seg> {
        let mut out = Vec::new();
        for (_, frame) in records(pcap) {
            let p = SlicedPacket::from_ethernet(frame).expect("valid frame");
            let net = p.net.as_ref().expect("IP");
            let (src, dst, ip_len) = match net {
                NetSlice::Ipv4(ip) => {
                    let h = ip.header();
                    (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), usize::from(h.total_len()) + 14)
                }
                NetSlice::Ipv6(ip) => {
                    let h = ip.header();
                    (
                        IpAddr::V6(h.source_addr()),
                        IpAddr::V6(h.destination_addr()),
                        usize::from(h.payload_length()) + 54,
                    )
                }
                NetSlice::Arp(_) => panic!("no ARP written"),
            };
            assert_eq!(ip_len, frame.len(), "IP length field vs frame length");
            let Some(TransportSlice::Tcp(t)) = p.transport else { continue };
            let sum = match net {
                NetSlice::Ipv4(ip) => t.calc_checksum_ipv4(ip.header().source(), ip.header().destination()),
                NetSlice::Ipv6(ip) => t.calc_checksum_ipv6(ip.header().source(), ip.header().destination()),
                NetSlice::Arp(_) => unreachable!(),
            };
            assert_eq!(sum.expect("checksum"), t.checksum(), "TCP checksum");
            out.push(Seg {
                src: SocketAddr::new(src, t.source_port()),
                dst: SocketAddr::new(dst, t.destination_port()),
                seq: t.sequence_number(),
                ack: t.ack().then(|| t.acknowledgment_number()),
                syn: t.syn(),
                fin: t.fin(),
                len: t.payload().len(),
            });
        }
        out
    }

    /// Per direction: each segment starts where the previous one ended (SYN and FIN count one);
    /// each ACK acknowledges exactly what the other side has sent so far. Returns the number of
    /// TCP frames.
    fn assert_seq_ack_consistent(pcap: &[u8]) -> usize {
        let frames = tcp_frames(pcap);
        let mut next: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
        for (i, s) in frames.iter().enumerate() {
            if s.syn && s.ack.is_none() {
                // A connection starts: forget whatever the 4-tuple carried before.
                next.remove(&(s.src, s.dst));
                next.remove(&(s.dst, s.src));
            } else if !s.syn {
                assert_eq!(Some(s.seq), next.get(&(s.src, s.dst)).copied(), "TCP frame {i} {s:?}: seq");
            }
            if !(s.syn && s.ack.is_none()) {
                assert_eq!(s.ack, next.get(&(s.dst, s.src)).copied(), "TCP frame {i} {s:?}: ack");
            }
            let used = u32::from(s.syn) + u32::from(s.fin) + u32::try_from(s.len).unwrap();
            next.insert((s.src, s.dst), s.seq.wrapping_add(used));
        }
        frames.len()
    }

    #[test]
    fn file_header_is_classic_microsecond_pcap_with_ethernet_link_type() {
        let out = pcap(&[]);
        assert_eq!(out, [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]);
        assert_eq!(read_capture_bytes(&out).unwrap(), vec![]);
    }

    #[test]
    fn tcp_sequence_numbers_advance_by_payload_length_and_syn_and_fin_count_one() {
        let sc = scenario();
        let out = pcap(&sc.events);
        assert_eq!(assert_seq_ack_consistent(&out), 11);
        let frames = tcp_frames(&out);
        let flags: Vec<_> = frames.iter().map(|f| (f.syn, f.fin, f.len)).collect();
        let m = &sc.expected[4].3;
        let (first, second) = (m.len() / 2, m.len() - m.len() / 2);
        let shared = sc.expected[5].3.len() + sc.expected[6].3.len();
        let want = [
            (true, false, 0),
            (true, false, 0),
            (false, false, 0),
            (false, false, first),
            (false, false, second),
            (false, false, shared),
            (false, false, 4),
            (false, true, 0),
            (false, false, 0),
            (false, true, 0),
            (false, false, 0),
        ];
        assert_eq!(flags, want);
        let stamps: Vec<_> = records(&out).iter().map(|(at, _)| at.as_millis()).collect();
        assert_eq!(stamps, [1, 2, 3, 4, 5, 5, 5, 6, 7, 8, 9, 10, 10, 11, 11]);
    }

    #[test]
    fn a_100_kb_message_over_ipv4_and_ipv6_tcp_is_split_into_valid_frames_and_reassembles() {
        let big = request(7, &"x".repeat(100 * 1024));
        for (c, d) in [(addr("127.0.0.1:40100"), addr("127.0.0.1:5061")), (addr("[::1]:40100"), addr("[::1]:5061"))] {
            let events = vec![
                ev(1, Transport::Tcp, c, d, TapKind::TcpOpen),
                data(2, Transport::Tcp, c, d, big.as_bytes()),
                data(3, Transport::Tcp, d, c, b"\r\n"),
            ];
            let out = pcap(&events);
            assert_eq!(assert_seq_ack_consistent(&out), 3 + 2 + 1);
            let sizes: Vec<_> = tcp_frames(&out).iter().map(|f| f.len).collect();
            assert_eq!(sizes, [0, 0, 0, MAX_TCP_SEGMENT, big.as_bytes().len() - MAX_TCP_SEGMENT, 2]);
            let records = sip_messages(&read_capture_bytes(&out).unwrap());
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].frame, 5);
            assert_eq!(records[0].result.as_ref().unwrap().as_bytes(), big.as_bytes());
        }
    }

    #[test]
    fn data_without_a_recorded_open_gets_a_handshake_first() {
        let (c, d) = (addr("127.0.0.1:40200"), addr("127.0.0.1:5061"));
        let out = pcap(&[data(1, Transport::Tcp, d, c, b"hello")]);
        let frames = tcp_frames(&out);
        let shape: Vec<_> = frames.iter().map(|f| (f.src, f.syn, f.len)).collect();
        assert_eq!(shape, [(d, true, 0), (c, true, 0), (d, false, 0), (d, false, 5)], "the sender is taken as client");
        assert_seq_ack_consistent(&out);
    }

    #[test]
    fn reopening_a_closed_four_tuple_starts_a_new_connection_with_a_new_isn() {
        let (c, d) = (addr("127.0.0.1:40300"), addr("127.0.0.1:5061"));
        let events = vec![
            data(1, Transport::Tcp, c, d, b"one"),
            ev(2, Transport::Tcp, c, d, TapKind::TcpClose),
            ev(3, Transport::Tcp, c, d, TapKind::TcpClose), // Repeated: ignored.
            ev(4, Transport::Tcp, d, c, TapKind::TcpClose),
            ev(5, Transport::Tcp, c, d, TapKind::TcpOpen),
            ev(6, Transport::Tcp, d, c, TapKind::TcpOpen), // The same connection seen from the other side.
            data(7, Transport::Tcp, c, d, b"two"),
        ];
        let out = pcap(&events);
        assert_eq!(assert_seq_ack_consistent(&out), 4 + 2 + 2 + 4);
        let syns: Vec<_> = tcp_frames(&out).iter().filter(|f| f.syn && f.src == c).map(|f| f.seq).collect();
        assert_eq!(syns.len(), 2);
        assert_ne!(syns[0], syns[1]);
    }

    #[test]
    fn an_oversized_udp_datagram_is_an_error_naming_the_event() {
        let (a, b) = (addr("127.0.0.1:5060"), addr("127.0.0.1:5070"));
        let events = vec![data(1, Transport::Udp, a, b, b"ok"), data(2, Transport::Udp, a, b, &vec![b'x'; 65_508])];
        let e = write_pcap(&events, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, TraceError::Event { event: 1, .. }), "{e}");
        assert!(e.to_string().contains("65507"), "{e}");
        // IPv6 carries up to 65 527 bytes.
        let (a6, b6) = (addr("[::1]:5060"), addr("[::1]:5070"));
        assert_eq!(write_pcap(&[data(1, Transport::Udp, a6, b6, &vec![b'x'; 65_527])], &mut Vec::new()).unwrap(), 1);
    }

    #[test]
    fn write_pcap_file_creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.pcap");
        let sc = scenario();
        assert_eq!(write_pcap_file(&sc.events, &path).unwrap(), sc.packets);
        assert_eq!(std::fs::read(&path).unwrap(), pcap(&sc.events));
    }
}
