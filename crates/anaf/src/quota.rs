//! The client's own count of ANAF's daily limits (protocol reference §6), so a program stops
//! before ANAF refuses: repeatedly ignoring ANAF's limit answers can get the user, and then
//! the application, blocked.
//!
//! ANAF counts per Bucharest calendar day, per company (CIF: message lists, RASP uploads), per
//! message (`stareMesaj` per upload index, `descarcare` per download id) or per user (the
//! e-Transport list). A [`QuotaLedger`] keeps those counts; [`MemoryLedger`] within one process,
//! the `state` feature's database ledger across processes and machines. A client built with
//! [`crate::ClientBuilder::quota_ledger`] charges every counted call before it goes on the
//! wire (a retry is charged again: ANAF counts requests) and refuses a call over its limit with
//! [`crate::ErrorKind::QuotaExhausted`], whose `retry_after` is the time left until midnight
//! in Bucharest. When ANAF itself answers with a daily limit, the ledger records the budget as
//! spent for the day.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Bucharest;
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::error::{Error, ErrorKind, LimitScope};

/// How many calls a day the client allows itself, per scope. The defaults are ANAF's limits
/// less a safety margin of 5% (at least one call), so a count that missed a call (another
/// program using the same company without this ledger) still stays under ANAF's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DailyLimits {
    /// RASP uploads per CIF (ANAF: 1 000). Invoice uploads have no daily limit.
    pub upload_rasp: u32,
    /// `stareMesaj` per upload index (ANAF: 100).
    pub status: u32,
    /// `listaMesajeFactura` per CIF (ANAF: 1 500).
    pub list: u32,
    /// `listaMesajePaginatieFactura` per CIF (ANAF: 100 000).
    pub list_paged: u32,
    /// `descarcare` per download id (ANAF: 10).
    pub download: u32,
    /// e-Transport `stareMesaj` per upload index (ANAF: 100).
    pub transport_status: u32,
    /// e-Transport `lista` per user (ANAF: 1 000).
    pub transport_list: u32,
}

/// ANAF's limit less 5%, at least one call less.
const fn with_margin(anaf: u32) -> u32 {
    let margin = anaf / 20;
    anaf - if margin == 0 { 1 } else { margin }
}

impl Default for DailyLimits {
    fn default() -> Self {
        DailyLimits {
            upload_rasp: with_margin(1_000),
            status: with_margin(100),
            list: with_margin(1_500),
            list_paged: with_margin(100_000),
            download: with_margin(10),
            transport_status: with_margin(100),
            transport_list: with_margin(1_000),
        }
    }
}

impl DailyLimits {
    /// ANAF's own figures, no margin (for a ledger that is the only user of the companies).
    pub fn anaf() -> DailyLimits {
        DailyLimits {
            upload_rasp: 1_000,
            status: 100,
            list: 1_500,
            list_paged: 100_000,
            download: 10,
            transport_status: 100,
            transport_list: 1_000,
        }
    }

    /// The same limit for every counted call (tests, and benchmarks that relax the limits).
    pub fn all(limit: u32) -> DailyLimits {
        DailyLimits {
            upload_rasp: limit,
            status: limit,
            list: limit,
            list_paged: limit,
            download: limit,
            transport_status: limit,
            transport_list: limit,
        }
    }

    pub(crate) fn of(&self, counter: Counter) -> u32 {
        match counter {
            Counter::UploadRasp => self.upload_rasp,
            Counter::Status => self.status,
            Counter::List => self.list,
            Counter::ListPaged => self.list_paged,
            Counter::Download => self.download,
            Counter::TransportStatus => self.transport_status,
            Counter::TransportList => self.transport_list,
        }
    }
}

/// What a daily limit counts: one per limited ANAF method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Counter {
    UploadRasp,
    Status,
    List,
    ListPaged,
    Download,
    TransportStatus,
    TransportList,
}

impl Counter {
    pub const ALL: [Counter; 7] = [
        Counter::UploadRasp,
        Counter::Status,
        Counter::List,
        Counter::ListPaged,
        Counter::Download,
        Counter::TransportStatus,
        Counter::TransportList,
    ];

