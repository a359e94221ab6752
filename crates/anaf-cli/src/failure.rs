//! Exit codes, and errors printed with ANAF's own (Romanian) text and an English sentence
//! saying what to do next.

use std::process::ExitCode;

use anaf_core::{Error, ErrorKind};

/// The documented exit codes (`anaf --help` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    Usage = 2,
    /// ANAF refused the document (nok, XML refused, duplicate, invalid).
    Refused = 3,
    /// Not logged in, login refused, or no rights on the CIF or service.
    Auth = 4,
    /// A per-minute or daily limit was reached.
    Limit = 5,
    /// ANAF could not be reached (connection, timeout, its firewall).
    Transport = 6,
    /// An upload may or may not have reached ANAF: check before sending it again.
    OutcomeUnknown = 7,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    Anaf(Error),
    /// ANAF's error, with what to do next said in this command's terms.
    AnafNext(Error, String),
    /// The command line or the profiles (exit 2).
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// Something of our own, e.g. a file that cannot be written (exit 1).
    Other(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Anaf(error)
    }
}

impl Failure {
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Failure {
        Failure::Usage {
            message: message.into(),
            hint,
        }
    }

    pub fn io(what: &str, path: &std::path::Path, error: std::io::Error) -> Failure {
        Failure::Other(format!("cannot {what} {}: {error}", path.display()))
    }

    pub fn exit(&self) -> Exit {
        match self {
            Failure::Anaf(error) | Failure::AnafNext(error, _) => exit_for(error),
            Failure::Usage { .. } => Exit::Usage,
            Failure::Other(_) => Exit::Failed,
        }
    }

    /// `{"error": ...}`: the core's error JSON, or `{"kind", "message", "hint"}` for ours.
    pub fn to_json(&self) -> serde_json::Value {
        let error = match self {
            Failure::Anaf(error) | Failure::AnafNext(error, _) => serde_json::to_value(error).unwrap_or_default(),
            Failure::Usage { message, hint } => serde_json::json!({
                "kind": "usage", "message": message, "hint": hint,
            }),
            Failure::Other(message) => serde_json::json!({ "kind": "failed", "message": message }),
        };
        serde_json::json!({ "error": error, "exit_code": self.exit() as u8 })
    }

    /// The lines a person reads: what happened (with ANAF's text), then what to do.
    pub fn explain(&self) -> (String, Option<String>) {
        match self {
            Failure::Anaf(error) => {
                let next = next_step(error);
                // When the core's hint is what to do, it is said once, on its own line.
                let what = if error.hint().is_some() && next.as_deref() == error.hint() {
                    error.without_hint().to_string()
                } else {
                    error.to_string()
                };
                (what, next)
            }
            Failure::AnafNext(error, next) => (error.to_string(), Some(next.clone())),
            Failure::Usage { message, hint } => (message.clone(), hint.clone()),
            Failure::Other(message) => (message.clone(), None),
        }
    }
}

pub fn exit_for(error: &Error) -> Exit {
    if error.upload_outcome_unknown() {
        return Exit::OutcomeUnknown;
    }
    match error.kind() {
        ErrorKind::DuplicateInvoice => Exit::Refused,
        // ANAF refused a document or parameter (it answered); ours are usage errors.
        ErrorKind::InvalidInput if error.http_status().is_some() => Exit::Refused,
        ErrorKind::InvalidInput => Exit::Usage,
        ErrorKind::Unauthorized
        | ErrorKind::Forbidden
        | ErrorKind::NoCifRight
        | ErrorKind::NoCifRights
        | ErrorKind::OAuth => Exit::Auth,
        ErrorKind::RateLimited | ErrorKind::DailyLimit | ErrorKind::QuotaExhausted => Exit::Limit,
        ErrorKind::Timeout | ErrorKind::Transport | ErrorKind::WafRejected => Exit::Transport,
        _ => Exit::Failed,
    }
}

/// The English sentence saying what to do next. The core's own hint wins when it has one.
fn next_step(error: &Error) -> Option<String> {
    if error.upload_outcome_unknown() {
        let check = match error.upload_id() {
            Some(id) => format!("`anaf efactura status {id}`"),
            None => "`anaf efactura list --cif CIF --days 1 --filter sent` (uploads show up within minutes)".to_owned(),
        };
        return Some(format!(
            "ANAF may have received this upload. Do not send it again before checking: {check}."
        ));
    }
    if let Some(hint) = error.hint() {
        return Some(hint.to_owned());
    }
    let step = match error.kind() {
        ErrorKind::Unauthorized | ErrorKind::OAuth => "log in again: `anaf login`".to_owned(),
        ErrorKind::Forbidden => "the certificate has no right on this service, or the application is not enrolled for \
                                 it: check the SPV rights and the application's services in ANAF's portal"
            .to_owned(),
        ErrorKind::NoCifRight | ErrorKind::NoCifRights => "the certificate's owner has no SPV right on this CIF: the \
                                                           company's legal representative grants it in SPV"
            .to_owned(),
        ErrorKind::RateLimited => match error.retry_after() {
            Some(after) => format!("wait {} s and try again", after.as_secs().max(1)),
            None => "wait a minute and try again".to_owned(),
        },
        ErrorKind::DailyLimit => {
            "ANAF's daily limit for this is reached; it resets at midnight, Romanian time".to_owned()
        }
        ErrorKind::QuotaExhausted => {
            "the daily budget anaf keeps under ANAF's limit is spent; `anaf quota` shows what is left".to_owned()
        }
        ErrorKind::DuplicateInvoice => match error.previous_upload_id() {
            Some(id) => format!("ANAF already holds this invoice: `anaf efactura status {id}`"),
            None => "ANAF already holds this invoice (same seller, number and date)".to_owned(),
        },
        ErrorKind::NotFound => "check the id: ANAF keeps messages for 60 days".to_owned(),
        ErrorKind::DownloadExpired => "ANAF keeps messages for 60 days; this one is gone".to_owned(),
        ErrorKind::WafRejected => match error.support_id() {
            Some(id) => format!("ANAF's firewall blocked the request; try later, or give ANAF the support ID {id}"),
            None => "ANAF's firewall blocked the request; try again later".to_owned(),
        },
        ErrorKind::Timeout | ErrorKind::Transport => "check the connection (and any proxy), then try again".to_owned(),
        _ => return None,
    };
    Some(step)
}
