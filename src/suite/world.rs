//! The Gherkin world: one per scenario, owning the SUT, the two simulated legs and the tap.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use cucumber::gherkin::Step;

use super::config;
use crate::agent::{Address, AgentEvent, Outcome, Side, SimSide};
use crate::gateway::{Gateway, NextHops};
use crate::net::{Tap, Transport};
use crate::sip::txn::Peer;
use crate::trace::canonical::{self, Cast, Rendered, StepLine, TraceProfile};

/// The text of the step that compares a scenario's trace with its golden.
pub const GOLDEN_STEP: &str = "the canonical trace matches its golden";

/// How long a step waits for an event before it fails.
pub const STEP_DEADLINE: Duration = Duration::from_secs(5);

/// Everything one scenario runs against.
#[derive(Debug)]
pub struct Running {
    /// The reference gateway.
    pub gateway: Gateway,
    /// The simulated Lync Edge/pool.
    pub enterprise: SimSide,
    /// The simulated Skype cloud.
    pub consumer: SimSide,
    /// The scenario's tap.
    pub tap: Tap,
    /// Who is who on the wire.
    pub cast: Cast,
}

/// The world of one scenario.
#[derive(Debug, Default, cucumber::World)]
pub struct FedWorld {
    running: Option<Running>,
    /// Scenario title.
    pub title: String,
    /// Feature file stem (`im`).
    pub feature: String,
    /// Steps so far (`When "…" sends …`).
    pub steps: Vec<StepLine>,
    /// The users of each leg.
    pub users: BTreeMap<(Side, Address), ()>,
    /// Where a user's event list stood when the last refresh was sent.
    pub mark: usize,
    /// Outcome of the last IM sent.
    pub last_outcome: Option<(Address, Outcome)>,
    /// The text of the last generated IM (`an IM of N characters`).
    pub last_text: Option<String>,
    /// The last exchange of many IMs: who, and each IM in order.
    pub exchange: Option<Exchange>,
    /// The parties of the scenario's call and its last talk spurt.
    pub call: super::call_steps::CallParties,
    /// The last video frame run, for the check after it.
    pub video: Option<super::video_steps::Shown>,
    /// The last keyframe request: who should get it, and that user's report before it.
    pub keyframe_asked: Option<(crate::agent::Side, Address, crate::agent::media::VideoReport)>,
}

/// IMs exchanged in one step, for the transcript check after it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The Lync user and the Skype user as the Lync user addresses them.
    pub lync: (Address, Address),
    /// The Skype user and the Lync user as the Skype user addresses them.
    pub skype: (Address, Address),
    /// Each IM in order: (sent by the Lync user, text).
    pub ims: Vec<(bool, String)>,
}

