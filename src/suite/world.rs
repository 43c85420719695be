//! The Gherkin world: one per scenario, owning the SUT, the two simulated legs and the tap.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use cucumber::gherkin::Step;

use super::config;
use crate::agent::{Address, AgentEvent, Outcome, Side, SimSide};
use crate::gateway::{Gateway, NextHops};
use crate::net::impair::{ImpairStats, Impairment, Relay};
use crate::net::{Tap, Transport};
use crate::sip::txn::Peer;
use crate::sut::process::SutProcess;
use crate::sut::{Face, FaceTransport, Lifecycle};
use crate::trace::canonical::{self, Cast, Rendered, StepLine, TraceProfile};
use crate::trace::meta::CaptureMeta;
use crate::trace::roles::{Role, Roles};

/// The text of the step that compares a scenario's trace with its golden.
pub const GOLDEN_STEP: &str = "the canonical trace matches its golden";

/// How long a step waits for an event before it fails (the SUT profile's
/// `external.step_timeout_ms`; 5 s for the embedded gateway).
pub fn step_deadline() -> Duration {
    config().sut.step_timeout()
}

/// Everything one scenario runs against.
#[derive(Debug)]
pub struct Running {
    /// The embedded reference gateway (none with an external SUT).
    pub gateway: Option<Gateway>,
    /// An external SUT started for this scenario alone (`lifecycle: per-scenario`).
    pub process: Option<SutProcess>,
    /// The simulated Lync Edge/pool.
    pub enterprise: SimSide,
    /// The simulated Skype cloud.
    pub consumer: SimSide,
    /// The impairment relay in front of the consumer face, when the profile asks for one.
    pub relay: Option<Relay>,
    /// The scenario's tap.
    pub tap: Tap,
    /// Who is who on the wire (the renderer's view of `roles`).
    pub cast: Cast,
    /// Who is who on the wire, by leg, as a capture's metadata records it.
    pub roles: Roles,
}

/// What a finished scenario left behind.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The capture.
    pub pcap: PathBuf,
    /// SIP messages the harness sent and received.
    pub sip_messages: usize,
    /// RTP streams the harness counted.
    pub rtp_streams: Vec<canonical::RtpStreamCount>,
    /// Why the capture is not faithful evidence: it could not be written, or the trace
    /// rendered from it differs from the trace rendered from the tap. The scenario fails.
    pub evidence_fault: Option<String>,
    /// The SUT process fedcert started for this scenario exited before the scenario ended:
    /// how, with its log's tail. The scenario fails.
    pub sut_exit: Option<String>,
    /// What the impairment relay did in this scenario, when there was one.
    pub impairment: Option<ImpairStats>,
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

