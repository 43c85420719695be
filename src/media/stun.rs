//! STUN (RFC 5389) as ICE connectivity checks use it (RFC 5245 §7, MS-ICE2): Binding requests
//! with short-term credentials, their success and error responses, and a typed, verified view
//! of any STUN datagram received.
//!
//! Framing, MESSAGE-INTEGRITY and FINGERPRINT come from the stun-types crate (sans-IO, RFC
//! 5389/8489). It has no ICE attributes, so PRIORITY, USE-CANDIDATE, ICE-CONTROLLED and
//! ICE-CONTROLLING (RFC 5245 §19.1) are written and read here as raw attributes.
//!
//! Syntax only: which pair to check, when, and what a role conflict means for the agent is
//! the ICE session's business. Randomness (transaction ids, tie-breakers) comes from the
//! caller's seeded RNG, never from stun-types' own generator.

use std::fmt;
use std::net::SocketAddr;

use stun_types::attribute::{
    Attribute as _, AttributeFromRaw as _, AttributeStaticType as _, AttributeType, ErrorCode, Fingerprint,
    MessageIntegrity, RawAttribute, Username, XorMappedAddress,
};
use stun_types::message::{
    BINDING, IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageIntegrityCredentials,
    MessageType, MessageWrite as _, MessageWriteExt as _, MessageWriteVec, ShortTermCredentials, StunParseError,
    StunWriteError, ValidateError,
};

/// PRIORITY (RFC 5245 §19.1): the priority a prflx candidate learned from this check gets.
const PRIORITY: AttributeType = AttributeType::new(0x0024);
/// USE-CANDIDATE (RFC 5245 §19.1): the controlling agent nominates this pair.
const USE_CANDIDATE: AttributeType = AttributeType::new(0x0025);
/// ICE-CONTROLLED (RFC 5245 §19.1), carrying the sender's tie-breaker.
const ICE_CONTROLLED: AttributeType = AttributeType::new(0x8029);
/// ICE-CONTROLLING (RFC 5245 §19.1), carrying the sender's tie-breaker.
const ICE_CONTROLLING: AttributeType = AttributeType::new(0x802A);

/// The fixed STUN header (RFC 5389 §6).
const HEADER_LEN: usize = 20;

