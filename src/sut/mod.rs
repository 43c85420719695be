//! System-under-test profiles (`scenarios/sut/*.yaml`): which gateway a run talks to and how
//! it is provisioned. The embedded reference gateway runs in-process, one per scenario; an
//! external gateway is given by its two faces and the addresses it sends to, with optional
//! commands that start and stop it ([`process`]).

pub mod process;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::dialect::{ProfileError, load_profile};
use crate::gateway::{Defects, GatewayConfig, Namespaces};

/// What kind of SUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SutKind {
    /// The reference gateway, in-process.
    Embedded,
    /// A gateway the harness reaches over the network (`external:` says where).
    External,
}

/// A transport a face listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceTransport {
    /// UDP (and TCP on the same port for requests over 1300 bytes, RFC 3261 §18.1.1).
    Udp,
    /// TCP.
    Tcp,
}

/// One face of an external gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Face {
    /// Where it listens.
    pub address: SocketAddr,
    /// How the harness reaches it.
    pub transport: FaceTransport,
}

impl Face {
    /// True for a stream transport.
    pub fn reliable(&self) -> bool {
        self.transport == FaceTransport::Tcp
    }
}

/// Where the harness's simulated sides listen: the external gateway must be configured to
/// send to these (its next hops towards the Lync Edge and the Skype cloud).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessAddresses {
    /// The simulated Lync Edge/pool (UDP and TCP on this port).
    pub enterprise: SocketAddr,
    /// The simulated Skype cloud (UDP and TCP on this port).
    pub consumer: SocketAddr,
}

/// When the start command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Once for the whole run (what a deployed gateway sees).
    #[default]
    PerRun,
    /// Before every scenario, and stopped after it: no state carries over.
    PerScenario,
}

/// An external gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// The face towards the Lync Edge.
    pub enterprise_face: Face,
    /// The face towards the Skype cloud.
    pub consumer_face: Face,
    /// Where the harness listens.
    pub harness: HarnessAddresses,
    /// Shell command that starts the gateway (run with `sh -c` in its own process group; the
    /// environment has `FEDCERT` = this fedcert executable). Absent: it is already running.
    #[serde(default)]
    pub start: Option<String>,
    /// Shell command that stops it; the start command's process group is sent SIGTERM (then
    /// SIGKILL) after it either way.
    #[serde(default)]
    pub stop: Option<String>,
    /// When the start command runs.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// How long the readiness probe (OPTIONS to both faces until 200) may take.
    #[serde(default = "default_ready_ms")]
    pub ready_timeout_ms: u64,
    /// How long a step waits for an event before it fails.
    #[serde(default = "default_step_ms")]
    pub step_timeout_ms: u64,
    /// The directory of the profile file, given to the commands as `FEDCERT_PROFILE_DIR` so a
    /// profile can name its own config files whatever the working directory.
    #[serde(skip)]
    pub profile_dir: Option<PathBuf>,
}

fn default_ready_ms() -> u64 {
    10_000
}

fn default_step_ms() -> u64 {
    5_000
}

impl External {
    /// The readiness deadline.
    pub fn ready_timeout(&self) -> Duration {
        Duration::from_millis(self.ready_timeout_ms)
    }
}

/// A SUT profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SutProfile {
    /// Name; captures go under `captures/<name>/`.
    pub name: String,
    /// Kind.
    pub kind: SutKind,
    /// The gateway's host name in diagnostics.
    pub fqdn: String,
    /// Provisioned enterprise domains.
    pub enterprise_domains: Vec<String>,
    /// Lync users enabled for public IM connectivity.
    pub enterprise_users: Vec<String>,
    /// Seeded defects (self-test only; the embedded gateway).
    #[serde(default)]
    pub defects: Defects,
    /// Where an external gateway is (`kind: external` only).
    #[serde(default)]
    pub external: Option<External>,
    /// A seeded impairment relay between the harness and the embedded gateway's consumer
    /// (UDP) face: loss, duplication, reordering, delay.
    #[serde(default)]
    pub impairment: Option<crate::net::impair::Impairment>,
}

