//! Video call steps (`features/video.feature`): calls with video, the Lync 2010 RTVideo offer,
//! frames sent and reassembled, keyframe requests and Video Source Requests. Every count is
//! read where the frames were received, from that user's own video session; a `When` that
//! sends waits until the frames arrived (or the deadline), so they fall in its step.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::steps::{addr, side};
use super::world::{FedWorld, step_deadline};
use crate::agent::media::{KeyframeRequest, VideoHandle, VideoReport};
use crate::agent::{Address, Side, VideoHabit};

/// The last frame run: listener, frames sent, and the listener's report before it.
#[derive(Debug, Clone)]
pub struct Shown {
    listener: (Side, Address),
    frames: u64,
    before: VideoReport,
}

fn video_of(w: &FedWorld, side: Side, user: &Address) -> VideoHandle {
    let leg = w.leg(side);
    leg.call_of(user)
        .and_then(|c| c.video)
        .unwrap_or_else(|| panic!("{user} has no call with video (faults: {:?})", leg.faults()))
}

/// The other party of the scenario's call.
fn other_party(w: &FedWorld, side: Side, user: &Address) -> (Side, Address) {
    [w.call.caller.clone(), w.call.callee.clone()]
        .into_iter()
        .flatten()
        .find(|(s, u)| !(*s == side && u == user))
        .unwrap_or_else(|| panic!("the call of {user} has no other party named by a step"))
}

#[given(expr = "the {word} user {string} offers video")]
async fn given_offers_video(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    w.leg(side(&kind)).set_video(&addr(&user), VideoHabit::Offer);
}

#[given(expr = "the Lync user {string} runs Lync 2010 with RTVideo only")]
async fn given_lync_2010(w: &mut FedWorld, step: &Step, user: String) {
    w.begin(step).await;
    w.leg(Side::Enterprise).set_video(&addr(&user), VideoHabit::Rtvc1Only);
}

#[then("the call carries video on both legs")]
async fn then_video_up(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    for (s, u) in [w.call.caller.clone(), w.call.callee.clone()].into_iter().flatten() {
        let view = w.leg(s).call_of(&u).unwrap_or_else(|| panic!("{u} has no call"));
        assert!(view.video.is_some(), "{u} has no video stream (declined: {})", view.video_declined);
    }
}

#[then(expr = "the gateway declined the video of the {word} user {string} with port 0")]
async fn then_video_declined(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (s, u) = (side(&kind), addr(&user));
    let view = w.leg(s).call_of(&u).unwrap_or_else(|| panic!("{u} has no call"));
    assert!(view.video_declined && view.video.is_none(), "{u}'s video should be declined (port 0), got {view:?}");
    let (o, other) = other_party(w, s, &u);
    let far = w.leg(o).call_of(&other).unwrap_or_else(|| panic!("{other} has no call"));
    assert!(far.video.is_none(), "{other} should have no video stream: the declined offer must not cross");
}

#[when(expr = "the {word} user {string} sends {int} video frames")]
async fn when_sends_frames(w: &mut FedWorld, step: &Step, kind: String, user: String, frames: u32) {
    w.begin(step).await;
    let (s, u) = (side(&kind), addr(&user));
    let listener = other_party(w, s, &u);
    let rx = video_of(w, listener.0, &listener.1);
    let before = rx.report();
    video_of(w, s, &u).send_frames(frames).await.unwrap_or_else(|e| panic!("{u} cannot send video: {e}"));
    // The frames belong to this step: wait until they are through (or the deadline; the
    // check step says what is missing).
    let want = before.received.frames + u64::from(frames);
    let _ = rx.wait_until(step_deadline(), |r| r.received.frames >= want).await;
    w.video = Some(Shown { listener, frames: u64::from(frames), before });
}

