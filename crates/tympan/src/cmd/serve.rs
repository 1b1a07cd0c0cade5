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
    let model = match &config.amd_model {
        Some(p) => {
            let m = super::amd_train::load_model(p)?;
            tracing::info!(model = %p.display(), classifier = m.card.classifier.kind(),
                labels = ?m.card.label_names, "clip advice on");
            Some(m)
        }
        None => None,
    };
    let factory = tympan_server::analyzer::amd_factory_with_model(model);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        tracing::info!(addr = %listener.local_addr()?, "tympan serve listening");
        let state = tympan_server::AppState::new(config, factory);
        tokio::select! {
            r = tympan_server::serve(listener, state) => r.context("server")?,
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
        }
        Ok(())
    })
}
