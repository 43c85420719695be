//! The seeded impairment relay (issue 8): the presence, privacy, contact, security and SIP
//! features pass their goldens (messages of a step compared in any order) with the consumer
//! leg dropping, duplicating, reordering and delaying datagrams, so the harness and the
//! reference gateway are seen to retransmit and absorb repeats. Run from a copy of those
//! feature files so the test does not depend on what else `features/` holds.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_suite_passes_behind_loss_duplication_and_reordering() {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("features");
    std::fs::create_dir_all(&features).unwrap();
    for f in ["presence", "privacy", "contacts", "security", "sip"] {
        let name = format!("{f}.feature");
        std::fs::copy(Path::new(ROOT).join("features").join(&name), features.join(&name)).unwrap();
    }
    let out = cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .env("INSTA_UPDATE", "no")
        .args(["run", "--sut", "scenarios/sut/impaired.yaml", "--features"])
        .arg(&features)
        .arg("--captures")
        .arg(dir.path().join("captures"))
        .arg("--reports")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // The relay really did impair: figures from the manifest, summed over the scenarios.
    let text = std::fs::read_to_string(dir.path().join("captures/impaired/manifest.json")).unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let sum = |k: &str| all.iter().map(|a| a["impairment"][k].as_u64().unwrap_or(0)).sum::<u64>();
    assert!(all.len() >= 60, "{} scenarios", all.len());
    assert!(sum("dropped") >= 20, "dropped {}: {stdout}", sum("dropped"));
    assert!(sum("duplicated") >= 10, "duplicated {}", sum("duplicated"));
    assert!(sum("reordered") + sum("held_alone") >= 5, "reorder decisions {}", sum("reordered") + sum("held_alone"));
    assert!(stdout.contains("impairment relay on the consumer leg:"), "{stdout}");
}
