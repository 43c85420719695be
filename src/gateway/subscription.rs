//! One bridged presence subscription (flows.md: "one subscription per watcher and presentity
//! pair on each leg"), and the pure decisions the bridge takes about it.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::Leg;
use crate::sip::dialog::Dialog;
use crate::sip::wire::Message;

use super::{categories, pidf};

/// The `Subscription-State` values (RFC 6665 §8.2.3), without their parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubState {
    Pending,
    Active,
    Terminated,
}

impl SubState {
    /// The state of a `Subscription-State` value; `None` for a value that names no state.
    pub(super) fn parse(header: &str) -> Option<Self> {
        let state = header.split(';').next().unwrap_or_default().trim();
        [("pending", Self::Pending), ("active", Self::Active), ("terminated", Self::Terminated)]
            .into_iter()
            .find(|(name, _)| state.eq_ignore_ascii_case(name))
            .map(|(_, s)| s)
    }
}

/// The presence document a Lync watcher is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFormat {
    Categories,
    Pidf,
}

impl BodyFormat {
    /// The first of the two formats the watcher's `Accept` lists; categories when it lists
    /// neither (or has no Accept), as that is what every Lync client reads.
    pub(super) fn from_accept(accept: &[String]) -> Self {
        accept
            .iter()
            .filter_map(|t| {
                let essence = t.split(';').next().unwrap_or_default().trim();
                if essence.eq_ignore_ascii_case(categories::CONTENT_TYPE) {
                    Some(Self::Categories)
                } else if essence.eq_ignore_ascii_case(pidf::CONTENT_TYPE) {
                    Some(Self::Pidf)
                } else {
                    None
                }
            })
            .next()
            .unwrap_or(Self::Categories)
    }
}

/// How a notification reaches the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// NOTIFY, answered.
    Notify,
    /// BENOTIFY, never answered (MS-SIP §3.5).
    Benotify,
    /// Nothing to tell: an update without a state on an already active subscription.
    Skip,
}

/// Chooses how to tell the watcher about a notification from the far notifier (flows.md):
/// the first notification after a SUBSCRIBE (`fresh`) and every state transition are NOTIFY;
/// a presence change on an active subscription is BENOTIFY when the watcher offered
/// `ms-benotify`, else NOTIFY.
pub(super) fn delivery(
    told: Option<SubState>,
    fresh: bool,
    new: SubState,
    has_state: bool,
    benotify: bool,
) -> Delivery {
    if fresh || new != SubState::Active || told != Some(SubState::Active) {
        Delivery::Notify
    } else if !has_state {
        Delivery::Skip
    } else if benotify {
        Delivery::Benotify
    } else {
        Delivery::Notify
    }
}

/// A watcher's subscription to the gateway on one leg and the gateway's subscription to the
/// notifier on the other. Keyed in `State` by both legs' Call-IDs.
#[derive(Debug)]
pub(super) struct SubscriptionPair {
    /// Creation order (the seeded defect walks watchers in this order).
    pub id: u64,
    /// The leg the watcher is on; the notifier is on the other one.
    pub watcher_leg: Leg,
    /// The Lync user (`user@domain`, lower-case): presentity or watcher.
    pub lync_user: String,
    /// The Skype account's Lync-side URI as the gateway presents it.
    pub presented: String,
    /// The watcher's dialog (we are its UAS).
    pub watcher: Dialog,
    /// The SUBSCRIBE we sent the notifier: a NOTIFY arriving before its 2xx forms the dialog.
    pub far_subscribe: Message,
    /// Its Call-ID.
    pub far_call_id: String,
    /// The notifier's dialog, once its NOTIFY or 2xx arrived.
    pub notifier: Option<Dialog>,
    /// What a Lync watcher is served (a Skype watcher always gets PIDF).
    pub format: BodyFormat,
    /// The watcher offered `Supported: ms-benotify`.
    pub benotify: bool,
    /// The last state the watcher was told.
    pub told: Option<SubState>,
    /// A SUBSCRIBE was answered and no notification has followed it yet.
    pub fresh: bool,
    /// The watcher's subscription has ended (expired): what the notifier still sends is
    /// answered and not forwarded.
    pub watcher_terminated: bool,
    /// The gateway has unsubscribed from the notifier.
    pub far_unsubscribed: bool,
    /// When the watcher's subscription expires unless refreshed.
    pub expires_at: Instant,
    /// Bumped by every refresh and expiry: a timer armed under an older value is void.
    pub generation: u64,
    /// True once the watcher's current SUBSCRIBE has been answered: notifications wait for it,
    /// since a NOTIFY may not overtake the 200 (RFC 6665 §4.2.1.1).
    pub answered: watch::Sender<bool>,
    /// Held while building and sending to the watcher, so its CSeqs go out in order.
    pub send_lock: Arc<tokio::sync::Mutex<()>>,
    /// Resolves when the last notification received from the notifier has been handled.
    pub last_inbound: Option<oneshot::Receiver<()>>,
}

impl SubscriptionPair {
    /// The leg the notifier is on.
    pub(super) fn notifier_leg(&self) -> Leg {
        self.watcher_leg.other()
    }

    /// Seconds left of the watcher's subscription, rounded up.
    pub(super) fn remaining_secs(&self) -> u64 {
        let left = self.expires_at.saturating_duration_since(Instant::now());
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_state_values_are_read_without_parameters() {
        assert_eq!(SubState::parse("active;expires=3600"), Some(SubState::Active));
        assert_eq!(SubState::parse(" Pending ; expires=60"), Some(SubState::Pending));
        assert_eq!(SubState::parse("terminated;reason=rejected"), Some(SubState::Terminated));
        assert_eq!(SubState::parse("waiting"), None);
        assert_eq!(SubState::parse(""), None);
    }

    #[test]
    fn the_watcher_gets_the_first_format_it_lists() {
        let list = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let lync = list(&["application/msrtc-event-categories+xml", "text/xml+msrtc.pidf", "application/pidf+xml"]);
        assert_eq!(BodyFormat::from_accept(&lync), BodyFormat::Categories);
        let pidf_first =
            list(&["multipart/related", "application/PIDF+xml;q=1", "application/msrtc-event-categories+xml"]);
        assert_eq!(BodyFormat::from_accept(&pidf_first), BodyFormat::Pidf);
        assert_eq!(BodyFormat::from_accept(&list(&["application/xpidf+xml"])), BodyFormat::Categories);
        assert_eq!(BodyFormat::from_accept(&[]), BodyFormat::Categories);
    }

    #[test]
    fn transitions_and_first_notifications_are_notify_changes_are_benotify() {
        use Delivery::*;
        use SubState::*;
        // First notification after a SUBSCRIBE, even an active one on an active subscription.
        assert_eq!(delivery(Some(Active), true, Active, true, true), Notify);
        // Transitions.
        assert_eq!(delivery(None, false, Pending, false, true), Notify);
        assert_eq!(delivery(Some(Pending), false, Active, true, true), Notify);
        assert_eq!(delivery(Some(Active), false, Terminated, false, true), Notify);
        // Changes on an active subscription.
        assert_eq!(delivery(Some(Active), false, Active, true, true), Benotify);
        assert_eq!(delivery(Some(Active), false, Active, true, false), Notify);
        assert_eq!(delivery(Some(Active), false, Active, false, true), Skip);
        // A transition without a state still goes out (as a bodiless NOTIFY).
        assert_eq!(delivery(Some(Pending), false, Active, false, true), Notify);
    }
}