/// Errors of the STUN layer: input that is not a (valid) STUN message, failed checks, or
/// credentials and requests we refuse to build from.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StunError {
    /// The datagram is not STUN (top bits, magic cookie or message type).
    #[error("not a STUN message")]
    NotStun,
    /// The header's length does not match the datagram.
    #[error("STUN length field says {declared} bytes of attributes, datagram has {actual}")]
    LengthMismatch {
        /// Attribute bytes the header declares.
        declared: usize,
        /// Bytes after the header in the datagram.
        actual: usize,
    },
    /// An attribute is truncated, badly padded or placed where STUN forbids it.
    #[error("malformed STUN message: {0}")]
    Malformed(String),
    /// An attribute's value does not fit its definition.
    #[error("STUN attribute {attribute} is malformed: {reason}")]
    BadAttribute {
        /// The attribute's name.
        attribute: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// FINGERPRINT is present and does not match the message.
    #[error("STUN FINGERPRINT does not match the message")]
    FingerprintMismatch,
    /// FINGERPRINT is absent, and ICE requires it (RFC 5245 §7.1.2).
    #[error("STUN message has no FINGERPRINT")]
    MissingFingerprint,
    /// MESSAGE-INTEGRITY is absent.
    #[error("STUN message has no MESSAGE-INTEGRITY")]
    MissingIntegrity,
    /// MESSAGE-INTEGRITY does not match for the given credentials.
    #[error("STUN MESSAGE-INTEGRITY does not match the password")]
    IntegrityMismatch,
    /// A response was asked for a message that is not a Binding request.
    #[error("a Binding response answers a Binding request, not a {class:?} of method {method:#06x}")]
    NotBindingRequest {
        /// Class of the message given.
        class: StunClass,
        /// Method of the message given.
        method: u16,
    },
    /// An ICE ufrag or password breaks the RFC 5245 §15.4 grammar.
    #[error("ICE {what} {reason}")]
    BadCredential {
        /// `ufrag` or `password`.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// stun-types refused to write the message.
    #[error("cannot write STUN message: {0}")]
    Write(String),
}

impl From<StunParseError> for StunError {
    fn from(e: StunParseError) -> Self {
        match e {
            StunParseError::NotStun => Self::NotStun,
            StunParseError::FingerprintMismatch => Self::FingerprintMismatch,
            other => Self::Malformed(other.to_string()),
        }
    }
}

impl From<StunWriteError> for StunError {
    fn from(e: StunWriteError) -> Self {
        Self::Write(e.to_string())
    }
}

impl From<ValidateError> for StunError {
    fn from(e: ValidateError) -> Self {
        match e {
            ValidateError::IntegrityFailed => Self::IntegrityMismatch,
            ValidateError::Parse(StunParseError::MissingAttribute(_)) => Self::MissingIntegrity,
            ValidateError::Parse(other) => other.into(),
        }
    }
}

/// A STUN transaction id: the 96 bits after the magic cookie (RFC 5389 §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId([u8; 12]);

impl TransactionId {
    /// An id from its bytes.
    pub fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// A fresh id from the harness's seeded RNG.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        let mut bytes = [0; 12];
        rng.fill(&mut bytes);
        Self(bytes)
    }

    /// The id's bytes.
    pub fn bytes(&self) -> [u8; 12] {
        self.0
    }

    fn to_stun(self) -> stun_types::message::TransactionId {
        let mut wide = [0; 16];
        wide[4..].copy_from_slice(&self.0);
        u128::from_be_bytes(wide).into()
    }

    fn from_stun(id: stun_types::message::TransactionId) -> Self {
        let wide = u128::from(id).to_be_bytes();
        let mut bytes = [0; 12];
        bytes.copy_from_slice(&wide[4..]);
        Self(bytes)
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// `ice-char = ALPHA / DIGIT / "+" / "/"` (RFC 5245 §15.1).
fn check_ice_chars(what: &'static str, text: &str, min: usize, short: &'static str) -> Result<(), StunError> {
    let bad = |reason| StunError::BadCredential { what, reason };
    if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/') {
        return Err(bad("holds a character outside ALPHA / DIGIT / \"+\" / \"/\""));
    }
    if text.len() < min {
        return Err(bad(short));
    }
    if text.len() > 256 {
        return Err(bad("is longer than 256 characters"));
    }
    Ok(())
}

/// An ICE username fragment (`a=ice-ufrag`, 4 to 256 ice-chars; Lync uses 4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IceUfrag(String);

impl IceUfrag {
    /// Checks the RFC 5245 §15.4 grammar.
    pub fn new(text: &str) -> Result<Self, StunError> {
        check_ice_chars("ufrag", text, 4, "is shorter than 4 characters")?;
        Ok(Self(text.to_owned()))
    }

    /// The ufrag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ICE password (`a=ice-pwd`, 22 to 256 ice-chars; Lync uses 24). `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct IcePassword(String);

impl IcePassword {
    /// Checks the RFC 5245 §15.4 grammar.
    pub fn new(text: &str) -> Result<Self, StunError> {
        check_ice_chars("password", text, 22, "is shorter than 22 characters")?;
        Ok(Self(text.to_owned()))
    }

    /// The password text (the short-term credential key, RFC 5389 §15.4).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn credentials(&self) -> MessageIntegrityCredentials {
        ShortTermCredentials::new(self.0.clone()).into()
    }
}

impl fmt::Debug for IcePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcePassword(<{} chars>)", self.0.len())
    }
}

/// The role an agent claims in a check, with its tie-breaker (RFC 5245 §7.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceRole {
    /// ICE-CONTROLLING.
    Controlling {
        /// The sender's 64-bit tie-breaker.
        tie_breaker: u64,
    },
    /// ICE-CONTROLLED.
    Controlled {
        /// The sender's 64-bit tie-breaker.
        tie_breaker: u64,
    },
}

/// STUN message class (RFC 5389 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunClass {
    /// A request.
    Request,
    /// An indication (ICE keepalives may be Binding indications).
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

/// STUN method; ICE uses only Binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunMethod {
    /// Binding (0x001).
    Binding,
    /// Any other method (TURN's, or unknown).
    Other(u16),
}

/// An ERROR-CODE attribute's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunErrorCode {
    /// The code, 300..=699.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
}

