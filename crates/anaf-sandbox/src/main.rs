//! `anaf-sandbox`: runs the emulator until interrupted and prints how to reach it.

use anaf_sandbox::cli::SandboxArgs;
use clap::Parser;

/// Offline emulator of ANAF's OAuth IdP and APIs (e-Factura, e-Transport, TestOauth).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    sandbox: SandboxArgs,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = anaf_sandbox::cli::serve(&args.sandbox, "anaf-sandbox") {
        eprintln!("anaf-sandbox: {e}");
        std::process::exit(1);
    }
}
