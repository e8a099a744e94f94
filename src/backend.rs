//! Choosing a [`Backend`]: by name, or from `EXTISM_BACKEND` (the enum itself comes from the engine registry,
//! `registry.rs`).

use std::str::FromStr;

use crate::{Backend, Error};

/// The environment variable that names the default engine.
const BACKEND_ENV: &str = "EXTISM_BACKEND";

impl Backend {
    /// The default engine: the one named by the `EXTISM_BACKEND` environment variable if it is set and not empty,
    /// else the first compiled engine. Fails if the variable names an unknown engine or one not compiled into this
    /// build; [`crate::PluginBuilder::build`] reports that error when no engine was chosen explicitly.
    pub fn from_env() -> Result<Backend, Error> {
        match std::env::var(BACKEND_ENV) {
            Ok(name) if !name.trim().is_empty() => name
                .parse()
                .map_err(|e: Error| anyhow::anyhow!("{BACKEND_ENV}={name:?} does not name an engine: {e}")),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Backend::ALL[0]),
            Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!("invalid {BACKEND_ENV}: not valid Unicode"),
        }
    }
}

impl Default for Backend {
    /// [`Backend::from_env`], falling back to the first compiled engine (the first of [`Backend::ALL`]) if
    /// `EXTISM_BACKEND` is invalid. Use [`Backend::from_env`] to see that error.
    fn default() -> Backend {
        Backend::from_env().unwrap_or(Backend::ALL[0])
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parse an engine name (case-insensitive). Unknown names and engines not compiled in are errors that say which
    /// engines this build has.
    fn from_str(name: &str) -> Result<Backend, Error> {
        let wanted = name.trim().to_ascii_lowercase();
        if let Some(b) = Backend::ALL.iter().find(|b| b.name() == wanted) {
            return Ok(*b);
        }
        let compiled: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
        if Backend::KNOWN.contains(&wanted.as_str()) {
            anyhow::bail!(
                "the `{wanted}` engine is not compiled into this build (enable the `{wanted}` cargo feature); \
                 compiled engines: {}",
                compiled.join(", ")
            )
        }
        anyhow::bail!("unknown engine `{name}`; compiled engines: {}", compiled.join(", "))
    }
}
