//! ANAF's call budgets: a global per-minute limit answered with HTTP 429, and per-day limits
//! per message or per company answered with HTTP 200 and a Romanian text (protocol §6). Days
//! are calendar days in Bucharest.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{bucharest_day, seconds_to_next_minute};
use crate::model::Env;

/// Daily limits, each per the scope ANAF documents. Defaults are ANAF's published values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DailyLimits {
    /// `stareMesaj` queries per upload index.
    pub efactura_status: u32,
    /// `descarcare` downloads per download id.
    pub efactura_download: u32,
    /// `listaMesajeFactura` queries per CIF.
    pub efactura_list: u32,
    /// `listaMesajePaginatieFactura` queries per CIF.
    pub efactura_list_paged: u32,
    /// RASP (buyer message) uploads per CIF.
    pub efactura_rasp_uploads: u32,
    /// e-Transport `stareMesaj` queries per upload index.
    pub etransport_status: u32,
    /// e-Transport `lista` queries per user.
    pub etransport_list: u32,
}

impl Default for DailyLimits {
    fn default() -> Self {
        DailyLimits {
            efactura_status: 100,
            efactura_download: 10,
            efactura_list: 1500,
            efactura_list_paged: 100_000,
            efactura_rasp_uploads: 1000,
            etransport_status: 100,
            etransport_list: 1000,
        }
    }
}

impl DailyLimits {
    /// No daily limit at all (load tests).
    pub fn unlimited() -> DailyLimits {
        DailyLimits {
            efactura_status: u32::MAX,
            efactura_download: u32::MAX,
            efactura_list: u32::MAX,
            efactura_list_paged: u32::MAX,
            efactura_rasp_uploads: u32::MAX,
            etransport_status: u32::MAX,
            etransport_list: u32::MAX,
        }
    }
}

/// What a daily counter counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    EfacturaStatus(Env, u64),
    EfacturaDownload(Env, u64),
    EfacturaList(Env, String),
    EfacturaListPaged(Env, String),
    EfacturaRasp(Env, String),
    EtransportStatus(Env, u64),
    EtransportList(Env, String),
}

#[derive(Debug, Default)]
pub struct Counters {
    day: Option<NaiveDate>,
    daily: HashMap<Scope, u32>,
    minute: i64,
    /// Calls in the current minute, per user (certificate serial).
    in_minute: HashMap<String, u32>,
    /// When each paced public service last took a request (Unix milliseconds).
    last_taken: HashMap<&'static str, i64>,
}

impl Counters {
    /// Counts one call against `scope`; `Err(limit)` when the day's budget is already spent
    /// (a refused call is not counted).
    pub fn take_daily(&mut self, scope: Scope, limit: u32, now: DateTime<Utc>) -> Result<(), u32> {
        let today = bucharest_day(now);
        if self.day != Some(today) {
            self.day = Some(today);
            self.daily.clear();
        }
        let used = self.daily.entry(scope).or_insert(0);
        if *used >= limit {
            return Err(limit);
        }
        *used += 1;
        Ok(())
    }

    /// Counts one call by `user` (a certificate serial) against its per-minute budget;
    /// `Err(retry_after_seconds)` when spent. Each user has a budget of its own, as ANAF
    /// counts them.
    pub fn take_minute(&mut self, user: &str, limit: u32, now: DateTime<Utc>) -> Result<(), u64> {
        let minute = now.timestamp().div_euclid(60);
        if minute != self.minute {
            self.minute = minute;
            self.in_minute.clear();
        }
        let used = match self.in_minute.get_mut(user) {
            Some(used) => used,
            None => self.in_minute.entry(user.to_owned()).or_insert(0),
        };
        if *used >= limit {
            return Err(seconds_to_next_minute(now));
        }
        *used += 1;
        Ok(())
    }

    /// One call per second for a public service (its calls carry no identity, so the pace is
    /// the sandbox's); `false` when the last call it took was less than a second ago (a
    /// refused call does not count).
    pub fn take_second(&mut self, service: &'static str, now: DateTime<Utc>) -> bool {
        let now = now.timestamp_millis();
        if self
            .last_taken
            .get(service)
            .is_some_and(|&last| (0..1000).contains(&(now - last)))
        {
            return false;
        }
        self.last_taken.insert(service, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn daily_budget_resets_at_bucharest_midnight() {
        let mut c = Counters::default();
        let late = Utc.with_ymd_and_hms(2026, 7, 1, 20, 59, 0).unwrap(); // 23:59 in Bucharest (UTC+3)
        let scope = || Scope::EfacturaDownload(Env::Test, 7);
        assert!(c.take_daily(scope(), 2, late).is_ok());
        assert!(c.take_daily(scope(), 2, late).is_ok());
        assert_eq!(c.take_daily(scope(), 2, late), Err(2));
        let next_day = Utc.with_ymd_and_hms(2026, 7, 1, 21, 0, 0).unwrap();
        assert!(c.take_daily(scope(), 2, next_day).is_ok());
    }

    #[test]
    fn minute_budget_reports_retry_after() {
        let mut c = Counters::default();
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 45).unwrap();
        assert!(c.take_minute("A", 1, t).is_ok());
        assert_eq!(c.take_minute("A", 1, t), Err(15));
        assert!(c.take_minute("B", 1, t).is_ok(), "another user has a budget of its own");
        assert!(c.take_minute("A", 1, t + chrono::Duration::seconds(15)).is_ok());
    }

    #[test]
    fn public_services_take_one_call_per_second_each() {
        let mut c = Counters::default();
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 45).unwrap();
        assert!(c.take_second("vat", t));
        assert!(!c.take_second("vat", t + chrono::Duration::milliseconds(999)));
        assert!(c.take_second("register", t));
        assert!(c.take_second("vat", t + chrono::Duration::seconds(1)));
        // The clock moved back: the pace starts over rather than blocking for ever.
        assert!(c.take_second("vat", t - chrono::Duration::seconds(10)));
    }
}
