//! `tympan audio info|convert`.

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum AudioCmd {
    /// Format, rate, channels, duration, peak/RMS level.
    Info(InfoArgs),
}

#[derive(Args)]
pub struct InfoArgs {
    pub file: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: AudioCmd) -> anyhow::Result<()> {
    match cmd {
        // Placeholder until the decoders land (decode branch replaces this file).
        AudioCmd::Info(a) => anyhow::bail!("{}: decoding not built yet", a.file.display()),
    }
}