/// The error responses a Binding request can draw from ICE (RFC 5389 §10.1.2, RFC 5245
/// §7.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingErrorCode {
    /// 400: USERNAME or MESSAGE-INTEGRITY missing, or malformed request.
    BadRequest,
    /// 401: MESSAGE-INTEGRITY wrong or USERNAME unknown.
    Unauthorized,
    /// 487: both agents claim the same role and we keep ours.
    RoleConflict,
}

impl BindingErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::RoleConflict => 487,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad Request",
            Self::Unauthorized => "Unauthorized",
            Self::RoleConflict => "Role Conflict",
        }
    }
}

/// What an ICE connectivity check says, to be encoded by [`BindingRequest::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRequest {
    /// From the caller's seeded RNG; a retransmission reuses it.
    pub transaction_id: TransactionId,
    /// The peer's ufrag (first half of USERNAME).
    pub remote_ufrag: IceUfrag,
    /// Our ufrag (second half of USERNAME).
    pub local_ufrag: IceUfrag,
    /// PRIORITY: the priority of a peer-reflexive candidate for our side of the pair.
    pub priority: u32,
    /// Our role and tie-breaker.
    pub role: IceRole,
    /// Whether the controlling agent nominates this pair.
    pub use_candidate: bool,
}

impl BindingRequest {
    /// Writes the request: USERNAME, PRIORITY, ICE-CONTROLLING/-CONTROLLED, USE-CANDIDATE,
    /// MESSAGE-INTEGRITY keyed with the peer's password, FINGERPRINT (RFC 5245 §7.1.2).
    pub fn encode(&self, remote_password: &IcePassword) -> Result<Vec<u8>, StunError> {
        let mtype = MessageType::from_class_method(MessageClass::Request, BINDING);
        let mut msg = Message::builder(mtype, self.transaction_id.to_stun(), MessageWriteVec::new());
        let username = format!("{}:{}", self.remote_ufrag.as_str(), self.local_ufrag.as_str());
        msg.add_attribute(&Username::new(&username)?)?;
        let priority = self.priority.to_be_bytes();
        msg.add_attribute(&RawAttribute::new(PRIORITY, &priority))?;
        let (role_type, tie_breaker) = match self.role {
            IceRole::Controlling { tie_breaker } => (ICE_CONTROLLING, tie_breaker),
            IceRole::Controlled { tie_breaker } => (ICE_CONTROLLED, tie_breaker),
        };
        let tie_breaker = tie_breaker.to_be_bytes();
        msg.add_attribute(&RawAttribute::new(role_type, &tie_breaker))?;
        if self.use_candidate {
            msg.add_attribute(&RawAttribute::new(USE_CANDIDATE, &[]))?;
        }
        msg.add_message_integrity(&remote_password.credentials(), IntegrityAlgorithm::Sha1)?;
        msg.add_fingerprint()?;
        Ok(msg.finish())
    }
}

/// A received STUN message, parsed into what ICE reads, with its bytes kept for verification.
///
/// Only attributes before MESSAGE-INTEGRITY are read: anything after it is not covered by
/// the integrity check (RFC 5389 §15.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StunMessage {
    /// Request, indication, success or error.
    pub class: StunClass,
    /// Binding or other.
    pub method: StunMethod,
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// USERNAME, e.g. `<receiver ufrag>:<sender ufrag>` in a check.
    pub username: Option<String>,
    /// PRIORITY.
    pub priority: Option<u32>,
    /// USE-CANDIDATE present.
    pub use_candidate: bool,
    /// ICE-CONTROLLING or ICE-CONTROLLED, with the tie-breaker.
    pub role: Option<IceRole>,
    /// XOR-MAPPED-ADDRESS, decoded.
    pub xor_mapped_address: Option<SocketAddr>,
    /// ERROR-CODE.
    pub error_code: Option<StunErrorCode>,
    /// MESSAGE-INTEGRITY present (checked only by a `verify*` call).
    pub has_integrity: bool,
    /// FINGERPRINT present (already checked by [`StunMessage::parse`] when present).
    pub has_fingerprint: bool,
    bytes: Vec<u8>,
}

/// The largest datagram [`StunMessage::parse`] takes (see there).
const MAX_DATAGRAM: usize = 60_000;

