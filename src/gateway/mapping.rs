//! Address mapping between the Lync and consumer namespaces (PROTOCOL.md §5.1). This is the
//! gateway's own reading of the rules; the harness states the expected forms in its scenarios
//! and never calls this code.

use crate::sip::wire::SipUri;

/// What the gateway knows about domains.
#[derive(Debug, Clone)]
pub struct Namespaces {
    /// The public provider's name-decoration routing domain (`msn.com`).
    pub routing_domain: String,
    /// Microsoft consumer domains whose MSAs are addressed undecorated.
    pub consumer_domains: Vec<String>,
    /// Enterprise SIP domains provisioned for federation with the gateway.
    pub enterprise_domains: Vec<String>,
    /// Domains of legacy Skype names without a Microsoft account (`skype.com`): such users
    /// cannot federate (flows.md, "Identities").
    pub legacy_domains: Vec<String>,
    /// The seeded defect `escaped-parens-kept`: read the user part as written, so
    /// `bob%28contoso.com%29@msn.com` reaches no account.
    pub keep_escapes: bool,
}

impl Default for Namespaces {
    fn default() -> Self {
        Self {
            routing_domain: "msn.com".into(),
            consumer_domains: ["msn.com", "outlook.com", "live.com", "hotmail.com"].map(String::from).to_vec(),
            enterprise_domains: Vec::new(),
            legacy_domains: vec!["skype.com".into()],
            keep_escapes: false,
        }
    }
}

/// A Microsoft account: an e-mail address, compared case-insensitively (PROTOCOL.md §5.1 rule 4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msa {
    local: String,
    domain: String,
}

impl Msa {
    /// `local@domain`, lower-cased.
    pub fn new(local: &str, domain: &str) -> Self {
        Self { local: local.to_ascii_lowercase(), domain: domain.to_ascii_lowercase() }
    }

    /// `sip:local@domain`: how the consumer leg addresses this account.
    pub fn consumer_uri(&self) -> String {
        format!("sip:{}@{}", self.local, self.domain)
    }
}

impl std::fmt::Display for Msa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Why an enterprise-side target is not a Skype user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAnMsa {
    /// The URI is not a SIP URI with a user part.
    Malformed(String),
    /// A domain that is neither consumer nor the routing domain: not ours to route.
    ForeignDomain(String),
}

impl Namespaces {
    fn is_consumer(&self, domain: &str) -> bool {
        self.consumer_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// True for a provisioned enterprise domain.
    pub fn is_enterprise(&self, domain: &str) -> bool {
        self.enterprise_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// True for a legacy Skype name's domain.
    pub fn is_legacy(&self, domain: &str) -> bool {
        self.legacy_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Lync-side URI → MSA (rules 1–3): `local(domain)@msn.com` → `local@domain`; a consumer
    /// domain → as is. `%28`/`%29` are unescaped first, so both spellings reach one account.
    pub fn msa_of_lync_uri(&self, uri: &str) -> Result<Msa, NotAnMsa> {
        let u = SipUri::parse(uri).map_err(|e| NotAnMsa::Malformed(e.to_string()))?;
        let user = if self.keep_escapes { u.user.clone() } else { u.user_unescaped() };
        let user = user.ok_or_else(|| NotAnMsa::Malformed(format!("{uri} has no user part")))?;
        let host = u.host.to_ascii_lowercase();
        if host == self.routing_domain
            && let Some(inner) = user.strip_suffix(')')
            && let Some((local, domain)) = inner.split_once('(')
            && !local.is_empty()
            && !domain.is_empty()
            && !domain.contains(['(', ')'])
        {
            return Ok(Msa::new(local, domain));
        }
        if self.is_consumer(&host) {
            return Ok(Msa::new(&user, &host));
        }
        Err(NotAnMsa::ForeignDomain(host))
    }

    /// MSA → the one Lync-side URI it is presented as (rule 3, the inverse).
    pub fn lync_uri_of_msa(&self, msa: &Msa) -> String {
        if self.is_consumer(&msa.domain) {
            format!("sip:{}@{}", msa.local, msa.domain)
        } else {
            format!("sip:{}({})@{}", msa.local, msa.domain, self.routing_domain)
        }
    }

    /// Consumer-leg URI of a Skype user → MSA.
    pub fn msa_of_consumer_uri(&self, uri: &str) -> Option<Msa> {
        let u = SipUri::parse(uri).ok()?;
        Some(Msa::new(&u.user_unescaped()?, &u.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespaces {
        Namespaces { enterprise_domains: vec!["contoso.com".into()], ..Namespaces::default() }
    }

    #[test]
    fn decorated_and_escaped_forms_reach_one_account_and_map_back() {
        let n = ns();
        let a = n.msa_of_lync_uri("sip:bob(contoso.com)@msn.com").unwrap();
        let b = n.msa_of_lync_uri("sip:bob%28contoso.com%29@MSN.COM").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "bob@contoso.com");
        assert_eq!(n.lync_uri_of_msa(&a), "sip:bob(contoso.com)@msn.com");
    }

    #[test]
    fn consumer_domains_are_undecorated_both_ways() {
        let n = ns();
        for d in ["live.com", "hotmail.com", "outlook.com", "msn.com"] {
            let m = n.msa_of_lync_uri(&format!("sip:carol@{d}")).unwrap();
            assert_eq!(n.lync_uri_of_msa(&m), format!("sip:carol@{d}"));
        }
    }

    #[test]
    fn an_enterprise_address_is_not_an_msa() {
        assert_eq!(ns().msa_of_lync_uri("sip:bob@contoso.com"), Err(NotAnMsa::ForeignDomain("contoso.com".into())));
    }
}
