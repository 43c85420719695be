//! An external SUT: the reference gateway in its own process (`fedcert gateway`) reached over
//! loopback through a `kind: external` profile, and what happens when such a SUT misbehaves.
//! Each test uses its own loopback address, so they run in parallel without sharing ports.

use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// An external profile on `ip` (ports 35060/35070 for the faces, +1 for the harness).
fn profile(dir: &Path, ip: &str, external: &str) -> PathBuf {
    let text = format!(
        "name: ext\nkind: external\nfqdn: gw.fedcert.test\nenterprise_domains: [contoso.com, fabrikam.com]\n\
         enterprise_users: [alice@contoso.com, bob@contoso.com, dave@fabrikam.com]\nexternal:\n  \
         enterprise_face: {{ address: \"{ip}:35060\", transport: tcp }}\n  \
         consumer_face: {{ address: \"{ip}:35070\", transport: udp }}\n  \
         harness: {{ enterprise: \"{ip}:35061\", consumer: \"{ip}:35071\" }}\n{external}"
    );
    let p = dir.join("sut.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn gateway_command(ip: &str) -> String {
    format!("\"$FEDCERT\" gateway --enterprise {ip}:35060 --consumer {ip}:35070 --edge {ip}:35061 --cloud {ip}:35071")
}

fn run(dir: &Path, sut: &Path, features: &str) -> assert_cmd::assert::Assert {
    cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .env("INSTA_UPDATE", "no")
        .args(["run", "--features", features, "--sut"])
        .arg(sut)
        .arg("--captures")
        .arg(dir.join("captures"))
        .arg("--reports")
        .arg(dir.join("reports"))
        .assert()
}

fn manifest(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("captures/ext/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_reference_gateway_in_its_own_process_passes_the_whole_suite() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(Path::new(ROOT).join("scenarios/sut/reference-process.yaml")).unwrap();
    let sut = dir.path().join("sut.yaml");
    std::fs::write(&sut, text.replace("name: reference-process", "name: ext")).unwrap();
    let out = run(dir.path(), &sut, "features").success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let all = manifest(dir.path());
    assert!(all.len() >= 119, "{} scenarios", all.len());
    assert!(all.iter().all(|a| a["verdict"] == "passed"), "{stdout}");
    assert!(stdout.contains(&format!("{} passed, 0 failed", all.len())), "{stdout}");
    // Every scenario's gateway wrote its log.
    assert!(dir.path().join("reports/sut/im").read_dir().unwrap().count() >= 30);
}

#[test]
fn a_start_command_that_exits_is_named_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let sut = profile(dir.path(), "127.0.0.3", "  start: \"echo no licence for this host >&2; exit 3\"\n");
    run(dir.path(), &sut, "features/im.feature").code(2).stderr(
        predicate::str::contains("external.start: `echo no licence")
            .and(predicate::str::contains("exit status: 3"))
            .and(predicate::str::contains("no licence for this host")),
    );
}

#[test]
fn a_gateway_that_never_answers_fails_the_readiness_probe_by_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let sut = profile(dir.path(), "127.0.0.5", "  ready_timeout_ms: 400\n");
    run(dir.path(), &sut, "features/im.feature").code(2).stderr(predicate::str::contains(
        "readiness: the enterprise face 127.0.0.5:35060 (tcp) did not answer OPTIONS with 200 within 400 ms",
    ));
}

#[test]
fn everything_the_start_command_spawned_is_stopped_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    // The start command leaves a grandchild behind, as forking gateways (Kamailio) do.
    let start = format!("sleep 600 & echo $! > {}; exec {}", pidfile.display(), gateway_command("127.0.0.6"));
    let sut = profile(dir.path(), "127.0.0.6", &format!("  start: {start:?}\n"));
    // Presence: its scenarios pass against one gateway for the whole run (some IM ones find
    // the conversation an earlier scenario left open; see reference-process.yaml).
    run(dir.path(), &sut, "features/presence.feature").success();
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // Gone, or at most a zombie waiting for init.
    assert!(stat.is_empty() || stat.contains(") Z "), "the grandchild {pid} is still running: {stat}");
    // One gateway for the run: its log shows one start and one stop.
    let log = std::fs::read_to_string(dir.path().join("reports/sut/run/sut.log")).unwrap();
    assert_eq!((log.matches("fedcert gateway: enterprise").count(), log.matches("stopped").count()), (1, 1), "{log}");
}

#[test]
fn a_harness_address_in_use_fails_every_scenario_with_a_reason_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let _squatter = std::net::TcpListener::bind("127.0.0.7:35061").unwrap();
    let sut = profile(dir.path(), "127.0.0.7", &format!("  start: {:?}\n", gateway_command("127.0.0.7")));
    let out = run(dir.path(), &sut, "features/im.feature").code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let all = manifest(dir.path());
    assert!(all.len() >= 30);
    for a in &all {
        assert_eq!(a["verdict"], "failed");
        let reason = a["reason"].as_str().unwrap();
        assert!(reason.contains("external.harness.enterprise: cannot listen on 127.0.0.7:35061"), "{reason}");
        assert!(Path::new(a["pcap"].as_str().unwrap()).exists());
    }
    assert!(stdout.contains(&format!("0 passed, {} failed", all.len())), "{stdout}");
}

/// A SUT that dies mid-scenario (SIGKILL to its process group, as a crash) gives a clean
/// failure naming the death, and loses no artefact: the partial capture holds what crossed
/// before, the manifest and the JUnit report name the scenario.
#[test]
fn a_sut_that_dies_mid_scenario_fails_it_cleanly_with_the_partial_capture() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.0.8";
    let start = format!("  start: {:?}\n  lifecycle: per-scenario\n  step_timeout_ms: 2000\n", gateway_command(ip));
    let sut = profile(dir.path(), ip, &start);
    let out = run(dir.path(), &sut, "tests/fixtures/features/faults.feature").code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
    let all = manifest(dir.path());
    assert_eq!(all.len(), 1, "{all:?}");
    let reason = all[0]["reason"].as_str().unwrap_or_default();
    for want in
        ["expected a 2xx final response", "exited during the scenario", "SIGKILL", "fedcert gateway: enterprise face"]
    {
        assert!(reason.contains(want), "{want:?} missing from the reason: {reason}");
    }
    let pcap = std::fs::read(all[0]["pcap"].as_str().unwrap()).unwrap();
    let has = |needle: &[u8]| pcap.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"Before the crash"), "the capture lost what crossed before the crash");
    let junit = std::fs::read_to_string(dir.path().join("reports/junit.xml")).unwrap();
    assert!(junit.contains("The gateway dies between two IMs") && junit.contains("<failure"), "{junit}");
}
