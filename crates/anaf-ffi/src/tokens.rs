//! Token persistence in the host (its own database) and token event notifications.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use anaf_core::{CallbackTokenStore, Error, TokenSet};
use zeroize::{Zeroize, Zeroizing};

use crate::anaf_status;
use crate::api::anaf_options;
use crate::support::{
    Release, anaf_error, c_string, guard, guard_value, handle_arg, handle_mut, opt_str_arg, secret_c_string, str_arg,
};

/// Where the load callback puts what it found. Valid only during the callback.
pub struct anaf_token_sink {
    json: Option<Zeroizing<String>>,
}

/// Loads the saved tokens: calls `anaf_token_sink_set(sink, json)` with the JSON it saved
/// (or nothing when there are none) and returns 0; any other value is a failure.
pub type anaf_token_load_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, sink: *mut anaf_token_sink) -> i32>;
/// Saves the tokens (`tokens_json`, secret: store it as it is, encrypted if you can) and
/// returns 0; any other value is a failure (the tokens stay in use and are saved again on
/// the next call).
pub type anaf_token_save_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, tokens_json: *const c_char) -> i32>;
/// Deletes the saved tokens (on `anaf_oauth_clear_tokens` and `anaf_oauth_revoke`); 0 on
/// success.
pub type anaf_token_clear_fn = Option<unsafe extern "C" fn(user_data: *mut c_void) -> i32>;
/// Takes an exclusive lock across processes (it may wait for it); 0 on success. The library
/// takes it around each refresh, so two programs never spend the same refresh token.
pub type anaf_token_lock_fn = Option<unsafe extern "C" fn(user_data: *mut c_void) -> i32>;
/// Releases the lock `anaf_token_lock_fn` took.
pub type anaf_token_unlock_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;
/// Receives a token event as JSON, without secrets: `{"event": "changed" | "save_failed" |
/// "saved" | "login_required" | "cleared", ...}`.
pub type anaf_token_event_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;
/// Called exactly once when the library will not use a `user_data` any more (e.g. to free a
/// .NET GCHandle or a Delphi object). It runs on whichever thread lets go of the last use: a
/// library thread, or inside the host's own `anaf_options_free`, `anaf_client_free`,
/// `anaf_token_store_free`, or an `anaf_options_set_token_event_callback` that replaces the
/// callback or passes NULL (it may free the host's object, but must not call those functions
/// itself). When the call that was given `release` fails, `release` is never called and
/// `user_data` stays the host's.
pub type anaf_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

type Load = unsafe extern "C" fn(*mut c_void, *mut anaf_token_sink) -> i32;
type Save = unsafe extern "C" fn(*mut c_void, *const c_char) -> i32;
type Clear = unsafe extern "C" fn(*mut c_void) -> i32;
type Unlock = unsafe extern "C" fn(*mut c_void);

/// A token store whose callbacks are the host's, so it keeps the tokens where it keeps its
/// data. The callbacks run on library threads (one at a time per store operation; never two
/// saves at once for one client); `user_data` is passed back to each. Made by
/// `anaf_token_store_new`, given to options with `anaf_options_set_token_store`, freed by
/// `anaf_token_store_free`.
pub struct anaf_token_store {
    load: Load,
    save: Save,
    clear: Option<Clear>,
    lock: Option<(Clear, Unlock)>,
    sharing_key: Option<String>,
    /// Shared by this handle and every store made from it; the host's release runs when the
    /// last one goes.
    user_data: Arc<Release>,
}

/// Sets the JSON the load callback found. Only inside the load callback; the text is copied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_token_sink_set(
    sink: *mut anaf_token_sink,
    tokens_json: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or the sink of a running load callback per the contract.
        let sink = unsafe { handle_mut(sink, "sink") }?;
        // SAFETY: NULL or a NUL-terminated string per the contract.
        sink.json = Some(Zeroizing::new(
            unsafe { str_arg(tokens_json, "tokens_json") }?.to_owned(),
        ));
        Ok(())
    })
}

/// Makes a token store from the host's load and save callbacks (both required). `release`
/// (may be NULL) is called once when the library no longer uses `user_data`: after this
/// handle is freed and every client (and options object) given the store is freed and done.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_token_store_new(
    load: anaf_token_load_fn,
    save: anaf_token_save_fn,
    release: anaf_release_fn,
    user_data: *mut c_void,
    out_store: *mut *mut anaf_token_store,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        crate::support::out_arg(out_store, "out_store")?;
        let load = load.ok_or_else(|| Error::invalid_input("load", "`load` is NULL"))?;
        let save = save.ok_or_else(|| Error::invalid_input("save", "`save` is NULL"))?;
        let store = anaf_token_store {
            load,
            save,
            clear: None,
            lock: None,
            sharing_key: None,
            user_data: Arc::new(Release::new(release, user_data)),
        };
        // SAFETY: checked above.
        unsafe { crate::support::write_out(out_store, store) };
        Ok(())
    })
}

/// Adds the clear callback (without it, clearing forgets only the copy in memory).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_token_store_set_clear(
    store: *mut anaf_token_store,
    clear: anaf_token_clear_fn,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live store used by one thread per the contract.
        unsafe { handle_mut(store, "store") }?.clear = clear;
        Ok(())
    })
}