fn check_frames(w: &FedWorld, kind: &str, user: &str, frames: u64, idr: Option<u64>) {
    let shown = w.video.clone().unwrap_or_else(|| panic!("no step sent video frames"));
    let (s, u) = (side(kind), addr(user));
    assert_eq!(shown.listener, (s, u.clone()), "the last frames went to {:?}, not {u}", shown.listener);
    assert_eq!(shown.frames, frames, "the last run sent {} frames, not {frames}", shown.frames);
    let r = video_of(w, s, &u).report();
    let (a, b) = (&shown.before.received, &r.received);
    let got = b.frames - a.frames;
    let complete = b.complete - a.complete;
    assert_eq!(
        (got, complete),
        (frames, frames),
        "{u} should reassemble all {frames} frames whole (frames, complete); summary now: {b}"
    );
    assert_eq!((b.lost, b.late, b.duplicates, b.malformed), (a.lost, a.late, a.duplicates, a.malformed), "{u}: {b}");
    assert_eq!(b.marker_violations, a.marker_violations, "req 24: the marker only on each frame's last packet: {b}");
    let pacsi = b.pacsi_frames - a.pacsi_frames;
    match s {
        Side::Enterprise => {
            assert_eq!(pacsi, frames, "req 26: every frame toward Lync opens with a PACSI: {b}")
        }
        Side::Consumer => assert_eq!(pacsi, 0, "req 26: no PACSI toward the plain H.264 side: {b}"),
    }
    assert_eq!(r.out_of_range, shown.before.out_of_range, "req 23: SSRCs inside the declared x-ssrc-range");
    if let Some(idr) = idr {
        assert_eq!(b.idr - a.idr, idr, "{u} should see {idr} IDR frames among them: {b}");
    }
    assert!(r.errors.is_empty(), "{u}'s video session saw errors: {:?}", r.errors);
}

#[then(expr = "the {word} user {string} receives those {int} frames whole")]
async fn then_frames(w: &mut FedWorld, step: &Step, kind: String, user: String, frames: u64) {
    w.begin(step).await;
    check_frames(w, &kind, &user, frames, None);
}

#[then(expr = "the {word} user {string} receives those {int} frames whole, {int} of them IDR")]
async fn then_frames_idr(w: &mut FedWorld, step: &Step, kind: String, user: String, frames: u64, idr: u64) {
    w.begin(step).await;
    check_frames(w, &kind, &user, frames, Some(idr));
}

#[when(expr = "the {word} user {string} asks for a keyframe with a {word}")]
async fn when_keyframe(w: &mut FedWorld, step: &Step, kind: String, user: String, how: String) {
    w.begin(step).await;
    let request = match how.as_str() {
        "PLI" => KeyframeRequest::Pli,
        "FIR" => KeyframeRequest::Fir,
        "VSR" => KeyframeRequest::Vsr,
        other => panic!("`{other}` is no keyframe request (PLI, FIR, VSR)"),
    };
    let (s, u) = (side(&kind), addr(&user));
    let (o, sender) = other_party(w, s, &u);
    let tx = video_of(w, o, &sender);
    let before = tx.report();
    video_of(w, s, &u).request_keyframe(request);
    // The request crosses the gateway as one of its own: wait until the sender has it.
    let asked = |r: &VideoReport| r.pli_received + r.fir_received + r.vsr_received;
    let n = asked(&before);
    let _ = tx.wait_until(step_deadline(), |r| asked(r) > n).await;
    w.keyframe_asked = Some((o, sender, before));
}

#[then(expr = "the {word} user {string} is asked for a keyframe with a {word}")]
async fn then_asked(w: &mut FedWorld, step: &Step, kind: String, user: String, how: String) {
    w.begin(step).await;
    let (s, u) = (side(&kind), addr(&user));
    let (ks, ku, before) = w.keyframe_asked.clone().unwrap_or_else(|| panic!("no step asked for a keyframe"));
    assert_eq!((ks, &ku), (s, &u), "the keyframe request was meant for {ku}");
    let r = video_of(w, s, &u).report();
    let got = match how.as_str() {
        "PLI" => r.pli_received - before.pli_received,
        "FIR" => r.fir_received - before.fir_received,
        "VSR" => r.vsr_received - before.vsr_received,
        other => panic!("`{other}` is no keyframe request (PLI, FIR, VSR)"),
    };
    assert_eq!(got, 1, "{u} should get one {how}; report: {r:?}");
}

#[when(expr = "the {word} user {string} adds video to the call")]
async fn when_adds_video(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (s, u) = (side(&kind), addr(&user));
    let out = w.leg(s).set_call_video(&u, true).await;
    assert_eq!(out.status, Some(200), "{u}'s re-INVITE adding video should be answered 200, got {out}");
}

#[when(expr = "the {word} user {string} removes video from the call")]
async fn when_removes_video(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (s, u) = (side(&kind), addr(&user));
    let out = w.leg(s).set_call_video(&u, false).await;
    assert_eq!(out.status, Some(200), "{u}'s re-INVITE removing video should be answered 200, got {out}");
}

#[then("the call carries no video on either leg")]
async fn then_no_video_now(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    for (s, u) in [w.call.caller.clone(), w.call.callee.clone()].into_iter().flatten() {
        let view = w.leg(s).call_of(&u).unwrap_or_else(|| panic!("{u} has no call"));
        assert!(view.video.is_none(), "{u} still has a video stream");
    }
}
