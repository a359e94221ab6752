//! The sandbox clock: wall time plus an offset that tests move forward, so that the code
//! window (60 s), token lifetimes (90/365 days), the 60-day retention and the daily reset at
//! midnight in Bucharest can be exercised without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Bucharest;

/// Time as the sandbox sees it.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Relaxed).max(0) as u64)
    }
}

/// ANAF's calendar day: counters reset at midnight Europe/Bucharest.
pub fn bucharest_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Bucharest).date_naive()
}

/// `YYYYMMDDHHmm` in Romanian time: `dateResponse` and e-Factura `data_creare`.
pub fn minute_stamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Bucharest).format("%Y%m%d%H%M").to_string()
}

/// `YYYYMMDDHHmmss` in Romanian time: e-Transport list dates.
pub fn second_stamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Bucharest).format("%Y%m%d%H%M%S").to_string()
}

/// `dd-MM-yyyy HH:mm:ss` in Romanian time: dates quoted inside ANAF's error texts and the
/// Spring error envelope's `timestamp`.
pub fn text_stamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Bucharest).format("%d-%m-%Y %H:%M:%S").to_string()
}

/// `yyyy-MM-dd` in Romanian time (the duplicate-invoice message's `data incarcare`).
pub fn date_stamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&Bucharest).format("%Y-%m-%d").to_string()
}

/// Seconds until the next minute boundary (used for `Retry-After` on 429).
pub fn seconds_to_next_minute(at: DateTime<Utc>) -> u64 {
    let into = at.timestamp_millis().rem_euclid(60_000) as u64;
    (60_000 - into).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bucharest_day_rolls_over_at_local_midnight() {
        // 21:59:59 UTC in winter is 23:59:59 in Bucharest (UTC+2); one second later is a new day.
        let before = Utc.with_ymd_and_hms(2026, 1, 14, 21, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 1, 14, 22, 0, 0).unwrap();
        assert_eq!(bucharest_day(before).to_string(), "2026-01-14");
        assert_eq!(bucharest_day(after).to_string(), "2026-01-15");
        assert_eq!(minute_stamp(after), "202601150000");
        assert_eq!(text_stamp(after), "15-01-2026 00:00:00");
    }

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::default();
        let t0 = clock.now();
        clock.advance(Duration::from_secs(86_400));
        assert!(clock.now() - t0 >= chrono::Duration::seconds(86_400));
    }
}
