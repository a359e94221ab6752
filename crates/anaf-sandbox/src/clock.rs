//! The sandbox clock: wall time plus an offset that tests move forward, so that the code
//! window (60 s), token lifetimes (90/365 days), the 60-day retention and the daily reset at
//! midnight in Bucharest can be exercised without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Bucharest;

/// The clock moves at most 1000 years away from the wall clock.
pub const MAX_OFFSET_MS: i64 = 1000 * 366 * 86_400_000;

/// Time as the sandbox sees it.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        let wall = Utc::now();
        wall.checked_add_signed(chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed)))
            .unwrap_or(wall)
    }

    /// Moves the clock forward, at most to [`MAX_OFFSET_MS`] from the wall clock (so dates
    /// computed from it, a year of token lifetime included, stay representable).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(MAX_OFFSET_MS);
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                Some(current.saturating_add(ms).clamp(-MAX_OFFSET_MS, MAX_OFFSET_MS))
            });
    }

    /// Sets the clock to wall time plus `offset` (negative: behind the wall clock, to play a
    /// client whose clock is ahead of ANAF's).
    pub fn set_offset(&self, offset: chrono::Duration) {
        self.offset_ms.store(
            offset.num_milliseconds().clamp(-MAX_OFFSET_MS, MAX_OFFSET_MS),
            Ordering::Relaxed,
        );
    }

    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
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
    fn absurd_moves_are_clamped_not_overflowed() {
        let clock = Clock::default();
        clock.advance(Duration::MAX);
        clock.advance(Duration::MAX);
        let far = clock.now();
        assert!(far > Utc::now() + chrono::Duration::days(365 * 999));
        assert!(far.checked_add_signed(chrono::Duration::days(366)).is_some());
        clock.set_offset(chrono::Duration::MIN);
        assert!(clock.now() < Utc::now());
    }

    #[test]
    fn advance_moves_now_forward() {
        let clock = Clock::default();
        let t0 = clock.now();
        clock.advance(Duration::from_secs(86_400));
        assert!(clock.now() - t0 >= chrono::Duration::seconds(86_400));
    }
}
