//! Records the git commit fedcert is built from (`FEDCERT_GIT_COMMIT`), which `fedcert
//! certify` prints in the certificate's header. Without git or outside a checkout, nothing is
//! set and the certificate says so.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=FEDCERT_GIT_COMMIT={commit}");
    }
    // A commit or checkout moves HEAD or appends to its log: rebuild then, not on every edit.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
}
