//! `tympan`: one binary, subcommands. This is shell code: it reads files and prints results;
//! all decisions are made by the sans-I/O cores in the library crates.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tympan",
    version,
    about = "Self-hosted voice intelligence for contact centers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and convert audio files.
    #[command(subcommand)]
    Audio(cmd::audio::AudioCmd),
    /// Answering-machine and voicemail-beep detection on a recording; `amd eval` scores it.
    Amd(cmd::amd::AmdArgs),
    /// Spectral features (librosa mel spectrogram / MFCC, Kaldi fbank).
    Features(cmd::features::FeaturesArgs),
    /// DTMF digits in a recording.
    Dtmf(cmd::dtmf::DtmfArgs),
    /// Call-progress tones (dial, ringback, busy, reorder, SIT, fax) and beeps.
    Tones(cmd::tones::TonesArgs),
    /// Run the HTTP/websocket server (live answering-machine detection).
    Serve(cmd::serve::ServeArgs),
    /// Place one outbound SIP call (AMD on its audio), print the result, exit with its code.
    Call(Box<cmd::call::CallArgs>),
    /// Contact flows: `flow validate FILE...`, `flow simulate FILE --script CALLEE.json`.
    #[command(subcommand)]
    Flow(cmd::flow::FlowCmd),
    /// The call history of a store: `calls list`, `calls show ID` (events, actions, SIP ladder).
    Calls(cmd::calls::CallsArgs),
    /// Load generator: N concurrent Vonage media websocket calls against `tympan serve`.
    Loadtest(Box<cmd::loadtest::LoadtestArgs>),
    /// Text to speech and answer recognition; `speech eval` measures recognition accuracy.
    #[command(subcommand)]
    Speech(cmd::speech::SpeechCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audio(c) => cmd::audio::run(c),
        Command::Amd(a) => cmd::amd::run(a),
        Command::Features(a) => cmd::features::run(a),
        Command::Dtmf(a) => cmd::dtmf::run(a),
        Command::Tones(a) => cmd::tones::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Loadtest(a) => cmd::loadtest::run(*a),
        Command::Call(a) => return cmd::call::run(*a),
        Command::Calls(a) => cmd::calls::run(a),
        Command::Flow(c) => cmd::flow::run(c),
        Command::Speech(c) => cmd::speech::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
