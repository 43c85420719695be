//! Errors of the wire layer. Each names where in the message the fault is, so a report can
//! point a vendor at the exact line their gateway got wrong.

use std::fmt;

/// Which layer of the message a fault sits in (RFC 4475 groups its torture messages the same
/// way: a framing fault and a bad header value are different failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The request or status line is malformed.
    StartLine,
    /// A header line cannot be split into name and value.
    HeaderSyntax,
    /// The message cannot be delimited: no blank line, bad or repeated Content-Length, body
    /// shorter than announced, message larger than the configured maximum.
    Framing,
    /// The message frames, but one header's value does not match its grammar.
    HeaderValue,
    /// Everything parses, but the message breaks a rule of RFC 3261 §8.1.1 / §16.3.
    Validation,
}

/// A fault in SIP bytes, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WireError {
    /// Which layer objects.
    pub kind: FaultKind,
    /// The 1-based line of the message the fault is on, when one line is to blame.
    pub line: Option<usize>,
    /// The header concerned, for header faults.
    pub header: Option<String>,
    /// What was expected and what was found.
    pub detail: String,
}

impl WireError {
    pub(crate) fn new(kind: FaultKind, detail: impl Into<String>) -> Self {
        Self { kind, line: None, header: None, detail: detail.into() }
    }

    pub(crate) fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn in_header(mut self, name: &str) -> Self {
        self.header = Some(name.to_owned());
        self
    }

    /// A bad value in the named header.
    pub(crate) fn header_value(name: &str, detail: impl Into<String>) -> Self {
        Self::new(FaultKind::HeaderValue, detail).in_header(name)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FaultKind::StartLine => "bad start line",
            FaultKind::HeaderSyntax => "bad header line",
            FaultKind::Framing => "framing error",
            FaultKind::HeaderValue => "bad header value",
            FaultKind::Validation => "invalid message",
        };
        write!(f, "{kind}")?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        if let Some(h) = &self.header {
            write!(f, " in header {h}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Result with the wire error as default.
pub type Result<T, E = WireError> = std::result::Result<T, E>;
