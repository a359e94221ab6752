//! How requests travel: one connection pool per client, a per-minute limiter shared by its
//! clones, retries with exponential backoff and jitter for idempotent calls only, one token
//! refresh after a 401, per-request timeouts, and a tracing span per call.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tracing::Instrument;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::quota::{Charge, Counter};

/// When to try an idempotent call again (uploads are never retried). Build it from
/// [`RetryPolicy::default`] or [`RetryPolicy::none`] and the setters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, including the first; 1 disables retries.
    pub max_attempts: u32,
    /// First backoff; each retry doubles it (with full jitter) up to `max_delay`.
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// A 429 asking to wait longer than this is returned to the caller instead of waited out.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .initial_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exponential.min(self.max_delay);
        // Full jitter: spreads retries of many clients hitting the same outage. Computed in
        // whole nanoseconds (saturating), so a caller's Duration::MAX cannot overflow it.
        let nanos = capped.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(fastrand::u64(..=nanos))
    }
}

/// At most `per_minute` requests in any 60-second window (so in any calendar minute too).
#[derive(Debug)]
pub(crate) struct Limiter {
    per_minute: usize,
    sent: Mutex<VecDeque<Instant>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Limiter {
    pub fn new(per_minute: u32) -> Limiter {
        Limiter {
            per_minute: per_minute.max(1) as usize,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while sent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    sent.pop_front();
                }
                if sent.len() < self.per_minute {
                    sent.push_back(now);
                    return;
                }
                WINDOW - now.duration_since(*sent.front().expect("full window"))
            };
            tracing::debug!(wait_ms = wait.as_millis() as u64, "per-minute budget spent; waiting");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether a call may be repeated without changing its effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Idempotency {
    Idempotent,
    /// Uploads: never sent twice by the client.
    Once,
}

/// One request to ANAF.
pub(crate) struct Call {
    pub operation: &'static str,
    pub method: reqwest::Method,
    pub url: url::Url,
    pub bearer: bool,
    pub idempotency: Idempotency,
    pub body: Option<(Bytes, &'static str)>,
    pub multipart: Option<Box<dyn Fn() -> reqwest::multipart::Form + Send + Sync>>,
    /// The daily limit this call counts against, if the client keeps a quota ledger.
    pub charge: Option<Charge>,
}

impl Call {
    pub fn get(operation: &'static str, url: url::Url) -> Call {
        Call {
            operation,
            method: reqwest::Method::GET,
            url,
            bearer: true,
            idempotency: Idempotency::Idempotent,
            body: None,
            multipart: None,
            charge: None,
        }
    }

    pub fn post(operation: &'static str, url: url::Url, body: Bytes, content_type: &'static str) -> Call {
        Call {
            method: reqwest::Method::POST,
            body: Some((body, content_type)),
            ..Call::get(operation, url)
        }
    }

    /// A multipart POST; the form is rebuilt for each attempt (reqwest consumes it).
    pub fn multipart(
        operation: &'static str,
        url: url::Url,
        form: impl Fn() -> reqwest::multipart::Form + Send + Sync + 'static,
    ) -> Call {
        Call {
            method: reqwest::Method::POST,
            multipart: Some(Box::new(form)),
            ..Call::get(operation, url)
        }
    }

    pub fn once(mut self) -> Call {
        self.idempotency = Idempotency::Once;
        self
    }

    pub fn public(mut self) -> Call {
        self.bearer = false;
        self
    }

    /// Counts the call against a daily limit (see [`crate::quota`]).
    pub fn counted(mut self, counter: Counter, key: impl ToString) -> Call {
        self.charge = Some(Charge::new(counter, key));
        self
    }
}

/// ANAF's answer, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Turns HTTP-level failures into errors: 401, 403, 404, 429, 4xx with Spring's JSON,
    /// 5xx, and the firewall page that comes with HTTP 200.
    pub fn check(self) -> Result<Reply, Error> {
        match self.status {
            // Only an HTML answer can be the firewall page; binary bodies are not scanned.
            200..=299 if self.content_type().starts_with("text/html") => {
                match crate::error::waf_rejection(&self.body) {
                    Some(rejection) => Err(rejection),
                    None => Ok(self),
                }
            }
            200..=299 => Ok(self),
            300..=399 => Err(redirect_error(
                self.status,
                self.headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok()),
            )),
            401 => Err(Error::new(ErrorKind::Unauthorized, "ANAF refused the access token")
                .with_status(401)
                .with_hint(
                    "the token is expired or revoked, or the application was deleted (Renuntare OAuth); log in again",
                )),
            403 => {
                let mut error = Error::new(ErrorKind::Forbidden, "ANAF refused the token for this service")
                    .with_status(403)
                    .with_hint(
                        "either the user (certificate) has no SPV right on this service, or the application is not \
                         enrolled for it in the portal (Profil OAuth); any token still reaches TestOauth hello",
                    );
                let said = crate::error::excerpt(&self.body);
                if !said.is_empty() {
                    error = error.with_anaf_message(said);
                }
                Err(error)
            }
            404 => Err(Error::new(ErrorKind::NotFound, "no such endpoint")
                .with_status(404)
                .with_anaf_message(crate::error::excerpt(&self.body))
                .with_hint("check the base URL and the environment (validare and transformare exist only in prod)")),
            429 => {
                let retry_after = retry_after(&self.headers).unwrap_or(Duration::from_secs(60));
                Err(
                    Error::new(ErrorKind::RateLimited, "ANAF's per-minute request budget is spent")
                        .with_status(429)
                        .with_retry_after(retry_after),
                )
            }
            400..=499 => {
                let message = serde_json::from_slice::<serde_json::Value>(&self.body)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned));
                match message {
                    Some(text) => Err(crate::error::from_anaf_text(&text, self.status)),
                    None => Err(Error::unexpected(self.status, "client error", &self.body)),
                }
            }
            status => Err(Error::unexpected(status, "server error", &self.body)),
        }
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

pub(crate) fn transport_error(error: reqwest::Error) -> Error {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    let message = if error.is_timeout() {
        "the request to ANAF timed out"
    } else {
        "the connection to ANAF failed"
    };
    Error::new(kind, message).with_source(error.without_url())
}

/// A 3xx from ANAF. The identity provider and the API gateway (F5) send browsers without a
/// session to the login wall `/my.policy`: that is its own error, not a server failure.
pub(crate) fn redirect_error(status: u16, location: Option<&str>) -> Error {
    // Only the path is kept: a Location's query could carry anything.
    let path = location.map(|l| l.split(['?', '#']).next().unwrap_or_default().to_owned());
    let error = if path.as_deref().is_some_and(|p| p.ends_with("/my.policy")) {
        Error::new(
            ErrorKind::Unauthorized,
            "ANAF redirected to its login wall (/my.policy) instead of answering",
        )
        .with_hint(
            "this endpoint wants a browser session with the certificate, not a token; it is not reachable from a \
             program (ANAF's revoke endpoint behaves like this)",
        )
    } else {
        Error::new(ErrorKind::UnexpectedResponse, "ANAF answered with a redirect")
            .with_hint("check the base URL; ANAF's APIs do not redirect")
    };
    let error = error.with_status(status);
    match path {
        Some(path) => error.with_anaf_message(format!("Location: {path}")),
        None => error,
    }
}

/// Reads a body of at most `cap` bytes into one buffer sized from Content-Length (no
/// regrowth: a download costs its size once). A larger or endless body is cut off with an
/// error as soon as it passes the cap. The buffer made up front is at most 16 MiB (above
/// ANAF's largest answer), so an announced size that never arrives costs little.
pub(crate) async fn read_body(mut response: reqwest::Response, cap: usize) -> Result<Bytes, Error> {
    let status = response.status().as_u16();
    let too_large = |size: String| {
        Error::new(
            ErrorKind::UnexpectedResponse,
            format!("ANAF's answer is larger than this client accepts ({size}; the limit is {cap} bytes)"),
        )
        .with_status(status)
        .with_hint("no ANAF answer is that large; raise ClientBuilder::max_response_bytes if this one is genuine")
    };
    let announced = response.content_length().unwrap_or(0);
    if announced > cap as u64 {
        return Err(too_large(format!("{announced} bytes announced")));
    }
    let mut buffer = BytesMut::with_capacity(announced.min(16 << 20) as usize);
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if buffer.len() + chunk.len() > cap {
            return Err(too_large(format!("more than {cap} bytes sent")));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

impl Client {
    /// Sends a call with the client's transport policy and returns ANAF's answer (not yet
    /// checked: see [`Reply::check`]).
    pub(crate) async fn send(&self, call: Call) -> Result<Reply, Error> {
        let span = tracing::info_span!(
            "anaf.call",
            operation = call.operation,
            method = %call.method,
            endpoint = call.url.path(),
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let result = self.send_with_policy(&call).await;
            let span = tracing::Span::current();
            span.record("duration_ms", started.elapsed().as_millis() as u64);
            match &result {
                Ok((reply, attempts)) => {
                    span.record("status", reply.status);
                    span.record("attempts", attempts);
                    tracing::debug!("answered");
                }
                Err(error) => tracing::debug!(kind = %error.kind(), "failed"),
            }
            result.map(|(reply, _)| reply)
        }
        .instrument(span)
        .await
    }

    /// Sends a call, checks the answer and reads it with `read`. When the answer is ANAF's
    /// own daily limit, the quota ledger records that budget as spent for the day, so no
    /// process sharing the ledger asks again before midnight.
    pub(crate) async fn fetch<T>(&self, call: Call, read: impl FnOnce(Reply) -> Result<T, Error>) -> Result<T, Error> {
        let charge = call.charge.clone();
        let result = self.send(call).await.and_then(Reply::check).and_then(read);
        if let (Err(error), Some(charge), Some(ledger)) = (&result, &charge, &self.inner.ledger)
            && error.kind() == ErrorKind::DailyLimit
        {
            let day = crate::quota::bucharest_day(chrono::Utc::now());
            let limit = self.inner.daily_limits.of(charge.counter);
            if let Err(failure) = ledger.exhaust(day, charge, limit).await {
                tracing::warn!(
                    counter = charge.counter.code(),
                    "the quota ledger could not record ANAF's daily limit: {failure}"
                );
            }
        }
        result
    }

    async fn charge_quota(&self, charge: &Charge) -> Result<(), Error> {
        let Some(ledger) = &self.inner.ledger else {
            return Ok(());
        };
        let now = chrono::Utc::now();
        let limit = self.inner.daily_limits.of(charge.counter);
        match ledger.charge(crate::quota::bucharest_day(now), charge, limit).await? {
            Some(used) => {
                tracing::trace!(counter = charge.counter.code(), used, limit, "quota charged");
                Ok(())
            }
            None => Err(crate::quota::exhausted(charge, limit, now)),
        }
    }

    async fn send_with_policy(&self, call: &Call) -> Result<(Reply, u32), Error> {
        let policy = &self.inner.retry;
        let idempotent = call.idempotency == Idempotency::Idempotent;
        let mut attempt = 0u32;
        let mut refreshed_after_401 = false;
        loop {
            attempt += 1;
            let http = self.http()?;
            let (token, generation) = if call.bearer {
                let (token, generation) = self.access_token().await?;
                (Some(token), generation)
            } else {
                (None, 0)
            };
            // ANAF's per-minute budget is api.anaf.ro's: calls with a token, counted only
            // once the token is in hand.
            if call.bearer
                && let Some(limiter) = &self.inner.limiter
            {
                limiter.acquire().await;
            }
            let mut request = http.request(call.method.clone(), call.url.clone());
            if let Some(token) = &token {
                request = request.bearer_auth(token.expose());
            }
            // Charged per request, retries included: ANAF counts what reaches it.
            if let Some(charge) = &call.charge {
                self.charge_quota(charge).await?;
            }
            if let Some((body, content_type)) = &call.body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, *content_type)
                    .body(body.clone());
            }
            if let Some(form) = &call.multipart {
                request = request.multipart(form());
            }
            let can_retry = idempotent && attempt < policy.max_attempts;
            if !idempotent {
                crate::cancel::note_upload_on_the_wire();
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    let connect = e.is_connect();
                    let error = transport_error(e);
                    if can_retry {
                        tracing::debug!(attempt, kind = %error.kind(), "transient failure; retrying");
                        tokio::time::sleep(policy.backoff(attempt)).await;
                        continue;
                    }
                    // A connect failure never reached ANAF; anything later may have.
                    return Err(if idempotent || connect {
                        error
                    } else {
                        error.with_outcome_unknown()
                    });
                }
            };
            let status = response.status().as_u16();
            if status == 401 && call.bearer && idempotent && !refreshed_after_401 && self.can_refresh() {
                refreshed_after_401 = true;
                tracing::debug!("401: refreshing the token once");
                self.renew(generation, token.clone(), crate::tokens::Trigger::Refused)
                    .await?;
                attempt -= 1;
                continue;
            }
            if (status == 429 || status >= 500) && can_retry {
                let wait = retry_after(response.headers()).unwrap_or_else(|| policy.backoff(attempt));
                if wait <= policy.max_retry_after {
                    tracing::debug!(status, wait_ms = wait.as_millis() as u64, "retrying after a wait");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let headers = response.headers().clone();
            let body = match read_body(response, self.inner.max_response_bytes).await {
                Ok(body) => body,
                Err(e) if can_retry && e.is_transient() => {
                    tracing::debug!(attempt, "body interrupted; retrying: {e}");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                    continue;
                }
                Err(error) => {
                    return Err(if idempotent {
                        error
                    } else {
                        error.with_outcome_unknown()
                    });
                }
            };
            let reply = Reply { status, headers, body };
            if !idempotent && status >= 500 {
                // A gateway error can come after the service accepted the request.
                let error = reply
                    .check()
                    .err()
                    .unwrap_or_else(|| Error::unexpected(status, "server error", b""));
                return Err(error.with_outcome_unknown());
            }
            return Ok((reply, attempt));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let policy = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..Default::default()
        };
        let largest = |attempt| (0..2000).map(|_| policy.backoff(attempt)).max().unwrap();
        // Full jitter: each delay is random below the exponential bound, which doubles per
        // attempt (100, 200, then capped at 300 ms).
        assert!(largest(1) <= Duration::from_millis(100) && largest(1) > Duration::from_millis(90));
        assert!(largest(2) <= Duration::from_millis(200) && largest(2) > Duration::from_millis(180));
        for attempt in 3..40 {
            assert!(largest(attempt) <= Duration::from_millis(300));
        }
        assert!(largest(5) > Duration::from_millis(270));
    }

    #[test]
    fn backoff_of_durations_beyond_the_calendar_does_not_panic() {
        let policy = RetryPolicy::default()
            .initial_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        for attempt in 0..70 {
            let _ = policy.backoff(attempt);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_never_admits_more_than_the_budget_in_a_window() {
        let limiter = Limiter::new(3);
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        // The fourth waits for the window (the paused clock jumps instead of sleeping).
        let fourth = tokio::time::timeout(Duration::from_secs(1), limiter.acquire()).await;
        assert!(fourth.is_err(), "the fourth request must wait");
    }
}
