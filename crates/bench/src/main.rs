//! `rustack-bench`: load benchmarks against a running rustack, loopback only.
//!
//! `rustack-bench identity --password PW --server-pid PID` measures token issue, token
//! validate and project list (requests/s, p50/p99 latency, server CPU per request).
//! `scripts/bench-identity.sh` starts a fresh `rustack up` and runs it.

mod identity;
mod procfs;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "rustack-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Identity API: token issue, token validate, project list. Prints a table, then one
    /// JSON line with every figure (the last line of stdout).
    Identity {
        #[command(flatten)]
        args: identity::IdentityArgs,
        /// Client runtime threads (1 = single-threaded; keeps the client off the
        /// server's cores as much as possible on small machines).
        #[arg(long, default_value_t = 1)]
        client_threads: usize,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Identity {
        args,
        client_threads,
    } = cli.command;
    let rt = if client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(client_threads)
            .enable_all()
            .build()
    };
    let result = match rt {
        Ok(rt) => rt.block_on(identity::run(args)),
        Err(e) => Err(anyhow::Error::new(e).context("starting the async runtime")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rustack-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
