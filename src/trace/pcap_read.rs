//! Reading pcap and pcapng captures into [`Packet`]s: one per UDP datagram or TCP segment over
//! IPv4 or IPv6, numbered as tshark numbers frames (frames that are not IP/UDP/TCP are skipped
//! but still counted).
//!
//! Link types: ETHERNET, NULL (BSD loopback), RAW, LINUX_SLL, LINUX_SLL2, IPV4, IPV6. IPv4
//! and IPv6 fragments are reassembled ([`defrag`](super::defrag)); the datagram is numbered by
//! the frame of its last fragment, as tshark shows it, and one that never completes is skipped
//! with a note. pcapng comments are kept: the section header's (our metadata document) and
//! each packet's (`step N`).
//! The reader never panics and always terminates: every defect of the input is a
//! [`TraceError`] naming the file, the frame and what was expected.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TcpSlice, TransportSlice, UdpSlice};
use pcap_parser::data::{PacketData, get_packetdata};
use pcap_parser::pcapng::{OptionCode, PcapNGOption};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError, create_reader};

use super::TraceError;
use super::defrag::{Defragmenter, Fragment, FragmentKey};
use crate::net::tap::Transport;

/// TCP header fields of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `ack` is set).
    pub ack_number: u32,
    /// SYN flag.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// PSH flag.
    pub psh: bool,
    /// Window field, unscaled.
    pub window: u16,
}

/// One UDP datagram or TCP segment from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// 1-based frame number, counting every frame of the file as tshark does.
    pub number: usize,
    /// Capture timestamp (since the Unix epoch, or since the recorder started for our own
    /// captures).
    pub at: Duration,
    /// UDP or TCP.
    pub transport: Transport,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// TCP header fields, for TCP.
    pub tcp: Option<TcpInfo>,
    /// Transport payload as captured.
    pub payload: Vec<u8>,
    /// The capture holds fewer bytes than the IP header announces (snap length): `payload` is
    /// only the beginning of what was sent.
    pub truncated: bool,
    /// The frame's first pcapng comment (`opt_comment`); our captures put `step N` there.
    pub comment: Option<String>,
}

/// A whole capture: its packets, the comments of its section headers and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// UDP datagrams and TCP segments, in frame order.
    pub packets: Vec<Packet>,
    /// The `opt_comment`s of every pcapng section header block, in file order.
    pub section_comments: Vec<String>,
    /// What was skipped and why, each naming the file and frames (IP datagrams whose fragments
    /// never all arrived).
    pub notes: Vec<String>,
}

/// Reads a pcap or pcapng file with its comments and notes.
pub fn read_capture_file(path: impl AsRef<Path>) -> Result<Capture, TraceError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io { file: file.clone(), action: "read", source })?;
    read_named(&bytes, &file)
}

/// Reads a pcap or pcapng capture held in memory, with its comments and notes; errors name
/// `file`.
pub fn parse_capture(bytes: &[u8], file: &str) -> Result<Capture, TraceError> {
    read_named(bytes, file)
}

/// Reads a pcap or pcapng file.
pub fn read_capture(path: impl AsRef<Path>) -> Result<Vec<Packet>, TraceError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    // Captures of a scenario are small: reading the whole file first keeps the reader's buffer
    // logic simple (a record can never be larger than the buffer).
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io { file: file.clone(), action: "read", source })?;
    Ok(read_named(&bytes, &file)?.packets)
}

/// Reads a pcap or pcapng capture held in memory (errors name the file `<memory>`).
pub fn read_capture_bytes(bytes: &[u8]) -> Result<Vec<Packet>, TraceError> {
    Ok(read_named(bytes, "<memory>")?.packets)
}

const PCAPNG_MAGIC: u32 = 0x0A0D_0D0A;
/// Magic numbers of classic pcap as read little-endian: microsecond, nanosecond and
/// "modified" (Kuznetzov) formats, in both byte orders.
const PCAP_MAGICS: [u32; 6] = [0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1, 0xa1b2_cd34, 0x34cd_b2a1];

/// Link types we decode.
fn supported(l: Linktype) -> bool {
    [
        Linktype::ETHERNET,
        Linktype::NULL,
        Linktype::RAW,
        Linktype::LINUX_SLL,
        Linktype::LINUX_SLL2,
        Linktype::IPV4,
        Linktype::IPV6,
    ]
    .contains(&l)
}

