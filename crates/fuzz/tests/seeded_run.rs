//! The short seeded fuzz run CI does: every target, a fixed seed, 20,000 executions each; any
//! panic fails the test and prints the input.

use tympan_fuzz::targets::TARGETS;
use tympan_fuzz::{fuzz_on_stack, hex, Options};

/// Executions per target in CI.
const CI_EXECUTIONS: u64 = 20_000;
/// Fixed seed, so a failure reproduces with `tympan-fuzz TARGET --seed 13 --iterations 20000`.
const CI_SEED: u64 = 13;

#[test]
fn every_target_survives_a_short_seeded_run() {
    let mut failures = Vec::new();
    for t in TARGETS {
        let s = fuzz_on_stack(
            t,
            Options {
                seed: CI_SEED,
                iterations: CI_EXECUTIONS,
                crash_dir: None,
            },
        );
        assert_eq!(s.executions, CI_EXECUTIONS, "{}", t.name);
        // The mutations get past the first refusal: some inputs are accepted, several
        // distinct kinds of refusal are seen.
        assert!(s.accepted > 0, "{}: nothing accepted", t.name);
        assert!(
            s.classes >= 5,
            "{}: only {} outcome classes",
            t.name,
            s.classes
        );
        for c in &s.crashes {
            failures.push(format!(
                "{} panicked at execution {}: {}\n  input hex: {}",
                t.name,
                c.iteration,
                c.message,
                hex(&c.input)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
