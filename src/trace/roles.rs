//! Who is who in a capture: which `transport address:port` is the harness on a leg, a gateway
//! face, or a media socket of a named user. The suite knows this when it writes a capture and
//! stores it in the capture's metadata ([`super::meta`]); for a capture made elsewhere a
//! roles file says it:
//!
//! ```yaml
//! "tcp 127.0.0.1:5061": harness enterprise
//! "udp 127.0.0.1:5070": harness consumer
//! "tcp 127.0.0.1:5080": gateway enterprise
//! "udp 127.0.0.1:5090": gateway consumer
//! "udp 127.0.0.1:40000": media lync:alice@contoso.com
//! ```
//!
//! A packet belongs to the leg of whichever of its two addresses has a role; one with none is
//! not between the harness and the gateway and is left out of the trace.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use crate::agent::Side;
use crate::net::Transport;
use crate::trace::canonical::Cast;

/// What an address is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The harness's signalling address on a leg.
    Harness(Side),
    /// A face of the gateway.
    Gateway(Side),
    /// A media socket of the harness, by the actor owning it (`lync:alice@contoso.com`); the
    /// actor's prefix names the leg.
    Media(String),
}

impl Role {
    /// The leg this address is on.
    pub fn leg(&self) -> Side {
        match self {
            Self::Harness(s) | Self::Gateway(s) => *s,
            Self::Media(owner) => leg_of_actor(owner).unwrap_or(Side::Enterprise),
        }
    }
}

fn leg_of_actor(owner: &str) -> Option<Side> {
    [Side::Enterprise, Side::Consumer]
        .into_iter()
        .find(|s| owner.strip_prefix(s.actor_prefix()).is_some_and(|r| r.starts_with(':') && r.len() > 1))
}

fn side(word: &str) -> Option<Side> {
    [Side::Enterprise, Side::Consumer].into_iter().find(|s| s.label() == word)
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Harness(s) => write!(f, "harness {}", s.label()),
            Self::Gateway(s) => write!(f, "gateway {}", s.label()),
            Self::Media(owner) => write!(f, "media {owner}"),
        }
    }
}

/// A roles entry that cannot be read; `field` is the entry's key as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("roles entry \"{field}\": {what}")]
pub struct RolesError {
    /// The key (`tcp 127.0.0.1:5061`) of the entry at fault.
    pub field: String,
    /// What is wrong and what was expected.
    pub what: String,
}

/// Every address with a role, by transport and address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// The roles.
    pub by_addr: BTreeMap<(Transport, SocketAddr), Role>,
    /// SRTP keys (base64 key||salt) by sending address, for video summaries, which need the
    /// payload. Suite captures carry them in their metadata.
    pub srtp: BTreeMap<SocketAddr, String>,
}

