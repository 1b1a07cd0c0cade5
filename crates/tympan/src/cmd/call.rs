//! `tympan call`: place one outbound SIP call, print its result, exit with its code. The
//! logic is `tympan_server::outbound`; this parses arguments and prints.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use tympan_server::outbound::{place_call, CallRequest, OutboundError};

#[derive(Args)]
pub struct CallArgs {
    /// Who to call: `sip:user@host[:port]`, `user@host[:port]`, or a number / user sent
    /// through `--trunk`.
    pub destination: String,
    /// A trunk of the config's `[sip.trunks]` by name (its credentials answer 401/407), or
    /// a `sip:host[:port]` URI to send the INVITE to.
    #[arg(long)]
    pub trunk: Option<String>,
    /// Our From URI (default: the trunk's `from`, else `sip:tympan@LOCAL_IP`).
    #[arg(long)]
    pub from: Option<String>,
    /// Play this audio file (WAV, any rate; resampled to 8 kHz G.711) after the answer; the
    /// call ends once it was sent unless `--amd` ends it.
    #[arg(long)]
    pub play: Option<PathBuf>,
    /// Write the audio received after the answer to this WAV (8 kHz, 16-bit).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// AMD until the message ends (mode `detect_message_end`), then hang up.
    #[arg(long)]
    pub amd: bool,
    /// Whole-call limit in seconds, from the INVITE (unanswered: CANCEL; answered: BYE).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Configuration file (TOML, or JSON when it ends in `.json`): `[sip]` ports and
    /// trunks, `[amd]`, `on_beep`, the store.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory of the store (the call and its SIP trace are recorded there).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run this contact flow (JSON) on the answered call; the result then has the flow's
    /// outcome, attributes and trace (and the call lasts until the flow hangs up).
    #[arg(long)]
    pub flow: Option<PathBuf>,
    /// Print the result as JSON (otherwise a one-line summary).
    #[arg(long)]
    pub json: bool,
}

/// Exit code of a bad argument or setting.
const EXIT_USAGE: u8 = 2;

pub fn run(args: CallArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<OutboundError>() {
                Some(OutboundError::Input(_)) => ExitCode::from(EXIT_USAGE),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run_inner(args: CallArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config = match &args.config {
        Some(p) => tympan_server::config::ServerConfig::load(p)?,
        None => tympan_server::config::ServerConfig::default(),
    };
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    let factory =
        tympan_server::analyzer::factory_from_config(&config).map_err(anyhow::Error::msg)?;
    if let Some(f) = args.flow {
        config.flow = Some(f);
    }
    let flow = match &config.flow {
        Some(path) => Some(std::sync::Arc::new(
            tympan_server::flows::FlowSetup::load(path).map_err(OutboundError::Input)?,
        )),
        None => None,
    };
    let req = CallRequest {
        destination: args.destination,
        trunk: args.trunk,
        from: args.from,
        play: args.play,
        record: args.record,
        amd: args.amd,
        timeout: std::time::Duration::from_secs(args.timeout),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let state = tympan_server::AppState::new(config, factory).await?;
        if let Some(setup) = flow {
            state.set_flow(setup);
        }
        let r = place_call(state.clone(), req).await;
        let _ = state.writer.shutdown().await;
        state.store.close().await;
        let out = r?;
        if args.json {
            super::print_json(&out)?;
        } else {
            println!(
                "{} {} {}{}{}",
                out.sip_status,
                out.sip_reason,
                serde_json::to_value(out.outcome)?
                    .as_str()
                    .unwrap_or_default(),
                out.answered_by
                    .as_deref()
                    .map(|a| format!(" answered_by={a}"))
                    .unwrap_or_default(),
                if out.digits.is_empty() {
                    String::new()
                } else {
                    format!(" digits={}", out.digits)
                }
            );
            if let Some(f) = &out.flow {
                println!(
                    "flow {}: {} attributes={}",
                    f["flow"].as_str().unwrap_or_default(),
                    f["outcome"],
                    f["attributes"]
                );
            }
        }
        Ok(ExitCode::from(out.outcome.exit_code() as u8))
    })
}
