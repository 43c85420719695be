//! Reports of a certification run (`fedcert certify`): the requirement list of PROTOCOL.md §6,
//! the scenarios the features hold, and the certificate written as HTML (with ladder
//! diagrams), JSON and JUnit.

pub mod catalogue;
pub mod certificate;
pub mod certify;
pub mod html;
pub mod junit;
pub mod ladder;
pub mod requirements;