impl StunMessage {
    /// Parses one datagram. A FINGERPRINT present must match; integrity needs a password and
    /// is checked by [`StunMessage::verify`]. Never panics on garbage.
    pub fn parse(datagram: &[u8]) -> Result<Self, StunError> {
        if datagram.len() < HEADER_LEN {
            // Let stun-types judge the prefix: NotStun or truncated.
            stun_types::message::MessageHeader::from_bytes(datagram)?;
            return Err(StunError::NotStun);
        }
        // Header and magic cookie first, so an RTP packet is `NotStun`, not a length error.
        stun_types::message::MessageHeader::from_bytes(&datagram[..HEADER_LEN])?;
        // stun-types adds 24 to attribute offsets in u16 when checking MESSAGE-INTEGRITY, so an
        // integrity attribute near the 64 KiB end would overflow there; no real STUN message
        // comes near that size (a UDP payload is at most 65,507 octets anyway).
        if datagram.len() > MAX_DATAGRAM {
            return Err(StunError::Malformed(format!("{} octets is over {MAX_DATAGRAM}", datagram.len())));
        }
        let declared = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        let actual = datagram.len() - HEADER_LEN;
        // One datagram, one message: trailing bytes would be read as attributes.
        if declared != actual {
            return Err(StunError::LengthMismatch { declared, actual });
        }
        if declared % 4 != 0 {
            return Err(StunError::Malformed(format!("length {declared} is not a multiple of 4")));
        }
        let msg = Message::from_bytes(datagram)?;
        let transaction = msg.transaction_id();
        let class = match msg.class() {
            MessageClass::Request => StunClass::Request,
            MessageClass::Indication => StunClass::Indication,
            MessageClass::Success => StunClass::Success,
            MessageClass::Error => StunClass::Error,
        };
        let method =
            if msg.method() == BINDING { StunMethod::Binding } else { StunMethod::Other(msg.method().value()) };
        let mut out = Self {
            class,
            method,
            transaction_id: TransactionId::from_stun(transaction),
            username: None,
            priority: None,
            use_candidate: false,
            role: None,
            xor_mapped_address: None,
            error_code: None,
            has_integrity: false,
            has_fingerprint: false,
            bytes: datagram.to_vec(),
        };
        for (_, raw) in msg.iter_attributes() {
            let atype = raw.get_type();
            if atype == MessageIntegrity::TYPE {
                out.has_integrity = true;
            } else if atype == Fingerprint::TYPE {
                out.has_fingerprint = true;
            } else if out.has_integrity {
                // Not covered by MESSAGE-INTEGRITY: ignored (RFC 5389 §15.4).
            } else if atype == Username::TYPE {
                let user = Username::from_raw_ref(&raw).map_err(|e| bad("USERNAME", e))?;
                out.username = Some(user.username().to_owned());
            } else if atype == PRIORITY {
                out.priority = Some(u32::from_be_bytes(fixed(&raw, "PRIORITY")?));
            } else if atype == USE_CANDIDATE {
                if !raw.value.is_empty() {
                    return Err(StunError::BadAttribute {
                        attribute: "USE-CANDIDATE",
                        reason: format!("{} bytes, expected none", raw.value.len()),
                    });
                }
                out.use_candidate = true;
            } else if atype == ICE_CONTROLLING {
                let tie_breaker = u64::from_be_bytes(fixed(&raw, "ICE-CONTROLLING")?);
                out.role = Some(IceRole::Controlling { tie_breaker });
            } else if atype == ICE_CONTROLLED {
                let tie_breaker = u64::from_be_bytes(fixed(&raw, "ICE-CONTROLLED")?);
                out.role = Some(IceRole::Controlled { tie_breaker });
            } else if atype == XorMappedAddress::TYPE {
                let xor = XorMappedAddress::from_raw_ref(&raw).map_err(|e| bad("XOR-MAPPED-ADDRESS", e))?;
                out.xor_mapped_address = Some(xor.addr(transaction));
            } else if atype == ErrorCode::TYPE {
                let code = ErrorCode::from_raw_ref(&raw).map_err(|e| bad("ERROR-CODE", e))?;
                out.error_code = Some(StunErrorCode { code: code.code(), reason: code.reason().to_owned() });
            }
        }
        Ok(out)
    }

    /// The ICE check of a received message: FINGERPRINT present (its value was checked by
    /// [`StunMessage::parse`]) and MESSAGE-INTEGRITY right for the short-term `password`
    /// (ours for a request we receive, the peer's for a response).
    pub fn verify(&self, password: &IcePassword) -> Result<(), StunError> {
        if !self.has_fingerprint {
            return Err(StunError::MissingFingerprint);
        }
        self.verify_integrity(&password.credentials())
    }

