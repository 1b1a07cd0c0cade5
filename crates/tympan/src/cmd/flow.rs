//! `tympan flow validate|simulate`: contact-flow files for their authors. The logic is
//! `tympan_flow` (parsing, checks, the interpreter and the simulated callee); answers are
//! parsed by the speech crate's Lex-like parsers, as in a live call.

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::sync::Arc;
use tympan_flow::{simulate, Extensions, Flow, Script, SpeechAnswers};

#[derive(Subcommand)]
pub enum FlowCmd {
    /// Check flow files (JSON Schema, block targets, templates); errors name the file, block
    /// and field. Exit status 1 when any file has an error.
    Validate {
        /// Flow files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print `[{"file", "ok", "errors", "warnings"}]` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a flow against a scripted callee in virtual time and print its trace.
    Simulate {
        /// The flow file.
        file: PathBuf,
        /// The callee script (JSON: what it says or keys, and when; see crates/flow/README.md).
        #[arg(long)]
        script: PathBuf,
        /// Print the whole report (outcome, attributes, trace, timeline) as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn load(path: &PathBuf) -> anyhow::Result<(String, String)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
    Ok((name, text))
}

pub fn run(cmd: FlowCmd) -> anyhow::Result<()> {
    // Block types added by other crates register here as they arrive (`classify`,
    // `voice_id`); until then a flow using them is refused, naming the block.
    let extensions = Extensions::new();
    match cmd {
        FlowCmd::Validate { files, json } => {
            let mut report = Vec::new();
            let mut failed = 0;
            for f in &files {
                let (name, text) = load(f)?;
                match Flow::parse_named(&name, &text, &extensions) {
                    Ok(flow) => {
                        let warnings: Vec<String> =
                            flow.warnings().iter().map(|w| w.to_string()).collect();
                        if !json {
                            println!("{name}: ok ({} blocks)", flow.blocks().len());
                            for w in &warnings {
                                println!("  warning: {w}");
                            }
                        }
                        report.push(serde_json::json!({"file": name, "ok": true,
                            "errors": [], "warnings": warnings}));
                    }
                    Err(e) => {
                        failed += 1;
                        if !json {
                            for err in &e.errors {
                                println!("{err}");
                            }
                            for w in &e.warnings {
                                println!("  warning: {w}");
                            }
                        }
                        let errors: Vec<String> = e.errors.iter().map(|x| x.to_string()).collect();
                        let warnings: Vec<String> =
                            e.warnings.iter().map(|x| x.to_string()).collect();
                        report.push(serde_json::json!({"file": name, "ok": false,
                            "errors": errors, "warnings": warnings}));
                    }
                }
            }
            if json {
                super::print_json(&report)?;
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} flow files have errors", files.len());
            }
            Ok(())
        }
        FlowCmd::Simulate { file, script, json } => {
            let (name, text) = load(&file)?;
            let flow = Arc::new(
                Flow::parse_named(&name, &text, &extensions).map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            let (sname, stext) = load(&script)?;
            let script = Script::parse_named(&sname, &stext).map_err(|e| anyhow::anyhow!("{e}"))?;
            let report = simulate(&flow, &script, Arc::new(SpeechAnswers));
            if json {
                super::print_json(&report)?;
            } else {
                print!("{}", report.render_text());
            }
            if let Some(why) = &report.stopped {
                anyhow::bail!("the simulation stopped early: {why}");
            }
            Ok(())
        }
    }
}
