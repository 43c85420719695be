//! The no-presence-leak check can fail: the blocked-watcher scenario of
//! `features/privacy.feature` passes against the reference gateway and fails, naming the leak,
//! against the same gateway with the seeded defect `shared-presence-cache` (a gateway that
//! serves every Skype watcher of a Lync user what any watcher's subscription returned).

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SCENARIO: &str = "No presence leaks to a blocked Skype user while another contact sees every change";

/// The feature header, its Background and the one scenario, as they stand in privacy.feature.
fn one_scenario() -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/features/privacy.feature")).unwrap();
    let blocks: Vec<&str> = text.split("\n\n").collect();
    let kept: Vec<&str> = blocks
        .iter()
        .filter(|b| {
            let b = b.trim_start();
            b.starts_with("@privacy") || b.starts_with("Background:") || b.contains(SCENARIO)
        })
        .copied()
        .collect();
    assert_eq!(kept.len(), 3, "privacy.feature no longer has the header, Background and `{SCENARIO}`");
    kept.join("\n\n") + "\n"
}

fn run(defect: bool) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    let feature = dir.path().join("privacy.feature");
    std::fs::write(&feature, one_scenario()).unwrap();
    let mut sut = std::fs::read_to_string(format!("{ROOT}/scenarios/sut/embedded.yaml")).unwrap();
    if defect {
        sut.push_str("defects: [shared-presence-cache]\n");
    }
    let profile = dir.path().join("sut.yaml");
    std::fs::write(&profile, sut).unwrap();
    let assert = cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .arg("run")
        .arg("--sut")
        .arg(&profile)
        .arg("--features")
        .arg(&feature)
        .arg("--captures")
        .arg(dir.path().join("captures"))
        .arg("--reports")
        .arg(dir.path().join("reports"))
        .assert();
    drop(dir);
    assert
}

#[test]
fn the_blocked_watcher_scenario_passes_against_the_reference_gateway() {
    run(false).success().stdout(predicate::str::contains("1 passed, 0 failed"));
}

#[test]
fn the_no_leak_check_catches_a_gateway_that_shares_presence_between_watchers() {
    let out = run(true).code(1);
    let out = out.get_output();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("0 passed, 1 failed"), "{text}");
    assert!(text.contains("presence leak"), "the failure must name the leak:\n{text}");
}
