//! `fedcert load` end to end: a small mixed load through the reference gateway completes and
//! reports every kind; a gateway that cannot reach the Lync Edge fails the run with the
//! reasons; bad arguments are refused before anything starts. Loopback 127.0.0.12 and .13.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

#[test]
fn a_small_mixed_load_completes_and_reports_every_kind() {
    let out = cargo_bin_cmd!("fedcert")
        .args(["load", "--users", "200", "--rate", "60", "--duration", "2s", "--ip", "127.0.0.12"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("registered 200 of 200 agents"), "{stdout}");
    for kind in ["subscribe", "im", "presence", "call"] {
        let line = stdout.lines().find(|l| l.starts_with(&format!("{kind} "))).unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains("100.000%"), "{line}");
    }
    assert!(stdout.contains("success 100.000%"), "{stdout}");
    assert!(stdout.contains("generator: CPU"), "{stdout}");
    assert!(stdout.contains("SUT process: CPU"), "{stdout}");
    // The progress line went to stderr, once a second.
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.lines().any(|l| l.starts_with("t=") && l.contains("ok")), "{stderr}");
}

#[test]
fn a_gateway_that_cannot_reach_the_edge_fails_the_run_with_its_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.0.13";
    // The gateway's enterprise next hop is a port nobody listens on.
    let text = format!(
        "name: no-edge\nkind: external\nfqdn: gw.fedcert.test\nenterprise_domains: [contoso.com]\n\
         enterprise_users: [alice@contoso.com]\nexternal:\n  \
         enterprise_face: {{ address: \"{ip}:35060\", transport: tcp }}\n  \
         consumer_face: {{ address: \"{ip}:35070\", transport: udp }}\n  \
         harness: {{ enterprise: \"{ip}:35061\", consumer: \"{ip}:35071\" }}\n  \
         start: exec \"$FEDCERT\" gateway --enterprise {ip}:35060 --consumer {ip}:35070 --edge {ip}:35069 \
         --cloud {ip}:35071 --load-users 10\n"
    );
    let sut = dir.path().join("sut.yaml");
    std::fs::write(&sut, text).unwrap();
    let out = cargo_bin_cmd!("fedcert")
        .current_dir(dir.path())
        .args(["load", "--users", "10", "--rate", "20", "--duration", "1s", "--mix", "im=1", "--deadline", "3s"])
        .arg("--sut")
        .arg(&sut)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("registered 0 of 10 agents"), "{stdout}");
    let im = stdout.lines().find(|l| l.starts_with("im ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(im.contains(" 0.000%"), "{im}");
    // Each failure is listed with its reason (the gateway's final response).
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains('×')),
        "{stdout}"
    );
    // The start command's output went to the log under reports/load/.
    assert!(Path::new(&dir.path().join("reports/load/no-edge.log")).exists());
}

#[test]
fn bad_arguments_are_refused_with_what_is_wrong() {
    for (args, says) in [
        (vec!["--mix", "video=1"], "`video` is not a kind"),
        (vec!["--mix", "im=0"], "positive weight"),
        (vec!["--rate", "0"], "a rate is a number"),
        (vec!["--duration", "3h"], "unknown unit"),
        (vec!["--users", "0"], "--users"),
        (vec!["--ip", "10.1.2.3", "--duration", "1s"], "loopback only"),
    ] {
        cargo_bin_cmd!("fedcert")
            .arg("load")
            .args(&args)
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
}
