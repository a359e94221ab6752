//! `anaf quota`: today's use of ANAF's daily limits, from the profile's ledger.

use anstream::println;

use crate::args::Global;
use crate::failure::{Exit, Failure};
use crate::output;
use crate::session::{self, Secret};

pub fn run(global: &Global) -> Result<Exit, Failure> {
    let session = session::open(global, Secret::IfRefreshDue)?;
    let usage = session.client.quota_usage()?;
    if global.json {
        output::json(&usage);
    } else if usage.is_empty() {
        println!("no limited call made today (Bucharest time)");
    } else {
        let rows: Vec<Vec<String>> = usage
            .iter()
            .map(|u| {
                vec![
                    u.counter.code().to_owned(),
                    format!("{} {}", u.scope.code(), u.key),
                    u.used.to_string(),
                    u.limit.to_string(),
                    u.remaining.to_string(),
                ]
            })
            .collect();
        output::table(&["call", "counted for", "used", "limit", "left"], &rows);
        println!(
            "the counts start again at {} (midnight in Bucharest)",
            usage[0]
                .resets_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
        );
    }
    Ok(Exit::Ok)
}
