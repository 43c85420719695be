//! Presence subscriptions of the simulated sides (RFC 6665, `scenarios/dialects/flows.md`):
//! the watcher half (a user subscribed to a contact through the gateway) and the notifier half
//! (the gateway subscribed to one of our users on behalf of a far-side watcher). Who may see
//! what is decided by the pool's and the cloud's state in [`super::presence`].

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::identity::{Address, Side};
use super::presence::{Access, Authorization, Shown, key};
use super::side::{AgentEvent, InFlight, Inner, Outcome};
use crate::dialect::lync::{self, Availability};
use crate::dialect::skype;
use crate::net::token;
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::ms::MsDiagnostics;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// A subscription one of our users holds (we sent the SUBSCRIBE).
#[derive(Debug)]
pub(super) struct Watch {
    /// Our user.
    pub user: Address,
    /// The contact, as our user addressed it.
    pub target: Address,
    /// The SUBSCRIBE that created it (a NOTIFY may form the dialog before the 2xx).
    pub subscribe: Message,
    /// The dialog, once a 2xx or a NOTIFY formed it.
    pub dialog: Option<Dialog>,
}

/// A subscription to one of our users (the gateway sent the SUBSCRIBE).
#[derive(Debug)]
pub(super) struct Notifier {
    /// Our user, the presentity.
    pub user: Address,
    /// The watcher as presented (From of the SUBSCRIBE, without `sip:`).
    pub watcher: String,
    /// The dialog.
    pub dialog: Dialog,
    /// Authorised (active) rather than pending.
    pub active: bool,
    /// The watcher's Accept.
    pub accept: String,
    /// The watcher takes BENOTIFY for changes (`Supported: ms-benotify`).
    pub benotify: bool,
    /// Granted expiry, echoed in Subscription-State.
    pub expires: u32,
    /// Notifications waiting their turn: one at a time per subscription, each after the
    /// previous one's answer (RFC 6665 §4.2.2), in the order they were decided.
    pub queue: mpsc::UnboundedSender<Queued>,
}

/// A notification waiting for its turn.
#[derive(Debug)]
pub(super) struct Queued {
    note: Note,
    done: oneshot::Sender<()>,
    /// Keeps a step boundary waiting until it has been sent and answered.
    _in_flight: InFlight,
}

/// What a notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Note {
    /// Not authorised yet.
    Pending,
    /// The state the watcher may see; `change` = a presence change on an already active
    /// subscription (BENOTIFY when the watcher takes it).
    Active { change: bool },
    /// Ended with this reason.
    Terminated(&'static str),
}

impl Inner {
    fn subscription_expires(&self) -> u32 {
        match self.side {
            Side::Enterprise => self.lync.subscription_expires,
            Side::Consumer => self.skype.subscription_expires,
        }
    }

    /// Subscribes `user` to `target`'s presence through the gateway. `expires` and `accept`
    /// default to the dialect profile's.
    pub(super) async fn subscribe(
        self: &Arc<Self>,
        user: &Address,
        target: &Address,
        expires: Option<u32>,
        accept: Option<&str>,
    ) -> Outcome {
        let msg = {
            let mut st = self.lock();
            let msg = match self.side {
                Side::Enterprise => {
                    let env = self.lync_envelope(&mut st.rng, user, target);
                    let action = token(&mut st.rng, 8);
                    let accept = accept.unwrap_or(&self.lync.presence_accept);
                    let expires = expires.unwrap_or(self.lync.subscription_expires);
                    lync::presence_subscribe(&self.lync, &env, accept, expires, &action)
                }
                Side::Consumer => {
                    let env = self.skype_envelope(&mut st.rng, user, target);
                    let contact = user.sip_uri();
                    skype::presence_subscribe(
                        &self.skype,
                        &env,
                        &contact,
                        expires.unwrap_or(self.skype.subscription_expires),
                    )
                }
            };
            st.watches.insert(
                msg.call_id().unwrap_or_default(),
                Watch { user: user.clone(), target: target.clone(), subscribe: msg.clone(), dialog: None },
            );
            msg
        };
        let call_id = msg.call_id().unwrap_or_default();
        let out = self.tracked(msg.clone()).await;
        let mut st = self.lock();
        match &out.response {
            Some(resp) if out.status.is_some_and(|c| (200..300).contains(&c)) => {
                if let Some(w) = st.watches.get_mut(&call_id)
                    && w.dialog.is_none()
                {
                    match Dialog::uac(&msg, resp) {
                        Ok(d) => w.dialog = Some(d),
                        Err(e) => {
                            st.faults
                                .push(format!("the gateway's {} to a SUBSCRIBE forms no dialog: {e}", resp.summary()));
                        }
                    }
                }
            }
            _ => {
                st.watches.remove(&call_id);
            }
        }
        out
    }

