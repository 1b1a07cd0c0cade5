//! `tympan loadtest`: N concurrent Vonage media websocket calls against a running
//! `tympan serve` (the logic is in `tympan_loadtest`).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct LoadtestArgs {
    /// Media websocket URL of the server under test (loopback).
    #[arg(long, default_value = "ws://127.0.0.1:8080/v1/media/vonage")]
    pub url: String,
    /// Events websocket URL (default: the media URL's host, path /v1/events).
    #[arg(long)]
    pub events_url: Option<String>,
    /// Bearer token for the control routes (/v1/events); default $TYMPAN_API_TOKEN.
    #[arg(long)]
    pub token: Option<String>,
    /// Concurrent calls.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub calls: usize,
    /// Directory of recordings (WAV, FLAC, MP3, Ogg; searched recursively).
    #[arg(long)]
    pub audio: PathBuf,
    /// Most recordings loaded from --audio.
    #[arg(long, default_value_t = 200)]
    pub max_files: usize,
    /// Longest call, in seconds (recordings are cut).
    #[arg(long, default_value_t = 30.0)]
    pub max_call_s: f64,
    /// Stream rate: 8000 or 16000.
    #[arg(long, default_value_t = 16000)]
    pub rate: u32,
    /// Seconds over which the calls start.
    #[arg(long, default_value_t = 10.0)]
    pub ramp_s: f64,
    /// Seconds after the ramp during which ended calls are replaced.
    #[arg(long, default_value_t = 60.0)]
    pub duration_s: f64,
    /// Most calls started in the run (default: no bound beyond the duration).
    #[arg(long)]
    pub max_calls: Option<usize>,
    /// Seconds to wait after a call's audio for its result and call_end.
    #[arg(long, default_value_t = 10.0)]
    pub drain_s: f64,
    /// Server process id to sample (default: the process listening on the URL's port).
    #[arg(long)]
    pub pid: Option<u32>,
    /// AMD settings sent in each call's header, as a JSON object.
    #[arg(long)]
    pub amd: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: LoadtestArgs) -> anyhow::Result<()> {
    let mut cfg = tympan_loadtest::LoadConfig::new(&a.url)?;
    if let Some(u) = a.events_url {
        cfg.events_url = u;
    }
    cfg.token = a.token.or_else(|| std::env::var("TYMPAN_API_TOKEN").ok());
    cfg.concurrency = a.calls;
    cfg.rate = a.rate;
    cfg.ramp = Duration::from_secs_f64(a.ramp_s);
    cfg.duration = Duration::from_secs_f64(a.duration_s);
    if let Some(m) = a.max_calls {
        cfg.max_calls = m;
    }
    cfg.drain = Duration::from_secs_f64(a.drain_s);
    cfg.server_pid = a.pid.or_else(|| {
        tympan_loadtest::url_port(&a.url).and_then(tympan_loadtest::procfs::pid_listening_on)
    });
    if let Some(j) = &a.amd {
        let v: serde_json::Value = serde_json::from_str(j).context("--amd is not JSON")?;
        anyhow::ensure!(v.is_object(), "--amd must be a JSON object");
        cfg.header.insert("amd".into(), v);
    }
    let clips = tympan_loadtest::load_dir(&a.audio, a.rate, a.max_files, a.max_call_s)?;
    eprintln!(
        "{} recordings from {}, {} calls, server pid {}",
        clips.len(),
        a.audio.display(),
        a.calls,
        cfg.server_pid.map_or("unknown".into(), |p| p.to_string())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(tympan_loadtest::run(cfg, clips))?;
    if a.json {
        super::print_json(&report)?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
