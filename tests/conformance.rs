//! The Gherkin conformance suite under `cargo test`: every feature in `features/` against the
//! embedded reference gateway. cucumber owns `main` (harness = false); it prints no closing
//! count line of its own, so this prints `N passed, N failed` for CI.

use std::path::PathBuf;

use fedcert::suite::{SuiteConfig, run};
use fedcert::sut::SutProfile;

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cfg = SuiteConfig {
        sut: SutProfile::embedded(),
        features: root.join("features"),
        captures: root.join("captures"),
        snapshots: root.join("snapshots"),
        reports: root.join("reports"),
        concurrency: 8,
    };
    match run(cfg).await {
        Ok(s) => {
            for line in s.failure_lines() {
                println!("{line}");
            }
            println!("conformance: {} passed, {} failed", s.passed, s.failed);
            if s.has_failed || s.passed == 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("conformance: {e}");
            std::process::exit(2);
        }
    }
}
