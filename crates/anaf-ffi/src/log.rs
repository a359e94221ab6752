//! The core's logs (already redacted: no token, secret or code is ever logged) delivered to
//! one host callback, with the fields of the spans they happen in (the operation, the
//! endpoint, the HTTP status, the duration).

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::sync::{OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::anaf_status;
use crate::support::{HostPtr, anaf_error, c_string, guard};

/// Log levels, most severe first. A callback set for a level gets it and every more severe one.
pub const ANAF_LOG_OFF: i32 = 0;
pub const ANAF_LOG_ERROR: i32 = 1;
pub const ANAF_LOG_WARN: i32 = 2;
pub const ANAF_LOG_INFO: i32 = 3;
pub const ANAF_LOG_DEBUG: i32 = 4;
pub const ANAF_LOG_TRACE: i32 = 5;

/// Receives one log line: its level (`ANAF_LOG_*`), where it comes from (e.g.
/// "anaf::transport") and the message with its fields and those of the operation it belongs
/// to ("answered operation=\"efactura.status\" status=200 attempts=1 duration_ms=3").
/// Called on the thread that logged: a library thread, or the host's own thread during a
/// blocking call; possibly on several threads at once. Lines logged while the callback runs
/// on that same thread are dropped (no recursion).
pub type anaf_log_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, target: *const c_char, message: *const c_char)>;

struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
    user_data: HostPtr,
    max_level: i32,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
/// Whether our subscriber became the process's (once; the answer is kept).
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    /// Set while this thread runs the host's log callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

fn level_number(level: &Level) -> i32 {
    match *level {
        Level::ERROR => ANAF_LOG_ERROR,
        Level::WARN => ANAF_LOG_WARN,
        Level::INFO => ANAF_LOG_INFO,
        Level::DEBUG => ANAF_LOG_DEBUG,
        Level::TRACE => ANAF_LOG_TRACE,
    }
}

/// A span's fields as text, kept in the span's extensions.
struct SpanFields(String);

struct HostLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for HostLayer {
    /// Asked per event (a read of the level), not cached per callsite: the level changes at
    /// run time, and an answer cached inside a callback would stick.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        // Inside the host's callback this thread holds the read lock already: taking it again
        // could deadlock behind a waiting writer.
        if IN_CALLBACK.with(Cell::get) {
            return false;
        }
        let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
        sink.as_ref()
            .is_some_and(|s| level_number(metadata.level()) <= s.max_level)
    }

    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Line::default();
        attributes.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.text));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(SpanFields(text)) = extensions.get_mut::<SpanFields>() {
                let mut more = Line::default();
                values.record(&mut more);
                text.push_str(&more.text);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if IN_CALLBACK.with(Cell::get) {
            return;
        }
        let level = level_number(event.metadata().level());
        let mut line = Line::default();
        event.record(&mut line);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    line.text.push_str(fields);
                }
            }
        }
        let target = c_string(event.metadata().target());
        let message = c_string(&line.text);
        // The read lock is held while the host runs, so that once `anaf_set_log_callback`
        // returns the previous callback is not running; the flag keeps this thread from
        // taking it again (a nested line, or a call to `anaf_set_log_callback` from inside).
        let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
        let Some(sink) = sink.as_ref().filter(|s| level <= s.max_level) else {
            return;
        };
        IN_CALLBACK.with(|c| c.set(true));
        // SAFETY: the host's callback with its user_data and strings valid for the call.
        let _ = std::panic::catch_unwind(|| unsafe {
            (sink.callback)(sink.user_data.get(), level, target.as_ptr(), message.as_ptr())
        });
        IN_CALLBACK.with(|c| c.set(false));
    }
}

/// "message key=value key=value".
#[derive(Default)]
struct Line {
    text: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}{fields}");
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }
}

/// Sends the library's logs at `max_level` (`ANAF_LOG_*`) and more severe to `callback`
/// (NULL or ANAF_LOG_OFF: stop). Logs never contain tokens, secrets or codes. Process-wide;
/// a second call replaces the first, and once it returns the previous callback is not
/// running and will not be called again (its `user_data` is free). Refused (field "thread")
/// from inside the log callback. In a process where Rust code already installed a global
/// `tracing` subscriber this returns ANAF_INTERNAL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_set_log_callback(
    max_level: i32,
    callback: anaf_log_fn,
    user_data: *mut c_void,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        if !(ANAF_LOG_OFF..=ANAF_LOG_TRACE).contains(&max_level) {
            return Err(anaf_core::Error::invalid_input(
                "max_level",
                format!("`max_level` must be ANAF_LOG_OFF (0) to ANAF_LOG_TRACE (5), not {max_level}"),
            ));
        }
        if IN_CALLBACK.with(Cell::get) {
            return Err(anaf_core::Error::invalid_input(
                "thread",
                "the log callback cannot be changed from inside the log callback",
            ));
        }
        INSTALLED
            .get_or_init(|| {
                tracing_subscriber::registry()
                    .with(HostLayer)
                    .try_init()
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| {
                anaf_core::Error::internal(format!("another logger is already installed in this process: {e}"))
            })?;
        *SINK.write().unwrap_or_else(|e| e.into_inner()) = match callback {
            Some(callback) if max_level > ANAF_LOG_OFF => Some(Sink {
                callback,
                user_data: HostPtr(user_data),
                max_level,
            }),
            _ => None,
        };
        Ok(())
    })
}
