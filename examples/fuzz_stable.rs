//! A stable-toolchain stand-in for `cargo fuzz run` where nightly builds are out of reach:
//! the same entry points as the fuzz targets (`fedcert::fuzzing`), fed seeded mutations
//! (byte flips, insertions, deletions, duplicated and spliced runs) of a seed corpus, for a
//! bounded time. No coverage guidance, so it finds less than libFuzzer; a panic is a crash:
//! the input is written to `fuzz/artifacts/TARGET/` and the run exits non-zero.
//!
//!   cargo run --release --example fuzz_stable -- TARGET SECONDS SEED_DIR... [--seed N]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fedcert::fuzzing;

fn entry(target: &str) -> Option<fn(&[u8])> {
    let f: fn(&[u8]) = match target {
        "framing" => fuzzing::exercise_framing,
        "sip_parse" => fuzzing::exercise_datagram,
        "sdp_parse" => fuzzing::exercise_sdp,
        "capture_read" => |d: &[u8]| fuzzing::exercise_capture(d, false),
        "canonical" => |d: &[u8]| fuzzing::exercise_capture(d, true),
        _ => return None,
    };
    Some(f)
}

fn mutate(rng: &mut fastrand::Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=6) {
        let at = rng.usize(..=out.len());
        match rng.u8(..6) {
            0 if at < out.len() => out[at] = rng.u8(..),
            1 if at < out.len() => out[at] ^= 1 << rng.u8(..8),
            2 => out.insert(at, *rng.choice(b"\r\n\0:;<>\"\\ \t,=@%-0123456789\xff").unwrap_or(&b'x')),
            3 if at < out.len() => {
                let len = rng.usize(1..=64.min(out.len() - at));
                out.drain(at..at + len);
            }
            4 if at < out.len() => {
                let len = rng.usize(1..=64.min(out.len() - at));
                let run = out[at..at + len].to_vec();
                out.splice(at..at, run);
            }
            _ if !other.is_empty() => {
                let from = rng.usize(..other.len());
                let len = rng.usize(1..=256.min(other.len() - from));
                out.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => {}
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fuzz_stable TARGET SECONDS SEED_DIR... [--seed N]";
    let (Some(target), Some(secs)) = (args.first(), args.get(1).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("{usage}");
        return std::process::ExitCode::from(2);
    };
    let Some(run) = entry(target) else {
        eprintln!("unknown target `{target}`: framing, sip_parse, sdp_parse, capture_read, canonical");
        return std::process::ExitCode::from(2);
    };
    let seed = args.iter().position(|a| a == "--seed").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok());
    let mut rng = fastrand::Rng::with_seed(seed.unwrap_or(1));
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for dir in args[2..].iter().take_while(|a| *a != "--seed") {
        let Ok(entries) = std::fs::read_dir(dir) else {
            eprintln!("{dir}: not a readable directory");
            return std::process::ExitCode::from(2);
        };
        corpus.extend(entries.flatten().filter_map(|e| std::fs::read(e.path()).ok()));
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    // Quiet panics: a crash is reported once, below, with its input.
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let budget = Duration::from_secs(secs);
    let (mut execs, mut crashes) = (0u64, 0usize);
    let artifacts = PathBuf::from("fuzz/artifacts").join(target);
    while started.elapsed() < budget {
        let a = &corpus[rng.usize(..corpus.len())];
        let b = &corpus[rng.usize(..corpus.len())];
        let input = if execs % 16 == 0 { a.clone() } else { mutate(&mut rng, a, b) };
        execs += 1;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| run(&input))) {
            crashes += 1;
            let why = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            let _ = std::fs::create_dir_all(&artifacts);
            let path = artifacts.join(format!("crash-{execs}"));
            let _ = std::fs::write(&path, &input);
            eprintln!("{target}: crash at exec {execs}: {}; input in {}", why.unwrap_or_default(), path.display());
            if crashes >= 5 {
                break;
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "fuzz_stable {target}: {took:.0} s, execs {execs}, {:.0} execs/s, corpus {} (seeds, not grown), crashes {crashes}",
        execs as f64 / took.max(0.001),
        corpus.len()
    );
    if crashes > 0 { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS }
}
