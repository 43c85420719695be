//! Seeded defects: realistic ways a federation gateway goes wrong, switched on one at a time in
//! the reference gateway so that `fedcert selftest` can prove the suite catches each of them
//! (and that the clean gateway passes). Each names the requirement it breaks; the hook that
//! applies it sits where a real implementation would make that mistake.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One seeded defect, spelt in profiles and on the command line in kebab-case
/// (`undecorated-custom-domains`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Defect {
    /// Custom-domain MSAs presented undecorated (`bob@contoso.com` for
    /// `bob(contoso.com)@msn.com`).
    UndecoratedCustomDomains,
    /// Every Skype watcher of a Lync user is served the latest state any watcher's
    /// subscription returned, so a blocked watcher sees real state.
    SharedPresenceCache,
    /// `%28`/`%29` in a Lync-side URI not decoded, so the escaped spelling of a decorated MSA
    /// reaches no account.
    EscapedParensKept,
    /// Lync's Busy band (6000–8999) shown to Skype as Away.
    BusyShownAsAway,
    /// Skype's Away published toward Lync as 6500 (Busy).
    AwayPublishedAsBusy,
    /// A Lync user not enabled for public IM connectivity is reachable from Skype.
    DisabledUserReachable,
    /// Typing notifications not translated (dropped) in either direction.
    TypingNotTranslated,
    /// The first IM, carried in the Lync INVITE's `ms-text-format`, is not delivered.
    FirstImDropped,
    /// Audio payload type numbers passed through unchanged between legs.
    PtPassthrough,
    /// The SSRC toward the consumer leg changes in the middle of a call.
    SsrcChangedMidCall,
    /// RFC 4733 telephone-event packets not relayed.
    DtmfDropped,
    /// CANCEL answered 200 but the INVITE never answered 487.
    #[serde(rename = "cancel-without-487")]
    CancelWithout487,
    /// BYE answered 200 but not carried to the other leg.
    ByeNotRelayed,
    /// 180 Ringing not carried to the caller.
    RingingNotRelayed,
    /// No single-SDP retry after the Lync side answers the multipart offer with 415.
    #[serde(rename = "no-415-retry")]
    No415Retry,
    /// A hold re-INVITE (`a=inactive`) answered locally and not carried to the other leg.
    HoldNotRelayed,
    /// The 488 for an encryption mismatch sent without its `ms-client-diagnostics: 52017`.
    DiagnosticsMissing,
    /// The gateway answers the Lync side with the SRTP key the Lync side offered, instead of
    /// a fresh key of its own.
    SrtpKeyReused,
    /// A Skype user's IM answered 200 at once, before (and whatever) the Lync side answers:
    /// a refused IM looks delivered to its sender.
    ImAcceptedBeforeDelivery,
    /// A pending subscription (the Lync user has not decided yet) reported to the Skype
    /// watcher as active with an Offline document: the watcher never learns that
    /// authorisation is awaited.
    PendingShownActive,
    /// The video relay sets the RTP marker on every packet it sends instead of only on the
    /// last packet of each frame (req 24).
    MarkerOnEveryPacket,
    /// The video relay forwards Lync's PACSI NAL units to the plain H.264 consumer leg
    /// instead of stripping them (req 26).
    PacsiNotStripped,
}