    /// Checks MESSAGE-INTEGRITY with long-term credentials (RFC 5389 §15.4; TURN-style).
    /// `password` must already be SASLprep-ed: stun-types does not prepare it.
    pub fn verify_long_term(&self, username: &str, realm: &str, password: &str) -> Result<(), StunError> {
        let credentials = LongTermKeyCredentials::new(username.to_owned(), password.to_owned(), realm.to_owned());
        self.verify_integrity(&credentials.into())
    }

    fn verify_integrity(&self, credentials: &MessageIntegrityCredentials) -> Result<(), StunError> {
        if !self.has_integrity {
            return Err(StunError::MissingIntegrity);
        }
        let msg = Message::from_bytes(&self.bytes)?;
        msg.validate_integrity(credentials)?;
        Ok(())
    }

    /// The datagram as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn expect_binding_request(&self) -> Result<(), StunError> {
        if self.class == StunClass::Request && self.method == StunMethod::Binding {
            return Ok(());
        }
        Err(StunError::NotBindingRequest {
            class: self.class,
            method: match self.method {
                StunMethod::Binding => BINDING.value(),
                StunMethod::Other(m) => m,
            },
        })
    }

    fn response_builder(&self, class: MessageClass) -> MessageWriteVec {
        let mtype = MessageType::from_class_method(class, BINDING);
        Message::builder(mtype, self.transaction_id.to_stun(), MessageWriteVec::new())
    }

    /// The success response to a verified Binding request: XOR-MAPPED-ADDRESS of the address
    /// the request came from, MESSAGE-INTEGRITY with our password, FINGERPRINT (RFC 5245
    /// §7.2.1.3).
    pub fn binding_success(&self, source: SocketAddr, local_password: &IcePassword) -> Result<Vec<u8>, StunError> {
        self.expect_binding_request()?;
        let mut msg = self.response_builder(MessageClass::Success);
        msg.add_attribute(&XorMappedAddress::new(source, self.transaction_id.to_stun()))?;
        msg.add_message_integrity(&local_password.credentials(), IntegrityAlgorithm::Sha1)?;
        msg.add_fingerprint()?;
        Ok(msg.finish())
    }

    /// An error response to a Binding request. 400 and 401 go without MESSAGE-INTEGRITY (the
    /// request could not be authenticated, RFC 5389 §10.1.2), so `local_password` is used only
    /// when given, as for 487.
    pub fn binding_error(
        &self,
        code: BindingErrorCode,
        local_password: Option<&IcePassword>,
    ) -> Result<Vec<u8>, StunError> {
        self.expect_binding_request()?;
        let mut msg = self.response_builder(MessageClass::Error);
        msg.add_attribute(&ErrorCode::new(code.code(), code.reason())?)?;
        if let Some(password) = local_password {
            msg.add_message_integrity(&password.credentials(), IntegrityAlgorithm::Sha1)?;
        }
        msg.add_fingerprint()?;
        Ok(msg.finish())
    }
}

fn bad(attribute: &'static str, e: StunParseError) -> StunError {
    StunError::BadAttribute { attribute, reason: e.to_string() }
}

