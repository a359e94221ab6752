//! [`SandboxOptions`] as JSON, for the bindings (C, C#, Delphi, Python, Node): every field
//! optional, unknown keys refused, durations in milliseconds.

use std::time::Duration;

use serde::Deserialize;

use crate::{DailyLimits, SandboxOptions};

/// `{"instant": true, "port": 0, "processing_delay_ms": 2000, ...}`: the options the
/// bindings take. Parse it with serde (e.g. `serde_json::from_str`), then
/// [`SandboxSettings::into_options`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Start from [`SandboxOptions::instant`] (uploads final at once) instead of ANAF's delays.
    pub instant: bool,
    /// The loopback port (0: a free one).
    pub port: u16,
    pub processing_delay_ms: Option<u64>,
    pub indexing_lag_ms: Option<u64>,
    pub per_minute_limit: Option<u32>,
    pub daily_limits: Option<DailyLimits>,
    pub code_lifetime_ms: Option<u64>,
    pub access_token_lifetime_ms: Option<u64>,
    pub refresh_token_lifetime_ms: Option<u64>,
    pub rotate_refresh_tokens: Option<bool>,
    pub waf_rules: Option<bool>,
    pub public_registry_pacing: Option<bool>,
    pub default_client_id: Option<String>,
    pub default_client_secret: Option<String>,
    pub default_redirect_uris: Option<Vec<String>>,
    pub worker_threads: Option<usize>,
}

impl SandboxSettings {
    pub fn into_options(self) -> SandboxOptions {
        let mut options = if self.instant {
            SandboxOptions::instant()
        } else {
            SandboxOptions::default()
        };
        options = options.bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)));
        let ms = Duration::from_millis;
        if let Some(v) = self.processing_delay_ms {
            options = options.processing_delay(ms(v));
        }
        if let Some(v) = self.indexing_lag_ms {
            options = options.indexing_lag(ms(v));
        }
        if let Some(v) = self.per_minute_limit {
            options = options.per_minute_limit(v);
        }
        if let Some(v) = self.daily_limits {
            options = options.daily_limits(v);
        }
        if let Some(v) = self.code_lifetime_ms {
            options = options.code_lifetime(ms(v));
        }
        if let Some(v) = self.access_token_lifetime_ms {
            options = options.access_token_lifetime(ms(v));
        }
        if let Some(v) = self.refresh_token_lifetime_ms {
            options = options.refresh_token_lifetime(ms(v));
        }
        if let Some(v) = self.rotate_refresh_tokens {
            options = options.rotate_refresh_tokens(v);
        }
        if let Some(v) = self.waf_rules {
            options = options.waf_rules(v);
        }
        if let Some(v) = self.public_registry_pacing {
            options = options.public_registry_pacing(v);
        }
        if let Some(v) = self.default_client_id {
            options = options.default_client_id(v);
        }
        if let Some(v) = self.default_client_secret {
            options = options.default_client_secret(v);
        }
        if let Some(v) = self.default_redirect_uris {
            options = options.default_redirect_uris(v);
        }
        if let Some(v) = self.worker_threads {
            options = options.worker_threads(v);
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_settings_reach_the_options() {
        let settings: SandboxSettings =
            serde_json::from_str(r#"{"instant": true, "per_minute_limit": 7, "daily_limits": {"efactura_status": 1}}"#)
                .unwrap();
        let options = settings.into_options();
        assert_eq!(options.processing_delay, Duration::ZERO);
        assert_eq!(options.per_minute_limit, 7);
        assert_eq!(options.daily_limits.efactura_status, 1);
        assert!(
            serde_json::from_str::<SandboxSettings>(r#"{"instnat": true}"#).is_err(),
            "typos are refused"
        );
    }
}