impl SutProfile {
    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError { file: path.display().to_string(), detail: e.to_string() })?;
        let mut p = Self::parse(&path.display().to_string(), &text)?;
        if let Some(x) = &mut p.external {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            x.profile_dir = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned()));
        }
        Ok(p)
    }

    /// Parses and checks a profile's text; errors name the file and the field.
    pub fn parse(file: &str, text: &str) -> Result<Self, ProfileError> {
        let p: Self = load_profile(file, text)?;
        let bad = |detail: String| Err(ProfileError { file: file.to_owned(), detail });
        for u in &p.enterprise_users {
            let domain = u.rsplit_once('@').map(|(_, d)| d);
            if domain.is_none_or(|d| !p.enterprise_domains.iter().any(|x| x.eq_ignore_ascii_case(d))) {
                return bad(format!("enterprise_users: `{u}` is not in one of the enterprise_domains"));
            }
        }
        match (p.kind, &p.external) {
            (SutKind::Embedded, Some(_)) => return bad("external: only a `kind: external` profile has one".into()),
            (SutKind::External, None) => {
                return bad("external: missing (the gateway's faces and the harness addresses)".into());
            }
            (SutKind::External, Some(x)) => {
                if !p.defects.is_empty() {
                    return bad("defects: seeded defects exist only in the embedded gateway".into());
                }
                let named = [
                    ("external.enterprise_face.address", x.enterprise_face.address),
                    ("external.consumer_face.address", x.consumer_face.address),
                    ("external.harness.enterprise", x.harness.enterprise),
                    ("external.harness.consumer", x.harness.consumer),
                ];
                for (i, (name, addr)) in named.iter().enumerate() {
                    if addr.port() == 0 {
                        return bad(format!("{name}: a fixed port is needed, not 0"));
                    }
                    if let Some((other, _)) = named[..i].iter().find(|(_, a)| a == addr) {
                        return bad(format!("{name}: {addr} is also {other}"));
                    }
                }
                for (name, ms) in
                    [("external.ready_timeout_ms", x.ready_timeout_ms), ("external.step_timeout_ms", x.step_timeout_ms)]
                {
                    if !(1..=600_000).contains(&ms) {
                        return bad(format!("{name}: {ms} is outside 1..=600000"));
                    }
                }
            }
            (SutKind::Embedded, None) => {}
        }
        if let Some(i) = &p.impairment {
            if p.kind == SutKind::External {
                return bad("impairment: the relay stands in front of the embedded gateway only".into());
            }
            i.validate().map_err(|detail| ProfileError { file: file.to_owned(), detail })?;
        }
        Ok(p)
    }

    /// How long a step waits for an event before it fails.
    pub fn step_timeout(&self) -> Duration {
        Duration::from_millis(self.external.as_ref().map_or_else(default_step_ms, |x| x.step_timeout_ms))
    }

    /// The profile shipped as `scenarios/sut/embedded.yaml`.
    pub fn embedded() -> Self {
        load_profile("scenarios/sut/embedded.yaml", Self::embedded_yaml())
            .unwrap_or_else(|e| panic!("built-in profile: {e}"))
    }

    /// The text of `scenarios/sut/embedded.yaml`, as built in.
    pub fn embedded_yaml() -> &'static str {
        include_str!("../../scenarios/sut/embedded.yaml")
    }

    /// The reference gateway's configuration for this profile.
    pub fn gateway_config(&self, ip: std::net::IpAddr) -> GatewayConfig {
        GatewayConfig {
            ip,
            fqdn: self.fqdn.clone(),
            namespaces: Namespaces {
                enterprise_domains: self.enterprise_domains.clone(),
                keep_escapes: self.defects.has(crate::gateway::Defect::EscapedParensKept),
                ..Namespaces::default()
            },
            enterprise_users: self.enterprise_users.iter().map(|u| u.to_ascii_lowercase()).collect::<BTreeSet<_>>(),
            defects: self.defects.clone(),
            enterprise_tls: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "name: x\nfqdn: gw\nenterprise_domains: [contoso.com]\nenterprise_users: [alice@contoso.com]\n";

    fn external(extra: &str) -> String {
        format!(
            "{HEAD}kind: external\nexternal:\n  enterprise_face: {{ address: \"127.0.0.2:5060\", transport: tcp }}\n  \
             consumer_face: {{ address: \"127.0.0.2:5070\", transport: udp }}\n  harness:\n    \
             enterprise: \"127.0.0.2:5061\"\n    consumer: \"127.0.0.2:5071\"\n{extra}"
        )
    }

    fn error(text: &str) -> String {
        SutProfile::parse("p.yaml", text).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn an_external_profile_reads_with_its_defaults() {
        let p = SutProfile::parse("p.yaml", &external("")).unwrap();
        let x = p.external.as_ref().unwrap();
        assert_eq!(p.kind, SutKind::External);
        assert!(x.enterprise_face.reliable() && !x.consumer_face.reliable());
        assert_eq!((x.lifecycle, x.start.as_deref()), (Lifecycle::PerRun, None));
        assert_eq!((x.ready_timeout(), p.step_timeout()), (Duration::from_secs(10), Duration::from_secs(5)));
        let p = SutProfile::parse("p.yaml", &external("  step_timeout_ms: 250\n  lifecycle: per-scenario\n")).unwrap();
        assert_eq!(p.step_timeout(), Duration::from_millis(250));
        assert_eq!(p.external.unwrap().lifecycle, Lifecycle::PerScenario);
    }

    #[test]
    fn a_wrong_external_profile_names_the_field() {
        assert!(error(&format!("{HEAD}kind: external\n")).contains("external: missing"));
        assert!(
            error(&format!("{HEAD}kind: embedded\n{}", &external("")[HEAD.len() + 15..])).contains("external: only")
        );
        let e = error(&external("").replace("127.0.0.2:5061", "127.0.0.2:5060"));
        assert!(
            e.contains("external.harness.enterprise: 127.0.0.2:5060 is also external.enterprise_face.address"),
            "{e}"
        );
        let e = error(&external("").replace("127.0.0.2:5071", "127.0.0.2:0"));
        assert!(e.contains("external.harness.consumer: a fixed port is needed"), "{e}");
        let e = error(&external("").replace("transport: udp", "transport: sctp"));
        assert!(
            e.contains("p.yaml")
                && e.contains("external.consumer_face.transport: unknown variant `sctp`")
                && e.contains("line 8"),
            "{e}"
        );
        let e = error(&external("  step_timeout_ms: 0\n"));
        assert!(e.contains("external.step_timeout_ms: 0 is outside"), "{e}");
        let e = error(&external("  strat: x\n"));
        assert!(e.contains("strat"), "{e}");
        let e = error(&external("defects: [pt-passthrough]\n"));
        assert!(e.contains("defects: seeded defects exist only in the embedded gateway"), "{e}");
    }
}
