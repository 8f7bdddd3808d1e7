//! The control API's errors: Toxiproxy's `{"error": "...", "status": N}` answers, and what can go
//! wrong starting the API itself.

use std::net::SocketAddr;

/// An answer the control API gives instead of success, in Toxiproxy's shape and words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} ({status})")]
pub struct ApiError {
    /// The message, Toxiproxy's where Toxiproxy has one (`proxy not found`).
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl ApiError {
    fn new(message: impl Into<String>, status: u16) -> ApiError {
        ApiError {
            message: message.into(),
            status,
        }
    }

    /// 400 `bad request body: ...`.
    pub fn bad_body(detail: String) -> ApiError {
        ApiError::new(format!("bad request body: {detail}"), 400)
    }

    /// A body that is not the JSON expected, with serde's words for where and why.
    pub fn from_json(error: serde_json::Error) -> ApiError {
        ApiError::bad_body(error.to_string())
    }

    /// 404 for a lab part egresslab's own routes name and the lab does not have.
    pub fn no_such(kind: &str, name: &str, known: &[String]) -> ApiError {
        ApiError::new(
            format!(
                "this lab has no {kind} {name:?} (it has: {})",
                known.join(", ")
            ),
            404,
        )
    }

    /// 400 `missing required field: FIELD`.
    pub fn missing(field: &str) -> ApiError {
        ApiError::new(format!("missing required field: {field}"), 400)
    }

    /// 400 `invalid toxic type`, with the types there are.
    pub fn invalid_type() -> ApiError {
        ApiError::new(
            format!(
                "invalid toxic type (expected one of {})",
                super::toxic::TOXIC_TYPES.join(", ")
            ),
            400,
        )
    }

    /// 400 for a stream that is neither direction.
    pub fn invalid_stream() -> ApiError {
        ApiError::new(
            "stream was invalid, can be either upstream or downstream",
            400,
        )
    }

    /// 404 `proxy not found`.
    pub fn proxy_not_found() -> ApiError {
        ApiError::new("proxy not found", 404)
    }

    /// 404 `toxic not found`.
    pub fn toxic_not_found() -> ApiError {
        ApiError::new("toxic not found", 404)
    }

    /// 409 `proxy already exists`.
    pub fn proxy_exists() -> ApiError {
        ApiError::new("proxy already exists", 409)
    }

    /// 409 `toxic already exists`.
    pub fn toxic_exists() -> ApiError {
        ApiError::new("toxic already exists", 409)
    }

    /// 403: what a client asked for would make the lab relay somewhere it must not.
    pub fn forbidden(message: String) -> ApiError {
        ApiError::new(message, 403)
    }

    /// 404 for a path the API does not have.
    pub fn no_route(method: &str, path: &str) -> ApiError {
        ApiError::new(format!("no route {method} {path}"), 404)
    }

    /// 405 for a path that exists with another method.
    pub fn method(method: &str, path: &str) -> ApiError {
        ApiError::new(format!("method {method} not allowed on {path}"), 405)
    }

    /// 500 for a listener that cannot be bound (`listen` in use, say).
    pub fn listen(address: &str, error: &std::io::Error) -> ApiError {
        ApiError::new(format!("listen {address}: {error}"), 500)
    }

    /// What is wrong, without the `bad request body:` prefix of a 400 (for a scenario file's
    /// error, which has no request body).
    pub fn detail(&self) -> &str {
        self.message
            .strip_prefix("bad request body: ")
            .unwrap_or(&self.message)
    }

    /// The JSON body of this answer.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.message, "status": self.status })
    }
}

/// Why the control API could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// A non-loopback address was asked for without allowing it.
    #[error("the control API address {address} is not loopback; allow it explicitly (--control-remote) to expose the API")]
    NotLoopback {
        /// The address asked for.
        address: SocketAddr,
    },
    /// Its listener could not be bound.
    #[error("cannot bind the control API on {address}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
