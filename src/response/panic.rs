//! A panicking handler answers 500 instead of dropping the connection.
//!
//! tower-http's `CatchPanic` does the same but boxes every response body a second time, on the
//! path every protected request takes; the stack's bodies are already `axum::body::Body`, so
//! this passes them through untouched. It is one step of the stack's envelope.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// Runs `f`, catching a panic in it. The request's call and every poll of its answer run
/// inside this, so one handler's bug costs one response, not the connection.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Panicked)
}

/// A caught panic: answered with a 500, logged with its message.
pub struct Panicked(Box<dyn Any + Send + 'static>);

impl IntoResponse for Panicked {
    fn into_response(self) -> Response {
        let message = self
            .0
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| self.0.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        tracing::error!(panic = message, "handler panicked");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_500_and_a_value_passes() {
        let panicked = guarded(|| -> u8 { panic!("in a handler") });
        let status =
            |r: Result<u8, Panicked>| r.map_err(IntoResponse::into_response).unwrap_err().status();
        assert_eq!(status(panicked), StatusCode::INTERNAL_SERVER_ERROR);
        let owned = guarded(|| -> u8 { panic!("{}", String::from("formatted")) });
        assert_eq!(status(owned), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(guarded(|| 7).ok(), Some(7));
    }
}
