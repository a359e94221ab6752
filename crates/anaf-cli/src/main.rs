//! `anaf`: ANAF's APIs from a terminal or a script. Every protocol step is the core's
//! (`crates/anaf`); this crate parses the command line, picks the profile, prints, and maps
//! errors to exit codes.

use std::process::ExitCode;
use std::sync::Arc;

use anstream::eprintln;
use clap::{CommandFactory, Parser};

mod args;
mod commands;
mod failure;
mod output;
mod profiles;
mod session;

use args::{Cli, ColorWhen, Command};
use failure::{Exit, Failure};

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    match cli.global.color {
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
        ColorWhen::Auto => {}
    }
    if cli.global.verbose {
        let _ = anaf_core::log_bridge::set_sink(Some((Arc::new(StderrLog), anaf_core::log_bridge::Level::DEBUG)));
    }
    let json = cli.global.json;
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            report(&failure, json);
            failure.exit().into()
        }
    }
}

fn run(cli: Cli) -> Result<Exit, Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Demo => commands::demo::run(global),
        Command::Sandbox(args) => {
            anaf_sandbox::cli::serve(&args, "anaf sandbox").map_err(|e| Failure::Other(format!("the sandbox: {e}")))?;
            Ok(Exit::Ok)
        }
        Command::Profile(command) => commands::auth::profile(global, command),
        Command::Login(args) => commands::auth::login(global, &args),
        Command::Token(command) => commands::auth::token(global, command),
        Command::Hello { name } => commands::auth::hello(global, &name),
        Command::Cif(command) => commands::cif::run(global, command),
        Command::Quota => commands::quota::run(global),
        Command::Sync(args) => commands::sync::run(global, &args),
        Command::Efactura(command) => commands::efactura::run(global, command),
        Command::Etransport(command) => commands::etransport::run(global, command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "anaf", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
    }
}

fn report(failure: &Failure, json: bool) {
    if json {
        output::json(&failure.to_json());
        return;
    }
    let (what, next) = failure.explain();
    eprintln!("{} {what}", output::paint(output::BAD, "error:"));
    if let Some(next) = next {
        eprintln!("{} {next}", output::paint(output::WARN, "what to do:"));
    }
}

/// `--verbose`: the core's logs (already redacted) on stderr.
struct StderrLog;

impl anaf_core::log_bridge::LogSink for StderrLog {
    fn log(&self, level: anaf_core::log_bridge::Level, target: &str, message: &str) {
        eprintln!("{} {target}: {message}", output::paint(output::DIM, level));
    }
}

/// Rust ignores SIGPIPE, so `anaf efactura list ... | head` would end in a failed write;
/// a command-line tool should just stop, as `ls` does.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal to its default disposition at startup, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
