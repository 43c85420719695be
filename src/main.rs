//! `fedcert`: the command line. Glue only; see the library for everything it runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use fedcert::suite::{SuiteConfig, run};
use fedcert::sut::SutProfile;

/// Conformance and interoperability harness for Lync <-> Skype federation gateways.
#[derive(Debug, Parser)]
#[command(name = "fedcert", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Gherkin features against a SUT; write JUnit under reports/ and one pcap per
    /// scenario under captures/<sut>/. Exits 1 when any scenario fails.
    Run {
        /// SUT profile (YAML). Default: the embedded reference gateway.
        #[arg(long)]
        sut: Option<PathBuf>,
        /// Feature file or directory.
        #[arg(long, default_value = "features")]
        features: PathBuf,
        /// Golden snapshots directory.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        /// Where pcaps go.
        #[arg(long, default_value = "captures")]
        captures: PathBuf,
        /// Where reports go.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// Scenarios run at once (each gets its own gateway and ports with the embedded SUT).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// Count the SIP messages fedcert reads in captures (pcap or pcapng); malformed ones are
    /// listed with their frame number.
    SipCount {
        /// Capture files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fedcert: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Run { sut, features, snapshots, captures, reports, concurrency } => {
            let sut = match sut {
                Some(p) => SutProfile::load(&p).context("cannot use the SUT profile")?,
                None => SutProfile::embedded(),
            };
            let cfg = SuiteConfig { sut, features, captures, snapshots, reports, concurrency: concurrency.into() };
            let s = run(cfg).await?;
            for line in s.failure_lines() {
                println!("{line}");
            }
            println!("junit: {}", s.junit.display());
            println!("captures: {}", s.manifest.display());
            println!("{} passed, {} failed", s.passed, s.failed);
            Ok(if s.has_failed || s.passed == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::SipCount { files } => {
            let mut bad = false;
            for f in files {
                let packets = fedcert::trace::read_capture(&f)?;
                let records = fedcert::trace::sip_messages(&packets);
                let ok = records.iter().filter(|r| r.result.is_ok()).count();
                println!("{}\t{ok}", f.display());
                for r in records.iter().filter(|r| r.result.is_err()) {
                    bad = true;
                    if let Err(e) = &r.result {
                        eprintln!("{}: frame {}: {e}", f.display(), r.frame);
                    }
                }
            }
            Ok(if bad { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
    }
}
