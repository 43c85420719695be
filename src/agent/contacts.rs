//! What simulated users do with contacts and presence: add, accept, ignore, block, remove,
//! publish, refresh, search; and what their clients show. Pool-internal operations (setContact,
//! setContainerMembers, setSubscribers) change the pool's state only; what crosses the
//! enterprise leg is the subscription traffic (PROTOCOL.md §9.1).

use std::time::Duration;

use super::identity::{Address, Side};
use super::presence::{Authorization, Container, LyncContact, PrivacyMode, Shown, key};
use super::side::{AgentEvent, Outcome, SimSide, WaitError};
use super::subscriptions::Note;
use crate::dialect::lync::Availability;
use crate::dialect::skype::{self, SkypeState};

/// A Lync user's answer to a pending subscriber (PROTOCOL.md §1.3 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Acknowledge and add as a contact with this relationship.
    Accept(Container),
    /// Acknowledge only.
    Ignore,
    /// Acknowledge and put in Blocked Contacts (32000).
    Block,
}

impl SimSide {
    fn expect_side(&self, side: Side, what: &str) {
        assert_eq!(self.inner.side, side, "{what} is something a {} user does", side.actor_prefix());
    }

    /// A Lync user adds a contact (into `group`, with `container`) and subscribes to its
    /// presence; `accept` overrides the client's Accept.
    pub async fn lync_add_contact(
        &self,
        user: &Address,
        contact: &Address,
        group: &str,
        container: Container,
        accept: Option<&str>,
    ) -> Outcome {
        self.expect_side(Side::Enterprise, "adding a Skype contact");
        self.inner
            .lock()
            .lync_users
            .entry(key(user))
            .or_default()
            .contacts
            .insert(key(contact), LyncContact { group: group.to_owned(), container });
        self.inner.subscribe(user, contact, None, accept).await
    }

    /// A Skype user adds a Lync contact: a contact request with a presence subscription of
    /// `expires` seconds (the profile's default when `None`).
    pub async fn skype_add_contact(&self, user: &Address, contact: &Address, expires: Option<u32>) -> Outcome {
        self.expect_side(Side::Consumer, "adding a Lync contact");
        self.inner.subscribe(user, contact, expires, None).await
    }

    /// A Lync user answers a pending subscriber.
    pub async fn lync_answer(&self, user: &Address, watcher: &Address, answer: Answer) -> Result<(), String> {
        self.expect_side(Side::Enterprise, "answering a contact request");
        let w = key(watcher);
        {
            let mut st = self.inner.lock();
            let u = st.lync_users.entry(key(user)).or_default();
            let ack = u.subscribers.get_mut(&w).ok_or_else(|| format!("{user} has no subscriber {watcher}"))?;
            *ack = true;
            match answer {
                Answer::Accept(container) => {
                    u.contacts.insert(w.clone(), LyncContact { group: "Other Contacts".into(), container });
                }
                Answer::Block => {
                    u.contacts.insert(w.clone(), LyncContact { group: String::new(), container: Container::Blocked });
                }
                Answer::Ignore => return Ok(()),
            }
        }
        // Pending subscriptions become active (a state change: NOTIFY); a block also reaches
        // an already active one, whose state changes to Offline. Both sets are taken before
        // either is notified, so no subscription hears twice.
        let was_active = self.inner.active_ids(user, &w);
        self.inner.notify_matching(user, Some(&w), Note::Active { change: false }, |n| !n.active).await;
        if answer == Answer::Block {
            let pick = |n: &super::subscriptions::Notifier| was_active.contains(&n.dialog.key().call_id);
            self.inner.notify_matching(user, Some(&w), Note::Active { change: true }, pick).await;
        }
        Ok(())
    }

    /// A Skype user accepts (or declines) a contact request.
    pub async fn skype_answer(&self, user: &Address, requester: &Address, accept: bool) -> Result<(), String> {
        self.expect_side(Side::Consumer, "answering a contact request");
        let w = key(requester);
        {
            let mut st = self.inner.lock();
            let u = st.skype_users.entry(key(user)).or_default();
            let a = u.requests.get_mut(&w).ok_or_else(|| format!("{user} has no contact request from {requester}"))?;
            *a = if accept { Authorization::Accepted } else { Authorization::Declined };
        }
        let note = if accept { Note::Active { change: false } } else { Note::Terminated("rejected") };
        self.inner.notify_matching(user, Some(&w), note, |_| true).await;
        Ok(())
    }

    /// A Lync user publishes an availability; watchers who may see it are notified (a blocked
    /// watcher's view, the Blocked container's 18500, does not change).
    pub async fn set_availability(&self, user: &Address, a: Availability) {
        self.expect_side(Side::Enterprise, "publishing an availability");
        let blocked: Vec<String> = {
            let mut st = self.inner.lock();
            let u = st.lync_users.entry(key(user)).or_default();
            u.availability = a;
            u.contacts.iter().filter(|(_, c)| c.container == Container::Blocked).map(|(k, _)| k.clone()).collect()
        };
        let pick = |n: &super::subscriptions::Notifier| {
            n.active && !n.watcher.parse::<Address>().is_ok_and(|w| blocked.contains(&key(&w)))
        };
        self.inner.notify_matching(user, None, Note::Active { change: true }, pick).await;
    }

