//! The sandbox's admin API bodies (JSON), each given to the operation it drives on one
//! sandbox kept for the whole run: whatever the body, an operation succeeds or refuses with
//! a message, and the sandbox keeps serving.
#![no_main]

use std::sync::LazyLock;

use anaf_sandbox::{
    AppSpec, AuthorizeRequest, CompanySpec, FaultSpec, IdentitySpec, Sandbox, SandboxOptions, SeedRequest,
};
use libfuzzer_sys::fuzz_target;

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| Sandbox::start(SandboxOptions::default()).unwrap());

fn refused(result: Result<impl Sized, anaf_sandbox::SandboxError>) {
    if let Err(error) = result {
        assert!(!error.to_string().is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&operation, body)) = data.split_first() else {
        return;
    };
    let sandbox = &*SANDBOX;
    match operation % 6 {
        0 => {
            if let Ok(spec) = serde_json::from_slice::<AppSpec>(body) {
                refused(sandbox.register_app(spec));
            }
        }
        1 => {
            if let Ok(spec) = serde_json::from_slice::<IdentitySpec>(body) {
                refused(sandbox.add_identity(spec));
            }
        }
        2 => {
            if let Ok(spec) = serde_json::from_slice::<CompanySpec>(body) {
                refused(sandbox.set_company(spec));
            }
        }
        3 => {
            if let Ok(spec) = serde_json::from_slice::<FaultSpec>(body) {
                refused(sandbox.inject_fault(spec));
            }
        }
        4 => {
            if let Ok(request) = serde_json::from_slice::<AuthorizeRequest>(body) {
                refused(sandbox.authorize(&request));
            }
        }
        _ => {
            // Seeding is bounded by the sandbox (100 000 invoices); the run keeps it small to
            // stay fast.
            if let Ok(request) = serde_json::from_slice::<SeedRequest>(body)
                && request.count <= 20
            {
                refused(sandbox.seed_received_invoices(&request));
            }
        }
    }
});