/// A stable seed per scenario (FNV-1a of its title), so tags and Call-IDs repeat run to run.
pub fn seed(title: &str) -> u64 {
    title.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

impl FedWorld {
    /// Starts the SUT and both legs on loopback (called from the `before` hook).
    pub async fn start(&mut self, feature: &str, title: &str) -> std::io::Result<()> {
        self.title = title.to_owned();
        let name = format!("{feature}__{}", slug(title));
        if !NAMES.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone()) {
            // `feature` stays unset: this scenario writes nothing over the other's files.
            return Err(std::io::Error::other(format!(
                "two scenarios of feature `{feature}` share the file name `{name}`: give them distinct titles"
            )));
        }
        self.feature = feature.to_owned();
        let seed = seed(title);
        let sut = &config().sut;
        let tap = Tap::new();
        let mut relay = None;
        let (gateway, process, faces, enterprise, consumer) = if let Some(x) = &sut.external {
            let process = match x.lifecycle {
                Lifecycle::PerScenario => Some(
                    SutProcess::start(x, &super::sut_log(&self.feature, title))
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))?,
                ),
                Lifecycle::PerRun => None,
            };
            let ent_peer = Peer { addr: x.enterprise_face.address, reliable: x.enterprise_face.reliable() };
            let con_peer = Peer { addr: x.consumer_face.address, reliable: x.consumer_face.reliable() };
            let ent = SimSide::start_at(Side::Enterprise, x.harness.enterprise, ent_peer, tap.clone(), seed ^ 1);
            let con = SimSide::start_at(Side::Consumer, x.harness.consumer, con_peer, tap.clone(), seed ^ 2);
            let named = |side: &str, addr, e: std::io::Error| {
                std::io::Error::new(e.kind(), format!("external.harness.{side}: cannot listen on {addr}: {e}"))
            };
            let enterprise = ent.await.map_err(|e| named("enterprise", x.harness.enterprise, e))?;
            let consumer = con.await.map_err(|e| named("consumer", x.harness.consumer, e))?;
            (None, process, (x.enterprise_face, x.consumer_face), enterprise, consumer)
        } else {
            let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let gateway = Gateway::start(sut.gateway_config(ip), seed).await?;
            let ent = Face { address: gateway.enterprise_face(), transport: FaceTransport::Tcp };
            relay = match sut.impairment {
                // Seeded per scenario too, so each scenario meets its own (repeatable) faults.
                Some(cfg) => {
                    Some(Relay::start(ip, gateway.consumer_face(), Impairment { seed: cfg.seed ^ seed, ..cfg }).await?)
                }
                None => None,
            };
            // With a relay, the harness takes the relay for the gateway's consumer face.
            let con_addr = relay.as_ref().map_or(gateway.consumer_face(), |r| r.harness_facing);
            let con = Face { address: con_addr, transport: FaceTransport::Udp };
            let ent_peer = Peer { addr: ent.address, reliable: true };
            let con_peer = Peer { addr: con.address, reliable: false };
            let enterprise = SimSide::start(Side::Enterprise, ip, ent_peer, tap.clone(), seed ^ 1).await?;
            let consumer = SimSide::start(Side::Consumer, ip, con_peer, tap.clone(), seed ^ 2).await?;
            let cloud = match &relay {
                Some(r) => {
                    r.set_harness(consumer.endpoint().udp_addr());
                    r.sut_facing
                }
                None => consumer.endpoint().udp_addr(),
            };
            gateway.set_next_hops(NextHops { enterprise: enterprise.endpoint().tcp_addr(), consumer: cloud });
            (Some(gateway), None, (ent, con), enterprise, consumer)
        };
        let mut roles = Roles::default();
        for (s, side) in [(&enterprise, Side::Enterprise), (&consumer, Side::Consumer)] {
            roles.insert(Transport::Udp, s.endpoint().udp_addr(), Role::Harness(side));
            roles.insert(Transport::Tcp, s.endpoint().tcp_addr(), Role::Harness(side));
        }
        // Each face takes both transports on its port: a request over 1300 bytes comes over
        // TCP to a UDP face's port (RFC 3261 §18.1.1).
        for (face, side) in [(faces.0, Side::Enterprise), (faces.1, Side::Consumer)] {
            roles.insert(Transport::Tcp, face.address, Role::Gateway(side));
            roles.insert(Transport::Udp, face.address, Role::Gateway(side));
        }
        let cast = roles.cast();
        self.running = Some(Running { gateway, process, enterprise, consumer, relay, tap, cast, roles });
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
        let (a, b) = tokio::join!(run.enterprise.settle(step_deadline()), run.consumer.settle(step_deadline()));
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
        self.roles().cast()
    }

    /// The roles, with the media sockets made so far.
    fn roles(&self) -> Roles {
        let run = self.run();
        let mut roles = run.roles.clone();
        for (addr, owner) in run.tap.names() {
            roles.insert(Transport::Udp, addr, Role::Media(owner));
        }
        roles.srtp = run.tap.srtp_keys();
        roles
    }

    /// The steps a golden covers: all so far but the golden step itself.
    fn covered_steps(&self) -> &[StepLine] {
        let n = self.steps.len() - usize::from(self.steps.last().is_some_and(|s| s.text.ends_with(GOLDEN_STEP)));
        &self.steps[..n]
    }

    /// The golden's name.
    pub fn golden_name(&self) -> String {
        format!("{}__{}", self.feature, slug(&self.title))
    }

    /// For a failed scenario: the trace so far, and its line diff against the golden, written
    /// under `reports/traces/` and printed, so the failure shows where the ladder diverged.
    fn report_failure(&self, seen: &[canonical::Seen], media: &[canonical::MediaSeen]) {
        // A failed golden step is itself no traffic: leave it out of the ladder.
        let so_far = canonical::render_with_media(
            &self.title,
            self.covered_steps(),
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
        config().captures.join(&config().sut.name).join(&self.feature).join(format!("{}.pcapng", slug(&self.title)))
    }

    /// Writes the capture and stops everything (called from the `after` hook, whatever the
    /// outcome), then reads the capture back through `fedcert check`'s path and compares the
    /// trace it renders with the one the tap renders: the capture is the evidence a vendor
    /// gets, so a difference fails the scenario.
    pub async fn finish(&mut self, failed: bool) -> Option<Finished> {
        if self.feature.is_empty() {
            return None;
        }
        let Some(run) = self.running.as_mut() else {
            // The scenario never started (the SUT or a leg could not start): its verdict and
            // an empty capture are still recorded, so the manifest misses no scenario.
            let path = self.capture_path();
            let meta = CaptureMeta::new(&self.feature, &self.title, &self.golden_name(), &[], &Roles::default());
            let evidence_fault = crate::trace::write_pcapng_file(&[], &meta, &path)
                .err()
                .map(|e| format!("the capture could not be written: {e}"));
            return Some(Finished {
                pcap: path,
                sip_messages: 0,
                rtp_streams: Vec::new(),
                evidence_fault,
                sut_exit: None,
                impairment: None,
            });
        };
        let mut process = run.process.take();
        let sut_exit = process.as_mut().and_then(SutProcess::exited);
        let run = self.running.as_ref()?;
        let _ = tokio::join!(run.enterprise.settle(step_deadline()), run.consumer.settle(step_deadline()));
        let events = run.tap.events();
        let (seen, _) = canonical::messages(&events, &run.cast);
        let media = canonical::media_datagrams(&events);
        if failed {
            self.report_failure(&seen, &media);
        }
        let path = self.capture_path();
        let roles = self.roles();
        let steps = self.covered_steps();
        let meta = CaptureMeta::new(&self.feature, &self.title, &self.golden_name(), steps, &roles);
        let evidence_fault = match crate::trace::write_pcapng_file(&events, &meta, &path) {
            Err(e) => Some(format!("the capture could not be written: {e}")),
            Ok(_) => {
                let from_tap = canonical::render_with_media(
                    &self.title,
                    steps,
                    &seen,
                    &media,
                    &roles.cast(),
                    TraceProfile::builtin(),
                );
                capture_fault(&path, &from_tap.text)
            }
        };
        if let Some(fault) = &evidence_fault {
            tracing::error!("{}: {fault}", self.title);
        }
        tokio::join!(run.enterprise.stop(), run.consumer.stop());
        if let Some(g) = &run.gateway {
            g.shutdown();
        }
        let impairment = run.relay.as_ref().map(|r| {
            r.shutdown();
            r.stats()
        });
        if let Some(p) = process
            && let Err(e) = p.stop().await
        {
            tracing::error!("{}: stopping the SUT: {e}", self.title);
        }
        Some(Finished {
            pcap: path,
            sip_messages: seen.len(),
            rtp_streams: canonical::rtp_streams(&media),
            evidence_fault,
            sut_exit,
            impairment,
        })
    }

    /// Ends the SUT abruptly mid-scenario, as a crash would: an external SUT's process group
    /// gets SIGKILL; the embedded gateway closes its sockets without a word. What follows must
    /// fail cleanly, with the capture and the report still written.
    pub async fn kill_sut(&mut self) -> Result<(), String> {
        let run = self.running.as_mut().ok_or("the scenario did not start")?;
        match (&mut run.process, &run.gateway) {
            (Some(p), _) => p.kill().await.map_err(|e| e.to_string()),
            (None, Some(g)) => {
                g.shutdown();
                Ok(())
            }
            (None, None) => Err("this SUT is not started per scenario by fedcert (lifecycle per-run, or no start \
                                 command), so one scenario cannot kill it"
                .into()),
        }
    }
}

/// Why the capture at `path` does not reproduce `from_tap`, if it does not.
fn capture_fault(path: &std::path::Path, from_tap: &str) -> Option<String> {
    let file = path.display().to_string();
    let traced = crate::trace::read_capture_file(path)
        .map_err(|e| e.to_string())
        .and_then(|c| crate::trace::check::trace_of(&c, &file, None));
    match traced {
        Err(e) => Some(format!("the capture cannot be read back: {e}")),
        Ok(t) => crate::trace::check::golden_diff("trace from the tap", from_tap, &t.rendered.text, &file)
            .map(|diff| format!("the capture does not reproduce the canonical trace:\n{diff}")),
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
