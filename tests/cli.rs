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