    /// An in-dialog SUBSCRIBE for `user`'s subscription to `target`: a refresh, or with
    /// `expires` 0 the unsubscribe.
    pub(super) async fn resubscribe(
        self: &Arc<Self>,
        user: &Address,
        target: &Address,
        expires: u32,
    ) -> Result<Outcome, String> {
        let msg = {
            let mut st = self.lock();
            let via = self.via(&mut st.rng);
            let k = key(target);
            let w = st
                .watches
                .values_mut()
                .find(|w| &w.user == user && key(&w.target) == k)
                .ok_or_else(|| format!("{user} holds no subscription to {target}"))?;
            let accept = w.subscribe.value("Accept").unwrap_or_default();
            let d = w.dialog.as_mut().ok_or_else(|| format!("{user}'s subscription to {target} has no dialog yet"))?;
            d.request(Method::SUBSCRIBE, &via)
                .header("Contact", format!("<{}>", user.sip_uri()))
                .header("Event", "presence")
                .header("Accept", accept)
                .header("Expires", expires)
                .build()
        };
        Ok(self.tracked(msg).await)
    }

    /// A NOTIFY or BENOTIFY for one of our users' subscriptions.
    pub(super) fn on_notify(&self, id: TxnId, req: &Message) {
        let benotify = req.method() == Some(&Method::BENOTIFY);
        let call_id = req.call_id().unwrap_or_default();
        let shown = match self.side {
            Side::Enterprise => lync::shown_availability(req).map(|a| a.map(Shown::Availability)),
            Side::Consumer => skype::shown_state(req).map(|s| s.map(Shown::Status)),
        };
        let state = req.value("Subscription-State").unwrap_or_default();
        let (token, params) = state.split_once(';').unwrap_or((&state, ""));
        let reason = params.split(';').find_map(|p| p.trim().strip_prefix("reason=")).unwrap_or("none").to_owned();
        let mut st = self.lock();
        let Some(w) = st.watches.get_mut(&call_id) else {
            drop(st);
            if !benotify {
                self.respond(id, req, 481, "Subscription Does Not Exist");
            }
            return;
        };
        let in_dialog = match &mut w.dialog {
            Some(d) => d.accepts(req).map_err(|e| (e.status_code(), e.to_string())),
            None => Dialog::uac_by_notify(&w.subscribe, req)
                .map(|d| w.dialog = Some(d))
                .map_err(|e| (e.status_code(), e.to_string())),
        };
        // What the watcher offered: a body of another type, or a BENOTIFY it never agreed to,
        // is the gateway's fault (PROTOCOL.md §6 reqs 9, 12).
        let accepted = w.subscribe.list("Accept");
        let offered_benotify = w.subscribe.list("Supported").iter().any(|t| t.eq_ignore_ascii_case("ms-benotify"));
        let unaccepted = match req.content_type() {
            Ok(Some(ct)) => (!accepted
                .iter()
                .any(|a| a.split(';').next().is_some_and(|a| a.trim().eq_ignore_ascii_case(&ct.essence))))
            .then(|| {
                format!("a {} body the subscription's Accept ({}) did not offer", ct.essence, accepted.join(", "))
            }),
            _ => None,
        };
        let (user, target) = (w.user.clone(), w.target.clone());
        let shown = match (in_dialog, token.trim(), shown) {
            (Err((code, e)), _, _) => Err((code, format!("a {} outside its subscription dialog: {e}", req.summary()))),
            _ if benotify && !offered_benotify => {
                Err((400, format!("a BENOTIFY on a subscription that did not offer ms-benotify: {}", req.summary())))
            }
            _ if unaccepted.is_some() => Err((415, format!("{} in {}", unaccepted.unwrap_or_default(), req.summary()))),
            (Ok(()), _, Err(e)) => Err((400, format!("an unreadable {}: {e}", req.summary()))),
            (Ok(()), "pending", Ok(_)) => Ok(Some(Shown::Pending)),
            (Ok(()), "active", Ok(s)) => Ok(s),
            (Ok(()), "terminated", Ok(_)) => Ok(Some(Shown::Ended(reason))),
            (Ok(()), other, _) => Err((400, format!("Subscription-State `{other}` in {}", req.summary()))),
        };
        if matches!(shown, Ok(Some(Shown::Ended(_)))) {
            st.watches.remove(&call_id);
        }
        drop(st);
        match shown {
            Ok(s) => {
                if !benotify {
                    self.respond(id, req, 200, "OK");
                }
                if let Some(shown) = s {
                    self.record(user, AgentEvent::Presence { of: target.to_string(), shown });
                }
            }
            Err((code, what)) => {
                self.fault(format!("{} leg: {what}", self.side.label()));
                if !benotify {
                    self.respond(id, req, code, "Bad Notification");
                }
            }
        }
    }

