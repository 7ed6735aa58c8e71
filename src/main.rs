//! The `lethe` binary: parse the command line and hand over to the library.

use clap::Parser;
use lethe::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    // ring is the only TLS provider in the tree; installing it first keeps rustls from guessing.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    lethe::telemetry::init(cli.log_filter.as_deref());
    let outcome = match cli.command {
        Command::Serve(args) => lethe::commands::serve(*args),
        Command::Admin(args) => lethe::commands::admin(args),
        Command::Apikey(args) => lethe::commands::apikey(args),
        Command::Audit(args) => lethe::commands::audit(args),
        Command::Keys(args) => lethe::commands::keys(args),
        Command::Demo(args) => lethe::commands::demo(args),
        Command::Retention(args) => lethe::commands::retention(args),
        Command::Backup(args) => lethe::commands::backup::backup(args),
        Command::Restore(args) => lethe::commands::backup::restore(args),
        Command::Doctor(args) => lethe::commands::doctor::doctor(*args),
        Command::Evidence(args) => lethe::commands::evidence::evidence(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            // One clear line, with the cause chain, and no backtrace noise.
            eprintln!("lethe: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