impl Defect {
    /// Every defect, in the order the self-test lists them.
    pub const ALL: &'static [Self] = &[
        Self::UndecoratedCustomDomains,
        Self::SharedPresenceCache,
        Self::EscapedParensKept,
        Self::BusyShownAsAway,
        Self::AwayPublishedAsBusy,
        Self::DisabledUserReachable,
        Self::PendingShownActive,
        Self::ImAcceptedBeforeDelivery,
        Self::TypingNotTranslated,
        Self::FirstImDropped,
        Self::PtPassthrough,
        Self::SsrcChangedMidCall,
        Self::DtmfDropped,
        Self::SrtpKeyReused,
        Self::CancelWithout487,
        Self::ByeNotRelayed,
        Self::RingingNotRelayed,
        Self::No415Retry,
        Self::HoldNotRelayed,
        Self::DiagnosticsMissing,
        Self::MarkerOnEveryPacket,
        Self::PacsiNotStripped,
    ];

    /// The kebab-case name.
    pub fn name(self) -> String {
        yaml_serde::to_string(&self).map(|s| s.trim().to_owned()).unwrap_or_default()
    }

    /// The feature files (stems) whose scenarios exercise the flow this defect breaks: the
    /// self-test runs these unless asked for every feature.
    pub fn features(self) -> &'static [&'static str] {
        use Defect::*;
        match self {
            UndecoratedCustomDomains | EscapedParensKept => &["contacts", "im"],
            SharedPresenceCache | PendingShownActive | DisabledUserReachable => &["privacy", "contacts"],
            ImAcceptedBeforeDelivery => &["privacy", "im"],
            BusyShownAsAway | AwayPublishedAsBusy => &["presence"],
            TypingNotTranslated | FirstImDropped => &["im"],
            PtPassthrough | SsrcChangedMidCall | DtmfDropped | SrtpKeyReused | CancelWithout487 | ByeNotRelayed
            | RingingNotRelayed | No415Retry | HoldNotRelayed | DiagnosticsMissing => &["audio"],
            MarkerOnEveryPacket | PacsiNotStripped => &["video"],
        }
    }

    /// Parses a kebab-case name.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.iter().copied().find(|d| d.name() == name).ok_or_else(|| {
            let known: Vec<String> = Self::ALL.iter().map(|d| d.name()).collect();
            format!("unknown defect `{name}`; known: {}", known.join(", "))
        })
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The defects a gateway runs with (a profile's `defects:` list); empty for a clean gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Defects(BTreeSet<Defect>);

impl Defects {
    /// A set of defects.
    pub fn of(defects: impl IntoIterator<Item = Defect>) -> Self {
        Self(defects.into_iter().collect())
    }

    /// True when `d` is switched on.
    pub fn has(&self, d: Defect) -> bool {
        self.0.contains(&d)
    }

    /// True for a clean gateway.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The defects switched on.
    pub fn iter(&self) -> impl Iterator<Item = Defect> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let names: BTreeSet<String> = Defect::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), Defect::ALL.len());
        for d in Defect::ALL {
            assert_eq!(Defect::parse(&d.name()), Ok(*d));
        }
        assert_eq!(Defect::PtPassthrough.name(), "pt-passthrough");
        assert_eq!(Defect::CancelWithout487.name(), "cancel-without-487");
        assert!(Defect::parse("no-such-defect").unwrap_err().contains("known: undecorated-custom-domains"));
    }

    #[test]
    fn a_profile_lists_defects_by_name() {
        let d: Defects = yaml_serde::from_str("[pt-passthrough, bye-not-relayed]").unwrap();
        assert!(d.has(Defect::PtPassthrough) && d.has(Defect::ByeNotRelayed) && !d.has(Defect::DtmfDropped));
        assert!(yaml_serde::from_str::<Defects>("[pt-passtrough]").is_err());
    }

    /// `ALL` drives the self-test matrix, so a defect missing from it would never be proved
    /// caught. The match below stops compiling when a variant is added; its number must then
    /// be listed here, and the count makes `ALL` hold every number once.
    #[test]
    fn all_lists_every_variant_once() {
        const VARIANTS: usize = 22;
        fn number(d: Defect) -> usize {
            match d {
                Defect::UndecoratedCustomDomains => 0,
                Defect::SharedPresenceCache => 1,
                Defect::EscapedParensKept => 2,
                Defect::BusyShownAsAway => 3,
                Defect::AwayPublishedAsBusy => 4,
                Defect::DisabledUserReachable => 5,
                Defect::TypingNotTranslated => 6,
                Defect::FirstImDropped => 7,
                Defect::PtPassthrough => 8,
                Defect::SsrcChangedMidCall => 9,
                Defect::DtmfDropped => 10,
                Defect::CancelWithout487 => 11,
                Defect::ByeNotRelayed => 12,
                Defect::RingingNotRelayed => 13,
                Defect::No415Retry => 14,
                Defect::HoldNotRelayed => 15,
                Defect::DiagnosticsMissing => 16,
                Defect::SrtpKeyReused => 17,
                Defect::ImAcceptedBeforeDelivery => 18,
                Defect::PendingShownActive => 19,
                Defect::MarkerOnEveryPacket => 20,
                Defect::PacsiNotStripped => 21,
            }
        }
        let numbers: BTreeSet<usize> = Defect::ALL.iter().map(|d| number(*d)).collect();
        assert_eq!(Defect::ALL.len(), VARIANTS, "ALL has a variant twice or misses one");
        assert_eq!(numbers, (0..VARIANTS).collect(), "ALL misses a variant");
    }
}
