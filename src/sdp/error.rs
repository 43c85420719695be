//! The one error enum of the SDP layer. A parse error names the 1-based line, its text and what
//! the grammar expected there, so a conformance report can point at the exact line a gateway
//! got wrong (DESIGN.md "Bad input").

use crate::sip::wire::WireError;

/// Result of the SDP layer.
pub type Result<T, E = SdpError> = std::result::Result<T, E>;

/// Longest line text an error repeats; garbage lines can be long.
const SHOWN: usize = 120;

/// What went wrong reading or writing SDP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// One line does not match the grammar.
    #[error("SDP line {line} `{text}`: expected {expected}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The line as read (cut to 120 characters).
        text: String,
        /// What the grammar wanted there.
        expected: String,
    },
    /// The description ended before a required line.
    #[error("SDP ends after line {line}: expected {expected}")]
    Truncated {
        /// Number of lines read.
        line: usize,
        /// What was still required.
        expected: &'static str,
    },
    /// More lines, bytes or media sections than the caps allow.
    #[error("SDP too large: more than {limit} {what}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// A Content-Type that carries no SDP.
    #[error("Content-Type `{value}`: expected {expected}")]
    ContentType {
        /// The header value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A multipart body that does not split.
    #[error("multipart SDP body: {0}")]
    Multipart(#[from] WireError),
    /// One part of a multipart body is wrong.
    #[error("multipart SDP part {part}: {detail}")]
    Part {
        /// 1-based part number.
        part: usize,
        /// What is wrong with it.
        detail: String,
    },
}

impl SdpError {
    pub(crate) fn syntax(line: usize, text: &str, expected: impl Into<String>) -> Self {
        let text = match text.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        };
        Self::Syntax { line, text, expected: expected.into() }
    }
}