fn unsupported(l: Linktype) -> String {
    format!("unsupported link type {l} ({}): expected ETHERNET, NULL, RAW, LINUX_SLL, LINUX_SLL2, IPV4 or IPV6", l.0)
}

/// Checks the first bytes, so that an empty, short or foreign file gets a precise message
/// instead of the parser's generic "header not recognized".
fn check_magic(bytes: &[u8], file: &str) -> Result<bool, TraceError> {
    let err = |what: String| TraceError::File { file: file.to_owned(), what };
    let expected = "expected a pcap (magic a1b2c3d4 or a1b23c4d) or pcapng (0a0d0d0a) file";
    let Some(head) = bytes.first_chunk::<4>() else {
        return Err(if bytes.is_empty() {
            err(format!("empty file: {expected}"))
        } else {
            err(format!("truncated file header: {} bytes; {expected}", bytes.len()))
        });
    };
    let magic = u32::from_le_bytes(*head);
    if magic == PCAPNG_MAGIC {
        if bytes.len() < 28 {
            return Err(err(format!("truncated pcapng section header block: {} of at least 28 bytes", bytes.len())));
        }
        return Ok(true);
    }
    if PCAP_MAGICS.contains(&magic) {
        if bytes.len() < 24 {
            return Err(err(format!("truncated pcap file header: {} of 24 bytes", bytes.len())));
        }
        return Ok(false);
    }
    Err(err(format!("bad magic {magic:08x}: {expected}")))
}

/// Per-interface state of a pcapng section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second; `None` when `if_tsresol` is invalid.
    resolution: Option<u64>,
    offset: i64,
}

/// Why the parser stopped, without the borrow of its buffer.
enum Fault {
    Incomplete,
    Truncated,
    Malformed(String),
    Other(String),
}

struct Reader<'f> {
    file: &'f str,
    /// Frames seen so far (packet records and packet blocks).
    frames: usize,
    /// Link type and nanosecond flag of a classic pcap.
    legacy: Option<(Linktype, bool)>,
    interfaces: Vec<Interface>,
    defrag: Defragmenter,
    capture: Capture,
}

fn read_named(bytes: &[u8], file: &str) -> Result<Capture, TraceError> {
    let pcapng = check_magic(bytes, file)?;
    let mut st = Reader {
        file,
        frames: 0,
        legacy: None,
        interfaces: Vec::new(),
        defrag: Defragmenter::new(),
        capture: Capture::default(),
    };
    // The buffer holds the whole input, so `BufferTooSmall` can only mean that a record claims
    // more bytes than the file has left.
    let capacity = bytes.len() + 1;
    let mut reader = create_reader(capacity, bytes).map_err(|e| {
        let what = match (e, pcapng) {
            (_, true) => "malformed or truncated pcapng section header block".to_owned(),
            (PcapError::Incomplete(_) | PcapError::Eof | PcapError::UnexpectedEof, false) => {
                "truncated pcap file header".to_owned()
            }
            (e, false) => format!("unreadable pcap file header: {e:?}"),
        };
        TraceError::File { file: file.to_owned(), what }
    })?;
    loop {
        // Classify the error into owned values first: it borrows the reader's buffer.
        let fault = match reader.next() {
            Ok((offset, block)) => {
                st.block(block)?;
                reader.consume(offset);
                continue;
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => Fault::Incomplete,
            Err(PcapError::UnexpectedEof | PcapError::BufferTooSmall) => Fault::Truncated,
            Err(PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind)) => {
                Fault::Malformed(format!("{kind:?}"))
            }
            Err(e) => Fault::Other(format!("{e:?}")),
        };
        let unit = if st.legacy.is_some() { "record" } else { "pcapng block" };
        let what = match fault {
            Fault::Incomplete if !reader.reader_exhausted() => {
                let before = reader.data().len();
                if reader.refill().is_err() {
                    "the reader failed to refill its buffer".to_owned()
                } else if reader.data().len() == before && !reader.reader_exhausted() {
                    "the reader made no progress".to_owned()
                } else {
                    continue;
                }
            }
            // The parser reports the end of input this way when its buffer was not rewound.
            Fault::Incomplete | Fault::Truncated if reader.data().is_empty() => break,
            Fault::Incomplete | Fault::Truncated => {
                let left = reader.data().len();
                format!("truncated {unit}: the file ends {left} bytes into it; expected a complete {unit}")
            }
            Fault::Malformed(kind) => format!("malformed {unit} ({kind})"),
            Fault::Other(e) => format!("unreadable data: {e}"),
        };
        return Err(TraceError::Frame { file: file.to_owned(), frame: st.frames + 1, what });
    }
    for i in st.defrag.finish() {
        let frames = if i.first_frame == i.last_frame {
            format!("frame {}", i.first_frame)
        } else {
            format!("frames {}-{}", i.first_frame, i.last_frame)
        };
        st.capture.notes.push(format!(
            "{file}: {frames}: skipped an IP datagram of which only {} bytes of fragments arrived ({})",
            i.held, i.why
        ));
    }
    Ok(st.capture)
}