fn transport_word(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

impl Roles {
    /// Gives `addr` on `transport` a role.
    pub fn insert(&mut self, transport: Transport, addr: SocketAddr, role: Role) {
        self.by_addr.insert((transport, addr), role);
    }

    /// The leg of a packet from `src` to `dst`, if either end has a role.
    pub fn leg(&self, transport: Transport, src: SocketAddr, dst: SocketAddr) -> Option<Side> {
        self.by_addr.get(&(transport, src)).or_else(|| self.by_addr.get(&(transport, dst))).map(Role::leg)
    }

    /// The renderer's view: harness and gateway addresses, and media owners.
    pub fn cast(&self) -> Cast {
        let mut cast = Cast::default();
        for ((t, a), role) in &self.by_addr {
            match role {
                Role::Harness(_) => {
                    cast.harness.insert((*t, *a));
                }
                Role::Gateway(_) => {
                    cast.gateway.insert((*t, *a));
                }
                Role::Media(owner) => {
                    cast.media.insert(*a, owner.clone());
                }
            }
        }
        cast.srtp = self.srtp.clone();
        cast
    }

    /// The entries as text, `transport address:port` → role (the roles file's form).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.by_addr.iter().map(|((t, a), r)| (format!("{} {a}", transport_word(*t)), r.to_string())).collect()
    }

    /// Reads the text form; every entry at fault is named by its key.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self, RolesError> {
        let mut roles = Self::default();
        for (key, value) in map {
            let err = |what: String| RolesError { field: key.clone(), what };
            let (t, a) =
                key.trim().split_once(' ').ok_or_else(|| err("expected `tcp|udp ADDRESS:PORT` as the key".into()))?;
            let transport = match t.to_ascii_lowercase().as_str() {
                "udp" => Transport::Udp,
                "tcp" => Transport::Tcp,
                other => return Err(err(format!("transport `{other}`: expected `tcp` or `udp`"))),
            };
            let addr: SocketAddr = a
                .trim()
                .parse()
                .map_err(|_| err(format!("address `{}`: expected IP:PORT (IPv6 as [ADDR]:PORT)", a.trim())))?;
            let (kind, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
            let rest = rest.trim();
            let leg = || {
                side(rest).ok_or_else(|| err(format!("`{value}`: expected `{kind} enterprise` or `{kind} consumer`")))
            };
            let role = match kind {
                "harness" => Role::Harness(leg()?),
                "gateway" => Role::Gateway(leg()?),
                "media" => {
                    if leg_of_actor(rest).is_none() {
                        return Err(err(format!(
                            "`{value}`: expected `media lync:USER` or `media skype:USER` (the prefix names the leg)"
                        )));
                    }
                    if transport != Transport::Udp {
                        return Err(err("media sockets are UDP: expected a `udp` key".into()));
                    }
                    Role::Media(rest.to_owned())
                }
                _ => {
                    return Err(err(format!(
                        "role `{value}`: expected `harness LEG`, `gateway LEG` or `media ACTOR` \
                         (LEG is enterprise or consumer)"
                    )));
                }
            };
            roles.insert(transport, addr, role);
        }
        if !roles.by_addr.values().any(|r| matches!(r, Role::Harness(_) | Role::Gateway(_))) {
            return Err(RolesError {
                field: "(all)".into(),
                what: "no harness or gateway address: nothing to tell the legs apart by".into(),
            });
        }
        Ok(roles)
    }

    /// Reads a roles file (YAML map of strings); errors name the file and the line or entry.
    pub fn parse_yaml(text: &str, file: &str) -> Result<Self, String> {
        let map: BTreeMap<String, String> = yaml_serde::from_str(text).map_err(|e| {
            format!(
                "{file}: {e}; expected a map of `tcp|udp ADDRESS:PORT` to `harness LEG`, `gateway LEG` or `media ACTOR`"
            )
        })?;
        Self::from_map(&map).map_err(|e| format!("{file}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Roles, String> {
        Roles::parse_yaml(text, "roles.yaml")
    }

    #[test]
    fn a_roles_file_reads_into_legs_and_the_cast_and_writes_back_the_same() {
        let text = "\"tcp 127.0.0.1:5061\": harness enterprise\n\
                    \"udp 127.0.0.1:5070\": harness consumer\n\
                    \"tcp 127.0.0.1:5080\": gateway enterprise\n\
                    \"udp [::1]:5090\": gateway consumer\n\
                    \"udp 127.0.0.1:40000\": media lync:alice@contoso.com\n";
        let r = yaml(text).unwrap();
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(r.leg(Transport::Tcp, a("127.0.0.1:33000"), a("127.0.0.1:5080")), Some(Side::Enterprise));
        assert_eq!(r.leg(Transport::Udp, a("[::1]:5090"), a("[::1]:6000")), Some(Side::Consumer));
        assert_eq!(r.leg(Transport::Udp, a("127.0.0.1:40000"), a("127.0.0.1:1")), Some(Side::Enterprise));
        assert_eq!(r.leg(Transport::Udp, a("127.0.0.1:5061"), a("127.0.0.1:1")), None, "TCP role, UDP packet");
        let cast = r.cast();
        assert_eq!(cast.harness.len(), 2);
        assert_eq!(cast.gateway.len(), 2);
        assert_eq!(cast.media.get(&a("127.0.0.1:40000")).map(String::as_str), Some("lync:alice@contoso.com"));
        assert_eq!(Roles::from_map(&r.to_map()).unwrap(), r);
    }

    #[test]
    fn every_wrong_entry_is_named_by_its_key() {
        let cases = [
            ("\"sctp 127.0.0.1:1\": harness consumer", "\"sctp 127.0.0.1:1\": transport `sctp`"),
            ("\"udp 127.0.0.1\": harness consumer", "address `127.0.0.1`"),
            ("\"udp127.0.0.1:1\": harness consumer", "expected `tcp|udp ADDRESS:PORT`"),
            ("\"udp 127.0.0.1:1\": harness middle", "expected `harness enterprise`"),
            ("\"udp 127.0.0.1:1\": sut consumer", "role `sut consumer`"),
            ("\"udp 127.0.0.1:1\": media alice", "expected `media lync:USER`"),
            ("\"tcp 127.0.0.1:1\": media skype:bob@x.com", "media sockets are UDP"),
            ("\"udp 127.0.0.1:1\": media skype:bob@x.com", "no harness or gateway address"),
            ("- a list\n- not a map", "roles.yaml: "),
        ];
        for (text, want) in cases {
            let e = yaml(text).unwrap_err();
            assert!(e.starts_with("roles.yaml: ") && e.contains(want), "{text}: {e}");
        }
    }
}
