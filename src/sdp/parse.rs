//! Text → model. Lines end in CRLF or bare LF; line kinds must come in RFC 8866 §5 order (which
//! is what lets the model write them back byte for byte); every fault names its line.

use super::attr::{Attribute, num};
use super::error::{Result, SdpError};
use super::session::{Bandwidth, BwType, Connection, Media, MediaKind, Origin, Proto, RawLine, Sdp, Timing};

/// Largest SDP body read (a Lync audio+video offer is about 4 KiB).
pub const MAX_BYTES: usize = 64 * 1024;
/// Most lines read.
pub const MAX_LINES: usize = 1000;
/// Most media sections read.
pub const MAX_MEDIA: usize = 16;

const ORDER: &str = "lines in RFC 8866 order (v o s i u e p c b t r z k a, then m i c b k a)";

/// Session-level rank of a line kind; equal ranks may repeat unless `once`.
fn session_rank(kind: char) -> Option<(u8, bool)> {
    Some(match kind {
        'i' => (3, true),
        'u' => (4, true),
        'e' => (5, false),
        'p' => (6, false),
        'c' => (7, true),
        'b' => (8, false),
        't' | 'r' => (9, false),
        'z' => (10, true),
        'k' => (11, true),
        'a' => (12, false),
        _ => return None,
    })
}

fn media_rank(kind: char) -> Option<(u8, bool)> {
    Some(match kind {
        'i' => (1, true),
        'c' => (2, true),
        'b' => (3, false),
        'k' => (4, true),
        'a' => (5, false),
        _ => return None,
    })
}

struct Line<'a> {
    no: usize,
    text: &'a str,
}

impl Line<'_> {
    fn err(&self, expected: impl Into<String>) -> SdpError {
        SdpError::syntax(self.no, self.text, expected)
    }

    fn kind(&self) -> char {
        char::from(self.text.as_bytes()[0])
    }

    fn value(&self) -> &str {
        &self.text[2..]
    }
}

fn origin(l: &Line<'_>) -> Result<Origin> {
    const E: &str = "`o=<username> <sess-id> <sess-version> IN <IP4|IP6> <address>`";
    let Some(v) = l.text.strip_prefix("o=") else { return Err(l.err(E)) };
    let mut t = v.splitn(4, ' ');
    let (Some(user), Some(id), Some(ver), Some(conn)) = (t.next(), t.next(), t.next(), t.next()) else {
        return Err(l.err(E));
    };
    let connection = Connection::parse(conn).ok_or_else(|| l.err(E))?;
    if user.is_empty() {
        return Err(l.err(E));
    }
    Ok(Origin {
        username: user.to_owned(),
        session_id: num(id, E).map_err(|e| l.err(e))?,
        session_version: num(ver, E).map_err(|e| l.err(e))?,
        connection,
    })
}

fn bandwidth(l: &Line<'_>) -> Result<Bandwidth> {
    const E: &str = "`b=<modifier>:<bandwidth>`";
    let (k, v) = l.value().split_once(':').ok_or_else(|| l.err(E))?;
    let kind = match k {
        "CT" => BwType::Ct,
        "AS" => BwType::As,
        "TIAS" => BwType::Tias,
        "" => return Err(l.err(E)),
        other => BwType::Other(other.to_owned()),
    };
    Ok(Bandwidth { kind, value: num(v, E).map_err(|e| l.err(e))? })
}

fn timing(l: &Line<'_>) -> Result<Timing> {
    const E: &str = "`t=<start> <stop>`";
    let (a, b) = l.value().split_once(' ').ok_or_else(|| l.err(E))?;
    let start = num(a, E).map_err(|e| l.err(e))?;
    let stop = num(b, E).map_err(|e| l.err(e))?;
    Ok(Timing { start, stop, repeats: Vec::new() })
}

fn connection(l: &Line<'_>) -> Result<Connection> {
    Connection::parse(l.value()).ok_or_else(|| l.err("`c=IN <IP4|IP6> <address>`"))
}

fn attribute(l: &Line<'_>) -> Result<Attribute> {
    Attribute::parse(l.value()).map_err(|e| l.err(e))
}

fn media_line(l: &Line<'_>) -> Result<Media> {
    const E: &str = "`m=<media> <port>[/<count>] <proto> <format> …`";
    let t: Vec<&str> = l.value().split(' ').collect();
    if t.len() < 4 || t.iter().any(|s| s.is_empty()) {
        return Err(l.err(E));
    }
    let kind = match t[0] {
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "message" => MediaKind::Message,
        "application" => MediaKind::Application,
        other => MediaKind::Other(other.to_owned()),
    };
    let (port, count) = match t[1].split_once('/') {
        Some((p, c)) => (p, Some(num(c, "a port count").map_err(|e| l.err(e))?)),
        None => (t[1], None),
    };
    let port = num(port, "a numeric m-line port").map_err(|e| l.err(e))?;
    let proto = match t[2] {
        "RTP/AVP" => Proto::RtpAvp,
        "RTP/SAVP" => Proto::RtpSavp,
        other => Proto::Other(other.to_owned()),
    };
    let mut m = Media::new(kind, port, proto);
    m.port_count = count;
    m.formats = t[3..].iter().map(|s| (*s).to_owned()).collect();
    Ok(m)
}

