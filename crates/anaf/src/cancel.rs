//! Cancellation: stop an operation from another task or thread and get an error that says
//! what already happened. A dropped future says nothing; the C ABI's async calls, Python's
//! task cancellation and Node's `AbortSignal` go through [`cancellable`] instead, so an
//! upload stopped after it went on the wire comes back marked "outcome unknown" (look for it
//! before sending it again), and one stopped after ANAF accepted it carries its upload id.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use tokio_util::sync::CancellationToken;

use crate::error::Error;

/// What an operation has done so far that a cancellation must not hide.
#[derive(Default)]
pub(crate) struct Progress {
    upload_on_the_wire: AtomicBool,
    /// `index_incarcare` of an accepted upload (0: none; ANAF's indexes start far above).
    accepted_upload: AtomicU64,
}

tokio::task_local! {
    static PROGRESS: Arc<Progress>;
}

/// Called by the transport just before a non-idempotent request (an upload) is sent.
pub(crate) fn note_upload_on_the_wire() {
    let _ = PROGRESS.try_with(|p| p.upload_on_the_wire.store(true, Ordering::SeqCst));
}

/// Called once ANAF has accepted an upload.
pub(crate) fn note_upload_accepted(upload_id: u64) {
    let _ = PROGRESS.try_with(|p| p.accepted_upload.store(upload_id, Ordering::SeqCst));
}

/// Runs `operation` until it ends or `cancel` fires. On cancellation the operation is
/// dropped and the error is [`crate::ErrorKind::Cancelled`]:
///
/// - with [`Error::upload_id`] when an upload was already accepted (e.g. `upload_and_wait`
///   cancelled while polling): the invoice is at ANAF; follow it with `status`;
/// - with [`Error::upload_outcome_unknown`] when an upload was on the wire without an answer:
///   it may have been accepted; look for it in the message list before sending it again;
/// - plain otherwise: nothing was sent that changes anything at ANAF.
///
/// ```no_run
/// # async fn run(client: anaf::Client, xml: Vec<u8>) -> Result<(), anaf::Error> {
/// let cancel = anaf::CancellationToken::new();
/// let stop = cancel.clone(); // e.g. fired by a "Cancel" button
/// let receipt = anaf::cancellable(&cancel, client.efactura().upload(xml, "RO8000000000", Default::default())).await?;
/// # let _ = (stop, receipt); Ok(()) }
/// ```
pub async fn cancellable<T>(
    cancel: &CancellationToken,
    operation: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let progress = Arc::new(Progress::default());
    let run = PROGRESS.scope(progress.clone(), operation);
    // Cancellation first: a token already fired never starts the operation, and one that
    // fires while the result is ready still reports what happened (an accepted upload's id).
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(cancelled(&progress)),
        result = run => result,
    }
}

fn cancelled(progress: &Progress) -> Error {
    let error = Error::cancelled();
    match progress.accepted_upload.load(Ordering::SeqCst) {
        0 if progress.upload_on_the_wire.load(Ordering::SeqCst) => error.with_outcome_unknown().with_hint(
            "the upload was cancelled after it was sent: ANAF may have accepted it; look for it in the message list \
             before sending it again",
        ),
        0 => error,
        upload_id => error
            .with_upload_id(upload_id)
            .with_hint("ANAF had already accepted the upload; follow it with status(upload_id)"),
    }
}
