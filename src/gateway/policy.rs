//! Administrator policy (flows.md "Administrator policy", PROTOCOL.md §6 req 31): which users
//! may use the gateway, and the refusal forms each leg gets.

use super::{Defect, Inner};
use crate::sip::txn::TxnId;
use crate::sip::wire::ms::MsDiagnostics;
use crate::sip::wire::{Message, MessageBuilder, SipUri};

const NOT_AUTHORIZED: &str = "From URI not authorized to communicate with federated partners";
/// An id in the PIC-specific range (PROTOCOL.md §5.3, 90000–90999): the refusal is this
/// gateway's public-IM-connectivity policy, not a SIP-stack or presence-server fault.
const NOT_AUTHORIZED_ID: u32 = 90001;
const LEGACY_SENDER: &str = "Sender is a Skype name with no Microsoft account and cannot federate";
const NOT_ENABLED: &str = "Recipient is not enabled for public IM connectivity";

/// `user@host` of a SIP URI, lower-cased for matching against the configuration.
pub(super) fn aor(uri: &str) -> Option<String> {
    SipUri::parse(uri).ok().map(|u| u.address_of_record().to_ascii_lowercase())
}

fn domain(aor: &str) -> &str {
    aor.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Why a consumer-leg request to a Lync user is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConsumerRefusal {
    /// From is a legacy Skype name: 403 + Warning.
    LegacySender,
    /// The target's domain is not provisioned for federation: it does not exist (404).
    UnknownDomain,
    /// The target is not enabled for public IM connectivity: 403 + Warning.
    NotEnabled,
}

impl Inner {
    /// True when the Lync user (`user@domain`) may use public IM connectivity.
    pub(super) fn lync_user_enabled(&self, aor: &str) -> bool {
        self.config.namespaces.is_enterprise(domain(aor))
            && (self.config.enterprise_users.contains(aor) || self.config.defects.has(Defect::DisabledUserReachable))
    }

    /// 403 to a Lync request from a user the policy does not enable: the Warning the IM path
    /// always sent, plus diagnostics (and a public copy without `source`, req 30).
    pub(super) fn reply_not_authorized(&self, id: TxnId, req: &Message) {
        let tag = self.tag();
        let resp = MessageBuilder::response_to(req, 403, "Forbidden", Some(&tag))
            .header("Warning", format!("399 {} \"{NOT_AUTHORIZED}\"", self.config.fqdn))
            .header("ms-diagnostics", MsDiagnostics::render(NOT_AUTHORIZED_ID, NOT_AUTHORIZED, Some(&self.config.fqdn)))
            .header("ms-diagnostics-public", MsDiagnostics::render(NOT_AUTHORIZED_ID, NOT_AUTHORIZED, None))
            .build();
        self.enterprise.respond(id, resp);
    }

    /// The policy check of a consumer request (MESSAGE, SUBSCRIBE, OPTIONS) to a Lync user:
    /// the sender first (a legacy name is refused whoever it writes to), then the target.
    pub(super) fn consumer_refusal(&self, req: &Message) -> Option<ConsumerRefusal> {
        let ns = &self.config.namespaces;
        let from = req.from_addr().ok().and_then(|f| aor(&f.uri)).unwrap_or_default();
        if ns.is_legacy(domain(&from)) {
            return Some(ConsumerRefusal::LegacySender);
        }
        let target = req.request_uri().and_then(aor).unwrap_or_default();
        if !ns.is_enterprise(domain(&target)) {
            return Some(ConsumerRefusal::UnknownDomain);
        }
        let enabled =
            self.config.enterprise_users.contains(&target) || self.config.defects.has(Defect::DisabledUserReachable);
        (!enabled).then_some(ConsumerRefusal::NotEnabled)
    }

    /// Answers a consumer request refused by [`Inner::consumer_refusal`].
    pub(super) fn reply_consumer_refusal(&self, id: TxnId, req: &Message, refusal: ConsumerRefusal) {
        let tag = self.tag();
        let warning = |text: &str| format!("399 {} \"{text}\"", self.config.fqdn);
        let resp = match refusal {
            ConsumerRefusal::LegacySender => MessageBuilder::response_to(req, 403, "Forbidden", Some(&tag))
                .header("Warning", warning(LEGACY_SENDER))
                .build(),
            ConsumerRefusal::UnknownDomain => MessageBuilder::response_to(req, 404, "Not Found", Some(&tag)).build(),
            ConsumerRefusal::NotEnabled => MessageBuilder::response_to(req, 403, "Forbidden", Some(&tag))
                .header("Warning", warning(NOT_ENABLED))
                .build(),
        };
        self.consumer.respond(id, resp);
    }
}
