//! `tympan calls list|show`: the call history of a store (the data directory of `tympan serve`
//! or `tympan call`, or `database_url`), as text or JSON. Rendering is
//! `tympan_server::report`; this parses arguments and prints.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct CallsArgs {
    #[command(subcommand)]
    pub cmd: CallsCmd,
    /// Configuration file (its `data_dir` / `database_url` name the store).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Data directory of the store (default `./tympan-data`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON (the API's shapes) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum CallsCmd {
    /// Calls newest first.
    List {
        /// At most this many calls.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only calls with this verdict (`human`, `machine_end_beep`, ...).
        #[arg(long)]
        answered_by: Option<String>,
    },
    /// One call: summary, events, actions and its SIP ladder.
    Show {
        /// The call id.
        id: String,
    },
}

pub fn run(args: CallsArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(p) => tympan_server::config::ServerConfig::load(p)?,
        None => tympan_server::config::ServerConfig::default(),
    };
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if config.database_url.is_none() && !config.data_dir.join(tympan_store::SQLITE_FILE).is_file() {
        anyhow::bail!(
            "no store at {} (give --data-dir or --config)",
            config.data_dir.join(tympan_store::SQLITE_FILE).display()
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store = tympan_store::open(&config.store_config()).await?;
        let r = match args.cmd {
            CallsCmd::List { limit, answered_by } => {
                let filter = tympan_store::CallFilter {
                    answered_by,
                    ..Default::default()
                };
                let calls = tympan_server::report::list_calls(&store, filter, limit).await?;
                if args.json {
                    let v: Vec<tympan_server::persist::CallSummary> =
                        calls.into_iter().map(Into::into).collect();
                    super::print_json(&v)
                } else {
                    print!("{}", tympan_server::report::render_list(&calls));
                    Ok(())
                }
            }
            CallsCmd::Show { id } => match tympan_server::report::load_call(&store, &id).await? {
                Some(rec) if args.json => super::print_json(&rec),
                Some(rec) => {
                    print!("{}", tympan_server::report::render_call(&rec));
                    Ok(())
                }
                None => Err(anyhow::anyhow!("no call {id:?} in the store")),
            },
        };
        store.close().await;
        r
    })
}
