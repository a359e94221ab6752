//! `anaf etransport`: declarations of road transports, their UIT (the transport's unique
//! code), state, list and the organiser's information.

use anaf_core::etransport::{InfoFilter, SchemaVersion, TransportState};
use anstream::println;

use crate::args::{EtransportCommand, Global};
use crate::failure::{Exit, Failure};
use crate::output::{self, BAD, GOOD, WARN, paint};
use crate::session::{self, Secret};

pub fn run(global: &Global, command: EtransportCommand) -> Result<Exit, Failure> {
    let session = session::open(global, Secret::IfRefreshDue)?;
    let etransport = session.client.etransport();
    match command {
        EtransportCommand::Upload { file, cif, schema } => {
            let xml = std::fs::read(&file).map_err(|e| Failure::io("read", &file, e))?;
            let version: SchemaVersion = schema.parse()?;
            let receipt = etransport.upload(xml, &cif, version)?;
            if global.json {
                output::json(&receipt);
            } else {
                let uit = receipt.uit.as_ref().map_or(receipt.raw_uit.as_str(), |u| u.as_str());
                output::fields(&[
                    ("upload", receipt.upload_id.to_string()),
                    ("UIT", paint(GOOD, uit)),
                    ("reference", receipt.reference.clone()),
                ]);
                if let Some(warning) = &receipt.warning {
                    println!("{} {warning}", paint(WARN, "ANAF warns:"));
                }
            }
            Ok(Exit::Ok)
        }
        EtransportCommand::Status { upload_id } => {
            let state = etransport.status(upload_id)?;
            if global.json {
                output::json(&state);
            } else {
                match &state {
                    TransportState::Ok => println!("declaration {upload_id}: {}", paint(GOOD, "ok")),
                    TransportState::InProgress => println!("declaration {upload_id}: {}", paint(WARN, "in progress")),
                    TransportState::Nok { errors } => {
                        println!("declaration {upload_id}: {}", paint(BAD, "nok"));
                        for error in errors {
                            println!("  {} {error}", paint(BAD, "-"));
                        }
                    }
                    other => println!("declaration {upload_id}: {}", paint(BAD, other.code())),
                }
            }
            Ok(match state {
                TransportState::Ok => Exit::Ok,
                TransportState::InProgress => Exit::Failed,
                _ => Exit::Refused,
            })
        }
        EtransportCommand::List { cif, days } => {
            let records = etransport.list(&cif, days)?;
            if global.json {
                output::json(&records);
            } else if records.is_empty() {
                println!("no declarations in the last {days} days");
            } else {
                let rows: Vec<Vec<String>> = records
                    .iter()
                    .map(|r| {
                        vec![
                            r.upload_id.to_string(),
                            r.uit.clone().unwrap_or_default(),
                            r.created_at
                                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                                .unwrap_or_default(),
                            r.state.clone().unwrap_or_default(),
                            r.reference.clone().unwrap_or_default(),
                            r.vehicle.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(&["UPLOAD", "UIT", "CREATED", "STATE", "REFERENCE", "VEHICLE"], &rows);
            }
            Ok(Exit::Ok)
        }
        EtransportCommand::Info {
            cif,
            declarant_cif,
            uit,
            reference,
        } => {
            let mut filter = InfoFilter::default();
            if let Some(declarant) = declarant_cif {
                filter = filter.declarant_cif(declarant);
            }
            if let Some(uit) = uit {
                filter = filter.uit(uit);
            }
            if let Some(reference) = reference {
                filter = filter.reference(reference);
            }
            let records = etransport.info(&cif, filter)?;
            // ANAF's records as it sends them: the same JSON for people and scripts.
            output::json(&records);
            Ok(Exit::Ok)
        }
    }
}
