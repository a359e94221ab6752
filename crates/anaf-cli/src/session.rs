//! A client for the selected profile: its environment, application, token file, and the
//! client secret from the environment or a prompt, asked for only when a call may need it.

use std::io::IsTerminal;
use std::time::Duration;

use anaf_core::state::{Database, DatabaseTokenStore};
use anaf_core::{Application, AsyncTokenStore, Environment, FileTokenStore, TokenStore, blocking, runtime};

use crate::args::{EnvironmentArg, Global};
use crate::failure::Failure;
use crate::profiles::{Profile, Profiles};

/// The core refreshes tokens this long before they expire (its default), so a secret is
/// needed once the access token is closer than this, plus a minute for the call itself.
const SECRET_NOT_NEEDED_BEFORE: Duration = Duration::from_secs(300 + 60);

#[derive(Debug)]
pub struct Session {
    pub name: String,
    /// Where the login is kept, for people: the token file, or the database's login name.
    pub tokens_kept_in: String,
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
    // The submission journal and the daily-limit ledger of every command (and the login,
    // with `--database-tokens`).
    let database = runtime::block_on(Database::open(&profiles.database(&name, &profile)?))?;
    let token_file = profiles.token_file(&name);
    let (saved, tokens_kept_in) = match &profile.database_tokens {
        Some(login) => (
            runtime::block_on(DatabaseTokenStore::new(database.clone(), login)?.load()),
            format!("the state database (login `{login}`)"),
        ),
        None => (
            FileTokenStore::new(&token_file).load(),
            token_file.display().to_string(),
        ),
    };
    // Without the application the core cannot refresh (nor send a credential it lacks): a
    // call with fresh tokens needs no secret, so none is asked for.
    let from_environment = std::env::var(&profile.secret_env).ok().filter(|s| !s.is_empty());
    let needed = match secret {
        Secret::Always => true,
        Secret::IfRefreshDue => match saved {
            Ok(Some(tokens)) => {
                let fresh_until =
                    chrono::Utc::now() + chrono::Duration::from_std(SECRET_NOT_NEEDED_BEFORE).unwrap_or_default();
                tokens.expires_at <= fresh_until
            }
            // Not logged in, or unreadable tokens: the call will say so; no prompt for that.
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
        .user_agent(concat!("anaf-cli/", env!("CARGO_PKG_VERSION")));
    builder = match &profile.database_tokens {
        Some(login) => builder.database_tokens(login.clone()),
        None => builder.token_store(FileTokenStore::new(&token_file)),
    };
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
    Ok(Session {
        name,
        tokens_kept_in,
        client: builder.state(database).build_blocking()?,
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
