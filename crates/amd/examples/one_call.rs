//! Analyse the benchmark's 30 s call once (the same audio and config as `benches/streams.rs`),
//! for instruction counts:
//! `valgrind --tool=callgrind --toggle-collect='*run_call*' target/release/examples/one_call`
//! (argument `loud` for the bench's loud call).

#[path = "../benches/common/call.rs"]
mod call;

fn main() {
    let loud = std::env::args().nth(1).is_some_and(|a| a == "loud");
    let x = if loud {
        call::loud_call()
    } else {
        call::call()
    };
    let cfg = call::bench_config();
    let events = std::hint::black_box(call::run_call(&cfg, &x));
    println!("{events} events");
}
