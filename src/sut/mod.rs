//! System-under-test profiles (`scenarios/sut/*.yaml`): which gateway a run talks to and how
//! it is provisioned. For now the embedded reference gateway; external gateways come with
//! their addresses in the same file.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::dialect::{ProfileError, load_profile};
use crate::gateway::{Defects, GatewayConfig, Namespaces};

/// What kind of SUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SutKind {
    /// The reference gateway, in-process.
    Embedded,
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
    /// Seeded defects (self-test only).
    #[serde(default)]
    pub defects: Defects,
}

impl SutProfile {
    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError { file: path.display().to_string(), detail: e.to_string() })?;
        let p: Self = load_profile(&path.display().to_string(), &text)?;
        for u in &p.enterprise_users {
            let domain = u.rsplit_once('@').map(|(_, d)| d);
            if domain.is_none_or(|d| !p.enterprise_domains.iter().any(|x| x.eq_ignore_ascii_case(d))) {
                return Err(ProfileError {
                    file: path.display().to_string(),
                    detail: format!("enterprise_users: `{u}` is not in one of the enterprise_domains"),
                });
            }
        }
        Ok(p)
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
        }
    }
}
