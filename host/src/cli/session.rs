//! `chitin session list|show|export|import|rm`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use chitin_agent::session::{Event, SessionStore};
use clap::Args;

use super::{Exit, display, exit};

#[derive(Args)]
pub struct ListArgs {
    /// Print one JSON document on stdout: a list of the sessions, most recent first.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    session: String,
    /// Print the events as JSON Lines (the export format).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    session: String,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// A JSON Lines file written by `chitin session export`, or `-` for stdin.
    file: PathBuf,
    /// Import under this name instead of the one in the file.
    #[arg(long = "as", value_name = "NAME")]
    as_name: Option<String>,
    /// Print one JSON document on stdout: `{session}`, the name it was imported as.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RmArgs {
    session: String,
    /// Print one JSON document on stdout: `{session, status: "removed"}`.
    #[arg(long)]
    json: bool,
}

fn open() -> anyhow::Result<SessionStore> {
    let home = super::chitin_home()?;
    chitin_host::engine::create_private_dir(&home)?;
    SessionStore::open(&home.join("chitin.db"))
        .with_context(|| format!("opening the sessions in {}", home.display()))
}

pub fn list(args: ListArgs) -> Result<u8, Exit> {
    let sessions = open()?.list()?;
    if args.json {
        println!("{}", display::json(&sessions)?);
    } else if sessions.is_empty() {
        eprintln!("no sessions yet; start one with `chitin agent`");
    } else {
        for s in sessions {
            println!(
                "{}  {}  {:>4} events  {}",
                s.id,
                &s.updated[..s.updated.len().min(19)],
                s.events,
                display::field(&s.title)
            );
        }
    }
    Ok(exit::OK)
}

pub fn show(args: ShowArgs) -> Result<u8, Exit> {
    let store = open()?;
    if args.json {
        let text = store.export(&args.session)?;
        print!("{}", chitin_registry::untrusted::json_for_terminal(&text));
        return Ok(exit::OK);
    }
    for e in store.events(&args.session)? {
        let time = &e.time[..e.time.len().min(19)];
        match &e.event {
            Event::User { content } => {
                println!(
                    "#{} {time} user:\n  {}",
                    e.seq,
                    display::block(content, "  ")
                )
            }
            Event::Assistant {
                content,
                tool_calls,
                model,
                ..
            } => {
                println!("#{} {time} assistant ({}):", e.seq, display::field(model));
                if !content.is_empty() {
                    println!("  {}", display::block(content, "  "));
                }
                for c in tool_calls {
                    println!(
                        "  → {} {}",
                        display::field(&c.name),
                        display::field(&c.arguments)
                    );
                }
            }
            Event::ToolResult {
                name,
                content,
                is_error,
                elapsed_ms,
                ..
            } => println!(
                "#{} {time} {} {} ({elapsed_ms:.0} ms):\n  {}",
                e.seq,
                if *is_error { "✗" } else { "✓" },
                display::field(name),
                display::block(content, "  ")
            ),
            Event::Compaction { summary, through } => println!(
                "#{} {time} compaction of events 1-{through}:\n  {}",
                e.seq,
                display::block(summary, "  ")
            ),
            Event::Notice { text } => {
                println!("#{} {time} notice: {}", e.seq, display::field(text))
            }
        }
    }
    Ok(exit::OK)
}

pub fn export(args: ExportArgs) -> Result<u8, Exit> {
    let text = open()?.export(&args.session)?;
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("exported session {} to {}", args.session, path.display());
        }
        // On stdout it may meet a terminal: the same JSON Lines, with C1, bidi and
        // invisible characters escaped (a file gets the exact text).
        None => print!("{}", chitin_registry::untrusted::json_for_terminal(&text)),
    }
    Ok(exit::OK)
}

pub fn import(args: ImportArgs) -> Result<u8, Exit> {
    let text = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the session from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let id = open()?.import(&text, args.as_name.as_deref())?;
    if args.json {
        println!("{}", serde_json::json!({ "session": id }));
        return Ok(exit::OK);
    }
    eprintln!("imported session {id}");
    Ok(exit::OK)
}

pub fn rm(args: RmArgs) -> Result<u8, Exit> {
    open()?.remove(&args.session)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "session": args.session, "status": "removed" })
        );
        return Ok(exit::OK);
    }
    eprintln!("removed session {}", args.session);
    Ok(exit::OK)
}
