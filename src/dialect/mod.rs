//! How each side says things: the Lync (MS-SIP) and Skype (consumer profile) builders and
//! readers the harness's simulated users speak. Profiles are data in `scenarios/dialects/`.
//! The reference gateway has its own translation code and never calls into this module.

pub mod call;
pub mod categories;
pub mod im;
pub mod lync;
pub mod pidf;
pub mod skype;
pub mod xml;

use serde::de::DeserializeOwned;

/// Loads a dialect profile from YAML text, naming the file on error.
pub fn load_profile<T: DeserializeOwned>(name: &str, text: &str) -> Result<T, ProfileError> {
    yaml_serde::from_str(text).map_err(|e| ProfileError { file: name.to_owned(), detail: e.to_string() })
}

/// A dialect or scenario profile that does not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {detail}")]
pub struct ProfileError {
    /// The file.
    pub file: String,
    /// What is wrong, with line and column when the YAML parser knows them.
    pub detail: String,
}
