//! The core's logs (redacted: no token, secret or code is ever logged) delivered to one host
//! callback, through the core's `log_bridge`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use anaf_core::log_bridge::{Level, LogSink};

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

struct HostLog {
    callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
    user_data: HostPtr,
}

impl LogSink for HostLog {
    fn log(&self, level: Level, target: &str, message: &str) {
        let (target, message) = (c_string(target), c_string(message));
        // SAFETY: the host's callback with its user_data and strings valid for the call.
        unsafe {
            (self.callback)(
                self.user_data.get(),
                level_number(level),
                target.as_ptr(),
                message.as_ptr(),
            )
        };
    }
}

fn level_number(level: Level) -> i32 {
    match level {
        Level::ERROR => ANAF_LOG_ERROR,
        Level::WARN => ANAF_LOG_WARN,
        Level::INFO => ANAF_LOG_INFO,
        Level::DEBUG => ANAF_LOG_DEBUG,
        _ => ANAF_LOG_TRACE,
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
        let level = match max_level {
            ANAF_LOG_OFF => None,
            ANAF_LOG_ERROR => Some(Level::ERROR),
            ANAF_LOG_WARN => Some(Level::WARN),
            ANAF_LOG_INFO => Some(Level::INFO),
            ANAF_LOG_DEBUG => Some(Level::DEBUG),
            ANAF_LOG_TRACE => Some(Level::TRACE),
            other => {
                return Err(anaf_core::Error::invalid_input(
                    "max_level",
                    format!("`max_level` must be ANAF_LOG_OFF (0) to ANAF_LOG_TRACE (5), not {other}"),
                ));
            }
        };
        let sink = callback.zip(level).map(|(callback, level)| {
            let sink: Arc<dyn LogSink> = Arc::new(HostLog {
                callback,
                user_data: HostPtr(user_data),
            });
            (sink, level)
        });
        anaf_core::log_bridge::set_sink(sink)
    })
}
