//! Privacy and presence state of the simulated users (PROTOCOL.md §1.3, §4.2): what a Lync pool
//! keeps for each of its users (contacts, containers, pending subscribers, alerts, the
//! "Contacts not using Lync" choice) and what the Skype cloud keeps (contact requests, status).

use std::collections::BTreeMap;
use std::str::FromStr;

use super::identity::Address;
use crate::dialect::lync::Availability;
use crate::dialect::skype::SkypeState;

/// A privacy relationship (Lync container, PROTOCOL.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Container {
    /// External Contacts (100).
    External,
    /// Colleagues (200).
    Colleagues,
    /// Workgroup (300).
    Workgroup,
    /// Friends and Family (400).
    FriendsAndFamily,
    /// Blocked Contacts (32000): members see Offline.
    Blocked,
}

impl Container {
    /// The container id.
    pub fn id(self) -> u32 {
        match self {
            Self::External => 100,
            Self::Colleagues => 200,
            Self::Workgroup => 300,
            Self::FriendsAndFamily => 400,
            Self::Blocked => 32000,
        }
    }
}

impl FromStr for Container {
    type Err = String;

    /// The names the Lync UI shows.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "External Contacts" => Self::External,
            "Colleagues" => Self::Colleagues,
            "Workgroup" => Self::Workgroup,
            "Friends and Family" => Self::FriendsAndFamily,
            "Blocked Contacts" => Self::Blocked,
            other => {
                return Err(format!(
                    "`{other}` is not a privacy relationship (External Contacts, Colleagues, Workgroup, \
                     Friends and Family, Blocked Contacts)"
                ));
            }
        })
    }
}

/// "Contacts not using Lync" in Lync's Options → Alerts (PROTOCOL.md §1.3 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivacyMode {
    /// "Allow invites but block all other communications".
    InvitesOnly,
    /// "Allow anyone to contact me".
    Anyone,
}

impl FromStr for PrivacyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Allow invites but block all other communications" => Ok(Self::InvitesOnly),
            "Allow anyone to contact me" => Ok(Self::Anyone),
            other => Err(format!(
                "`{other}` is not a choice of \"Contacts not using Lync\" (\"Allow invites but block all other \
                 communications\", \"Allow anyone to contact me\")"
            )),
        }
    }
}

/// What a watcher's client shows for a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Not authorised yet: no presence (Lync) / the question mark (Skype).
    Pending,
    /// A Lync client shows this availability.
    Availability(Availability),
    /// A Skype client shows this status.
    Status(SkypeState),
    /// The subscription ended, with the notifier's reason.
    Ended(String),
}

/// One contact on a Lync user's list (setContact + setContainerMembers, pool-internal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LyncContact {
    /// Contact group.
    pub group: String,
    /// Privacy relationship.
    pub container: Container,
}

/// What the simulated pool keeps for one Lync user.
#[derive(Debug, Clone)]
pub struct LyncUser {
    /// Published availability.
    pub availability: Availability,
    /// "Contacts not using Lync".
    pub privacy: PrivacyMode,
    /// "Tell me when someone adds me to his or her contact list".
    pub alert_on_add: bool,
    /// Contacts by the address the user added them under.
    pub contacts: BTreeMap<String, LyncContact>,
    /// Subscribers (roaming-self `<subscriber>`), by watcher, with `acknowledged`.
    pub subscribers: BTreeMap<String, bool>,
}

impl Default for LyncUser {
    fn default() -> Self {
        // The harness's default user lets anyone contact them; privacy scenarios choose the
        // restrictive setting explicitly.
        Self {
            availability: Availability::AVAILABLE,
            privacy: PrivacyMode::Anyone,
            alert_on_add: true,
            contacts: BTreeMap::new(),
            subscribers: BTreeMap::new(),
        }
    }
}

/// What a Lync user lets a watcher see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not decided: the watcher waits (pending subscriber).
    Undecided,
    /// This availability (the real one, or 18500 for a blocked watcher).
    Sees(Availability),
}

impl LyncUser {
    /// The watcher's access, resolved user by user (PROTOCOL.md §4.2).
    pub fn access(&self, watcher: &str) -> Access {
        match self.contacts.get(watcher) {
            Some(c) if c.container == Container::Blocked => Access::Sees(Availability::OFFLINE),
            Some(_) => Access::Sees(self.availability),
            None => Access::Undecided,
        }
    }

    /// Whether an IM from a public-cloud sender reaches the user (PROTOCOL.md §1.3 step 5).
    pub fn takes_im_from(&self, sender: &str) -> bool {
        match self.contacts.get(sender) {
            Some(c) => c.container != Container::Blocked,
            None => self.privacy == PrivacyMode::Anyone,
        }
    }
}

/// A Skype user's answer to a contact request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// Not answered yet.
    Pending,
    /// Accepted.
    Accepted,
    /// Declined.
    Declined,
}

/// What the simulated cloud keeps for one Skype user.
#[derive(Debug, Clone)]
pub struct SkypeUser {
    /// Status.
    pub state: SkypeState,
    /// Contact requests received, by requester (as presented), with the answer.
    pub requests: BTreeMap<String, Authorization>,
}

impl Default for SkypeUser {
    fn default() -> Self {
        Self { state: SkypeState::Online, requests: BTreeMap::new() }
    }
}

/// The key under which an address is compared: %-escapes undone, lower case (MSAs and SIP
/// URIs compare case-insensitively here, PROTOCOL.md §5.1 rule 4).
pub fn key(a: &Address) -> String {
    a.comparable().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_and_im_follow_contacts_containers_and_mode() {
        let mut u = LyncUser::default();
        assert_eq!(u.access("bob@x"), Access::Undecided);
        assert!(u.takes_im_from("bob@x"));
        u.privacy = PrivacyMode::InvitesOnly;
        assert!(!u.takes_im_from("bob@x"));
        u.contacts.insert("bob@x".into(), LyncContact { group: "g".into(), container: Container::Workgroup });
        assert_eq!(u.access("bob@x"), Access::Sees(Availability::AVAILABLE));
        assert!(u.takes_im_from("bob@x"));
        u.contacts.insert("bob@x".into(), LyncContact { group: "g".into(), container: Container::Blocked });
        assert_eq!(u.access("bob@x"), Access::Sees(Availability::OFFLINE));
        assert!(!u.takes_im_from("bob@x"));
        assert_eq!("Friends and Family".parse::<Container>().unwrap().id(), 400);
        assert!("Family".parse::<Container>().is_err());
    }
}
