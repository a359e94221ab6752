//! One error type for everything the client can fail at. Its [`ErrorKind`] says what a program
//! can do about it; each error keeps the HTTP status and ANAF's original Romanian text.
//!
//! Business outcomes are not errors: an invoice processed as `nok`, an empty message list
//! ("Nu exista mesaje ...") and an invalid document sent to `validare` come back as values.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

/// What went wrong, in terms a program can act on. The `code` strings and `number`s are
/// stable: bindings expose them (Python exception classes, Node `err.code`, C status numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// HTTP 401: the access token is missing, expired, revoked, or its application was deleted.
    Unauthorized,
    /// HTTP 403: the token is valid but the user (certificate) has no right on this service, or
    /// the application is not enrolled for it.
    Forbidden,
    /// HTTP 429: ANAF's per-minute budget is spent; see [`Error::retry_after`].
    RateLimited,
    /// One of ANAF's daily limits ("S-au facut deja ... in cursul zilei"); see [`Error::limit`].
    DailyLimit,
    /// The user has SPV rights, but not on this CIF (or this message).
    NoCifRight,
    /// The user has no SPV right on any CIF.
    NoCifRights,
    /// No such upload, download id, declaration or endpoint.
    NotFound,
    /// The message is older than the 60 days ANAF keeps it.
    DownloadExpired,
    /// ANAF already holds this invoice (same seller, number and date); see
    /// [`Error::previous_upload_id`].
    DuplicateInvoice,
    /// ANAF's web firewall answered with its block page; see [`Error::support_id`].
    WafRejected,
    /// A parameter or document was refused; see [`Error::field`].
    InvalidInput,
    /// The identity provider refused (`invalid_grant`, `access_denied`, ...).
    OAuth,
    /// The request timed out.
    Timeout,
    /// The connection failed (DNS, connect, reset, TLS).
    Transport,
    /// ANAF answered something this client does not understand.
    UnexpectedResponse,
    /// The client's own budget for this operation is spent (e.g. status polls of one upload).
    QuotaExhausted,
    /// The operation was cancelled by the caller.
    Cancelled,
    /// A bug or an environment failure in the client itself (file store I/O, ...).
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::RateLimited,
        ErrorKind::DailyLimit,
        ErrorKind::NoCifRight,
        ErrorKind::NoCifRights,
        ErrorKind::NotFound,
        ErrorKind::DownloadExpired,
        ErrorKind::DuplicateInvoice,
        ErrorKind::WafRejected,
        ErrorKind::InvalidInput,
        ErrorKind::OAuth,
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::UnexpectedResponse,
        ErrorKind::QuotaExhausted,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];

    /// The stable snake_case name used by every binding.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::DailyLimit => "daily_limit",
            ErrorKind::NoCifRight => "no_cif_right",
            ErrorKind::NoCifRights => "no_cif_rights",
            ErrorKind::NotFound => "not_found",
            ErrorKind::DownloadExpired => "download_expired",
            ErrorKind::DuplicateInvoice => "duplicate_invoice",
            ErrorKind::WafRejected => "waf_rejected",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::OAuth => "oauth",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::UnexpectedResponse => "unexpected_response",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }

    /// A stable number (the C ABI's status codes; 0 is success there).
    pub fn number(self) -> i32 {
        match self {
            ErrorKind::Unauthorized => 1,
            ErrorKind::Forbidden => 2,
            ErrorKind::RateLimited => 3,
            ErrorKind::DailyLimit => 4,
            ErrorKind::NoCifRight => 5,
            ErrorKind::NoCifRights => 6,
            ErrorKind::NotFound => 7,
            ErrorKind::DownloadExpired => 8,
            ErrorKind::DuplicateInvoice => 9,
            ErrorKind::WafRejected => 10,
            ErrorKind::InvalidInput => 11,
            ErrorKind::OAuth => 12,
            ErrorKind::Timeout => 13,
            ErrorKind::Transport => 14,
            ErrorKind::UnexpectedResponse => 15,
            ErrorKind::QuotaExhausted => 16,
            ErrorKind::Cancelled => 17,
            ErrorKind::Internal => 18,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for ErrorKind {
    type Err = Error;

    /// Parses a [`ErrorKind::code`], e.g. `daily_limit`.
    fn from_str(code: &str) -> Result<ErrorKind, Error> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.code() == code)
            .ok_or_else(|| unknown_code("error kind", code))
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// The error for a code-like string that names nothing known (`FromStr` of the enums).
pub(crate) fn unknown_code(what: &str, code: &str) -> Error {
    Error::invalid_input("code", format!("{} is not a known {what}", shown(code)))
}

/// The scope a daily limit counts in. Serialised as its [`LimitScope::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitScope {
    /// Per message: `stareMesaj` per upload index, `descarcare` per download id.
    Message,
    /// Per company (CIF): message lists, RASP uploads.
    Cif,
    /// Per user: the e-Transport list.
    User,
}

impl LimitScope {
    /// `message`, `cif` or `user`.
    pub fn code(self) -> &'static str {
        match self {
            LimitScope::Message => "message",
            LimitScope::Cif => "cif",
            LimitScope::User => "user",
        }
    }
}