    /// A Skype user changes status; authorised watchers are notified.
    pub async fn set_status(&self, user: &Address, s: SkypeState) {
        self.expect_side(Side::Consumer, "changing a Skype status");
        self.inner.lock().skype_users.entry(key(user)).or_default().state = s;
        self.inner.notify_matching(user, None, Note::Active { change: true }, |n| n.active).await;
    }

    /// Removes a contact: the unsubscribe (in-dialog SUBSCRIBE, Expires 0).
    pub async fn remove_contact(&self, user: &Address, contact: &Address) -> Result<Outcome, String> {
        if let Some(u) = self.inner.lock().lync_users.get_mut(&key(user)) {
            u.contacts.remove(&key(contact));
        }
        self.inner.resubscribe(user, contact, 0).await
    }

    /// Refreshes the subscription to a contact for the profile's expiry.
    pub async fn refresh(&self, user: &Address, contact: &Address) -> Result<Outcome, String> {
        let expires = match self.inner.side {
            Side::Enterprise => self.inner.lync.subscription_expires,
            Side::Consumer => self.inner.skype.subscription_expires,
        };
        self.inner.resubscribe(user, contact, expires).await
    }

    /// A Skype user's directory search for an address.
    pub async fn search(&self, user: &Address, target: &Address) -> Outcome {
        self.expect_side(Side::Consumer, "a directory search");
        let msg = {
            let mut st = self.inner.lock();
            let env = self.inner.skype_envelope(&mut st.rng, user, target);
            skype::search(&self.inner.skype, &env)
        };
        self.inner.tracked(msg).await
    }

    /// "Contacts not using Lync" for a Lync user.
    pub fn set_privacy(&self, user: &Address, mode: PrivacyMode) {
        self.inner.lock().lync_users.entry(key(user)).or_default().privacy = mode;
    }

    /// "Tell me when someone adds me to his or her contact list" for a Lync user.
    pub fn set_alert_on_add(&self, user: &Address, on: bool) {
        self.inner.lock().lync_users.entry(key(user)).or_default().alert_on_add = on;
    }

    /// Sets a user's state before any subscription exists (no traffic).
    pub fn preset_availability(&self, user: &Address, a: Availability) {
        self.inner.lock().lync_users.entry(key(user)).or_default().availability = a;
    }

    /// Sets a Skype user's status before any subscription exists (no traffic).
    pub fn preset_status(&self, user: &Address, s: SkypeState) {
        self.inner.lock().skype_users.entry(key(user)).or_default().state = s;
    }

    /// The pool answers watchers that take PIDF with PIDF rather than msrtc categories.
    pub fn pool_serves_pidf(&self) {
        self.inner.lock().pool_serves_pidf = true;
    }

    /// Whether a subscription from `watcher` to `user` is still open on this side.
    pub fn watched_by(&self, user: &Address, watcher: &Address) -> bool {
        let w = key(watcher);
        let st = self.inner.lock();
        st.notifiers.values().any(|n| &n.user == user && n.watcher.parse::<Address>().is_ok_and(|a| key(&a) == w))
    }

    /// A Lync user's subscriber entry for `watcher`: `Some(acknowledged)`.
    pub fn subscriber(&self, user: &Address, watcher: &Address) -> Option<bool> {
        self.inner.lock().lync_users.get(&key(user))?.subscribers.get(&key(watcher)).copied()
    }

    /// The subscribers a Lync user has, as presented.
    pub fn subscribers(&self, user: &Address) -> Vec<Address> {
        let st = self.inner.lock();
        let keys: Vec<String> =
            st.lync_users.get(&key(user)).map(|u| u.subscribers.keys().cloned().collect()).unwrap_or_default();
        keys.iter().filter_map(|k| k.parse().ok()).collect()
    }

    /// What the user's client shows for `contact` now (`None`: nothing yet).
    pub fn shown(&self, user: &Address, contact: &Address) -> Option<Shown> {
        let k = key(contact);
        self.events_of(user).into_iter().rev().find_map(|e| match e {
            AgentEvent::Presence { of, shown } if of.parse::<Address>().is_ok_and(|a| key(&a) == k) => Some(shown),
            _ => None,
        })
    }

    /// Waits until what the user's client shows for `contact` satisfies `pred`.
    pub async fn wait_shown(
        &self,
        user: &Address,
        contact: &Address,
        what: &str,
        within: Duration,
        pred: impl Fn(&Shown) -> bool,
    ) -> Result<Shown, WaitError> {
        self.wait_until(user, what, within, || self.shown(user, contact).filter(|s| pred(s))).await
    }
}