    /// The stable name stored in a ledger: `upload_rasp`, `status`, `list`, ...
    pub fn code(self) -> &'static str {
        match self {
            Counter::UploadRasp => "upload_rasp",
            Counter::Status => "status",
            Counter::List => "list",
            Counter::ListPaged => "list_paged",
            Counter::Download => "download",
            Counter::TransportStatus => "transport_status",
            Counter::TransportList => "transport_list",
        }
    }

    pub fn scope(self) -> LimitScope {
        match self {
            Counter::UploadRasp | Counter::List | Counter::ListPaged => LimitScope::Cif,
            Counter::Status | Counter::Download | Counter::TransportStatus => LimitScope::Message,
            Counter::TransportList => LimitScope::User,
        }
    }
}

parse_codes!(
    Counter,
    "quota counter",
    [
        Counter::UploadRasp,
        Counter::Status,
        Counter::List,
        Counter::ListPaged,
        Counter::Download,
        Counter::TransportStatus,
        Counter::TransportList
    ]
);

/// One counted call: the counter and the key it counts under (a CIF, an upload index, a
/// download id; for the per-user e-Transport list, the ledger's single user, `user`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Charge {
    pub counter: Counter,
    pub key: String,
}

impl Charge {
    pub(crate) fn new(counter: Counter, key: impl ToString) -> Charge {
        Charge {
            counter,
            key: key.to_string(),
        }
    }
}

/// Today's use of one counter and key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QuotaUsage {
    /// The Bucharest calendar day, `YYYY-MM-DD`.
    pub day: NaiveDate,
    pub counter: Counter,
    pub scope: LimitScope,
    pub key: String,
    pub used: u32,
    pub limit: u32,
    pub remaining: u32,
    /// When the count starts again: the next midnight in Bucharest.
    pub resets_at: DateTime<Utc>,
}

/// Keeps the daily counts. Implementations must make `charge` atomic across everything that
/// shares the ledger: two callers may never both take the last call of a budget.
pub trait QuotaLedger: Send + Sync + 'static {
    /// Counts one call under `charge` on `day` if fewer than `limit` were counted; returns
    /// the count after it, or `None` (nothing counted) when the budget is spent.
    fn charge<'a>(
        &'a self,
        day: NaiveDate,
        charge: &'a Charge,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<u32>, Error>>;

    /// Records that ANAF said this budget is spent for `day` (the count becomes at least
    /// `limit`).
    fn exhaust<'a>(&'a self, day: NaiveDate, charge: &'a Charge, limit: u32) -> BoxFuture<'a, Result<(), Error>>;

    /// Every count of `day`.
    fn counts(&self, day: NaiveDate) -> BoxFuture<'_, Result<Vec<(Charge, u32)>, Error>>;
}

/// A ledger in this process's memory: it protects the calls of every client that shares it,
/// and forgets them when the process ends. Other processes need the database ledger.
#[derive(Clone, Debug, Default)]
pub struct MemoryLedger {
    counts: Arc<Mutex<HashMap<(NaiveDate, Charge), u32>>>,
}

impl MemoryLedger {
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    fn counts_lock(&self) -> std::sync::MutexGuard<'_, HashMap<(NaiveDate, Charge), u32>> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl QuotaLedger for MemoryLedger {
    fn charge<'a>(
        &'a self,
        day: NaiveDate,
        charge: &'a Charge,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<u32>, Error>> {
        let mut counts = self.counts_lock();
        // Yesterday's counts are never read again.
        counts.retain(|(counted, _), _| *counted >= day);
        let used = counts.entry((day, charge.clone())).or_insert(0);
        let outcome = (*used < limit).then(|| {
            *used += 1;
            *used
        });
        Box::pin(async move { Ok(outcome) })
    }

    fn exhaust<'a>(&'a self, day: NaiveDate, charge: &'a Charge, limit: u32) -> BoxFuture<'a, Result<(), Error>> {
        let mut counts = self.counts_lock();
        let used = counts.entry((day, charge.clone())).or_insert(0);
        *used = (*used).max(limit);
        Box::pin(async { Ok(()) })
    }

    fn counts(&self, day: NaiveDate) -> BoxFuture<'_, Result<Vec<(Charge, u32)>, Error>> {
        let counts = self
            .counts_lock()
            .iter()
            .filter(|((counted, _), _)| *counted == day)
            .map(|((_, charge), used)| (charge.clone(), *used))
            .collect();
        Box::pin(async { Ok(counts) })
    }
}