parse_codes!(
    LimitScope,
    "limit scope",
    [LimitScope::Message, LimitScope::Cif, LimitScope::User]
);

/// An error from the client. Cheap to move (one box) and to clone; never holds a secret.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, Default)]
struct Inner {
    kind: Option<ErrorKind>,
    message: String,
    http_status: Option<u16>,
    anaf_message: Option<String>,
    retry_after: Option<Duration>,
    limit: Option<u32>,
    limit_scope: Option<LimitScope>,
    cif: Option<String>,
    previous_upload_id: Option<u64>,
    support_id: Option<String>,
    field: Option<String>,
    oauth_error: Option<String>,
    hint: Option<String>,
    outcome_unknown: bool,
    upload_id: Option<u64>,
    /// ANAF said the failure was its own technical problem ("A aparut o eroare tehnica").
    anaf_technical: bool,
    /// A refresh request whose answer was lost: ANAF may have rotated the tokens.
    delivery_unknown: bool,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind: Some(kind),
                message: message.into(),
                ..Inner::default()
            }),
        }
    }

    /// A refused parameter. Public for the bindings, which report a host's bad argument (a
    /// NULL pointer, text that is not UTF-8) as the same error a bad value gets here.
    pub fn invalid_input(field: &str, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message).with_field(field)
    }

    /// A failure of the library itself. Public for the bindings (a caught panic, a callback
    /// that could not be delivered).
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    /// The caller stopped the operation (see [`crate::cancellable`]).
    pub(crate) fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "the operation was cancelled")
    }

    pub(crate) fn unexpected(status: u16, what: &str, body: &[u8]) -> Error {
        Error::new(
            ErrorKind::UnexpectedResponse,
            format!("unexpected answer from ANAF ({what})"),
        )
        .with_status(status)
        .with_anaf_message(excerpt(body))
    }

    pub(crate) fn with_status(mut self, status: u16) -> Error {
        self.inner.http_status = Some(status);
        self
    }

    pub(crate) fn with_anaf_message(mut self, text: impl Into<String>) -> Error {
        self.inner.anaf_message = Some(text.into());
        self
    }

    pub(crate) fn with_field(mut self, field: &str) -> Error {
        self.inner.field = Some(field.to_owned());
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.inner.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_retry_after(mut self, after: Duration) -> Error {
        self.inner.retry_after = Some(after);
        self
    }

    pub(crate) fn with_oauth_error(mut self, error: impl Into<String>) -> Error {
        self.inner.oauth_error = Some(error.into());
        self
    }

    /// Attaches the upload an error concerns (e.g. a failed poll after a successful upload),
    /// so the caller never loses the id of an invoice ANAF already holds.
    pub(crate) fn with_upload_id(mut self, upload_id: u64) -> Error {
        self.inner.upload_id = Some(upload_id);
        self
    }

    pub(crate) fn with_limit(mut self, limit: u32) -> Error {
        self.inner.limit = Some(limit);
        self
    }

    pub(crate) fn with_cif(mut self, cif: &str) -> Error {
        self.inner.cif = Some(cif.to_owned());
        self
    }

    pub(crate) fn with_limit_scope(mut self, scope: LimitScope) -> Error {
        self.inner.limit_scope = Some(scope);
        self
    }

    pub(crate) fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.inner.source = Some(std::sync::Arc::new(source));
        self
    }

    /// Marks a failed upload whose request may have reached ANAF: do not send it again
    /// blindly; look for it in the message list first.
    pub(crate) fn with_outcome_unknown(mut self) -> Error {
        self.inner.outcome_unknown = true;
        self
    }

    pub(crate) fn with_delivery_unknown(mut self) -> Error {
        self.inner.delivery_unknown = true;
        self
    }

    /// The request may have reached the server before the answer was lost.
    pub(crate) fn delivery_unknown(&self) -> bool {
        self.inner.delivery_unknown
    }

    pub fn kind(&self) -> ErrorKind {
        self.inner.kind.unwrap_or(ErrorKind::Internal)
    }

    /// The HTTP status ANAF answered with, if any.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// ANAF's original text (Romanian, with ANAF's own spelling), if it sent one.
    pub fn anaf_message(&self) -> Option<&str> {
        self.inner.anaf_message.as_deref()
    }

    /// For [`ErrorKind::RateLimited`]: how long to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// For [`ErrorKind::DailyLimit`]: the limit ANAF quoted; for a quota ledger's
    /// [`ErrorKind::QuotaExhausted`]: the ledger's limit.
    pub fn limit(&self) -> Option<u32> {
        self.inner.limit
    }

    /// For [`ErrorKind::DailyLimit`] and a quota ledger's [`ErrorKind::QuotaExhausted`]: what
    /// the limit counts.
    pub fn limit_scope(&self) -> Option<LimitScope> {
        self.inner.limit_scope
    }

    /// The CIF concerned, when ANAF names one.
    pub fn cif(&self) -> Option<&str> {
        self.inner.cif.as_deref()
    }

    /// For [`ErrorKind::DuplicateInvoice`]: the upload index of the earlier copy.
    pub fn previous_upload_id(&self) -> Option<u64> {
        self.inner.previous_upload_id
    }

    /// For [`ErrorKind::WafRejected`]: the support ID to quote to ANAF.
    pub fn support_id(&self) -> Option<&str> {
        self.inner.support_id.as_deref()
    }

    /// For [`ErrorKind::InvalidInput`]: which parameter or document.
    pub fn field(&self) -> Option<&str> {
        self.inner.field.as_deref()
    }

    /// For [`ErrorKind::OAuth`]: the RFC 6749 `error` code.
    pub fn oauth_error(&self) -> Option<&str> {
        self.inner.oauth_error.as_deref()
    }

    /// Advice on what usually causes this error.
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// The error's sentence without its [`hint`](Error::hint) (which `Display` ends with), for
    /// a program that says the hint on a line of its own.
    pub fn without_hint(&self) -> impl fmt::Display + '_ {
        WithoutHint(self)
    }

    /// The upload this error concerns, when the upload itself succeeded (e.g. polling its state
    /// failed in `upload_and_wait`).
    pub fn upload_id(&self) -> Option<u64> {
        self.inner.upload_id
    }

    /// True for an upload that failed in transit after the request may have reached ANAF. It
    /// may have been accepted: check the message list before sending it again.
    pub fn upload_outcome_unknown(&self) -> bool {
        self.inner.outcome_unknown
    }

    /// Whether repeating the same operation later can succeed: transport trouble, 429, 5xx,
    /// and ANAF's own "A aparut o eroare tehnica".
    ///
    /// Never true when repeating could send an invoice twice: an upload whose outcome is
    /// unknown, or any error that carries an [`Error::upload_id`] (the upload went through and
    /// a later step, such as polling in `upload_and_wait`, failed). A generic "retry while
    /// transient" wrapper around an upload is therefore safe.
    pub fn is_transient(&self) -> bool {
        if self.inner.outcome_unknown || self.inner.upload_id.is_some() {
            return false;
        }
        match self.kind() {
            ErrorKind::Timeout | ErrorKind::Transport | ErrorKind::RateLimited => true,
            ErrorKind::UnexpectedResponse => self.inner.anaf_technical || self.http_status().is_some_and(|s| s >= 500),
            _ => false,
        }
    }

    /// The error as JSON, the form bindings hand to C, C#, Delphi, Python and Node. Every
    /// key is always present (`null` when it does not apply):
    ///
    /// `kind` (the [`ErrorKind::code`]), `number` ([`ErrorKind::number`]), `message`,
    /// `http_status`, `anaf_message`, `hint`, `field`, `cif`, `oauth_error`,
    /// `retry_after_ms` (integer milliseconds), `limit`, `limit_scope`,
    /// `previous_upload_id`, `upload_id`, `support_id`, `upload_outcome_unknown`,
    /// `transient` ([`Error::is_transient`]), `source` (the underlying cause as text) and
    /// `text` (the whole `Display` text, for people). Upload and download ids are numbers
    /// (ANAF's ids are 10 digits, exact in a JavaScript number).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let i = &self.inner;
        let mut s = serializer.serialize_struct("Error", 19)?;
        s.serialize_field("kind", &self.kind())?;
        s.serialize_field("number", &self.kind().number())?;
        s.serialize_field("message", &i.message)?;
        s.serialize_field("http_status", &i.http_status)?;
        s.serialize_field("anaf_message", &i.anaf_message)?;
        s.serialize_field("hint", &i.hint)?;
        s.serialize_field("field", &i.field)?;
        s.serialize_field("cif", &i.cif)?;
        s.serialize_field("oauth_error", &i.oauth_error)?;
        let retry_after_ms = i.retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        s.serialize_field("retry_after_ms", &retry_after_ms)?;
        s.serialize_field("limit", &i.limit)?;
        s.serialize_field("limit_scope", &i.limit_scope)?;
        s.serialize_field("previous_upload_id", &i.previous_upload_id)?;
        s.serialize_field("upload_id", &i.upload_id)?;
        s.serialize_field("support_id", &i.support_id)?;
        s.serialize_field("upload_outcome_unknown", &i.outcome_unknown)?;
        s.serialize_field("transient", &self.is_transient())?;
        s.serialize_field("source", &i.source.as_ref().map(|e| e.to_string()))?;
        s.serialize_field("text", &self.to_string())?;
        s.end()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind()).field("message", &i.message);
        if let Some(v) = i.http_status {
            d.field("http_status", &v);
        }
        if let Some(v) = &i.anaf_message {
            d.field("anaf_message", v);
        }
        if let Some(v) = &i.field {
            d.field("field", v);
        }
        if let Some(v) = &i.cif {
            d.field("cif", v);
        }
        if let Some(v) = i.limit {
            d.field("limit", &v);
        }
        if let Some(v) = i.previous_upload_id {
            d.field("previous_upload_id", &v);
        }
        if let Some(v) = &i.support_id {
            d.field("support_id", v);
        }
        if let Some(v) = &i.oauth_error {
            d.field("oauth_error", v);
        }
        if let Some(v) = i.retry_after {
            d.field("retry_after", &v);
        }
        if i.outcome_unknown {
            d.field("upload_outcome_unknown", &true);
        }
        if let Some(v) = i.upload_id {
            d.field("upload_id", &v);
        }
        if let Some(v) = &i.source {
            d.field("source", &v.to_string());
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        WithoutHint(self).fmt(f)?;
        if let Some(hint) = &self.inner.hint {
            write!(f, ". {hint}")?;
        }
        Ok(())
    }
}

