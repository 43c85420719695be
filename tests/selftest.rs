//! `fedcert selftest` as CI runs it: every seeded defect of the reference gateway is caught by
//! at least one scenario, and the clean gateway by none. The matrix is printed by the command
//! itself; this reads its closing line and one row per defect.

use assert_cmd::cargo::cargo_bin_cmd;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn every_seeded_defect_is_caught_and_the_clean_gateway_passes() {
    let work = tempfile::tempdir().unwrap();
    let list = cargo_bin_cmd!("fedcert").current_dir(ROOT).args(["selftest", "--list"]).output().unwrap();
    let names: Vec<String> =
        String::from_utf8_lossy(&list.stdout).lines().filter_map(|l| l.split('\t').next().map(str::to_owned)).collect();
    assert!(names.len() >= 20, "the issue asks for at least 20 defects, found {names:?}");

    let out =
        cargo_bin_cmd!("fedcert").current_dir(ROOT).arg("selftest").arg("--work").arg(work.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "selftest failed:\n{text}\n{err}");
    let summary = format!("selftest: {0} of {0} defects caught, clean gateway passes", names.len());
    assert!(text.contains(&summary), "expected `{summary}`:\n{text}");
    for name in &names {
        let row = text.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()));
        assert!(row.is_some_and(|r| r.ends_with("caught")), "no `caught` row for {name}:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("clean ") && l.ends_with("passes, as it must")), "{text}");
}
