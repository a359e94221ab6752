//! A client for the selected profile: its environment, application, token file, and the
//! client secret from the environment or a prompt, asked for only when a call may need it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anaf_core::{Application, Environment, FileTokenStore, TokenStore, blocking};

use crate::args::{EnvironmentArg, Global};
use crate::failure::Failure;
use crate::profiles::{Profile, Profiles};

/// The core refreshes tokens this long before they expire (its default), so a secret is
/// needed once the access token is closer than this, plus a minute for the call itself.
const SECRET_NOT_NEEDED_BEFORE: Duration = Duration::from_secs(300 + 60);

#[derive(Debug)]
pub struct Session {
    pub name: String,
    pub token_file: PathBuf,
    pub client: blocking::Client,
}

/// When the command needs the client secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    /// Always (log in, refresh, revoke: the token endpoint authenticates the application).
    Always,
    /// Only if the saved tokens may need a refresh during the call.
    IfRefreshDue,
}

pub fn open(global: &Global, secret: Secret) -> Result<Session, Failure> {
    let profiles = Profiles::load()?;
    let (name, profile) = profiles.select(global.profile.as_deref())?;
    let token_file = profiles.token_file(&name);
    let store = FileTokenStore::new(&token_file);
    // Without the application the core cannot refresh (nor send a credential it lacks): a
    // call with fresh tokens needs no secret, so none is asked for.
    let from_environment = std::env::var(&profile.secret_env).ok().filter(|s| !s.is_empty());
    let needed = match secret {
        Secret::Always => true,
        Secret::IfRefreshDue => match store.load() {
            Ok(Some(tokens)) => {
                let fresh_until =
                    chrono::Utc::now() + chrono::Duration::from_std(SECRET_NOT_NEEDED_BEFORE).unwrap_or_default();
                tokens.expires_at <= fresh_until
            }
            // Not logged in, or an unreadable file: the call will say so; no prompt for that.
            _ => false,
        },
    };
    let client_secret = match from_environment {
        Some(secret) => Some(secret),
        None if needed => Some(prompt_secret(&name, &profile)?),
        None => None,
    };
    let mut builder = anaf_core::Client::builder()
        .environment(match profile.environment {
            EnvironmentArg::Test => Environment::Test,
            EnvironmentArg::Prod => Environment::Prod,
        })
        .token_store(store)
        .user_agent(concat!("anaf-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(client_secret) = client_secret {
        builder = builder.application(Application::new(
            profile.client_id.clone(),
            client_secret,
            profile.redirect_uri.clone(),
        ));
    }
    if let Some(base) = &profile.base_url {
        builder = builder.base_url(base)?;
    }
    // The submission journal and the daily-limit ledger of every command.
    let database = profiles.database(&name, &profile)?;
    builder = builder.state(anaf_core::runtime::block_on(anaf_core::state::Database::open(
        &database,
    ))?);
    Ok(Session {
        name,
        token_file,
        client: builder.build_blocking()?,
    })
}

fn prompt_secret(name: &str, profile: &Profile) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        let secret = rpassword::prompt_password(format!("Client secret of profile `{name}`: "))
            .map_err(|e| Failure::usage(format!("cannot read the client secret: {e}"), None))?;
        if !secret.is_empty() {
            return Ok(secret);
        }
    }
    Err(Failure::usage(
        format!("the client secret of profile `{name}` is needed"),
        Some(format!(
            "set {} (the profile's secret variable), or run in a terminal to be asked",
            profile.secret_env
        )),
    ))
}