struct WithoutHint<'a>(&'a Error);

impl fmt::Display for WithoutHint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.0.inner;
        write!(f, "{}", inner.message)?;
        if let Some(status) = inner.http_status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(text) = &inner.anaf_message {
            write!(f, ": ANAF says \"{text}\"")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A caller's input as an error message shows it: quoted, and cut after 40 characters (an
/// error must stay readable whatever was passed in).
pub(crate) fn shown(input: &str) -> String {
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head:?}... ({} bytes)", input.len())
    } else {
        format!("{head:?}")
    }
}

/// At most 300 characters of a response body, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    // Convert only the head: a large binary body would otherwise be copied (and grown) whole.
    let text = String::from_utf8_lossy(&body[..body.len().min(1200)]);
    let trimmed = text.trim();
    match trimmed.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

/// Digits right after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let digits: String = text[start..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The token right after `marker` (up to whitespace or a comma).
fn word_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let word: String = text[start..]
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// How ANAF's business-error texts map to kinds. Order matters: the first match wins. The same
/// table is documented in ERRORS.md, and a test checks that the two agree.
pub(crate) const TEXT_KINDS: &[(&str, ErrorKind, Option<&str>)] = &[
    ("S-au facut deja ", ErrorKind::DailyLimit, None),
    ("S-au incarcat deja ", ErrorKind::DailyLimit, None),
    (
        "Factura a mai fost transmisa anterior",
        ErrorKind::DuplicateInvoice,
        None,
    ),
    (
        "Fisierul nu mai poate fi descarcat pentru ca a trecut perioada",
        ErrorKind::DownloadExpired,
        None,
    ),
    (
        "Nu exista niciun CIF pentru care sa aveti drept",
        ErrorKind::NoCifRights,
        None,
    ),
    (
        "Nu exista niciun CIF petru care sa aveti drept",
        ErrorKind::NoCifRights,
        None,
    ),
    ("Nu aveti drept in SPV pentru CIF=", ErrorKind::NoCifRight, Some("cif")),
    (
        "Nu aveti dreptul de inteorgare pentru id_incarcare=",
        ErrorKind::NoCifRight,
        Some("id_incarcare"),
    ),
    (
        "Nu aveti dreptul sa descarcati acesta factura",
        ErrorKind::NoCifRight,
        Some("id"),
    ),
    (
        "Nu exista factura cu id_incarcare=",
        ErrorKind::NotFound,
        Some("id_incarcare"),
    ),
    ("nu exista inregistrata nici o factura", ErrorKind::NotFound, Some("id")),
    (
        "Nu exista declaratia de transport cu id_incarcare=",
        ErrorKind::NotFound,
        Some("id_incarcare"),
    ),
    (
        "nu este inregistrat in Registrul RO e-Factura executari silite",
        ErrorKind::InvalidInput,
        Some("executare"),
    ),
    ("CIF introdus=", ErrorKind::InvalidInput, Some("cif")),
    ("cui_op introdus=", ErrorKind::InvalidInput, Some("cui_op")),
    ("Id_incarcare introdus=", ErrorKind::InvalidInput, Some("id_incarcare")),
    ("Id descarcare introdus=", ErrorKind::InvalidInput, Some("id")),
    ("Numarul de zile", ErrorKind::InvalidInput, Some("zile")),
    (
        "Valorile acceptate pentru parametrul standard",
        ErrorKind::InvalidInput,
        Some("standard"),
    ),
    (
        "Valoarea acceptata pentru parametrul standard",
        ErrorKind::InvalidInput,
        Some("standard"),
    ),
    (
        "Valorile acceptate pentru parametrul filtru",
        ErrorKind::InvalidInput,
        Some("filtru"),
    ),
    (
        "Valorile acceptate pentru parametrul versiune",
        ErrorKind::InvalidInput,
        Some("versiune"),
    ),
    ("Daca parametrul extern", ErrorKind::InvalidInput, Some("extern")),
    (
        "Daca parametrul autofacturare",
        ErrorKind::InvalidInput,
        Some("autofactura"),
    ),
    ("Daca parametrul executare", ErrorKind::InvalidInput, Some("executare")),
    (
        "Marime fisier transmis mai mare de",
        ErrorKind::InvalidInput,
        Some("xml"),
    ),
    ("Fisierul transmis nu este valid", ErrorKind::InvalidInput, Some("xml")),
    (
        "Trebuie sa aveti atasat in request un fisier",
        ErrorKind::InvalidInput,
        Some("xml"),
    ),
    ("startTime = ", ErrorKind::InvalidInput, Some("startTime")),
    ("endTime = ", ErrorKind::InvalidInput, Some("endTime")),
    ("pagina = ", ErrorKind::InvalidInput, Some("pagina")),
    ("Pagina solicitata", ErrorKind::InvalidInput, Some("pagina")),
    (
        "Lista de mesaje este mai mare decat numarul de 500",
        ErrorKind::InvalidInput,
        Some("zile"),
    ),
    ("sunt obligatorii", ErrorKind::InvalidInput, None),
    ("este obligatoriu", ErrorKind::InvalidInput, None),
    ("A aparut o eroare tehnica", ErrorKind::UnexpectedResponse, None),
];