/// Adds a lock across processes, taken around each refresh (both callbacks, or both NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_token_store_set_lock(
    store: *mut anaf_token_store,
    lock: anaf_token_lock_fn,
    unlock: anaf_token_unlock_fn,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live store used by one thread per the contract.
        let store = unsafe { handle_mut(store, "store") }?;
        store.lock = match (lock, unlock) {
            (Some(lock), Some(unlock)) => Some((lock, unlock)),
            (None, None) => None,
            _ => {
                return Err(Error::invalid_input(
                    "unlock",
                    "give both `lock` and `unlock`, or neither",
                ));
            }
        };
        Ok(())
    })
}

/// Names the storage these callbacks reach (e.g. "erp-db:company-42"): every client of this
/// process whose store has the same name shares one token manager (one refresh at a time),
/// even when the program makes a new client per operation. NULL removes the name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_token_store_set_sharing_key(
    store: *mut anaf_token_store,
    sharing_key: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live store used by one thread per the contract.
        let store = unsafe { handle_mut(store, "store") }?;
        // SAFETY: NULL or a NUL-terminated string per the contract.
        store.sharing_key = unsafe { opt_str_arg(sharing_key, "sharing_key") }?.map(str::to_owned);
        Ok(())
    })
}

/// Frees a store handle. NULL is ignored. Options and clients it was given to keep working.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_token_store_free(store: *mut anaf_token_store) {
    if !store.is_null() {
        // SAFETY: made by Box::into_raw here, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(store) }));
    }
}

fn failed(what: &str, code: i32) -> String {
    format!("the host's token {what} callback returned {code}")
}

impl anaf_token_store {
    fn to_core(&self) -> CallbackTokenStore {
        let (load, save) = (self.load, self.save);
        let user_data = self.user_data.clone();
        let mut store = CallbackTokenStore::new(
            move || {
                let mut sink = anaf_token_sink { json: None };
                // SAFETY: the host's callback with its user_data and a sink valid for the call.
                let code = unsafe { load(user_data.user_data(), &mut sink) };
                if code != 0 {
                    return Err(failed("load", code));
                }
                sink.json
                    .map(|json| TokenSet::from_json(&json).map_err(|e| e.to_string()))
                    .transpose()
            },
            {
                let user_data = self.user_data.clone();
                move |tokens| {
                    let json = secret_c_string(tokens.to_json());
                    // SAFETY: the host's callback with its user_data and a string valid for the call.
                    let code = unsafe { save(user_data.user_data(), json.as_ptr()) };
                    Zeroize::zeroize(&mut json.into_bytes());
                    match code {
                        0 => Ok(()),
                        code => Err(failed("save", code)),
                    }
                }
            },
        );
        if let Some(clear) = self.clear {
            let user_data = self.user_data.clone();
            // SAFETY: the host's callback with its user_data.
            store = store.with_clear(move || match unsafe { clear(user_data.user_data()) } {
                0 => Ok(()),
                code => Err(failed("clear", code)),
            });
        }
        if let Some((lock, unlock)) = self.lock {
            let (for_lock, for_unlock) = (self.user_data.clone(), self.user_data.clone());
            store = store.with_lock(
                // SAFETY: the host's callbacks with its user_data.
                move || match unsafe { lock(for_lock.user_data()) } {
                    0 => Ok(()),
                    code => Err(failed("lock", code)),
                },
                // SAFETY: as above.
                move || unsafe { unlock(for_unlock.user_data()) },
            );
        }
        if let Some(key) = &self.sharing_key {
            store = store.with_sharing_key(key.clone());
        }
        store
    }
}

/// Keeps the tokens through the host's callbacks. Clients made from these options share one
/// store (and one refresh at a time). The options take the store as it is now: set its
/// clear, lock and sharing key first (later changes to the handle do not reach them). The
/// store handle may be freed afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_token_store(
    options: *mut anaf_options,
    store: *const anaf_token_store,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or live handles per the contract.
        let (options, store) = unsafe { (handle_mut(options, "options")?, handle_arg(store, "store")?) };
        options.builder = options.builder.clone().shared_token_store(Arc::new(store.to_core()));
        Ok(())
    })
}

/// The host's token event callback, kept by the options until a client is made.
#[derive(Clone)]
pub(crate) struct EventHook {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char),
    /// Shared by the options and every client's copy; the host's release runs with the last.
    user_data: Arc<Release>,
}

impl EventHook {
    pub(crate) fn into_hook(self) -> impl Fn(&anaf_core::TokenEvent) + Send + Sync + 'static {
        move |event| {
            let json = c_string(&serde_json::to_string(event).unwrap_or_default());
            // SAFETY: the host's callback with its user_data and a string valid for the call.
            let _ = std::panic::catch_unwind(|| unsafe { (self.callback)(self.user_data.user_data(), json.as_ptr()) });
        }
    }
}

/// Calls `callback` with every token event (new tokens after a login or a refresh, a save
/// that failed, a login now required, ...), as JSON without secrets, on a library thread, in
/// order, without holding up any call. Clients made from these options afterwards get it; a
/// second call replaces the callback, NULL removes it. `release` (may be NULL) is called
/// once when the library no longer uses `user_data`: after the options and every client made
/// with this callback are freed and their queued events delivered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_token_event_callback(
    options: *mut anaf_options,
    callback: anaf_token_event_fn,
    release: anaf_release_fn,
    user_data: *mut c_void,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live handle per the contract.
        let options = unsafe { handle_mut(options, "options") }?;
        let release = Arc::new(Release::new(release, user_data));
        options.token_event = callback.map(|callback| EventHook {
            callback,
            user_data: release,
        });
        Ok(())
    })
}