    /// A SUBSCRIBE from the gateway: a new subscription to one of our users, a refresh or an
    /// unsubscribe.
    pub(super) fn on_subscribe(self: &Arc<Self>, id: TxnId, req: &Message) {
        let call_id = req.call_id().unwrap_or_default();
        let expires = req.value("Expires").and_then(|v| v.trim().parse::<u32>().ok());
        let in_dialog = req.to_addr().is_ok_and(|t| t.tag().is_some());
        if in_dialog {
            let in_flight = self.in_flight();
            let (done, _) = oneshot::channel();
            let granted = expires.unwrap_or(self.subscription_expires()).min(self.subscription_expires());
            // As for a new subscription: the answer and the queued notification in one
            // critical section, so nothing else queued on this subscription overtakes them.
            let mut st = self.lock();
            let Some(n) = st.notifiers.get_mut(&call_id) else {
                drop(st);
                return self.respond(id, req, 481, "Subscription Does Not Exist");
            };
            if let Err(e) = n.dialog.accepts(req) {
                drop(st);
                // RFC 3261 §12.2.2: 500 only for a CSeq out of order; not this dialog is 481.
                return match e.status_code() {
                    500 => self.respond(id, req, 500, "Server Internal Error"),
                    _ => self.respond(id, req, 481, "Subscription Does Not Exist"),
                };
            }
            n.expires = granted;
            let note = match (granted, n.active) {
                (0, _) => Note::Terminated("timeout"),
                (_, true) => Note::Active { change: false },
                (_, false) => Note::Pending,
            };
            // The To of an in-dialog request already carries our tag: no new one is added.
            self.respond_tagged(id, req, 200, "OK", "", |b| b.header("Expires", granted));
            let refused = n.queue.send(Queued { note, done, _in_flight: in_flight }).err();
            drop(st);
            drop(refused);
            return;
        }
        let Some(user) = self.target(req) else {
            let resp = MessageBuilder::response_to(req, 404, "Not Found", Some("nouser"));
            let resp = match self.side {
                Side::Enterprise => resp.header(
                    "ms-diagnostics",
                    MsDiagnostics::render(
                        4005,
                        "Destination URI either not enabled for SIP or does not exist",
                        Some("pool.fedcert.test"),
                    ),
                ),
                Side::Consumer => resp,
            };
            self.endpoint.respond(id, resp.build());
            return;
        };
        let event = req.value("Event").unwrap_or_default();
        if event.split(';').next().unwrap_or_default().trim() != "presence" {
            self.respond_with(id, req, 489, "Bad Event", |b| b.header("Allow-Events", "presence"));
            return;
        }
        let watcher = Self::sender(req);
        let wkey = watcher.parse::<Address>().map(|a| key(&a)).unwrap_or_else(|_| watcher.to_ascii_lowercase());
        let tag = token(&mut self.lock().rng, 10);
        let dialog = match Dialog::uas(req, &tag) {
            Ok(d) => d,
            Err(e) => {
                self.fault(format!("the gateway's SUBSCRIBE cannot form a dialog: {e}"));
                self.respond(id, req, 400, "Bad Request");
                return;
            }
        };
        let granted = expires.unwrap_or(self.subscription_expires()).min(self.subscription_expires());
        let contact = format!("<{};opaque=user:epid:{tag};gruu>", user.sip_uri());
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_queue(Arc::downgrade(self), call_id.clone(), rx));
        let in_flight = self.in_flight();
        let (done, _) = oneshot::channel();
        // One critical section from the decision to the queued first notification: a step that
        // reacts to the request (accept, block) cannot queue its notification before this one,
        // and the worker builds the NOTIFY only after the 200 below is on its way.
        let mut guard = self.lock();
        let st = &mut *guard;
        let note = match self.side {
            Side::Enterprise => {
                let u = st.lync_users.entry(key(&user)).or_default();
                match u.access(&wkey) {
                    Access::Sees(_) => Note::Active { change: false },
                    Access::Undecided => {
                        let alert = u.alert_on_add && !u.subscribers.contains_key(&wkey);
                        u.subscribers.entry(wkey.clone()).or_insert(false);
                        if alert {
                            st.events.push((user.clone(), AgentEvent::ContactRequest { from: watcher.clone() }));
                        }
                        Note::Pending
                    }
                }
            }
            Side::Consumer => {
                let u = st.skype_users.entry(key(&user)).or_default();
                match u.requests.get(&wkey).copied() {
                    Some(Authorization::Accepted) => Note::Active { change: false },
                    Some(Authorization::Declined) => Note::Terminated("rejected"),
                    Some(Authorization::Pending) => Note::Pending,
                    None => {
                        u.requests.insert(wkey.clone(), Authorization::Pending);
                        st.events.push((user.clone(), AgentEvent::ContactRequest { from: watcher.clone() }));
                        Note::Pending
                    }
                }
            }
        };
        let first = queue.send(Queued { note, done, _in_flight: in_flight }).err();
        st.notifiers.insert(
            call_id,
            Notifier {
                user,
                watcher,
                dialog,
                active: matches!(note, Note::Active { .. }),
                accept: req.value("Accept").unwrap_or_default().into_owned(),
                benotify: req.list("Supported").iter().any(|t| t.eq_ignore_ascii_case("ms-benotify")),
                expires: granted,
                queue,
            },
        );
        self.respond_tagged(id, req, 200, "OK", &tag, |b| b.header("Expires", granted).header("Contact", &contact));
        drop(guard);
        drop(first);
        self.notify.notify_waiters();
    }

    /// Queues a notification on the subscription `call_id`; the receiver fires once it has
    /// been sent and answered.
    fn enqueue(self: &Arc<Self>, call_id: &str, note: Note) -> Option<oneshot::Receiver<()>> {
        // Counted now, so a step boundary waits for it even before its turn comes.
        let in_flight = self.in_flight();
        let (done, rx) = oneshot::channel();
        let queued = Queued { note, done, _in_flight: in_flight };
        let st = self.lock();
        let refused = match st.notifiers.get(call_id) {
            Some(n) => n.queue.send(queued).err().map(|e| e.0),
            None => Some(queued),
        };
        drop(st);
        // Dropped only now: its in-flight guard takes the lock.
        refused.is_none().then_some(rx)
    }

    /// Sends one notification on the subscription `call_id` and waits for its answer (a
    /// BENOTIFY has none). An unanswered NOTIFY is the gateway's fault (PROTOCOL.md §6 req 12).
    pub(super) async fn send_note(self: &Arc<Self>, call_id: &str, note: Note) {
        let Some((msg, benotify)) = self.notification(call_id, note) else { return };
        if benotify {
            self.endpoint.send_stateless(msg, self.gateway);
            return;
        }
        let out = self.tracked(msg).await;
        if out.status.is_none() {
            self.fault(format!(
                "{} leg: the gateway did not answer a NOTIFY ({})",
                self.side.label(),
                out.error.unwrap_or_default()
            ));
        }
    }

    fn notification(&self, call_id: &str, note: Note) -> Option<(Message, bool)> {
        let mut st = self.lock();
        let via = self.via(&mut st.rng);
        let serve_pidf = st.pool_serves_pidf;
        let body = match note {
            Note::Active { .. } => {
                let n = st.notifiers.get(call_id)?;
                let entity = n.user.sip_uri();
                Some(match self.side {
                    Side::Enterprise => {
                        let u = st.lync_users.get(&key(&n.user))?;
                        let wkey = n.watcher.parse::<Address>().map(|a| key(&a)).unwrap_or_default();
                        let a = match u.access(&wkey) {
                            Access::Sees(a) => a,
                            Access::Undecided => Availability::OFFLINE,
                        };
                        lync::presence_body(&n.accept, serve_pidf, &entity, a)
                    }
                    Side::Consumer => {
                        let s = st.skype_users.get(&key(&n.user)).map(|u| u.state)?;
                        (crate::dialect::pidf::CONTENT_TYPE, s.to_pidf(&entity).render())
                    }
                })
            }
            Note::Pending | Note::Terminated(_) => None,
        };
        let n = st.notifiers.get_mut(call_id)?;
        let state = match note {
            Note::Pending => format!("pending;expires={}", n.expires),
            Note::Active { .. } => format!("active;expires={}", n.expires),
            Note::Terminated(reason) => format!("terminated;reason={reason}"),
        };
        let benotify = n.benotify && matches!(note, Note::Active { change: true });
        let method = if benotify { Method::BENOTIFY } else { Method::NOTIFY };
        let contact = format!("<{}>", n.user.sip_uri());
        let mut b = n
            .dialog
            .request(method, &via)
            .header("Contact", contact)
            .header("Event", "presence")
            .header("Subscription-State", state);
        if let Some((ct, text)) = body {
            b = b.body(ct, text.into_bytes());
        }
        if let Note::Terminated(_) = note {
            st.notifiers.remove(call_id);
        } else if let Note::Active { .. } = note {
            n.active = true;
        }
        Some((b.build(), benotify))
    }

    /// Call-IDs of the active subscriptions to `user` from the watcher keyed `watcher`.
    pub(super) fn active_ids(&self, user: &Address, watcher: &str) -> Vec<String> {
        let st = self.lock();
        let of = |n: &Notifier| n.watcher.parse::<Address>().is_ok_and(|a| key(&a) == watcher);
        st.notifiers.iter().filter(|(_, n)| &n.user == user && n.active && of(n)).map(|(k, _)| k.clone()).collect()
    }

    /// Notifies every subscription to `user` from `watcher` (all watchers when `None`) that
    /// `pick` selects.
    pub(super) async fn notify_matching(
        self: &Arc<Self>,
        user: &Address,
        watcher: Option<&str>,
        note: Note,
        pick: impl Fn(&Notifier) -> bool,
    ) {
        let ids: Vec<String> = self
            .lock()
            .notifiers
            .iter()
            .filter(|(_, n)| &n.user == user)
            .filter(|(_, n)| watcher.is_none_or(|w| n.watcher.parse::<Address>().is_ok_and(|a| key(&a) == w)))
            .filter(|(_, n)| pick(n))
            .map(|(k, _)| k.clone())
            .collect();
        // One subscription after the other, so the order on the wire repeats run to run.
        for id in ids {
            if let Some(done) = self.enqueue(&id, note) {
                let _ = done.await;
            }
        }
    }
}

/// Sends a subscription's notifications one after the other until the subscription ends.
async fn run_queue(inner: Weak<Inner>, call_id: String, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(q) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        inner.send_note(&call_id, q.note).await;
        let _ = q.done.send(());
    }
}