/// Turns one of ANAF's business-error texts into an error of the right kind, keeping the text.
pub(crate) fn from_anaf_text(text: &str, http_status: u16) -> Error {
    let text = text.trim();
    let (kind, field) = TEXT_KINDS
        .iter()
        .find(|(pattern, _, _)| text.contains(pattern))
        .map(|(_, kind, field)| (*kind, *field))
        .unwrap_or((ErrorKind::UnexpectedResponse, None));
    let message = match kind {
        ErrorKind::DailyLimit => "ANAF's daily limit for this call is reached; it resets at midnight, Romanian time",
        ErrorKind::DuplicateInvoice => "ANAF already holds this invoice",
        ErrorKind::DownloadExpired => "the message is older than the 60 days ANAF keeps it",
        ErrorKind::NoCifRights => "the user has no SPV right on any CIF",
        ErrorKind::NoCifRight => "the user has no SPV right on this CIF or message",
        ErrorKind::NotFound => "ANAF has no such item",
        ErrorKind::InvalidInput => "ANAF refused the request",
        _ => "ANAF reported an error",
    };
    let mut error = Error::new(kind, message)
        .with_status(http_status)
        .with_anaf_message(text);
    if let Some(field) = field {
        error = error.with_field(field);
    }
    match kind {
        ErrorKind::DailyLimit => {
            error.inner.limit = number_after(text, "deja ").and_then(|n| u32::try_from(n).ok());
            // Lists and RASP uploads count per CIF (the e-Transport list overrides this: it
            // counts per user); status and download count per message.
            let per_cif = text.contains("interogari") || text.contains("RASP");
            error.inner.limit_scope = Some(if per_cif { LimitScope::Cif } else { LimitScope::Message });
            error.inner.cif = word_after(text, "cui=").or_else(|| word_after(text, "CUI="));
        }
        ErrorKind::DuplicateInvoice => {
            error.inner.previous_upload_id = number_after(text, "index=");
        }
        ErrorKind::NoCifRight | ErrorKind::InvalidInput => {
            error.inner.cif = word_after(text, "CIF=").or_else(|| word_after(text, "CIF introdus="));
        }
        ErrorKind::UnexpectedResponse if text.contains("A aparut o eroare tehnica") => {
            error.inner.anaf_technical = true;
            error = error.with_hint("ANAF reported a technical problem on its side; try again later");
        }
        _ => {}
    }
    if text.contains("Lista de mesaje este mai mare") {
        error = error.with_hint("more than 500 messages: use the paginated list (list_messages_page or messages)");
    }
    error
}

