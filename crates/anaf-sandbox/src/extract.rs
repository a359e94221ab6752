//! The `{test|prod}` path segment, as an extractor: any other value gets the Spring-style 404
//! ANAF answers, naming the path that was asked for.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use crate::envelopes::spring_404;
use crate::model::Env;
use crate::state::Shared;

pub(crate) struct AnafEnv {
    pub env: Env,
    /// The request path, for 404s the handler itself decides on.
    pub path: String,
}

impl FromRequestParts<Arc<Shared>> for AnafEnv {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path().to_owned();
        let segment = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        match Env::parse(segment) {
            Some(env) => Ok(AnafEnv { env, path }),
            None => Err(spring_404(shared.now(), &path)),
        }
    }
}