/// The first `opt_comment` among pcapng options (UTF-8; anything else is not ours).
fn comment(options: &[PcapNGOption<'_>]) -> Option<String> {
    options.iter().find(|o| o.code == OptionCode::Comment).and_then(|o| o.as_str().ok()).map(str::to_owned)
}

impl Reader<'_> {
    fn frame_err(&self, what: String) -> TraceError {
        TraceError::Frame { file: self.file.to_owned(), frame: self.frames, what }
    }

    fn block(&mut self, block: PcapBlockOwned<'_>) -> Result<(), TraceError> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                if !supported(h.network) {
                    return Err(TraceError::File { file: self.file.to_owned(), what: unsupported(h.network) });
                }
                self.legacy = Some((h.network, h.is_nanosecond_precision()));
            }
            PcapBlockOwned::Legacy(b) => {
                self.frames += 1;
                let Some((linktype, nanos)) = self.legacy else {
                    return Err(self.frame_err("packet record before the file header".into()));
                };
                let frac = if nanos { u64::from(b.ts_usec) } else { u64::from(b.ts_usec) * 1000 };
                let at = Duration::from_secs(u64::from(b.ts_sec)) + Duration::from_nanos(frac);
                let len = b.data.len().min(b.caplen as usize);
                self.packet(linktype, at, &b.data[..len], None)?;
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                self.interfaces.clear();
                self.capture.section_comments.extend(comment(&shb.options));
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => self.interfaces.push(Interface {
                linktype: idb.linktype,
                resolution: idb.ts_resolution(),
                offset: idb.ts_offset(),
            }),
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                self.frames += 1;
                let iface = self.interface(epb.if_id)?;
                let Some(res) = iface.resolution.filter(|r| *r > 0) else {
                    return Err(self.frame_err(format!("interface {} has an invalid if_tsresol", epb.if_id)));
                };
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let nanos = u128::from(ts % res) * 1_000_000_000 / u128::from(res);
                let mut at = Duration::from_secs(ts / res) + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
                let shift = Duration::from_secs(iface.offset.unsigned_abs());
                at = if iface.offset >= 0 { at.saturating_add(shift) } else { at.saturating_sub(shift) };
                self.packet(iface.linktype, at, epb.packet_data(), comment(&epb.options))?;
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                self.frames += 1;
                let iface = self.interface(0)?;
                self.packet(iface.linktype, Duration::ZERO, spb.packet_data(), None)?;
            }
            PcapBlockOwned::NG(_) => {}
        }
        Ok(())
    }

    fn interface(&self, id: u32) -> Result<Interface, TraceError> {
        let Some(iface) = self.interfaces.get(id as usize).copied() else {
            return Err(self.frame_err(format!(
                "packet on interface {id}, but the section describes {} interface(s)",
                self.interfaces.len()
            )));
        };
        if !supported(iface.linktype) {
            return Err(self.frame_err(format!("interface {id}: {}", unsupported(iface.linktype))));
        }
        Ok(iface)
    }

    /// Decodes one frame; keeps it when it is UDP or TCP over IP, or when it completes a
    /// fragmented one.
    fn packet(
        &mut self,
        linktype: Linktype,
        at: Duration,
        data: &[u8],
        comment: Option<String>,
    ) -> Result<(), TraceError> {
        let sliced = match get_packetdata(data, linktype, data.len()) {
            Some(PacketData::L2(d)) => LaxSlicedPacket::from_ethernet(d).ok(),
            // NULL carries the address family in host byte order and RAW has no type at all:
            // the IP version nibble decides. Linux cooked headers name the protocol.
            Some(PacketData::L3(ethertype, d))
                if matches!(ethertype, 0x0800 | 0x86DD)
                    || [Linktype::NULL, Linktype::RAW, Linktype::IPV4, Linktype::IPV6].contains(&linktype) =>
            {
                LaxSlicedPacket::from_ip(d).ok()
            }
            _ => None,
        };
        let Some(sliced) = sliced else { return Ok(()) };
        // (source, destination, cut by the snap length, fragment id/offset/more, IP payload)
        let (src_ip, dst_ip, truncated, fragment, ip_payload) = match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => {
                let h = ip.header();
                let fragment = h.is_fragmenting_payload().then(|| {
                    (u32::from(h.identification()), usize::from(h.fragments_offset().byte_offset()), h.more_fragments())
                });
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    ip.payload().incomplete,
                    fragment,
                    ip.payload(),
                )
            }
            Some(LaxNetSlice::Ipv6(ip)) => {
                let h = ip.header();
                let fragment = ipv6_fragment(h.next_header().0, ip.extensions().slice());
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    ip.payload().incomplete,
                    fragment,
                    ip.payload(),
                )
            }
            _ => return Ok(()),
        };
        let Some((id, offset, more)) = fragment else {
            self.push(at, src_ip, dst_ip, truncated, sliced.transport.as_ref(), comment);
            return Ok(());
        };
        if truncated {
            let what = format!("frame {}: an IP fragment cut by the snap length; its datagram is skipped", self.frames);
            self.capture.notes.push(format!("{}: {what}", self.file));
            return Ok(());
        }
        let protocol = ip_payload.ip_number.0;
        let key = FragmentKey { src: src_ip, dst: dst_ip, id, protocol };
        let piece = Fragment { key, offset, more, data: ip_payload.payload };
        let whole = match self.defrag.add(self.frames, piece) {
            Ok(Some(whole)) => whole,
            Ok(None) => return Ok(()),
            Err(e) => return Err(self.frame_err(e.0)),
        };
        let transport = match protocol {
            17 => UdpSlice::from_slice(&whole)
                .map(TransportSlice::Udp)
                .map_err(|e| self.frame_err(format!("reassembled IP datagram: unreadable UDP header: {e}")))?,
            6 => TcpSlice::from_slice(&whole)
                .map(TransportSlice::Tcp)
                .map_err(|e| self.frame_err(format!("reassembled IP datagram: unreadable TCP header: {e}")))?,
            _ => return Ok(()),
        };
        self.push(at, src_ip, dst_ip, false, Some(&transport), comment);
        Ok(())
    }

    fn push(
        &mut self,
        at: Duration,
        src_ip: IpAddr,
        dst_ip: IpAddr,
        truncated: bool,
        transport: Option<&TransportSlice<'_>>,
        comment: Option<String>,
    ) {
        let (transport, sport, dport, tcp, payload) = match transport {
            Some(TransportSlice::Udp(u)) => (Transport::Udp, u.source_port(), u.destination_port(), None, u.payload()),
            Some(TransportSlice::Tcp(t)) => {
                let info = TcpInfo {
                    seq: t.sequence_number(),
                    ack_number: t.acknowledgment_number(),
                    syn: t.syn(),
                    ack: t.ack(),
                    fin: t.fin(),
                    rst: t.rst(),
                    psh: t.psh(),
                    window: t.window_size(),
                };
                (Transport::Tcp, t.source_port(), t.destination_port(), Some(info), t.payload())
            }
            _ => return,
        };
        self.capture.packets.push(Packet {
            number: self.frames,
            at,
            transport,
            src: SocketAddr::new(src_ip, sport),
            dst: SocketAddr::new(dst_ip, dport),
            tcp,
            payload: payload.to_vec(),
            truncated,
            comment,
        });
    }
}

