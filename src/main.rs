//! `fedcert`: the command line. Glue only; see the library for everything it runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use fedcert::gateway::{Defect, Defects};
use fedcert::selftest::{self, SelftestConfig};
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
        /// Switch on a seeded defect of the reference gateway (repeatable; `fedcert selftest
        /// --list` names them).
        #[arg(long = "defect", value_name = "NAME", value_parser = Defect::parse)]
        defects: Vec<Defect>,
    },
    /// Certify a SUT: run the suite (or the scenarios --tags selects) and write
    /// <out>/<sut>/<run-id>/ with certificate.html (every requirement of PROTOCOL.md §6 with
    /// its verdict, and per scenario its ladder diagram, capture and golden diff),
    /// certificate.json, junit.xml and the captures. Exits 0 when every selected scenario
    /// passed, 1 when any failed, 2 on bad input.
    Certify {
        /// SUT profile (YAML).
        #[arg(long)]
        sut: PathBuf,
        /// Tag expression selecting scenarios (`@req-13 and not @msn`).
        #[arg(long, value_name = "EXPR")]
        tags: Option<String>,
        /// Feature file or directory.
        #[arg(long, default_value = "features")]
        features: PathBuf,
        /// Golden snapshots directory.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        /// Where <sut>/<run-id>/ is written.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Scenarios run at once (each gets its own gateway and ports with the embedded SUT).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// Prove the suite catches a broken gateway: run it against the reference gateway with each
    /// seeded defect in turn, and clean; print the detection matrix. Exits 1 unless every
    /// defect is caught and the clean gateway passes.
    Selftest {
        /// Only these defects (repeatable). Default: all.
        #[arg(long = "defect", value_name = "NAME", value_parser = Defect::parse)]
        defects: Vec<Defect>,
        /// Run every feature for every defect, not only the features of the defect's flow.
        #[arg(long)]
        all_features: bool,
        /// Feature directory.
        #[arg(long, default_value = "features")]
        features: PathBuf,
        /// Golden snapshots directory.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        /// Where the child runs' profiles, captures and reports go (kept for inspection).
        #[arg(long, default_value = "reports/selftest")]
        work: PathBuf,
        /// Child runs at once.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        jobs: u16,
        /// List the defects and exit.
        #[arg(long)]
        list: bool,
    },
    /// Render a capture's canonical trace and compare it with its golden. Roles and steps come
    /// from the capture's fedcert metadata (suite captures) or from --roles. Without a golden,
    /// lists the SIP dialogs and announced RTP streams. Exits 0 when the trace matches, 1 with
    /// a unified diff when it differs, 2 on bad input.
    Check {
        /// Capture file (pcap or pcapng).
        capture: PathBuf,
        /// Roles file (YAML: "tcp|udp ADDRESS:PORT": harness LEG | gateway LEG | media ACTOR),
        /// for a capture without fedcert metadata.
        #[arg(long)]
        roles: Option<PathBuf>,
        /// Golden name (`<feature>__<scenario-slug>`); default: the one in the metadata.
        #[arg(long)]
        golden: Option<String>,
        /// Golden snapshots directory.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        /// Machine-readable counts only: `sip udp N`, `sip tcp N`, and
        /// `rtp SRC DST 0xSSRC PTS PACKETS` per RTP stream an SDP announced.
        #[arg(long)]
        list: bool,
    },
    /// Run the reference gateway on fixed addresses until SIGINT or SIGTERM: a standalone SUT
    /// for `fedcert run --sut` with an external profile, and for third-party load tools.
    Gateway {
        /// The enterprise face (towards the Lync Edge): UDP and TCP on this address.
        #[arg(long, value_name = "ADDR:PORT")]
        enterprise: std::net::SocketAddr,
        /// The consumer face (towards the Skype cloud): UDP and TCP on this address.
        #[arg(long, value_name = "ADDR:PORT")]
        consumer: std::net::SocketAddr,
        /// Where the Lync Edge listens (the gateway's next hop on the enterprise leg, TCP).
        #[arg(long, value_name = "ADDR:PORT")]
        edge: std::net::SocketAddr,
        /// Where the Skype cloud listens (the next hop on the consumer leg, UDP).
        #[arg(long, value_name = "ADDR:PORT")]
        cloud: std::net::SocketAddr,
        /// Provisioning (fqdn, domains, users, defects) from this SUT profile. Default: the
        /// embedded profile.
        #[arg(long)]
        sut: Option<PathBuf>,
        /// Switch on a seeded defect (repeatable).
        #[arg(long = "defect", value_name = "NAME", value_parser = Defect::parse)]
        defects: Vec<Defect>,
        /// Seed of the gateway's tags, keys and SSRCs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also enable `load<i>@<first enterprise domain>` for i below N (the agents of
        /// `fedcert load`).
        #[arg(long, value_name = "N", default_value_t = 0)]
        load_users: usize,
    },
    /// Drive many agents through a SUT at a set rate and measure it: throughput, success
    /// ratio, latency p50/p95/p99 per transaction kind, and the generator's own saturation.
    /// Registers every agent (a presence subscription each), runs the mix for the duration,
    /// waits for what is in flight, and stops. Exits 0 when the success ratio reaches
    /// --min-success and the SUT sent no malformed SIP, 1 otherwise, 2 on bad input.
    Load {
        /// SUT profile (YAML). Default: the reference gateway, started as a child process.
        #[arg(long)]
        sut: Option<PathBuf>,
        /// Agents (each a Lync user and a Skype user).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=200_000))]
        users: u32,
        /// Transactions started per second.
        #[arg(long, default_value_t = 100.0, value_parser = parse_rate)]
        rate: f64,
        /// How long the steady phase runs (`30s`, `2m`).
        #[arg(long, default_value = "10s", value_parser = fedcert::load::mix::parse_duration)]
        duration: std::time::Duration,
        /// Relative weights of the kinds (`im=70,presence=20,call=10`).
        #[arg(long, default_value = "im=70,presence=20,call=10", value_parser = fedcert::load::mix::Mix::parse)]
        mix: fedcert::load::mix::Mix,
        /// Deadline of each transaction.
        #[arg(long, default_value = "5s", value_parser = fedcert::load::mix::parse_duration)]
        deadline: std::time::Duration,
        /// Subscriptions in flight at once while the agents register.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        register_window: u32,
        /// Address the legs and the reference gateway bind (loopback).
        #[arg(long, default_value = "127.0.0.1")]
        ip: std::net::IpAddr,
        /// Exit 1 when the success ratio is below this percentage.
        #[arg(long, default_value_t = 99.9)]
        min_success: f64,
        /// Seed of agent picks, tags and keys.
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
        Command::Run { sut, features, snapshots, captures, reports, concurrency, defects } => {
            let mut sut = match sut {
                Some(p) => SutProfile::load(&p).context("cannot use the SUT profile")?,
                None => SutProfile::embedded(),
            };
            sut.defects = Defects::of(sut.defects.iter().chain(defects));
            let cfg = SuiteConfig { sut, features, captures, snapshots, reports, concurrency: concurrency.into() };
            let s = run(cfg).await?;
            for line in s.failure_lines() {
                println!("{line}");
            }
            println!("junit: {}", s.junit.display());
            println!("captures: {}", s.manifest.display());
            if let Some(i) = s.impairment() {
                println!("impairment relay on the consumer leg: {i}");
            }
            println!("{} passed, {} failed", s.passed, s.failed);
            Ok(if s.has_failed || s.passed == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Certify { sut, tags, features, snapshots, out, concurrency } => {
            use fedcert::report::certify::{CertifyConfig, certify};
            let sut = SutProfile::load(&sut).context("cannot use the SUT profile")?;
            let cfg = CertifyConfig { sut, features, tags, snapshots, out, concurrency: concurrency.into() };
            let done = certify(cfg).await?;
            let c = &done.certificate;
            for s in c.selected().filter(|s| s.reason.is_some()) {
                let reason = s.reason.as_deref().unwrap_or_default().replace('\n', " | ");
                println!("FAILED {}: {}: {reason}", s.feature, s.name);
            }
            let n = &c.counts;
            println!(
                "requirements: {} pass, {} fail, {} not applicable, {} not covered",
                n.requirements_pass, n.requirements_fail, n.requirements_not_applicable, n.requirements_not_covered
            );
            let uncovered: Vec<String> = c.not_covered.iter().map(ToString::to_string).collect();
            if !uncovered.is_empty() {
                println!("requirements no scenario covers yet: {}", uncovered.join(", "));
            }
            println!("certificate: {}", done.dir.join("certificate.html").display());
            println!("{} passed, {} failed, {} excluded: {}", n.passed, n.failed, n.excluded, c.verdict);
            Ok(if c.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Selftest { defects, all_features, features, snapshots, work, jobs, list } => {
            if list {
                for d in Defect::ALL {
                    println!("{d}\t{}", d.features().join(","));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = SelftestConfig {
                exe: std::env::current_exe().context("cannot find the fedcert executable")?,
                profile: SutProfile::embedded_yaml().to_owned(),
                features,
                snapshots,
                work: std::path::absolute(&work).context("cannot resolve --work")?,
                defects: if defects.is_empty() { Defect::ALL.to_vec() } else { defects },
                all_features,
                jobs: jobs.into(),
            };
            let rows = selftest::run(&cfg).await?;
            print!("{}", selftest::render(&rows));
            Ok(if selftest::holds(&rows) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Check { capture, roles, golden, snapshots, list } => check(&capture, roles, golden, &snapshots, list),
        Command::Gateway { enterprise, consumer, edge, cloud, sut, defects, seed, load_users } => {
            let mut sut = match sut {
                Some(p) => SutProfile::load(&p).context("cannot use the SUT profile")?,
                None => SutProfile::embedded(),
            };
            sut.defects = Defects::of(sut.defects.iter().chain(defects));
            let mut config = sut.gateway_config(enterprise.ip());
            if let Some(domain) = sut.enterprise_domains.first() {
                config
                    .enterprise_users
                    .extend((0..load_users).map(|i| format!("load{i}@{}", domain.to_ascii_lowercase())));
            }
            let gw = fedcert::gateway::Gateway::start_on(config, (enterprise, consumer), seed)
                .await
                .with_context(|| format!("cannot bind the faces {enterprise} and {consumer}"))?;
            gw.set_next_hops(fedcert::gateway::NextHops { enterprise: edge, consumer: cloud });
            println!(
                "fedcert gateway: enterprise face {}, consumer face {}; Lync Edge tcp {edge}, Skype cloud udp {cloud}",
                gw.enterprise_face(),
                gw.consumer_face()
            );
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot watch SIGTERM")?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
                _ = term.recv() => {}
            }
            gw.shutdown();
            println!("fedcert gateway: stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Load { sut, users, rate, duration, mix, deadline, register_window, ip, min_success, seed } => {
            load(sut, users, rate, duration, mix, deadline, register_window, ip, min_success, seed).await
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

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1_000_000.0 => Ok(r),
        _ => Err(format!("`{s}`: a rate is a number of transactions per second above 0 and at most 1000000")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn load(
    sut: Option<PathBuf>,
    users: u32,
    rate: f64,
    duration: std::time::Duration,
    mix: fedcert::load::mix::Mix,
    deadline: std::time::Duration,
    register_window: u32,
    ip: std::net::IpAddr,
    min_success: f64,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    use std::io::{IsTerminal as _, Write as _};
    if !ip.is_loopback() {
        anyhow::bail!("--ip {ip}: load runs on loopback only");
    }
    let sut = match sut {
        Some(p) => SutProfile::load(&p).context("cannot use the SUT profile")?,
        None => SutProfile::embedded(),
    };
    let run = fedcert::load::LoadRun {
        log: PathBuf::from("reports/load").join(format!("{}.log", sut.name)),
        sut,
        exe: std::env::current_exe().context("cannot find the fedcert executable")?,
        ip,
        config: fedcert::load::engine::LoadConfig {
            users: users as usize,
            rate,
            duration,
            mix,
            deadline,
            seed,
            register_window: register_window as usize,
        },
    };
    let tty = std::io::stderr().is_terminal();
    let report = fedcert::load::run(&run, |t| {
        let line = fedcert::load::progress_line(&t);
        let mut err = std::io::stderr().lock();
        let _ = if tty { write!(err, "\r{line}  ") } else { writeln!(err, "{line}") };
    })
    .await?;
    if tty {
        eprintln!();
    }
    print!("{}", report.render());
    Ok(if report.passed(min_success) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn check(
    path: &std::path::Path,
    roles: Option<PathBuf>,
    golden: Option<String>,
    snapshots: &std::path::Path,
    list: bool,
) -> anyhow::Result<ExitCode> {
    use fedcert::trace::{check, listing, roles::Roles};
    let file = path.display().to_string();
    let capture = fedcert::trace::read_capture_file(path)?;
    for n in &capture.notes {
        eprintln!("note: {n}");
    }
    let records = fedcert::trace::sip_messages(&capture.packets);
    for r in &records {
        if let Err(e) = &r.result {
            eprintln!("note: {file}: frame {}: not a SIP message: {e}", r.frame);
        }
    }
    if list {
        print!("{}", listing::listing(&capture.packets, &records).machine());
        return Ok(ExitCode::SUCCESS);
    }
    let roles = match roles {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read the roles file", p.display()))?;
            Some(Roles::parse_yaml(&text, &p.display().to_string()).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let meta = fedcert::trace::meta::CaptureMeta::from_comments(&capture.section_comments)
        .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    if meta.is_none() && roles.is_none() {
        if let Some(g) = golden {
            anyhow::bail!("{file}: no fedcert metadata, so comparing with golden `{g}` needs --roles FILE");
        }
        print!("{}", listing::listing(&capture.packets, &records).human());
        return Ok(ExitCode::SUCCESS);
    }
    let traced = check::trace_of(&capture, &file, roles.as_ref()).map_err(anyhow::Error::msg)?;
    for n in &traced.notes {
        eprintln!("note: {n}");
    }
    let Some(name) = golden.or_else(|| traced.meta.as_ref().map(|m| m.golden.clone())) else {
        print!("{}", traced.rendered.text);
        return Ok(ExitCode::SUCCESS);
    };
    let name = name.strip_suffix(".snap").unwrap_or(&name).to_owned();
    let golden_path = snapshots.join(format!("{name}.snap"));
    let snap = std::fs::read_to_string(&golden_path)
        .with_context(|| format!("golden `{name}`: cannot read {}", golden_path.display()))?;
    let body = fedcert::suite::golden::body(&snap);
    match check::golden_diff(&golden_path.display().to_string(), &body, &traced.rendered.text, &file) {
        None => {
            println!("{file}: the canonical trace matches golden {name} ({} SIP messages)", traced.rendered.messages);
            Ok(ExitCode::SUCCESS)
        }
        Some(diff) => {
            print!("{diff}");
            println!("{file}: the canonical trace differs from golden {name}");
            Ok(ExitCode::FAILURE)
        }
    }
}
