//! The metadata a suite capture carries so that `fedcert check` can render its canonical trace
//! with nothing else: a JSON document in the pcapng Section Header Block's `opt_comment`
//! (Wireshark shows it under Statistics → Capture File Properties), and `step N` in every
//! packet's `opt_comment` (shown with the packet).
//!
//! ```json
//! { "fedcert_capture": 1, "feature": "im", "scenario": "…", "golden": "im__…",
//!   "steps": [ { "text": "Given …", "check": false }, … ],
//!   "roles": { "tcp 127.0.0.1:5061": "harness enterprise", "udp 127.0.0.1:40000": "media lync:alice@contoso.com", … } }
//! ```
//!
//! `steps` are the steps the golden covers (the golden step itself is not one of them);
//! `roles` is the roles file's form ([`super::roles`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::canonical::StepLine;
use super::roles::Roles;

/// The version this code writes and reads.
pub const FORMAT: u32 = 1;

/// The key that marks a comment as ours.
const MARK: &str = "\"fedcert_capture\"";

/// One step line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaStep {
    /// Keyword and text.
    pub text: String,
    /// A check (`Then`) step.
    pub check: bool,
}

/// The metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureMeta {
    /// Format version ([`FORMAT`]).
    pub fedcert_capture: u32,
    /// Feature file stem.
    pub feature: String,
    /// Scenario title.
    pub scenario: String,
    /// Golden snapshot name (`<feature>__<slug>`, without `.snap`).
    pub golden: String,
    /// The steps the golden covers.
    pub steps: Vec<MetaStep>,
    /// `transport address:port` → role.
    pub roles: BTreeMap<String, String>,
    /// `address:port` → SRTP key (base64 key||salt) of what that address sends, when the
    /// scenario has video (its summary reads the payload).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub srtp: BTreeMap<String, String>,
}

impl CaptureMeta {
    /// The document for a scenario.
    pub fn new(feature: &str, scenario: &str, golden: &str, steps: &[StepLine], roles: &Roles) -> Self {
        Self {
            fedcert_capture: FORMAT,
            feature: feature.to_owned(),
            scenario: scenario.to_owned(),
            golden: golden.to_owned(),
            steps: steps.iter().map(|s| MetaStep { text: s.text.clone(), check: s.check }).collect(),
            roles: roles.to_map(),
            srtp: roles.srtp.iter().map(|(a, k)| (a.to_string(), k.clone())).collect(),
        }
    }

    /// The JSON text (pretty, for a person reading it in Wireshark).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Finds our document among section comments: `Ok(None)` when there is none, an error when
    /// a comment is ours but unreadable or of another version.
    pub fn from_comments(comments: &[String]) -> Result<Option<Self>, String> {
        let Some(text) = comments.iter().find(|c| c.contains(MARK)) else { return Ok(None) };
        let meta: Self = serde_json::from_str(text)
            .map_err(|e| format!("the section header comment holds unreadable fedcert metadata: {e}"))?;
        if meta.fedcert_capture != FORMAT {
            return Err(format!(
                "fedcert metadata version {}: this fedcert reads version {FORMAT}",
                meta.fedcert_capture
            ));
        }
        Ok(Some(meta))
    }

    /// The step lines.
    pub fn step_lines(&self) -> Vec<StepLine> {
        self.steps.iter().map(|s| StepLine { text: s.text.clone(), check: s.check }).collect()
    }

    /// The roles.
    pub fn roles(&self) -> Result<Roles, String> {
        let mut roles = Roles::from_map(&self.roles).map_err(|e| format!("fedcert metadata: {e}"))?;
        for (addr, key) in &self.srtp {
            let at: std::net::SocketAddr =
                addr.parse().map_err(|_| format!("fedcert metadata: srtp entry \"{addr}\": not an address:port"))?;
            roles.srtp.insert(at, key.clone());
        }
        Ok(roles)
    }
}

/// The packet comment for step `n`.
pub fn step_comment(n: usize) -> String {
    format!("step {n}")
}

/// The step a packet comment names, if it is one of ours.
pub fn step_of(comment: &str) -> Option<usize> {
    comment.strip_prefix("step ")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Side;
    use crate::net::Transport;
    use crate::trace::roles::Role;

    #[test]
    fn the_document_round_trips_and_foreign_or_broken_comments_are_told_apart() {
        let mut roles = Roles::default();
        roles.insert(Transport::Tcp, "127.0.0.1:5061".parse().unwrap(), Role::Harness(Side::Enterprise));
        let steps =
            [StepLine { text: "Given x".into(), check: false }, StepLine { text: "Then y".into(), check: true }];
        let m = CaptureMeta::new("im", "A title", "im__a-title", &steps, &roles);
        let back = CaptureMeta::from_comments(&["made by dumpcap".into(), m.to_json()]).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(back.step_lines(), steps);
        assert_eq!(back.roles().unwrap(), roles);
        assert_eq!(CaptureMeta::from_comments(&["made by dumpcap".into()]), Ok(None));
        let e = CaptureMeta::from_comments(&["{\"fedcert_capture\": 1}".into()]).unwrap_err();
        assert!(e.contains("unreadable fedcert metadata"), "{e}");
        let v2 = m.to_json().replace("\"fedcert_capture\": 1", "\"fedcert_capture\": 2");
        assert!(CaptureMeta::from_comments(&[v2]).unwrap_err().contains("version 2"));
        assert_eq!((step_of(&step_comment(12)), step_of("step x"), step_of("hello")), (Some(12), None, None));
    }
}
