//! Profiles, login, tokens and TestOauth's hello.

use std::io::BufRead;
use std::time::Duration;

use anaf_core::LoginOptions;
use anstream::{eprintln, println};

use crate::args::{Global, LoginArgs, ProfileAdd, ProfileCommand, TokenCommand};
use crate::failure::{Exit, Failure};
use crate::output::{self, DIM, GOOD, WARN, paint};
use crate::profiles::{Profile, Profiles};
use crate::session::{self, Secret};

pub fn profile(global: &Global, command: ProfileCommand) -> Result<Exit, Failure> {
    let mut profiles = Profiles::load()?;
    match command {
        ProfileCommand::Add(add) => {
            let ProfileAdd {
                name,
                environment,
                client_id,
                redirect_uri,
                secret_env,
                base_url,
                database,
                database_tokens,
            } = add;
            let profile = Profile {
                environment,
                client_id,
                redirect_uri,
                secret_env,
                base_url,
                database,
                database_tokens,
            };
            profiles.insert(&name, profile.clone())?;
            profiles.save()?;
            if global.json {
                output::json(&serde_json::json!({ "name": name, "profile": profile }));
            } else {
                println!("{} profile `{name}`", paint(GOOD, "saved"));
                println!(
                    "next: set {} to the application's client secret (or be asked), then `anaf --profile {name} login`",
                    profile.secret_env
                );
            }
        }
        ProfileCommand::List => {
            if global.json {
                let all: serde_json::Map<String, serde_json::Value> = profiles
                    .iter()
                    .map(|(name, p)| (name.clone(), serde_json::to_value(p).unwrap_or_default()))
                    .collect();
                output::json(&all);
            } else if profiles.iter().next().is_none() {
                println!("no profiles yet: `anaf profile add --help` shows how to make one");
            } else {
                let rows: Vec<Vec<String>> = profiles
                    .iter()
                    .map(|(name, p)| {
                        let tokens = match &p.database_tokens {
                            // Looking would open the database; the name says where they are.
                            Some(login) => format!("database: {login}"),
                            None if profiles.token_file(name).exists() => "yes".into(),
                            None => "no".into(),
                        };
                        vec![
                            name.clone(),
                            format!("{:?}", p.environment).to_lowercase(),
                            p.client_id.clone(),
                            p.base_url.clone().unwrap_or_else(|| "ANAF".into()),
                            tokens,
                        ]
                    })
                    .collect();
                output::table(&["PROFILE", "ENVIRONMENT", "CLIENT ID", "SERVER", "TOKENS"], &rows);
            }
        }
        ProfileCommand::Remove { name } => {
            profiles.remove(&name)?;
            profiles.save()?;
            if global.json {
                output::json(&serde_json::json!({ "removed": name }));
            } else {
                println!("removed profile `{name}` and its tokens");
            }
        }
    }
    Ok(Exit::Ok)
}

pub fn login(global: &Global, args: &LoginArgs) -> Result<Exit, Failure> {
    let session = session::open(global, Secret::Always)?;
    let open_browser = !args.no_browser;
    let mut options = LoginOptions::default()
        .open_browser(open_browser)
        .timeout(Duration::from_secs(args.timeout))
        .on_url(move |url| {
            if open_browser {
                eprintln!("Opening ANAF's login page in your browser. If it does not open, visit:");
            } else {
                eprintln!("Open this address in a browser and log in with your certificate:");
            }
            eprintln!("  {url}");
            eprintln!(
                "{}",
                paint(
                    DIM,
                    "Or paste here the address the browser lands on after the login, then Enter."
                )
            );
        });
    // The paste fallback reads stdin (a terminal, or a script's pipe); the listener races it.
    options = options.paste(|| {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(n) if n > 0 && !line.trim().is_empty() => Some(line.trim().to_owned()),
            _ => None,
        }
    });
    let tokens = session.client.oauth().login_interactive(options)?;
    if global.json {
        output::json(&serde_json::json!({ "profile": session.name, "tokens": tokens.info() }));
    } else {
        println!(
            "{} as profile `{}`; tokens saved in {}",
            paint(GOOD, "logged in"),
            session.name,
            session.tokens_kept_in
        );
        println!("access until {}", local(tokens.expires_at));
    }
    Ok(Exit::Ok)
}

pub fn token(global: &Global, command: TokenCommand) -> Result<Exit, Failure> {
    let secret = match command {
        TokenCommand::Refresh | TokenCommand::Revoke => Secret::Always,
        TokenCommand::Status | TokenCommand::Logout => Secret::IfRefreshDue,
    };
    let session = session::open(global, secret)?;
    let oauth = session.client.oauth();
    match command {
        TokenCommand::Status => {
            let status = oauth.token_status()?;
            if global.json {
                output::json(&status);
            } else {
                match &status.tokens {
                    Some(tokens) if !status.login_required => {
                        let mut pairs = vec![
                            ("profile", session.name.clone()),
                            ("logged in", paint(GOOD, "yes")),
                            ("access until", local(tokens.expires_at)),
                        ];
                        if let Some(refresh) = tokens.refresh_expires_at {
                            pairs.push(("log in again by", local(refresh)));
                        }
                        output::fields(&pairs);
                    }
                    Some(_) => output::fields(&[
                        ("profile", session.name.clone()),
                        (
                            "logged in",
                            paint(WARN, "no: the refresh token was refused; `anaf login`"),
                        ),
                    ]),
                    None => output::fields(&[
                        ("profile", session.name.clone()),
                        ("logged in", paint(WARN, "no: `anaf login`")),
                    ]),
                }
            }
            // Scripts can branch on it: logged out is an auth problem.
            Ok(if status.logged_in && !status.login_required {
                Exit::Ok
            } else {
                Exit::Auth
            })
        }
        TokenCommand::Refresh => {
            let tokens = oauth.refresh()?;
            if global.json {
                output::json(&tokens.info());
            } else {
                println!(
                    "{}; access until {}",
                    paint(GOOD, "refreshed"),
                    local(tokens.expires_at)
                );
            }
            Ok(Exit::Ok)
        }
        TokenCommand::Revoke => {
            let revocation = oauth.revoke()?;
            if global.json {
                output::json(&serde_json::json!({ "revocation": revocation }));
            } else {
                match revocation {
                    anaf_core::Revocation::Confirmed => println!("{}: ANAF confirmed", paint(GOOD, "revoked")),
                    _ => println!(
                        "{} here; ANAF did not confirm, so the tokens may work until they expire (delete the \
                         application in ANAF's portal to stop them at once)",
                        paint(WARN, "forgotten")
                    ),
                }
            }
            Ok(Exit::Ok)
        }
        TokenCommand::Logout => {
            oauth.clear_tokens()?;
            if global.json {
                output::json(&serde_json::json!({ "logged_out": session.name }));
            } else {
                println!("logged out of profile `{}` (tokens deleted here)", session.name);
            }
            Ok(Exit::Ok)
        }
    }
}

pub fn hello(global: &Global, name: &str) -> Result<Exit, Failure> {
    let session = session::open(global, Secret::IfRefreshDue)?;
    let greeting = session.client.hello(name)?;
    if global.json {
        output::json(&serde_json::json!({ "greeting": greeting }));
    } else {
        println!("{greeting}");
    }
    Ok(Exit::Ok)
}

/// A time in the machine's own zone, to the second.
pub fn local(time: chrono::DateTime<chrono::Utc>) -> String {
    time.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}