/// The Bucharest calendar day `now` falls in: the day ANAF counts in.
pub fn bucharest_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Bucharest).date_naive()
}

/// The next midnight in Bucharest after `now`, when every daily count starts again.
pub fn next_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = bucharest_day(now).succ_opt().unwrap_or(NaiveDate::MAX);
    let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Romania changes the clock at 03:00 or 04:00, never at midnight, so midnight exists once.
    Bucharest
        .from_local_datetime(&midnight)
        .earliest()
        .map(|local| local.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::days(1))
}

/// The refusal of a call the ledger says would break a daily limit.
pub(crate) fn exhausted(charge: &Charge, limit: u32, now: DateTime<Utc>) -> Error {
    let reset = next_reset(now);
    let wait = (reset - now).to_std().unwrap_or(Duration::ZERO);
    let scope = charge.counter.scope();
    let whose = match scope {
        LimitScope::Cif => format!("CIF {}", charge.key),
        LimitScope::Message => format!("message {}", charge.key),
        LimitScope::User => "this user".to_owned(),
    };
    let mut error = Error::new(
        ErrorKind::QuotaExhausted,
        format!(
            "the daily budget of {limit} `{}` calls for {whose} is used up (the quota ledger's count); it starts again at midnight, Bucharest time",
            charge.counter.code()
        ),
    )
    .with_limit(limit)
    .with_limit_scope(scope)
    .with_retry_after(wait)
    .with_hint("wait for the reset, or raise the limit in DailyLimits if ANAF raised its own");
    if scope == LimitScope::Cif {
        error = error.with_cif(&charge.key);
    }
    error
}

/// Today's use of every counter of a ledger.
pub(crate) async fn usage(
    ledger: &dyn QuotaLedger,
    limits: &DailyLimits,
    now: DateTime<Utc>,
) -> Result<Vec<QuotaUsage>, Error> {
    let day = bucharest_day(now);
    let resets_at = next_reset(now);
    let mut usage: Vec<QuotaUsage> = ledger
        .counts(day)
        .await?
        .into_iter()
        .map(|(charge, used)| {
            let limit = limits.of(charge.counter);
            QuotaUsage {
                day,
                counter: charge.counter,
                scope: charge.counter.scope(),
                key: charge.key,
                used,
                limit,
                remaining: limit.saturating_sub(used),
                resets_at,
            }
        })
        .collect();
    usage.sort_by(|a, b| (a.counter.code(), &a.key).cmp(&(b.counter.code(), &b.key)));
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_day_is_bucharest_s_and_resets_at_its_midnight() {
        // 22:30 UTC in winter is 00:30 the next day in Bucharest (UTC+2).
        let now = utc("2026-12-01T22:30:00Z");
        assert_eq!(bucharest_day(now).to_string(), "2026-12-02");
        assert_eq!(next_reset(now), utc("2026-12-02T22:00:00Z"));
        // Summer time (UTC+3), the day the clocks changed.
        let now = utc("2026-03-29T12:00:00Z");
        assert_eq!(next_reset(now), utc("2026-03-29T21:00:00Z"));
    }

    #[test]
    fn default_limits_keep_a_margin_under_anaf_s() {
        let ours = DailyLimits::default();
        let anaf = DailyLimits::anaf();
        for counter in Counter::ALL {
            assert!(ours.of(counter) < anaf.of(counter), "{counter:?}");
        }
        assert_eq!(ours.download, 9);
        assert_eq!(ours.list, 1_425);
    }

    #[tokio::test]
    async fn the_memory_ledger_stops_at_the_limit_and_starts_again_the_next_day() {
        let ledger = MemoryLedger::new();
        let charge = Charge::new(Counter::Download, 42);
        let day: NaiveDate = "2026-12-02".parse().unwrap();
        for expected in 1..=3 {
            assert_eq!(ledger.charge(day, &charge, 3).await.unwrap(), Some(expected));
        }
        assert_eq!(ledger.charge(day, &charge, 3).await.unwrap(), None);
        assert_eq!(ledger.counts(day).await.unwrap(), vec![(charge.clone(), 3)]);
        let next = day.succ_opt().unwrap();
        assert_eq!(ledger.charge(next, &charge, 3).await.unwrap(), Some(1));
        ledger.exhaust(next, &charge, 3).await.unwrap();
        assert_eq!(ledger.charge(next, &charge, 3).await.unwrap(), None);
    }
}
