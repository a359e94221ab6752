//! The client's logs handed to one sink in the host language (the C callback, Python's
//! `logging`, a Node callback): a `tracing` layer that formats each event with the fields of
//! the spans it happens in (the operation, the endpoint, the HTTP status, the duration).
//! Logs never contain tokens, secrets or codes. Cargo feature `log-bridge`.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

pub use tracing::Level;

use crate::error::Error;

/// Where log lines go: `target` is the module ("anaf::transport"), `message` the text with
/// its fields ("answered operation=\"efactura.status\" status=200 attempts=1 duration_ms=3").
/// Called on the thread that logged: a runtime thread, or a blocking call's own.
pub trait LogSink: Send + Sync {
    fn log(&self, level: Level, target: &str, message: &str);
}

struct Installed {
    sink: Arc<dyn LogSink>,
    max_level: Level,
}

static SINK: RwLock<Option<Installed>> = RwLock::new(None);
/// Whether our subscriber became the process's (once; the answer is kept).
static SUBSCRIBER: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    /// Set while this thread runs the sink.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Sends the client's logs at `max_level` and more severe to `sink` (`None`: stop).
/// Process-wide; a later call replaces the sink, and once it returns the previous sink is not
/// running and will not be called again. Lines logged while the sink runs on the same thread
/// are dropped (no recursion), and a call from inside the sink is refused (field `thread`).
/// In a process where another global `tracing` subscriber is installed this is an `internal`
/// error.
pub fn set_sink(sink: Option<(Arc<dyn LogSink>, Level)>) -> Result<(), Error> {
    if IN_SINK.with(Cell::get) {
        return Err(Error::invalid_input(
            "thread",
            "the log sink cannot be changed from inside the log sink",
        ));
    }
    SUBSCRIBER
        .get_or_init(|| {
            tracing_subscriber::registry()
                .with(Bridge)
                .try_init()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::internal(format!("another logger is already installed in this process: {e}")))?;
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink.map(|(sink, max_level)| Installed { sink, max_level });
    Ok(())
}

/// A span's fields as text, kept in the span's extensions.
struct SpanFields(String);

struct Bridge;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Bridge {
    /// Asked per event (a read of the level), not cached per callsite: the level changes at
    /// run time, and an answer cached inside the sink would stick.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        // Inside the sink this thread holds the read lock already: taking it again could
        // deadlock behind a waiting writer.
        if IN_SINK.with(Cell::get) {
            return false;
        }
        let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
        sink.as_ref().is_some_and(|s| *metadata.level() <= s.max_level)
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
        if IN_SINK.with(Cell::get) {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    line.text.push_str(fields);
                }
            }
        }
        // The read lock is held while the sink runs, so that once `set_sink` returns the
        // previous sink is not running; the flag keeps this thread from taking it again.
        let installed = SINK.read().unwrap_or_else(|e| e.into_inner());
        let Some(installed) = installed.as_ref().filter(|s| *event.metadata().level() <= s.max_level) else {
            return;
        };
        IN_SINK.with(|c| c.set(true));
        let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            installed
                .sink
                .log(*event.metadata().level(), event.metadata().target(), &line.text)
        }));
        IN_SINK.with(|c| c.set(false));
        drop(delivered);
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