/// The Fragment header of an IPv6 packet, if it is a fragment: (identification, byte offset,
/// more fragments). Walks the extension chain `ext` (the bytes after the fixed header, first
/// header type `next`) with every length checked. Written by hand because etherparse 0.21's
/// extension iterator reads past a truncated header in lax mode (an unchecked slice index,
/// found by the `capture_read` fuzz target).
fn ipv6_fragment(mut next: u8, ext: &[u8]) -> Option<(u32, usize, bool)> {
    let mut rest = ext;
    loop {
        let len = match next {
            // Fragment: fixed 8 octets (RFC 8200 §4.5).
            44 => 8,
            // Authentication Header: length in 4-octet units, minus 2 (RFC 4302 §2.2).
            51 => (usize::from(*rest.get(1)?) + 2) * 4,
            // Hop-by-hop, Routing, Destination Options, Mobility, HIP, Shim6: 8-octet units,
            // minus 1 (RFC 8200 §4.2).
            0 | 43 | 60 | 135 | 139 | 140 => (usize::from(*rest.get(1)?) + 1) * 8,
            _ => return None,
        };
        let header = rest.get(..len)?;
        if next == 44 {
            let word = u16::from_be_bytes([header[2], header[3]]);
            let (offset, more) = (usize::from(word >> 3) * 8, word & 1 == 1);
            let id = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            return (offset != 0 || more).then_some((id, offset, more));
        }
        next = header[0];
        rest = &rest[len..];
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    use super::*;
    use crate::net::tap::TapEvent;
    use crate::trace::test_support::{request, scenario};
    use crate::trace::{sip_messages, write_pcap};

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/pcap/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn written(events: &[TapEvent]) -> Vec<u8> {
        let mut out = Vec::new();
        write_pcap(events, &mut out).unwrap();
        out
    }

    /// A little-endian microsecond pcap with `linktype` and one record per frame, stamped
    /// 1.000002 s, 2.000004 s, …
    fn pcap_with(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, linktype] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for (i, f) in frames.iter().enumerate() {
            let n = i as u32 + 1;
            for w in [n, 2 * n, f.len() as u32, f.len() as u32] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(f);
        }
        out
    }

    /// A pcapng block: type, total length, body padded to 32 bits, total length.
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut out = [kind.to_le_bytes(), len.to_le_bytes()].concat();
        out.extend_from_slice(body);
        out.resize(8 + padded, 0);
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    fn shb() -> Vec<u8> {
        let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(0x0A0D_0D0A, &body)
    }

    fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = [linktype.to_le_bytes(), [0, 0]].concat();
        body.extend_from_slice(&0u32.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0, 0, 0, 0, 0]); // if_tsresol, opt_endofopt
        }
        block(1, &body)
    }

    fn epb(if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for w in [if_id, (ts >> 32) as u32, ts as u32, data.len() as u32, data.len() as u32] {
            body.extend_from_slice(&w.to_le_bytes());
        }
        body.extend_from_slice(data);
        block(6, &body)
    }

    fn udp_v4(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 2], 64)
            .udp(5060, 5070)
            .write_to_vec(&mut out, payload)
            .unwrap();
        out
    }

    fn udp_v6(payload: &[u8]) -> Vec<u8> {
        let (a, b) = (std::net::Ipv6Addr::LOCALHOST.octets(), std::net::Ipv6Addr::LOCALHOST.octets());
        let mut out = Vec::new();
        PacketBuilder::ipv6(a, b, 64).udp(5060, 5071).write_to_vec(&mut out, payload).unwrap();
        out
    }

    fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = [[2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]].concat();
        out.extend_from_slice(&ethertype.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn file_err(bytes: &[u8]) -> String {
        match read_capture_bytes(bytes) {
            Err(e @ TraceError::File { .. }) => e.to_string(),
            other => panic!("expected a file-level error, got {other:?}"),
        }
    }

    #[test]
    fn empty_short_and_foreign_files_are_clear_errors() {
        assert!(file_err(b"").contains("empty file"));
        assert!(file_err(&[0xd4, 0xc3, 0xb2]).contains("truncated file header: 3 bytes"));
        assert!(file_err(&written(&[])[..10]).contains("truncated pcap file header: 10 of 24 bytes"));
        assert!(file_err(&shb()[..20]).contains("truncated pcapng section header block"));
        let e = file_err(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert!(e.starts_with("<memory>: bad magic 20544547: expected a pcap"), "{e}");
    }

    #[test]
    fn unsupported_link_types_are_named() {
        let e = file_err(&pcap_with(108, &[]));
        assert!(e.contains("unsupported link type LOOP (108)"), "{e}");
        assert!(file_err(&pcap_with(105, &[])).contains("(105)"));
        let ng = [shb(), idb(1, None), idb(189, None), epb(0, 0, &ethernet(0x0800, &udp_v4(b"x"))), epb(1, 0, b"usb")];
        let e = read_capture_bytes(&ng.concat()).unwrap_err();
        assert_eq!(e.frame(), Some(2), "{e}");
        assert!(e.to_string().contains("interface 1: unsupported link type"), "{e}");
    }

    #[test]
    fn every_truncation_of_a_valid_pcap_names_the_cut_frame_or_reads_whole_frames() {
        let full = written(&scenario().events);
        let whole = read_capture_bytes(&full).unwrap();
        // Offsets where records end.
        let mut ends = vec![24];
        while *ends.last().unwrap() < full.len() {
            let at = *ends.last().unwrap();
            let caplen = u32::from_le_bytes(full[at + 8..at + 12].try_into().unwrap()) as usize;
            ends.push(at + 16 + caplen);
        }
        for len in 0..full.len() {
            let got = read_capture_bytes(&full[..len]);
            if len < 24 {
                assert!(matches!(got, Err(TraceError::File { .. })), "{len}: {got:?}");
            } else if let Some(complete) = ends.iter().position(|e| *e == len) {
                let packets = got.unwrap_or_else(|e| panic!("cut at a record boundary ({len}) reads: {e}"));
                assert_eq!(packets, whole[..complete], "{len}");
            } else {
                let complete = ends.iter().filter(|e| **e < len).count() - 1;
                let e = got.unwrap_err();
                assert_eq!(e.frame(), Some(complete + 1), "{len}: {e}");
                assert!(e.to_string().contains("truncated record"), "{e}");
            }
        }
    }

    #[test]
    fn every_truncation_of_a_pcapng_errors_or_reads_without_panicking() {
        let full = std::fs::read(fixture("written_by_us_editcap.pcapng")).unwrap();
        let whole = read_capture_bytes(&full).unwrap();
        for len in 0..full.len() {
            match read_capture_bytes(&full[..len]) {
                Ok(p) => assert_eq!(p, whole[..p.len()], "{len}"),
                Err(TraceError::Frame { frame, what, .. }) => {
                    assert!(frame <= whole.len() + 1 && what.contains("truncated"), "{len}: {frame} {what}");
                }
                Err(TraceError::File { what, .. }) => assert!(len < 28 || what.contains("pcapng"), "{len}: {what}"),
                Err(e) => panic!("{len}: {e}"),
            }
        }
    }

    #[test]
    fn pcapng_interfaces_give_link_type_and_timestamp_resolution_and_every_frame_is_counted() {
        let sip = request(1, "ng").as_bytes().to_vec();
        let arp = ethernet(0x0806, &[0; 28]);
        let spb = block(3, &[(udp_v4(b"spb").len() as u32).to_le_bytes().to_vec(), udp_v4(b"spb")].concat());
        let ng = [
            shb(),
            idb(1, Some(9)), // Ethernet, nanoseconds
            idb(101, None),  // RAW, microseconds (default)
            epb(0, 1_500_000_001, &ethernet(0x0800, &udp_v4(&sip))),
            epb(0, 2_000_000_000, &arp),
            epb(1, 3_000_002, &udp_v6(b"v6")),
            block(0x0000_0BAD, b"custom block, skipped"),
            shb(), // A new section: interfaces start over.
            idb(101, None),
            spb,
        ]
        .concat();
        let p = read_capture_bytes(&ng).unwrap();
        let got: Vec<_> = p.iter().map(|p| (p.number, p.at, p.payload.clone())).collect();
        assert_eq!(
            got,
            vec![
                (1, Duration::new(1, 500_000_001), sip.clone()),
                (3, Duration::new(3, 2_000), b"v6".to_vec()),
                (4, Duration::ZERO, b"spb".to_vec()),
            ]
        );
        assert_eq!(p[1].src, "[::1]:5060".parse().unwrap());
        let records = sip_messages(&p);
        assert_eq!(
            records.iter().map(|r| (r.frame, r.result.is_ok())).collect::<Vec<_>>(),
            [(1, true), (3, false), (4, false)]
        );
        let orphan = [shb(), epb(0, 0, b"x")].concat();
        assert!(read_capture_bytes(&orphan).unwrap_err().to_string().contains("frame 1: packet on interface 0"));
    }

    #[test]
    fn null_raw_linux_cooked_and_raw_ip_link_types_decode() {
        let v4 = udp_v4(b"four");
        let v6 = udp_v6(b"six");
        let sll = |proto: u16, ip: &[u8]| [&[0, 0, 3, 4, 0, 6][..], &[0; 8], &proto.to_be_bytes(), ip].concat();
        let sll2 = |proto: u16, ip: &[u8]| [&proto.to_be_bytes()[..], &[0; 6], &[3, 4, 0, 6], &[0; 8], ip].concat();
        let cases: [(u32, Vec<Vec<u8>>); 6] = [
            // BSD loopback: family in host order; the second record is a big-endian host's.
            (0, vec![[&2u32.to_le_bytes()[..], &v4].concat(), [&30u32.to_be_bytes()[..], &v6].concat()]),
            (101, vec![v4.clone(), v6.clone()]),
            (113, vec![sll(0x0800, &v4), sll(0x86DD, &v6), sll(0x0806, &[0; 28])]),
            (276, vec![sll2(0x0800, &v4), sll2(0x86DD, &v6)]),
            (228, vec![v4.clone()]),
            (229, vec![v6.clone()]),
        ];
        for (linktype, frames) in cases {
            let p = read_capture_bytes(&pcap_with(linktype, &frames)).unwrap();
            let want: &[&[u8]] = if linktype == 228 {
                &[b"four"]
            } else if linktype == 229 {
                &[b"six"]
            } else {
                &[b"four", b"six"]
            };
            let got: Vec<_> = p.iter().map(|p| p.payload.as_slice()).collect();
            assert_eq!(got, want, "link type {linktype}");
            assert_eq!(p[0].at, Duration::new(1, 2_000));
            assert_eq!(p[0].transport, Transport::Udp);
        }
    }

    #[test]
    fn a_datagram_cut_by_the_snap_length_is_flagged_and_reported() {
        let sip = request(1, "cut by snaplen");
        let frame = ethernet(0x0800, &udp_v4(sip.as_bytes()));
        let mut file = pcap_with(1, &[frame[..frame.len() - 10].to_vec()]);
        file[24 + 12..24 + 16].copy_from_slice(&(frame.len() as u32).to_le_bytes()); // origlen
        let p = read_capture_bytes(&file).unwrap();
        assert!(p[0].truncated);
        let r = sip_messages(&p);
        assert!(r[0].result.as_ref().unwrap_err().detail.contains("only the first"), "{r:?}");
    }

    /// The IPv4 packet `ip` (header without options) cut into fragments of `size` payload bytes.
    fn v4_fragments(ip: &[u8], size: usize) -> Vec<Vec<u8>> {
        let (h, payload) = etherparse::Ipv4Header::from_slice(ip).unwrap();
        let pieces: Vec<&[u8]> = payload.chunks(size).collect();
        let last = pieces.len() - 1;
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut h = h.clone();
                h.identification = 0x1234;
                h.more_fragments = i < last;
                h.fragment_offset = etherparse::IpFragOffset::try_new((i * size / 8) as u16).unwrap();
                h.total_len = (20 + piece.len()) as u16;
                h.header_checksum = h.calc_header_checksum();
                [h.to_bytes().to_vec(), piece.to_vec()].concat()
            })
            .collect()
    }

    /// The IPv6 packet `ip` (no extension headers) cut into fragments with a Fragment header.
    fn v6_fragments(ip: &[u8], size: usize) -> Vec<Vec<u8>> {
        let (head, payload) = ip.split_at(40);
        let next = head[6];
        let pieces: Vec<&[u8]> = payload.chunks(size).collect();
        let last = pieces.len() - 1;
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let mut h = head.to_vec();
                h[4..6].copy_from_slice(&((8 + piece.len()) as u16).to_be_bytes());
                h[6] = 44; // Fragment
                let off = ((i * size) as u16) | u16::from(i < last);
                h.extend_from_slice(&[next, 0]);
                h.extend_from_slice(&off.to_be_bytes());
                h.extend_from_slice(&0xBEEFu32.to_be_bytes());
                [h, piece.to_vec()].concat()
            })
            .collect()
    }

    #[test]
    fn fragmented_udp_over_ipv4_and_ipv6_is_reassembled_at_its_last_fragment_in_any_order() {
        let sip = request(1, &"f".repeat(3000)).as_bytes().to_vec();
        let mut v4 = v4_fragments(&udp_v4(&sip), 1480);
        assert_eq!(v4.len(), 3);
        v4.swap(0, 2); // The last fragment first, as a reordering path may deliver.
        let mut frames: Vec<Vec<u8>> = v4.iter().map(|f| ethernet(0x0800, f)).collect();
        frames.extend(v6_fragments(&udp_v6(&sip), 1232).iter().map(|f| ethernet(0x86DD, f)));
        let p = read_capture_bytes(&pcap_with(1, &frames)).unwrap();
        let got: Vec<_> = p.iter().map(|p| (p.number, p.src, p.payload == sip)).collect();
        assert_eq!(
            got,
            [(3, "127.0.0.1:5060".parse().unwrap(), true), (frames.len(), "[::1]:5060".parse().unwrap(), true)]
        );
        assert_eq!(sip_messages(&p).iter().filter(|r| r.result.is_ok()).count(), 2);
    }

    #[test]
    fn a_datagram_missing_a_fragment_is_skipped_with_a_note_and_an_impossible_fragment_is_an_error() {
        let sip = request(1, &"f".repeat(3000)).as_bytes().to_vec();
        let v4 = v4_fragments(&udp_v4(&sip), 1480);
        let frames = [ethernet(0x0800, &v4[0]), ethernet(0x0800, &udp_v4(b"whole")), ethernet(0x0800, &v4[2])];
        let c = parse_capture(&pcap_with(1, &frames), "lost.pcap").unwrap();
        assert_eq!(c.packets.iter().map(|p| p.payload.as_slice()).collect::<Vec<_>>(), [b"whole"]);
        assert_eq!(c.notes.len(), 1);
        assert!(c.notes[0].starts_with("lost.pcap: frames 1-3: skipped an IP datagram"), "{:?}", c.notes);
        // A middle fragment whose length is not a multiple of 8.
        let mut odd = v4_fragments(&udp_v4(&sip), 1480);
        odd[1].pop();
        let mut h = etherparse::Ipv4Header::from_slice(&odd[1]).unwrap().0;
        h.total_len -= 1;
        h.header_checksum = h.calc_header_checksum();
        odd[1][..20].copy_from_slice(&h.to_bytes());
        let frames: Vec<Vec<u8>> = odd.iter().map(|f| ethernet(0x0800, f)).collect();
        let e = parse_capture(&pcap_with(1, &frames), "odd.pcap").unwrap_err();
        assert_eq!(e.frame(), Some(2), "{e}");
        assert!(e.to_string().starts_with("odd.pcap: frame 2: IP fragment at offset 1480"), "{e}");
    }

    #[test]
    fn real_loopback_captures_give_the_messages_tshark_shows() {
        for name in ["loopback_lo.pcapng", "loopback_any_sll.pcap"] {
            let records = sip_messages(&read_capture(fixture(name)).unwrap());
            let got: Vec<_> = records
                .iter()
                .map(|r| {
                    let m = r.result.as_ref().expect("parses");
                    (r.frame, m.value("CSeq").unwrap().into_owned(), m.body().len())
                })
                .collect();
            let want = [
                (1, "1 MESSAGE", 3),
                (7, "2 MESSAGE", 5),
                (7, "3 MESSAGE", 9),
                (13, "4 MESSAGE", 70_000),
                (16, "99 MESSAGE", 3),
            ];
            let want: Vec<_> = want.iter().map(|(f, c, n)| (*f, c.to_string(), *n)).collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(crate::trace::sip_count(fixture(name)).unwrap(), 5);
        }
    }

    #[test]
    fn wiresharks_conversions_of_our_output_read_back_identically() {
        let ours = read_capture_bytes(&written(&scenario().events)).unwrap();
        for name in ["written_by_us_editcap.pcapng", "written_by_us_nsec.pcap"] {
            assert_eq!(read_capture(fixture(name)).unwrap(), ours, "{name}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(p) = read_capture_bytes(&bytes) {
                sip_messages(&p);
            }
        }

        #[test]
        fn corrupting_a_valid_capture_never_panics(
            pcapng in any::<bool>(),
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = if pcapng {
                std::fs::read(fixture("written_by_us_editcap.pcapng")).unwrap()
            } else {
                written(&scenario().events)
            };
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Ok(p) = read_capture_bytes(&bytes) {
                sip_messages(&p);
            }
        }
    }
}
