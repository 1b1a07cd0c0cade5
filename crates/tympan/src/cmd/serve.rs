//! `tympan serve`: the HTTP/websocket server (live answering-machine detection).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080, or `listen` from the config file).
    #[arg(long)]
    pub listen: Option<String>,
    /// Configuration file: TOML, or JSON when it ends in `.json`. Optional.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./tympan-data, or `data_dir` from the config file): holds the
    /// generated API token file `api-token` and the SQLite database `tympan.db` (unless
    /// `database_url` names PostgreSQL).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Accept Asterisk AudioSocket (TCP) calls on this address (or `audiosocket_listen`).
    #[arg(long)]
    pub audiosocket_listen: Option<String>,
    /// Answer SIP calls over UDP on this address (or `[sip] listen`).
    #[arg(long)]
    pub sip_listen: Option<String>,
    /// Run this contact flow (JSON) on every call (or `flow` in the config).
    #[arg(long)]
    pub flow: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = match &args.config {
        Some(p) => tympan_server::config::ServerConfig::load(p)?,
        None => tympan_server::config::ServerConfig::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(a) = args.audiosocket_listen {
        config.audiosocket_listen = Some(a);
    }
    if let Some(a) = args.sip_listen {
        config.sip.listen = Some(a);
    }
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(f) = args.flow {
        config.flow = Some(f);
    }
    let flow = match &config.flow {
        Some(path) => {
            let setup = tympan_server::flows::FlowSetup::load(path).map_err(anyhow::Error::msg)?;
            tracing::info!(flow = setup.flow.id(), file = %path.display(), "contact flow on every call");
            Some(std::sync::Arc::new(setup))
        }
        None => None,
    };
    let env_token = std::env::var(tympan_server::auth::TOKEN_ENV).ok();
    let (tokens, source) = tympan_server::auth::resolve_tokens(
        &config.api_tokens,
        env_token.as_deref(),
        &config.data_dir,
    )?;
    match &source {
        tympan_server::auth::TokenSource::Configured => {
            tracing::info!("control routes: bearer tokens from api_tokens / TYMPAN_API_TOKEN")
        }
        tympan_server::auth::TokenSource::File(p) => {
            tracing::info!(token_file = %p.display(), "control routes: bearer token from file")
        }
        tympan_server::auth::TokenSource::Created(p) => {
            tracing::info!(token_file = %p.display(), "control routes: created a bearer token")
        }
    }
    let factory =
        tympan_server::analyzer::factory_from_config(&config).map_err(anyhow::Error::msg)?;
    if let Some(m) = &factory.amd_model {
        tracing::info!(classifier = m.card.classifier.kind(), labels = ?m.card.label_names,
            "clip advice on");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listeners = tympan_server::Listeners::bind(&config)
            .await
            .context("listening")?;
        tracing::info!(addr = %listeners.main.local_addr()?, "tympan serve listening");
        if let Some(c) = &listeners.control {
            tracing::info!(addr = %c.local_addr()?, "control routes listening");
        }
        if let Some(a) = &listeners.audiosocket {
            tracing::info!(addr = %a.local_addr()?, "audiosocket listening");
        }
        let state = tympan_server::AppState::with_tokens(config, factory, tokens)
            .await
            .context("opening the store")?;
        if let Some(setup) = flow {
            state.set_flow(setup);
        }
        tympan_server::run(listeners, state, tympan_server::shutdown_signal())
            .await
            .context("server")
    })
}
