//! `anaf cif`: control digits offline, and the public VAT registry.

use anaf_core::{Cif, Environment};
use anstream::println;

use crate::args::{CifCommand, Global};
use crate::failure::{Exit, Failure};
use crate::output::{self, BAD, GOOD, WARN, paint};
use crate::profiles::Profiles;

pub fn run(global: &Global, command: CifCommand) -> Result<Exit, Failure> {
    match command {
        CifCommand::Check { cifs } => check(global, &cifs),
        CifCommand::Lookup { cifs, date } => lookup(global, &cifs, date.as_deref()),
    }
}

fn check(global: &Global, cifs: &[String]) -> Result<Exit, Failure> {
    let results: Vec<(String, Result<Cif, anaf_core::Error>)> =
        cifs.iter().map(|text| (text.clone(), Cif::parse(text))).collect();
    let all_valid = results.iter().all(|(_, parsed)| parsed.is_ok());
    if global.json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(text, parsed)| match parsed {
                Ok(cif) => serde_json::json!({ "input": text, "valid": true, "cif": cif.as_str() }),
                Err(e) => serde_json::json!({ "input": text, "valid": false, "error": e }),
            })
            .collect();
        output::json(&items);
    } else {
        for (text, parsed) in &results {
            match parsed {
                Ok(cif) => println!("{} {text} (CIF {cif})", paint(GOOD, "valid  ")),
                Err(e) => println!("{} {text}: {e}", paint(BAD, "invalid")),
            }
        }
    }
    // A wrong CIF is the caller's input: the usage code, so scripts can tell it apart.
    Ok(if all_valid { Exit::Ok } else { Exit::Usage })
}

/// The registry is public (no login): a profile only decides which server, when there is
/// one to pick; otherwise ANAF's.
fn lookup(global: &Global, cifs: &[String], date: Option<&str>) -> Result<Exit, Failure> {
    let date = date
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Failure::usage(format!("`{d}` is not a day (YYYY-MM-DD)"), None))
        })
        .transpose()?;
    let mut builder = anaf_core::Client::builder().environment(Environment::Test);
    if let Ok(profiles) = Profiles::load()
        && let Ok((_, profile)) = profiles.select(global.profile.as_deref())
        && let Some(base) = &profile.base_url
    {
        builder = builder.base_url(base)?;
    }
    let client = builder.build_blocking()?;
    let spinner = output::spinner(format!("asking ANAF's VAT registry about {} CIF(s)", cifs.len()));
    let lookup = client.public().lookup_taxpayers(cifs, date);
    spinner.finish_and_clear();
    let lookup = lookup?;
    if global.json {
        output::json(&lookup);
    } else {
        for taxpayer in &lookup.found {
            let mut flags = Vec::new();
            flags.push(if taxpayer.vat_payer {
                paint(GOOD, "VAT payer")
            } else {
                "not a VAT payer".to_owned()
            });
            if taxpayer.vat_on_collection {
                flags.push("VAT on collection".into());
            }
            if taxpayer.split_vat {
                flags.push("split VAT".into());
            }
            if taxpayer.inactive {
                flags.push(paint(BAD, "INACTIVE"));
            }
            if taxpayer.deregistered_on.is_some() {
                flags.push(paint(BAD, "struck off"));
            }
            flags.push(if taxpayer.efactura_registered {
                "in the RO e-Factura register".to_owned()
            } else {
                "not in the RO e-Factura register".to_owned()
            });
            output::fields(&[
                ("CIF", taxpayer.cif.clone()),
                ("name", taxpayer.name.clone()),
                ("address", taxpayer.address.clone()),
                ("trade register", taxpayer.trade_register_number.clone()),
                ("status", flags.join(", ")),
            ]);
            println!();
        }
        for cif in &lookup.not_found {
            println!("{} {cif}: not in ANAF's registry", paint(WARN, "not found"));
        }
    }
    Ok(if lookup.not_found.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}
