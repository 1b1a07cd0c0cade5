//! One module per subcommand. Each parses its arguments, calls the cores and prints.

pub mod amd;
pub mod amd_bench;
pub mod amd_train;
pub mod audio;
pub mod call;
pub mod calls;
pub mod dtmf;
pub mod features;
pub mod flow;
pub mod loadtest;
mod mono;
pub mod serve;
pub mod speech;
pub mod tones;

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
