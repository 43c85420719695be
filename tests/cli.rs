//! The `fedcert` command line: exit codes and messages for good and bad input.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn unknown_arguments_are_a_usage_error_not_a_panic() {
    cargo_bin_cmd!("fedcert")
        .args(["run", "--frobnicate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--frobnicate"));
    cargo_bin_cmd!("fedcert").args(["run", "--concurrency", "0"]).assert().code(2);
}

#[test]
fn a_missing_sut_profile_is_named() {
    cargo_bin_cmd!("fedcert")
        .args(["run", "--sut", "no/such/profile.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/profile.yaml").and(predicate::str::contains("SUT profile")));
}

#[test]
fn a_bad_sut_profile_names_the_file_the_line_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "name: x\nkind: embedded\nfqdn: gw\nenterprise_domains: [a.com]\nenterprize_users: []\n")
        .unwrap();
    cargo_bin_cmd!("fedcert").args(["run", "--sut"]).arg(&p).assert().code(2).stderr(
        predicate::str::contains("bad.yaml")
            .and(predicate::str::contains("enterprize_users"))
            .and(predicate::str::contains("line 5")),
    );
    std::fs::write(
        &p,
        "name: x\nkind: embedded\nfqdn: gw\nenterprise_domains: [a.com]\nenterprise_users: [eve@b.com]\n",
    )
    .unwrap();
    cargo_bin_cmd!("fedcert")
        .args(["run", "--sut"])
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("eve@b.com"));
}

#[test]
fn missing_features_are_reported() {
    cargo_bin_cmd!("fedcert")
        .args(["run", "--features", "no/such/features"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/features"));
}

#[test]
fn sip_count_reads_real_captures_and_names_broken_files() {
    let fixture = Path::new(ROOT).join("tests/fixtures/pcap/loopback_lo.pcapng");
    cargo_bin_cmd!("fedcert")
        .arg("sip-count")
        .arg(&fixture)
        .assert()
        .success()
        .stdout(predicate::str::ends_with("\t5\n"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture").unwrap();
    cargo_bin_cmd!("fedcert")
        .arg("sip-count")
        .arg(&junk)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("junk.pcap"));
}

#[test]
fn run_executes_the_suite_and_writes_junit_and_one_pcap_per_scenario() {
    let out = tempfile::tempdir().unwrap();
    let (captures, reports) = (out.path().join("captures"), out.path().join("reports"));
    cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .args(["run", "--features", "features/im.feature", "--captures"])
        .arg(&captures)
        .arg("--reports")
        .arg(&reports)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^[1-9][0-9]* passed, 0 failed$").unwrap());
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuites") && junit.contains("testcase"), "{junit}");
    let pcaps = std::fs::read_dir(captures.join("embedded/im")).unwrap().count();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(captures.join("embedded/manifest.json")).unwrap()).unwrap();
    assert_eq!(pcaps, manifest.as_array().unwrap().len());
    assert!(pcaps >= 5);
}

#[test]
fn an_undefined_step_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let feature = dir.path().join("undefined.feature");
    std::fs::write(
        &feature,
        "Feature: undefined\n  Scenario: a step nobody wrote\n    Given the Lync user \"alice@contoso.com\"\n    When alice does something nobody defined\n",
    )
    .unwrap();
    cargo_bin_cmd!("fedcert")
        .current_dir(dir.path())
        .arg("run")
        .arg("--features")
        .arg(&feature)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("0 passed, 1 failed"));
}

/// Runs one IM scenario through `fedcert run` and returns (tempdir, its pcapng).
fn one_suite_capture() -> (tempfile::TempDir, std::path::PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let feature = out.path().join("im.feature");
    let text = std::fs::read_to_string(Path::new(ROOT).join("features/im.feature")).unwrap();
    // The Feature header and Background, then the first scenario only (its golden is found by
    // the feature file's name and the scenario's title).
    let first = text.find("\n  @req-1 ").unwrap();
    let second = text[first + 1..].find("\n  @").unwrap() + first + 1;
    std::fs::write(&feature, &text[..second]).unwrap();
    cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .args(["run", "--features"])
        .arg(&feature)
        .arg("--captures")
        .arg(out.path().join("captures"))
        .arg("--reports")
        .arg(out.path().join("reports"))
        .assert()
        .success()
        .stdout(predicate::str::contains("1 passed, 0 failed"));
    let pcap = out.path().join(
        "captures/embedded/im/lync-user-sends-an-im-to-a-skype-user-with-a-custom-domain-microsoft-account.pcapng",
    );
    assert!(pcap.exists(), "{}", pcap.display());
    (out, pcap)
}

#[test]
fn check_matches_a_suite_capture_with_its_golden_and_diffs_it_against_another() {
    let (_dir, pcap) = one_suite_capture();
    cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .arg("check")
        .arg(&pcap)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("matches golden im__lync-user-sends-an-im-to-a-skype-user-with-a-custom"));
    cargo_bin_cmd!("fedcert")
        .current_dir(ROOT)
        .arg("check")
        .arg(&pcap)
        .args(["--golden", "im__a-skype-image-is-refused-with-415"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("--- snapshots/im__a-skype-image-is-refused-with-415.snap")
                .and(predicate::str::contains("-scenario: A Skype image is refused with 415"))
                .and(predicate::str::contains("+scenario: Lync user sends an IM")),
        );
    // The listing form needs no roles: one dialog of INVITE, 200, ACK … on both legs.
    cargo_bin_cmd!("fedcert")
        .arg("check")
        .arg("--list")
        .arg(&pcap)
        .assert()
        .code(0)
        .stdout(predicate::str::is_match(r"^sip udp [1-9][0-9]*\nsip tcp [1-9][0-9]*\n$").unwrap());
}

#[test]
fn check_names_bad_input_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcapng");
    std::fs::write(&junk, b"\x0a\x0d\x0d\x0a not really").unwrap();
    cargo_bin_cmd!("fedcert").arg("check").arg(&junk).assert().code(2).stderr(predicate::str::contains("junk.pcapng"));
    cargo_bin_cmd!("fedcert")
        .args(["check", "no/such/capture.pcap"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/capture.pcap"));
    cargo_bin_cmd!("fedcert").args(["check"]).assert().code(2).stderr(predicate::str::contains("CAPTURE"));
    let fixture = Path::new(ROOT).join("tests/fixtures/pcap/loopback_lo.pcapng");
    let roles = dir.path().join("roles.yaml");
    std::fs::write(&roles, "\"tcp 127.0.0.1:5061\": harness enterprise\n\"udp 127.0.0.1:99999\": gateway consumer\n")
        .unwrap();
    cargo_bin_cmd!("fedcert")
        .arg("check")
        .arg(&fixture)
        .arg("--roles")
        .arg(&roles)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("roles.yaml").and(predicate::str::contains("\"udp 127.0.0.1:99999\"")));
    cargo_bin_cmd!("fedcert")
        .arg("check")
        .arg(&fixture)
        .args(["--golden", "im__x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--roles"));
    // Without metadata, roles or golden: the dialogs, by Call-ID, with frames.
    cargo_bin_cmd!("fedcert")
        .arg("check")
        .arg(&fixture)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("5 SIP messages in").and(predicate::str::contains("call-1  ")));
}
