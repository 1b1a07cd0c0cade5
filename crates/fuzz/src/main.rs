//! `tympan-fuzz TARGET|--all --iterations N --seed S`: run the seeded mutation fuzzer and
//! print executions, executions per second and panics found (inputs as hex and files).
//! Exit status 1 when any target panicked.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tympan_fuzz::targets::{by_name, TARGETS};
use tympan_fuzz::{fuzz_with_progress, hex, Options, Stats, Target, TARGET_STACK_BYTES};

#[derive(Parser)]
#[command(
    name = "tympan-fuzz",
    about = "Seeded mutation fuzzing of Tympan's parsers"
)]
struct Args {
    /// Target name (see --list); omit with --all.
    target: Option<String>,
    /// Fuzz every target, one after the other.
    #[arg(long)]
    all: bool,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Executions per target.
    #[arg(long, default_value_t = 1_000_000)]
    iterations: u64,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for panicking inputs.
    #[arg(long, default_value = "fuzz-crashes")]
    crash_dir: PathBuf,
    /// Run the targets in parallel, one thread each (default: one after the other).
    #[arg(long)]
    parallel: bool,
}

/// Executions between progress lines on stderr.
const PROGRESS_EVERY: u64 = 1 << 20;

/// Fuzz on a thread with the server's task stack size, printing progress to stderr.
fn run_target(t: &'static Target, o: Options) -> Stats {
    std::thread::Builder::new()
        .name(format!("fuzz-{}", t.name))
        .stack_size(TARGET_STACK_BYTES)
        .spawn(move || {
            fuzz_with_progress(t, &o, |n| {
                if n % PROGRESS_EVERY == 0 {
                    eprintln!("{}: {n} executions", t.name);
                }
            })
        })
        .expect("spawn fuzz thread")
        .join()
        .expect("the fuzz loop itself does not panic")
}

/// A slowest execution above this is reported with its input (a possible slow path).
const SLOW_REPORT: std::time::Duration = std::time::Duration::from_millis(100);

fn report(s: &Stats, crash_dir: &std::path::Path) {
    println!(
        "{:<20} executions {:>12}  execs/s {:>10.0}  panics {:>3}  accepted {:>10}  classes {:>5}  corpus {:>5}  slowest {:?} ({} bytes)  wall {:.1} s",
        s.target,
        s.executions,
        s.execs_per_s(),
        s.panics,
        s.accepted,
        s.classes,
        s.corpus,
        s.slowest.0,
        s.slowest.1,
        s.elapsed.as_secs_f64()
    );
    if s.slowest.0 > SLOW_REPORT {
        let f = crash_dir.join(format!("{}-slowest.bin", s.target));
        let saved =
            std::fs::create_dir_all(crash_dir).and_then(|_| std::fs::write(&f, &s.slowest_input));
        println!(
            "  slowest input ({} bytes) {}: {:?}",
            s.slowest_input.len(),
            if saved.is_ok() {
                format!("written to {}", f.display())
            } else {
                "not written".into()
            },
            String::from_utf8_lossy(&s.slowest_input[..s.slowest_input.len().min(200)])
        );
    }
    for c in &s.crashes {
        println!("  PANIC at execution {}: {}", c.iteration, c.message);
        println!("    input ({} bytes) hex: {}", c.input.len(), hex(&c.input));
        println!(
            "    input (lossy text): {:?}",
            String::from_utf8_lossy(&c.input)
        );
        if let Some(f) = &c.file {
            println!("    written to {}", f.display());
        }
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.list {
        for t in TARGETS {
            println!("{:<20} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let targets: Vec<_> = match (&a.target, a.all) {
        (None, true) => TARGETS.iter().collect(),
        (Some(n), false) => match by_name(n) {
            Some(t) => vec![t],
            None => {
                eprintln!("error: no target `{n}`; --list shows them");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("error: give one TARGET or --all");
            return ExitCode::from(2);
        }
    };
    let opts = Options {
        seed: a.seed,
        iterations: a.iterations,
        crash_dir: Some(a.crash_dir.clone()),
    };
    println!(
        "seed {}  iterations {} per target  crash dir {}",
        a.seed,
        a.iterations,
        a.crash_dir.display()
    );
    let stats: Vec<Stats> = if a.parallel {
        let hs: Vec<_> = targets
            .iter()
            .map(|&t| {
                let o = opts.clone();
                std::thread::spawn(move || run_target(t, o))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("fuzz thread"))
            .inspect(|s| report(s, &a.crash_dir))
            .collect()
    } else {
        targets
            .iter()
            .map(|&t| {
                let s = run_target(t, opts.clone());
                report(&s, &a.crash_dir);
                s
            })
            .collect()
    };
    let panics: u64 = stats.iter().map(|s| s.panics).sum();
    let execs: u64 = stats.iter().map(|s| s.executions).sum();
    println!("total executions {execs}, panics {panics}");
    if panics > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