/// The F5 firewall page: HTTP 200, HTML, "The requested URL was rejected".
pub(crate) fn waf_rejection(body: &[u8]) -> Option<Error> {
    let text = String::from_utf8_lossy(body);
    if !text.contains("The requested URL was rejected") {
        return None;
    }
    let support_id =
        word_after(&text, "support ID is:").map(|id| id.trim_end_matches(|c: char| !c.is_alphanumeric()).to_owned());
    let mut error = Error::new(ErrorKind::WafRejected, "ANAF's web firewall rejected the request")
        .with_status(200)
        .with_hint(
            "the firewall flags some document contents (a relative xsi:schemaLocation, \";CP \" in an address); \
             remove them, or quote the support ID to ANAF",
        );
    error.inner.support_id = support_id.map(|s| s.split('<').next().unwrap_or_default().to_owned());
    Some(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_unique_codes_and_numbers() {
        let codes: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        let numbers: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.number()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        assert_eq!(numbers.len(), ErrorKind::ALL.len());
        assert!(!numbers.contains(&0), "0 is success in the C ABI");
    }

    #[test]
    fn daily_limit_texts_yield_the_limit_and_scope() {
        let e = from_anaf_text("S-au facut deja 10 descarcari de mesaj in cursul zilei", 200);
        assert_eq!(
            (e.kind(), e.limit(), e.limit_scope()),
            (ErrorKind::DailyLimit, Some(10), Some(LimitScope::Message))
        );
        let e = from_anaf_text(
            "S-au incarcat deja 1000 de mesaje de tip RASP pentru cui=1234 in cursul zilei",
            200,
        );
        assert_eq!(
            (e.limit(), e.limit_scope(), e.cif()),
            (Some(1000), Some(LimitScope::Cif), Some("1234"))
        );
        let e = from_anaf_text(
            "S-au facut deja 1500 interogari de lista mesaje de catre utilizator in cursul zilei",
            200,
        );
        assert_eq!(e.limit_scope(), Some(LimitScope::Cif));
    }

    #[test]
    fn duplicate_and_right_texts_yield_their_details() {
        let e = from_anaf_text(
            "Factura a mai fost transmisa anterior cu index=6552704990 si data incarcare=2026-07-13",
            200,
        );
        assert_eq!(
            (e.kind(), e.previous_upload_id()),
            (ErrorKind::DuplicateInvoice, Some(6552704990))
        );
        let e = from_anaf_text("Nu aveti drept in SPV pentru CIF=8000000000", 200);
        assert_eq!((e.kind(), e.cif()), (ErrorKind::NoCifRight, Some("8000000000")));
        let e = from_anaf_text("something new from ANAF", 200);
        assert_eq!(e.kind(), ErrorKind::UnexpectedResponse);
        assert_eq!(e.anaf_message(), Some("something new from ANAF"));
    }

    #[test]
    fn waf_page_yields_the_support_id() {
        let page = b"<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. Please consult with your administrator.<br><br>Your support ID is: 4791600865828351744<br><br><a href='javascript:history.back();'>[Go Back]</a></body></html>";
        let e = waf_rejection(page).unwrap();
        assert_eq!(
            (e.kind(), e.support_id()),
            (ErrorKind::WafRejected, Some("4791600865828351744"))
        );
        assert!(waf_rejection(b"<html>ok</html>").is_none());
    }

    #[test]
    fn errors_md_matches_the_code() {
        let doc = include_str!("../ERRORS.md");
        let section = doc
            .split("## ANAF's texts")
            .nth(1)
            .unwrap()
            .split("## Texts that are values")
            .next()
            .unwrap();
        let mut rows = 0;
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            let text = cells[0].trim_start_matches("| `").trim_end_matches('`');
            let kind = cells[1].trim_end_matches(" |").trim_matches('`');
            assert_eq!(from_anaf_text(text, 200).kind().code(), kind, "{text}");
            rows += 1;
        }
        assert!(rows >= 50, "the table was read ({rows} rows)");
    }

    #[test]
    fn display_keeps_anafs_text() {
        let e = from_anaf_text("Nu exista factura cu id_incarcare= 15000", 200);
        assert_eq!(
            e.to_string(),
            "ANAF has no such item (HTTP 200): ANAF says \"Nu exista factura cu id_incarcare= 15000\""
        );
    }

    #[test]
    fn without_hint_is_display_less_its_hint() {
        let e = from_anaf_text("Nu exista factura cu id_incarcare= 15000", 200).with_hint("check the id");
        let plain = "ANAF has no such item (HTTP 200): ANAF says \"Nu exista factura cu id_incarcare= 15000\"";
        assert_eq!(e.to_string(), format!("{plain}. check the id"));
        assert_eq!(e.without_hint().to_string(), plain);
    }
}
