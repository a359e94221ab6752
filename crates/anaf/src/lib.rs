//! `anaf`: a client for the APIs of ANAF, Romania's tax authority.
//!
//! - **OAuth 2.0** at logincert.anaf.ro: the user logs in once in a browser with a qualified
//!   certificate; the client exchanges the code (within 60 s) for an access and a refresh
//!   token, refreshes before expiry (ANAF rotates both tokens) and keeps them in a
//!   [`TokenStore`].
//! - **RO e-Factura** ([`efactura`]): upload invoices, follow their state ("stare"), list and
//!   download ("descarcare") messages, validate, render PDFs, check signatures.
//! - **RO e-Transport** ([`etransport`]): declare road transports and get their UIT.
//! - **TestOauth**: [`Client::hello`].
//!
//! Terms: **SPV** (Spatiul Privat Virtual) is ANAF's online space where a certificate holder
//! has rights on companies; a **CIF** (or CUI) is a company's tax number ([`Cif`]).
//!
//! The API is async (tokio); [`blocking`] has the same operations for ordinary threads.
//! Errors are one type, [`Error`], whose [`ErrorKind`] says what to do and which keeps ANAF's
//! Romanian text. Business outcomes (`nok`, empty lists) are values.

mod anaf_xml;
pub mod blocking;
mod cif;
mod client;
mod config;
pub mod efactura;
mod error;
pub mod etransport;
mod login;
mod oauth;
mod secret;
mod tokens;
mod transport;

pub use cif::Cif;
pub use client::{Client, ClientBuilder};
pub use config::{Application, Endpoints, Environment};
pub use error::{Error, ErrorKind, LimitScope};
pub use login::LoginOptions;
pub use oauth::{AuthorizationRequest, CODE_LIFETIME, OAuth, Revocation};
pub use secret::Secret;
pub use tokens::{CallbackTokenStore, FileTokenStore, MemoryTokenStore, StoreLock, TokenSet, TokenStore};
pub use transport::RetryPolicy;

/// The README's Rust example, compiled and run as a doctest against the sandbox.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
