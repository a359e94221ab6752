//! Profiles: one per company and environment, in `profiles.toml` under the user's config
//! directory (`ANAF_CONFIG_DIR` overrides it), each with its token file next to it. The
//! client secret is never stored: a profile names the environment variable that holds it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::args::EnvironmentArg;
use crate::failure::Failure;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Profile {
    pub environment: EnvironmentArg,
    pub client_id: String,
    pub redirect_uri: String,
    /// The environment variable holding the client secret.
    pub secret_env: String,
    /// Another ANAF at one base address (the sandbox); absent: ANAF's own hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The state database's URL or file; absent: `state/NAME.db` in the config folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The name of the login kept in the state database; absent: the profile's token file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_tokens: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct File {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The profiles on disk and where they live.
#[derive(Debug)]
pub struct Profiles {
    dir: PathBuf,
    profiles: BTreeMap<String, Profile>,
}

fn config_error(message: String) -> Failure {
    Failure::usage(message, None)
}

impl Profiles {
    /// The config directory: `ANAF_CONFIG_DIR`, else the platform's (`~/.config/anaf`,
    /// `%APPDATA%\anaf`, `~/Library/Application Support/anaf`).
    pub fn dir() -> Result<PathBuf, Failure> {
        if let Some(dir) = std::env::var_os("ANAF_CONFIG_DIR") {
            return Ok(PathBuf::from(dir));
        }
        dirs::config_dir()
            .map(|dir| dir.join("anaf"))
            .ok_or_else(|| config_error("no config directory on this system: set ANAF_CONFIG_DIR".into()))
    }

    pub fn load() -> Result<Profiles, Failure> {
        let dir = Profiles::dir()?;
        let path = dir.join("profiles.toml");
        let profiles = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<File>(&text)
                    .map_err(|e| config_error(format!("{} is not a valid profiles file: {e}", path.display())))?
                    .profiles
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(config_error(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(Profiles { dir, profiles })
    }

    pub fn save(&self) -> Result<(), Failure> {
        let text = toml::to_string(&File {
            profiles: self.profiles.clone(),
        })
        .map_err(|e| Failure::Other(format!("profiles to TOML: {e}")))?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| config_error(format!("cannot create {}: {e}", self.dir.display())))?;
        let path = self.dir.join("profiles.toml");
        // Written aside and renamed: a crash never leaves half a file.
        let partial = self.dir.join("profiles.toml.partial");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| config_error(format!("cannot write {}: {e}", path.display())))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Profile)> {
        self.profiles.iter()
    }

    pub fn insert(&mut self, name: &str, profile: Profile) -> Result<(), Failure> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(config_error(format!(
                "`{name}` cannot name a profile: use letters, digits, `-` and `_`"
            )));
        }
        self.profiles.insert(name.to_owned(), profile);
        Ok(())
    }

    /// Removes a profile; its token file goes with it.
    pub fn remove(&mut self, name: &str) -> Result<(), Failure> {
        if self.profiles.remove(name).is_none() {
            return Err(config_error(format!("there is no profile `{name}`")));
        }
        match std::fs::remove_file(self.token_file(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(config_error(format!("cannot remove the tokens of `{name}`: {e}"))),
        }
    }

    /// The profile to use: the one named, else the only one there is.
    pub fn select(&self, name: Option<&str>) -> Result<(String, Profile), Failure> {
        match name {
            Some(name) => self
                .profiles
                .get(name)
                .map(|p| (name.to_owned(), p.clone()))
                .ok_or_else(|| {
                    Failure::usage(
                        format!("there is no profile `{name}`"),
                        Some("`anaf profile list` shows them; `anaf profile add` makes one".into()),
                    )
                }),
            None => {
                let mut all = self.profiles.iter();
                match (all.next(), all.next()) {
                    (Some((name, profile)), None) => Ok((name.clone(), profile.clone())),
                    (None, _) => Err(Failure::usage(
                        "no profile yet",
                        Some(
                            "make one with `anaf profile add NAME --client-id ... --redirect-uri ...` (or try `anaf demo`)"
                                .into(),
                        ),
                    )),
                    (Some(_), Some(_)) => Err(Failure::usage(
                        "several profiles: say which",
                        Some("use --profile NAME or set ANAF_PROFILE".into()),
                    )),
                }
            }
        }
    }

    /// Where a profile's tokens are kept (the core's file store: owner-only, locked).
    pub fn token_file(&self, name: &str) -> PathBuf {
        token_file(&self.dir, name)
    }

    /// Where the profile's state database is: its own setting, else a SQLite file of the
    /// profile (its folder created).
    pub fn database(&self, name: &str, profile: &Profile) -> Result<String, Failure> {
        if let Some(database) = &profile.database {
            return Ok(database.clone());
        }
        let dir = self.dir.join("state");
        std::fs::create_dir_all(&dir).map_err(|e| Failure::io("create", &dir, e))?;
        Ok(dir.join(format!("{name}.db")).to_string_lossy().into_owned())
    }
}

fn token_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("tokens").join(format!("{name}.json"))
}
