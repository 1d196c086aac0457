//! `rustack-bench`: load benchmarks against a running rustack, loopback only.
//!
//! `rustack-bench identity --password PW --server-pid PID` measures token issue, token
//! validate and project list (requests/s, p50/p99 latency, server CPU per request).
//! `scripts/bench-identity.sh` starts a fresh `rustack up` and runs it.
//!
//! `rustack-bench compute --password PW [--server-pid PID] [--server-log FILE]` boots
//! servers in bursts on the simulated driver (time to ACTIVE, scheduler decisions/s,
//! RSS) and lists 1,000 servers; `scripts/bench-compute.sh` runs it on a fresh cloud.

mod compute;
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
    /// Compute API with the simulated driver: servers created in bursts (time to
    /// ACTIVE), scheduler decisions/s, control-plane RSS, list of 1,000 servers.
    Compute {
        #[command(flatten)]
        args: compute::ComputeArgs,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (args, client_threads) = match cli.command {
        Command::Identity {
            args,
            client_threads,
        } => (args, client_threads),
        Command::Compute { args } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            let result = match rt {
                Ok(rt) => rt.block_on(compute::run(args)),
                Err(e) => Err(anyhow::Error::new(e).context("starting the async runtime")),
            };
            return match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rustack-bench: error: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    };
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