fn fixed<const N: usize>(raw: &RawAttribute<'_>, attribute: &'static str) -> Result<[u8; N], StunError> {
    <[u8; N]>::try_from(&raw.value[..])
        .map_err(|_| StunError::BadAttribute { attribute, reason: format!("{} bytes, expected {N}", raw.value.len()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    // RFC 5769 vectors, laid out as the RFC prints them (one 4-byte row a line).
    const RFC5769_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
    const RFC5769_TID: [u8; 12] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

    /// §2.1 Sample Request (software "STUN test client", username "evtj:h6vY").
    const SAMPLE_REQUEST: &str = "
        00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
        80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
        00 24 00 04  6e 00 01 ff
        80 29 00 08  93 2f f9 b1  51 26 3b 36
        00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
        00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
        80 28 00 04  e5 7a 3b cf";

    /// §2.2 Sample IPv4 Response (192.0.2.1:32853).
    const SAMPLE_IPV4_RESPONSE: &str = "
        01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
        80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
        00 20 00 08  00 01 a1 47  e1 12 a6 43
        00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
        80 28 00 04  c0 7d 4c 96";

    /// §2.3 Sample IPv6 Response (2001:db8:1234:5678:11:2233:4455:6677 port 32853).
    const SAMPLE_IPV6_RESPONSE: &str = "
        01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
        80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
        00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
        00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
        80 28 00 04  c8 fb 0b 4c";

    /// §2.4 Sample Request with Long-Term Authentication (no FINGERPRINT).
    const SAMPLE_LONG_TERM_REQUEST: &str = "
        00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
        00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
        00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46
                     53 54 76 79  36 34 73 41
        00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
        00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66";

    fn password() -> IcePassword {
        IcePassword::new(RFC5769_PASSWORD).unwrap()
    }

    /// The RFC's password with its last character changed.
    fn wrong_password() -> IcePassword {
        IcePassword::new("VOkJxbRl1RmTxUk/WvJxBu").unwrap()
    }

    fn mapped() -> (SocketAddr, SocketAddr) {
        let v4 = SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 32853);
        let v6: Ipv6Addr = "2001:db8:1234:5678:11:2233:4455:6677".parse().unwrap();
        (v4, SocketAddr::new(v6.into(), 32853))
    }

    /// Every single-byte flip must make parse or verification fail.
    fn every_flip_fails(bytes: &[u8], check: impl Fn(&[u8]) -> Result<(), StunError>) {
        assert_eq!(check(bytes), Ok(()));
        for at in 0..bytes.len() {
            let mut flipped = bytes.to_vec();
            flipped[at] ^= 0x01;
            assert!(check(&flipped).is_err(), "flip at byte {at} went unnoticed");
        }
    }

    #[test]
    fn rfc5769_sample_request_parses_and_verifies() {
        let bytes = hex(SAMPLE_REQUEST);
        let msg = StunMessage::parse(&bytes).unwrap();
        assert_eq!((msg.class, msg.method), (StunClass::Request, StunMethod::Binding));
        assert_eq!(msg.transaction_id, TransactionId::new(RFC5769_TID));
        assert_eq!(msg.username.as_deref(), Some("evtj:h6vY"));
        assert_eq!(msg.priority, Some(0x6e00_01ff));
        assert_eq!(msg.role, Some(IceRole::Controlled { tie_breaker: 0x932f_f9b1_5126_3b36 }));
        assert!(!msg.use_candidate && msg.has_integrity && msg.has_fingerprint);
        assert_eq!(msg.verify(&password()), Ok(()));
        assert_eq!(msg.verify(&wrong_password()), Err(StunError::IntegrityMismatch));
        every_flip_fails(&bytes, |b| StunMessage::parse(b)?.verify(&password()));
    }

    #[test]
    fn rfc5769_ipv4_response_parses_and_verifies() {
        let bytes = hex(SAMPLE_IPV4_RESPONSE);
        let msg = StunMessage::parse(&bytes).unwrap();
        assert_eq!((msg.class, msg.method), (StunClass::Success, StunMethod::Binding));
        assert_eq!(msg.transaction_id, TransactionId::new(RFC5769_TID));
        assert_eq!(msg.xor_mapped_address, Some(mapped().0));
        assert_eq!(msg.verify(&password()), Ok(()));
        assert_eq!(msg.verify(&wrong_password()), Err(StunError::IntegrityMismatch));
        every_flip_fails(&bytes, |b| StunMessage::parse(b)?.verify(&password()));
    }

    #[test]
    fn rfc5769_ipv6_response_parses_and_verifies() {
        let bytes = hex(SAMPLE_IPV6_RESPONSE);
        let msg = StunMessage::parse(&bytes).unwrap();
        assert_eq!(msg.class, StunClass::Success);
        assert_eq!(msg.xor_mapped_address, Some(mapped().1));
        assert_eq!(msg.verify(&password()), Ok(()));
        assert_eq!(msg.verify(&wrong_password()), Err(StunError::IntegrityMismatch));
        every_flip_fails(&bytes, |b| StunMessage::parse(b)?.verify(&password()));
    }

    #[test]
    fn rfc5769_long_term_request_verifies_with_saslprepped_password() {
        let bytes = hex(SAMPLE_LONG_TERM_REQUEST);
        let msg = StunMessage::parse(&bytes).unwrap();
        let username = "\u{30de}\u{30c8}\u{30ea}\u{30c3}\u{30af}\u{30b9}";
        assert_eq!(msg.username.as_deref(), Some(username));
        assert!(msg.has_integrity && !msg.has_fingerprint);
        // The RFC's password is "The<U+00AD>M<U+00AA>tr<U+2168>"; SASLprep makes it this.
        let verify = |b: &[u8]| StunMessage::parse(b)?.verify_long_term(username, "example.org", "TheMatrIX");
        every_flip_fails(&bytes, verify);
        // ICE demands FINGERPRINT, which this vector lacks.
        assert_eq!(msg.verify(&password()), Err(StunError::MissingFingerprint));
    }

    fn check(use_candidate: bool, role: IceRole) -> BindingRequest {
        BindingRequest {
            transaction_id: TransactionId::random(&mut fastrand::Rng::with_seed(11)),
            remote_ufrag: IceUfrag::new("Rm0t").unwrap(),
            local_ufrag: IceUfrag::new("L0c+").unwrap(),
            priority: 2_130_706_431,
            role,
            use_candidate,
        }
    }

    #[test]
    fn our_binding_request_round_trips() {
        let lync_pwd = IcePassword::new("abcdefghijklmnopqrstuv/+").unwrap();
        let controlling = IceRole::Controlling { tie_breaker: 0x0123_4567_89ab_cdef };
        for (use_candidate, role) in [(true, controlling), (false, IceRole::Controlled { tie_breaker: u64::MAX })] {
            let req = check(use_candidate, role);
            let bytes = req.encode(&lync_pwd).unwrap();
            let msg = StunMessage::parse(&bytes).unwrap();
            assert_eq!((msg.class, msg.method), (StunClass::Request, StunMethod::Binding));
            assert_eq!(msg.transaction_id, req.transaction_id);
            assert_eq!(msg.username.as_deref(), Some("Rm0t:L0c+"));
            assert_eq!(msg.priority, Some(2_130_706_431));
            assert_eq!(msg.role, Some(role));
            assert_eq!(msg.use_candidate, use_candidate);
            assert_eq!(msg.verify(&lync_pwd), Ok(()));
            assert_eq!(msg.verify(&password()), Err(StunError::IntegrityMismatch));
            every_flip_fails(&bytes, |b| StunMessage::parse(b)?.verify(&lync_pwd));
        }
    }

    #[test]
    fn binding_request_matches_rfc5769_layout_up_to_padding() {
        // Our own encoder, fed the §2.1 values (no SOFTWARE), must verify with the RFC's
        // password and carry the same attribute values.
        let req = BindingRequest {
            transaction_id: TransactionId::new(RFC5769_TID),
            remote_ufrag: IceUfrag::new("evtj").unwrap(),
            local_ufrag: IceUfrag::new("h6vY").unwrap(),
            priority: 0x6e00_01ff,
            role: IceRole::Controlled { tie_breaker: 0x932f_f9b1_5126_3b36 },
            use_candidate: false,
        };
        let ours = StunMessage::parse(&req.encode(&password()).unwrap()).unwrap();
        let theirs = StunMessage::parse(&hex(SAMPLE_REQUEST)).unwrap();
        assert_eq!(ours.verify(&password()), Ok(()));
        assert_eq!(
            (ours.username, ours.priority, ours.role, ours.transaction_id),
            (theirs.username, theirs.priority, theirs.role, theirs.transaction_id)
        );
    }

    #[test]
    fn binding_success_maps_the_source_address_v4_and_v6() {
        let lync_pwd = IcePassword::new("abcdefghijklmnopqrstuv/+").unwrap();
        let our_pwd = IcePassword::new("ZYXWVUTSRQPONMLKJIHGFEDC").unwrap();
        let req = check(true, IceRole::Controlling { tie_breaker: 5 });
        let request = StunMessage::parse(&req.encode(&our_pwd).unwrap()).unwrap();
        request.verify(&our_pwd).unwrap();
        for source in [mapped().0, mapped().1] {
            let bytes = request.binding_success(source, &our_pwd).unwrap();
            let resp = StunMessage::parse(&bytes).unwrap();
            assert_eq!((resp.class, resp.method), (StunClass::Success, StunMethod::Binding));
            assert_eq!(resp.transaction_id, req.transaction_id);
            assert_eq!(resp.xor_mapped_address, Some(source));
            assert_eq!(resp.verify(&our_pwd), Ok(()));
            assert_eq!(resp.verify(&lync_pwd), Err(StunError::IntegrityMismatch));
            every_flip_fails(&bytes, |b| StunMessage::parse(b)?.verify(&our_pwd));
        }
    }

    #[test]
    fn binding_errors_carry_their_code() {
        let pwd = password();
        let request = StunMessage::parse(&hex(SAMPLE_REQUEST)).unwrap();
        for (code, with_mi) in [
            (BindingErrorCode::BadRequest, false),
            (BindingErrorCode::Unauthorized, false),
            (BindingErrorCode::RoleConflict, true),
        ] {
            let bytes = request.binding_error(code, with_mi.then_some(&pwd)).unwrap();
            let resp = StunMessage::parse(&bytes).unwrap();
            assert_eq!(resp.class, StunClass::Error);
            assert_eq!(resp.transaction_id, TransactionId::new(RFC5769_TID));
            assert_eq!(resp.error_code.as_ref().map(|e| e.code), Some(code.code()));
            assert!(resp.has_fingerprint);
            assert_eq!(resp.has_integrity, with_mi);
            if with_mi {
                assert_eq!(resp.verify(&pwd), Ok(()));
            } else {
                assert_eq!(resp.verify(&pwd), Err(StunError::MissingIntegrity));
            }
        }
    }

    #[test]
    fn responses_are_refused_for_anything_but_a_binding_request() {
        let response = StunMessage::parse(&hex(SAMPLE_IPV4_RESPONSE)).unwrap();
        assert!(matches!(
            response.binding_success(mapped().0, &password()),
            Err(StunError::NotBindingRequest { class: StunClass::Success, method: 1 })
        ));
        assert!(response.binding_error(BindingErrorCode::BadRequest, None).is_err());
    }

    #[test]
    fn credentials_follow_the_ice_grammar() {
        assert!(IceUfrag::new("abc").is_err());
        assert!(IceUfrag::new("ab:c").is_err());
        assert!(IceUfrag::new(&"a".repeat(257)).is_err());
        assert!(IcePassword::new("tooshort").is_err());
        assert!(IcePassword::new("abcdefghijklmnopqrstu v").is_err());
        let shown = format!("{:?}", password());
        assert!(!shown.contains(RFC5769_PASSWORD), "{shown}");
    }

    #[test]
    fn garbage_gives_typed_errors_not_panics() {
        assert!(matches!(StunMessage::parse(&[]), Err(StunError::Malformed(_))));
        assert_eq!(StunMessage::parse(&[0x80, 0, 0, 0]), Err(StunError::NotStun));
        // An RTP packet (version 2) is no STUN, whatever its size says.
        let mut rtp = vec![0x80, 0x00, 0x00, 0x01];
        rtp.resize(172, 0);
        assert_eq!(StunMessage::parse(&rtp), Err(StunError::NotStun));
        // Too large to be real: refused before stun-types' u16 offset arithmetic.
        let mut huge = hex(SAMPLE_REQUEST)[..20].to_vec();
        huge[2..4].copy_from_slice(&65_524u16.to_be_bytes());
        huge.resize(20 + 65_524, 0);
        assert!(matches!(StunMessage::parse(&huge), Err(StunError::Malformed(_))));
        let mut long = hex(SAMPLE_REQUEST);
        long.push(0);
        assert_eq!(StunMessage::parse(&long), Err(StunError::LengthMismatch { declared: 0x58, actual: 0x59 }));
        let valid = hex(SAMPLE_REQUEST);
        let mut rng = fastrand::Rng::with_seed(12);
        for _ in 0..5000 {
            // Random bytes behind a plausible header, and truncations of a valid message.
            let mut junk = valid[..20].to_vec();
            let body = rng.usize(0..24) * 4;
            junk[2..4].copy_from_slice(&(body as u16).to_be_bytes());
            junk.extend(std::iter::repeat_with(|| rng.u8(..)).take(body));
            if let Ok(msg) = StunMessage::parse(&junk) {
                let _ = msg.verify(&password());
                let _ = msg.binding_success(mapped().1, &password());
            }
            let _ = StunMessage::parse(&valid[..rng.usize(0..valid.len())]);
        }
    }
}