/// Golden/capture names taken in this run.
static NAMES: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A stable seed per scenario, so tags and Call-IDs repeat run to run.
fn seed(title: &str) -> u64 {
    title.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

impl FedWorld {
    /// Starts the SUT and both legs on loopback (called from the `before` hook).
    pub async fn start(&mut self, feature: &str, title: &str) -> std::io::Result<()> {
        self.title = title.to_owned();
        self.feature = feature.to_owned();
        let name = self.golden_name();
        if !NAMES.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone()) {
            return Err(std::io::Error::other(format!(
                "two scenarios of feature `{feature}` share the file name `{name}`: give them distinct titles"
            )));
        }
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let seed = seed(title);
        let sut = &config().sut;
        let tap = Tap::new();
        let gateway = Gateway::start(sut.gateway_config(ip), seed).await?;
        let ent_peer = Peer { addr: gateway.enterprise_face(), reliable: true };
        let con_peer = Peer { addr: gateway.consumer_face(), reliable: false };
        let enterprise = SimSide::start(Side::Enterprise, ip, ent_peer, tap.clone(), seed ^ 1).await?;
        let consumer = SimSide::start(Side::Consumer, ip, con_peer, tap.clone(), seed ^ 2).await?;
        gateway.set_next_hops(NextHops {
            enterprise: enterprise.endpoint().tcp_addr(),
            consumer: consumer.endpoint().udp_addr(),
        });
        let mut cast = Cast::default();
        for s in [&enterprise, &consumer] {
            cast.harness.insert((Transport::Udp, s.endpoint().udp_addr()));
            cast.harness.insert((Transport::Tcp, s.endpoint().tcp_addr()));
        }
        cast.gateway.insert((Transport::Tcp, gateway.enterprise_face()));
        cast.gateway.insert((Transport::Udp, gateway.consumer_face()));
        // A consumer-leg request over 1300 bytes comes over TCP to the UDP face's port (RFC
        // 3261 §18.1.1).
        cast.gateway.insert((Transport::Tcp, gateway.consumer_face()));
        self.running = Some(Running { gateway, enterprise, consumer, tap, cast });
        Ok(())
    }

    /// The running scenario.
    pub fn run(&self) -> &Running {
        self.running.as_ref().unwrap_or_else(|| panic!("the scenario did not start (see the before hook)"))
    }

    /// The leg of a side.
    pub fn leg(&self, side: Side) -> &SimSide {
        match side {
            Side::Enterprise => &self.run().enterprise,
            Side::Consumer => &self.run().consumer,
        }
    }

    /// Marks a step boundary: brings both legs to rest, then starts counting traffic for the
    /// new step, unless it is a check (`Then`): traffic during a check belongs to the action
    /// it checks, so the trace does not depend on how fast the gateway forwards. A missing
    /// ACK from the previous step fails here.
    pub async fn begin(&mut self, step: &Step) {
        self.settle().await;
        let check = step.ty == cucumber::gherkin::StepType::Then;
        self.steps.push(StepLine { text: format!("{}{}", step.keyword, step.value), check });
        if !check {
            self.run().tap.set_step(self.steps.len());
        }
    }

    async fn settle(&self) {
        let run = self.run();
        let (a, b) = tokio::join!(run.enterprise.settle(STEP_DEADLINE), run.consumer.settle(STEP_DEADLINE));
        if let Err(e) = a.and(b) {
            panic!("after step {}: {e}", self.steps.len());
        }
    }

    /// The outcome of the last request a step sent.
    pub fn last(&self) -> &Outcome {
        &self.last_outcome.as_ref().unwrap_or_else(|| panic!("no request was sent before this step")).1
    }

    /// The events of `user` on a leg that `pred` selects (for checks that something did not
    /// happen).
    pub fn events_where(&self, side: Side, user: &Address, pred: impl Fn(&AgentEvent) -> bool) -> Vec<AgentEvent> {
        self.leg(side).events_of(user).into_iter().filter(|e| pred(e)).collect()
    }

    /// Adds a user to a leg.
    pub fn add_user(&mut self, side: Side, user: Address) {
        self.leg(side).add_user(user.clone());
        self.users.insert((side, user), ());
    }

    /// Renders the canonical trace of the first `steps` steps.
    pub fn render(&self, steps: usize) -> Rendered {
        let run = self.run();
        let events = run.tap.events();
        let (seen, bad) = canonical::messages(&events, &run.cast);
        assert!(bad.is_empty(), "unparseable SIP on the wire: {bad:?}");
        let media = canonical::media_datagrams(&events);
        let steps = &self.steps[..steps.min(self.steps.len())];
        canonical::render_with_media(&self.title, steps, &seen, &media, &self.cast(), TraceProfile::builtin())
    }

    /// Who is who on the wire, with the media sockets made so far.
    fn cast(&self) -> Cast {
        let run = self.run();
        Cast { media: run.tap.names(), srtp: run.tap.srtp_keys(), ..run.cast.clone() }
    }

    /// The golden's name.
    pub fn golden_name(&self) -> String {
        format!("{}__{}", self.feature, slug(&self.title))
    }

    /// For a failed scenario: the trace so far, and its line diff against the golden, written
    /// under `reports/traces/` and printed, so the failure shows where the ladder diverged.
    fn report_failure(&self, seen: &[canonical::Seen], media: &[canonical::MediaSeen]) {
        // A failed golden step is itself no traffic: leave it out of the ladder.
        let n = self.steps.len() - usize::from(self.steps.last().is_some_and(|s| s.text.ends_with(GOLDEN_STEP)));
        let so_far = canonical::render_with_media(
            &self.title,
            &self.steps[..n],
            seen,
            media,
            &self.cast(),
            TraceProfile::builtin(),
        )
        .text;
        let golden_path = config().snapshots.join(format!("{}.snap", self.golden_name()));
        let golden = std::fs::read_to_string(&golden_path).map(|g| super::golden::body(&g)).unwrap_or_default();
        let diff = similar::TextDiff::from_lines(&golden, &so_far)
            .unified_diff()
            .context_radius(3)
            .header(&golden_path.display().to_string(), "trace so far")
            .to_string();
        let dir = config().reports.join("traces").join(&self.feature);
        let base = dir.join(slug(&self.title));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(base.with_extension("trace"), &so_far);
        let _ = std::fs::write(base.with_extension("diff"), &diff);
        eprintln!("── {} failed; canonical trace so far against its golden:\n{diff}", self.title);
        let faults: Vec<String> =
            [Side::Enterprise, Side::Consumer].into_iter().flat_map(|s| self.leg(s).faults()).collect();
        if !faults.is_empty() {
            let _ = std::fs::write(base.with_extension("faults"), faults.join("\n"));
            eprintln!("── malformed SIP from the gateway:\n{}", faults.join("\n"));
        }
    }

    /// Where this scenario's capture goes.
    pub fn capture_path(&self) -> PathBuf {
        config().captures.join(&config().sut.name).join(&self.feature).join(format!("{}.pcap", slug(&self.title)))
    }

    /// Writes the capture and stops everything (called from the `after` hook, whatever the
    /// outcome). Returns the capture path, the number of SIP messages the harness saw and the
    /// RTP streams it counted.
    pub async fn finish(&mut self, failed: bool) -> Option<(PathBuf, usize, Vec<canonical::RtpStreamCount>)> {
        let run = self.running.as_ref()?;
        let _ = tokio::join!(run.enterprise.settle(STEP_DEADLINE), run.consumer.settle(STEP_DEADLINE));
        let events = run.tap.events();
        let (seen, _) = canonical::messages(&events, &run.cast);
        let media = canonical::media_datagrams(&events);
        if failed {
            self.report_failure(&seen, &media);
        }
        let path = self.capture_path();
        if let Err(e) = crate::trace::write_pcap_file(&events, &path) {
            tracing::error!("writing {}: {e}", path.display());
        }
        run.enterprise.shutdown();
        run.consumer.shutdown();
        run.gateway.shutdown();
        Some((path, seen.len(), canonical::rtp_streams(&media)))
    }
}

/// A file-name form of a title.
pub fn slug(title: &str) -> String {
    let mut s: String =
        title.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_owned()
}
