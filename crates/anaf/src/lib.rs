//! `anaf`: a client for the APIs of ANAF, Romania's tax authority.
//!
//! - **OAuth 2.0** at logincert.anaf.ro: the user logs in once in a browser with a qualified
//!   certificate; the client exchanges the code (within 60 s) for an access and a refresh
//!   token, refreshes before expiry (ANAF rotates both tokens) and keeps them in a
//!   [`TokenStore`], never losing a rotated pair.
//! - **RO e-Factura** ([`efactura`]): upload invoices, follow their state ("stare"), list and
//!   download ("descarcare") messages, validate, render PDFs, check signatures.
//! - **RO e-Transport** ([`etransport`]): declare road transports and get their UIT.
//! - **Public registries** ([`public`]): taxpayer (VAT) data and the RO e-Factura register.
//! - **TestOauth**: [`Client::hello`].
//!
//! Terms: **SPV** (Spatiul Privat Virtual) is ANAF's online space where a certificate holder
//! has rights on companies; a **CIF** (or CUI) is a company's tax number ([`Cif`]).
//!
//! The API is async (tokio); [`blocking`] has the same operations for ordinary threads, on the
//! runtime of [`runtime`]. Errors are one type, [`Error`], whose [`ErrorKind`] says what to do
//! and which keeps ANAF's Romanian text. Business outcomes (`nok`, empty lists) are values.
//! Every result type serialises to JSON with stable snake_case names (what the bindings use).
//!
//! Cargo feature `desktop-login` (on by default): [`OAuth::login_interactive`] and its HTTPS
//! loopback listener. Server programs can build with `default-features = false`. Feature
//! `log-bridge`: `log_bridge`, the logs handed to a sink (what the bindings use). Feature
//! `state`: `state::Database`, durable state on SQLite or PostgreSQL, shared by processes and
//! machines (today the [`quota`] ledger that keeps a program under ANAF's daily limits).

/// `FromStr` for a code-like enum: its `code()`, or the other spelling `alias` gives (ANAF's
/// own value, e.g. `UBL` for `Standard::Ubl`).
macro_rules! parse_codes {
    ($ty:ty, $what:literal, [$($variant:expr),+ $(,)?]) => {
        parse_codes!($ty, $what, [$($variant),+], |v| v.code());
    };
    ($ty:ty, $what:literal, [$($variant:expr),+ $(,)?], |$v:ident| $alias:expr) => {
        impl std::str::FromStr for $ty {
            type Err = crate::error::Error;

            fn from_str(text: &str) -> Result<$ty, crate::error::Error> {
                [$($variant),+]
                    .into_iter()
                    .find(|$v| $v.code() == text || $alias == text)
                    .ok_or_else(|| crate::error::unknown_code($what, text))
            }
        }
    };
}

mod anaf_xml;
pub mod blocking;
mod cancel;
mod cif;
mod client;
mod config;
pub mod efactura;
mod error;
pub mod etransport;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "log-bridge")]
pub mod log_bridge;
#[cfg(feature = "desktop-login")]
mod login;
mod oauth;
pub mod public;
pub mod quota;
pub mod runtime;
mod secret;
#[cfg(feature = "state")]
pub mod state;
mod tokens;
mod transport;

pub use cancel::{CancellationToken, cancellable};
pub use cif::Cif;
pub use client::{Client, ClientBuilder, DEFAULT_MAX_RESPONSE_BYTES};
pub use config::{Application, Endpoints, Environment};
pub use error::{Error, ErrorKind, LimitScope};
#[cfg(feature = "desktop-login")]
pub use login::LoginOptions;
pub use oauth::{AuthorizationRequest, CODE_LIFETIME, OAuth, Revocation};
pub use secret::Secret;
pub use tokens::{
    AsyncTokenStore, CallbackTokenStore, FileTokenStore, MemoryTokenStore, StoreLock, TokenChange, TokenEvent,
    TokenHook, TokenInfo, TokenSet, TokenStatus, TokenStore,
};
pub use transport::RetryPolicy;

/// Bytes as base64 text: how results carry a PDF or a ZIP in JSON.
pub(crate) fn base64_text(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The README's Rust example, compiled and run as a doctest against the sandbox.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
