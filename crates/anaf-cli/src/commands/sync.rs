//! `anaf sync`: every message ANAF keeps for a CIF, archived into a folder (see the core's
//! `EFactura::sync`), with a progress bar on a terminal.

use std::sync::Arc;

use anaf_core::efactura::{MessageFilter, SyncOptions, SyncProgress};
use anstream::println;

use crate::args::{Global, SyncArgs};
use crate::commands::efactura::{bucharest_day, parsed};
use crate::failure::{self, Exit, Failure};
use crate::output::{self, BAD, GOOD, WARN, paint};
use crate::session::{self, Secret};

pub fn run(global: &Global, args: &SyncArgs) -> Result<Exit, Failure> {
    let session = session::open(global, Secret::IfRefreshDue)?;
    let mut options = SyncOptions::new().pdf(args.pdf);
    if let Some(filter) = &args.filter {
        options = options.filter(parsed::<MessageFilter>(filter)?);
    }
    if let Some(since) = &args.since {
        options = options.since(bucharest_day(since, false)?);
    }
    // The bar's length is ANAF's count, known after the first page.
    let bar = (!global.json).then(|| Arc::new(output::bar(0, "listing")));
    if let Some(bar) = &bar {
        let bar = bar.clone();
        options = options.on_progress(move |progress: &SyncProgress| {
            bar.set_length(progress.total);
            bar.set_position(progress.archived + progress.already_archived + progress.failed);
            bar.set_message(format!(
                "{} new, {} already archived",
                progress.archived, progress.already_archived
            ));
        });
    }
    let report = session.client.efactura().sync(&args.cif, &args.folder, options);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    let exit = match report.failures.first() {
        Some(failure) => failure::exit_for(&failure.error),
        None => Exit::Ok,
    };
    if global.json {
        output::json(&report);
        return Ok(exit);
    }
    let progress = &report.progress;
    println!(
        "{} {} messages of {} into {}: {} new ({} KiB of ZIP), {} already archived",
        paint(GOOD, "archived"),
        progress.listed,
        progress.cif,
        report.folder,
        progress.archived,
        progress.bytes.div_ceil(1024),
        progress.already_archived
    );
    println!(
        "from {} (ANAF keeps messages 60 days)",
        report
            .window_start
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
    );
    for failed in &report.failures {
        let (what, next) = Failure::Anaf(failed.error.clone()).explain();
        println!("{}: {} {what}", failed.download_id, paint(BAD, "not archived:"));
        if let Some(next) = next {
            println!("  {} {next}", paint(WARN, "what to do:"));
        }
    }
    if !report.failures.is_empty() {
        println!("the next `anaf sync` tries them again");
    }
    Ok(exit)
}