/// Reads one session description.
pub fn parse(input: &[u8]) -> Result<Sdp> {
    if input.len() > MAX_BYTES {
        return Err(SdpError::TooLarge { what: "bytes", limit: MAX_BYTES });
    }
    let mut raw: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    // Blank lines at the end (the final line's terminator, a trailing CRLF pair) carry nothing.
    while raw.last().is_some_and(|l| l.is_empty() || *l == b"\r") {
        raw.pop();
    }
    if raw.len() > MAX_LINES {
        return Err(SdpError::TooLarge { what: "lines", limit: MAX_LINES });
    }
    let mut lines = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let r = r.strip_suffix(b"\r").unwrap_or(r);
        let no = i + 1;
        let text =
            std::str::from_utf8(r).map_err(|_| SdpError::syntax(no, &String::from_utf8_lossy(r), "UTF-8 text"))?;
        let b = text.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
            return Err(SdpError::syntax(no, text, "a `<type>=<value>` line"));
        }
        lines.push(Line { no, text });
    }
    let mut it = lines.iter();
    let first = it.next().ok_or(SdpError::Truncated { line: 0, expected: "`v=0`" })?;
    if first.text != "v=0" {
        return Err(first.err("`v=0`"));
    }
    let origin = origin(it.next().ok_or(SdpError::Truncated { line: 1, expected: "an `o=` line" })?)?;
    let s = it.next().ok_or(SdpError::Truncated { line: 2, expected: "an `s=` line" })?;
    if s.kind() != 's' {
        return Err(s.err("an `s=` line"));
    }
    let mut sdp = Sdp {
        origin,
        name: s.value().to_owned(),
        info: None,
        other: Vec::new(),
        connection: None,
        bandwidths: Vec::new(),
        timing: Vec::new(),
        attributes: Vec::new(),
        media: Vec::new(),
    };
    let mut rank = 2;
    let mut last_kind = 's';
    for l in it {
        let kind = l.kind();
        if kind == 'm' {
            if sdp.timing.is_empty() {
                return Err(l.err("a `t=` line before the first `m=`"));
            }
            if sdp.media.len() == MAX_MEDIA {
                return Err(SdpError::TooLarge { what: "media sections", limit: MAX_MEDIA });
            }
            sdp.media.push(media_line(l)?);
            (rank, last_kind) = (0, 'm');
            continue;
        }
        let in_media = !sdp.media.is_empty();
        let ranked = if in_media { media_rank(kind) } else { session_rank(kind) };
        let Some((r, once)) = ranked else { return Err(l.err(ORDER)) };
        if r < rank || (r == rank && once && kind == last_kind) {
            return Err(l.err(ORDER));
        }
        (rank, last_kind) = (r, kind);
        if !in_media && r > 9 && sdp.timing.is_empty() {
            return Err(l.err("a `t=` line before this one"));
        }
        match (sdp.media.last_mut(), kind) {
            (Some(m), 'i') => m.info = Some(l.value().to_owned()),
            (Some(m), 'c') => m.connection = Some(connection(l)?),
            (Some(m), 'b') => m.bandwidths.push(bandwidth(l)?),
            (Some(m), 'k') => m.key = Some(l.value().to_owned()),
            (Some(m), _) => m.attributes.push(attribute(l)?),
            (None, 'i') => sdp.info = Some(l.value().to_owned()),
            (None, 'c') => sdp.connection = Some(connection(l)?),
            (None, 'b') => sdp.bandwidths.push(bandwidth(l)?),
            (None, 't') => sdp.timing.push(timing(l)?),
            (None, 'r') => match sdp.timing.last_mut() {
                Some(t) => t.repeats.push(l.value().to_owned()),
                None => return Err(l.err("a `t=` line before `r=`")),
            },
            (None, 'a') => sdp.attributes.push(attribute(l)?),
            (None, kind) => sdp.other.push(RawLine { kind, value: l.value().to_owned() }),
        }
    }
    if sdp.timing.is_empty() {
        return Err(SdpError::Truncated { line: lines.len(), expected: "a `t=` line" });
    }
    Ok(sdp)
}

impl std::str::FromStr for Sdp {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self> {
        parse(s.as_bytes())
    }
}

impl Sdp {
    /// Reads a session description from body bytes.
    pub fn parse(input: &[u8]) -> Result<Self> {
        parse(input)
    }
}
