//! Where the client talks to and as whom: environment, base URLs, the registered application.

use std::fmt;

use serde::Serialize;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// ANAF's two API environments. They share the identity provider (one token works for both)
/// but hold separate data; only the `/test/` or `/prod/` path segment differs. Serialised as
/// `test` / `prod`, and parsed from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Environment {
    #[default]
    Test,
    Prod,
}

impl Environment {
    /// `test` or `prod`: the code, which is also ANAF's path segment.
    pub fn code(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Prod => "prod",
        }
    }

    pub(crate) fn segment(self) -> &'static str {
        self.code()
    }
}

parse_codes!(Environment, "environment", [Environment::Test, Environment::Prod]);

/// The three ANAF hosts. [`Endpoints::single`] points all three at one server (the sandbox).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// logincert.anaf.ro: authorize, token, revoke.
    pub oauth: Url,
    /// api.anaf.ro: e-Factura, e-Transport, TestOauth (Bearer token).
    pub api: Url,
    /// webservicesp.anaf.ro: validation, PDF, signature check (no token).
    pub public: Url,
}

impl Endpoints {
    /// Each host on its own base URL (e.g. a proxy in front of each).
    pub fn new(oauth: &str, api: &str, public: &str) -> Result<Endpoints, Error> {
        Ok(Endpoints {
            oauth: parse_base(oauth)?,
            api: parse_base(api)?,
            public: parse_base(public)?,
        })
    }

    pub fn anaf() -> Endpoints {
        Endpoints {
            oauth: Url::parse("https://logincert.anaf.ro/").expect("static URL"),
            api: Url::parse("https://api.anaf.ro/").expect("static URL"),
            public: Url::parse("https://webservicesp.anaf.ro/").expect("static URL"),
        }
    }

    /// All hosts at one base URL, e.g. `http://127.0.0.1:8080` for the sandbox.
    pub fn single(base: &str) -> Result<Endpoints, Error> {
        let url = parse_base(base)?;
        Ok(Endpoints {
            oauth: url.clone(),
            api: url.clone(),
            public: url,
        })
    }

    pub(crate) fn uses_plain_http(&self) -> bool {
        [&self.oauth, &self.api, &self.public]
            .iter()
            .any(|u| u.scheme() == "http")
    }

    /// Tokens and secrets travel over HTTPS only; plain HTTP is accepted for loopback alone.
    pub(crate) fn check_transport_security(&self) -> Result<(), Error> {
        for url in [&self.oauth, &self.api, &self.public] {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            match url.scheme() {
                "https" => {}
                "http" if loopback => {}
                _ => {
                    return Err(Error::invalid_input(
                        "base_url",
                        format!("{url} is not HTTPS; tokens may travel in plain HTTP only to a loopback address"),
                    ));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn parse_base(base: &str) -> Result<Url, Error> {
    let mut url =
        Url::parse(base).map_err(|e| Error::invalid_input("base_url", format!("{base:?} is not a URL: {e}")))?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The application registered in ANAF's portal ("Profil OAuth"): its client ID and secret and
/// the exact callback URL it registered.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Application {
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
}

impl Application {
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        redirect_uri: impl Into<String>,
    ) -> Application {
        Application {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uri: redirect_uri.into(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.client_id.trim().is_empty() {
            return Err(Error::invalid_input("client_id", "the client ID is empty"));
        }
        if self.client_secret.expose().is_empty() {
            return Err(Error::invalid_input("client_secret", "the client secret is empty"));
        }
        Url::parse(&self.redirect_uri)
            .map_err(|e| Error::invalid_input("redirect_uri", format!("the redirect URI is not a URL: {e}")))?;
        Ok(())
    }
}

impl fmt::Debug for Application {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Application")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

pub(crate) fn no_application() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "this operation needs the application's client ID, secret and redirect URI",
    )
    .with_field("application")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_refused_except_for_loopback() {
        assert!(
            Endpoints::single("http://127.0.0.1:8080")
                .unwrap()
                .check_transport_security()
                .is_ok()
        );
        assert!(
            Endpoints::single("http://localhost:1")
                .unwrap()
                .check_transport_security()
                .is_ok()
        );
        assert!(
            Endpoints::single("http://[::1]:1")
                .unwrap()
                .check_transport_security()
                .is_ok()
        );
        let remote = Endpoints::single("http://api.example.ro")
            .unwrap()
            .check_transport_security()
            .unwrap_err();
        assert_eq!(remote.kind(), ErrorKind::InvalidInput);
        assert!(Endpoints::anaf().check_transport_security().is_ok());
    }

    #[test]
    fn environments_parse_from_their_codes() {
        assert_eq!("prod".parse::<Environment>().unwrap(), Environment::Prod);
        assert_eq!(Environment::Test.code(), "test");
        assert!("production".parse::<Environment>().is_err());
    }

    #[test]
    fn application_debug_hides_the_secret() {
        let app = Application::new("id", "very-secret", "https://localhost:1/cb");
        assert!(!format!("{app:?}").contains("very-secret"));
    }
}
