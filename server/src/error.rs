//! The service's one error type and the one place where it becomes an HTTP
//! response: `{"error":{"code","message"}}`. Internal errors are logged and
//! answered with a generic message, so that no SQL, path or secret leaks.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// `Result` with the service error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while serving a request or starting up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (bad JSON, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// The JSON is well formed but does not fit the expected shape.
    #[error("{0}")]
    Unprocessable(String),
    /// The body is not declared as JSON.
    #[error("expected a request with Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// No or an unknown bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The access decision denied the request; carries the deciding rule.
    #[error("denied by rule {rule}")]
    Forbidden {
        /// Name of the rule that decided.
        rule: String,
    },
    /// No such resource or route.
    #[error("{0} not found")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A token bucket is empty.
    #[error("rate limit exceeded, retry after {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until a request would be accepted.
        retry_after_secs: u64,
    },
    /// A batch with more items than the caller's rate limit lets through
    /// at once: it could never pass, so it is not answered 429.
    #[error(
        "a batch of {items} items is more than this caller's rate limit lets through at once: send at most {max} items per batch"
    )]
    BatchTooLarge {
        /// Items in the batch.
        items: usize,
        /// The largest batch the limit allows (the principal's burst).
        max: u32,
    },
    /// The request did not finish within the configured time.
    #[error("request timed out")]
    Timeout,
    /// The audit log could not durably record the event: fail closed.
    #[error("audit log unavailable")]
    AuditUnavailable,
    /// A proof job's `queued` event could not be appended: no job exists.
    #[error("audit log unavailable: the proof job was not created; submit it again later")]
    JobNotCreated,
    /// A dependency (database) is not reachable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The proof queue is full; try again later.
    #[error("the proof queue is full; retry later")]
    QueueFull,
    /// A feature this build does not provide yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// Invalid configuration (start-up only).
    #[error("configuration: {0}")]
    Config(String),
    /// Database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migration failure (start-up only).
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// File-system failure.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A worker's keys do not prove the circuit's statements (its proof
    /// did not verify under the key): logged, and a job's failure code.
    #[error("key mismatch: {0}")]
    KeyMismatch(String),
    /// Any other internal failure; the message is logged, never returned.
    #[error("internal: {0}")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Machine-readable code and human-readable message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable code, e.g. `forbidden`, `rate_limited`.
    pub code: String,
    /// Explanation safe to show to the caller.
    pub message: String,
}

/// Put on error responses so that the metrics layer can count by code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub &'static str);

impl Error {
    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            Error::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Error::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::BatchTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"),
            Error::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Error::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
            Error::JobNotCreated => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
            Error::QueueFull => (StatusCode::SERVICE_UNAVAILABLE, "queue_full"),
            Error::Database(e) if is_unavailable(e) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Error::Config(_)
            | Error::Database(_)
            | Error::Migrate(_)
            | Error::Io(_)
            | Error::KeyMismatch(_)
            | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// `Retry-After` of a 503 other than a full queue: long enough for a
/// database failover or a reconnection, short enough not to idle.
pub(crate) const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

/// Whether a database error says the database cannot be reached or cannot
/// take writes now (a pool timeout, a lost or refused connection, a server
/// shutting down, a full disk, a lock held too long), rather than that a
/// statement is wrong: the request may succeed later, so it is answered
/// 503 with `Retry-After`, not 500.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| unavailable_code(&c)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of class 08 (connection exception), 53
/// (insufficient resources: disk full, too many connections) and the
/// shutdown codes 57P01..57P03; SQLite's result codes BUSY (5), LOCKED
/// (6), READONLY (8), IOERR (10), FULL (13) and CANTOPEN (14), extended
/// codes included (their low byte is the primary code).
fn unavailable_code(code: &str) -> bool {
    // A PostgreSQL SQLSTATE is always five characters, and may be all
    // digits (08006, 53100); SQLite's extended result codes have at most
    // four digits.
    if code.len() == 5 {
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03");
    }
    code.parse::<u32>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Error::Unavailable(_) => "service unavailable".to_string(),
            Error::Database(_) if code == "unavailable" => {
                tracing::warn!(error = %self, "database unavailable");
                "service unavailable: the database does not answer; retry later".to_string()
            }
            _ if status.is_server_error()
                && !matches!(
                    self,
                    Error::AuditUnavailable
                        | Error::JobNotCreated
                        | Error::NotImplemented(_)
                        | Error::QueueFull
                ) =>
            {
                tracing::error!(error = %self, "internal error");
                "internal error".to_string()
            }
            _ => self.to_string(),
        };
        if matches!(
            self,
            Error::Unavailable(_) | Error::AuditUnavailable | Error::JobNotCreated
        ) {
            tracing::warn!(error = %self, "unavailable");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Error::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let Error::QueueFull = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(5u32));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            // An outage or a full disk passes; a client may come back.
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        response.extensions_mut().insert(ErrorCode(code));
        response
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(e) => Error::BadRequest(e.body_text()),
            JsonRejection::JsonDataError(e) => Error::Unprocessable(e.body_text()),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
            other => Error::BadRequest(other.body_text()),
        }
    }
}

impl From<zkr_keys::Error> for Error {
    fn from(e: zkr_keys::Error) -> Self {
        use zkr_keys::Error as K;
        match e {
            K::UnknownKey { .. } => Error::NotFound(e.to_string()),
            K::KeyExists(_)
            | K::KeyRetired { .. }
            | K::KeyNotActive { .. }
            | K::NoPrivateKey { .. }
            | K::Rotation { .. } => Error::Conflict(e.to_string()),
            K::Malformed { .. }
            | K::LowOrderPublicKey
            | K::WrongKeyKind { .. }
            | K::NoUsableRecipient(_)
            | K::InvalidArgument(_) => Error::Unprocessable(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<zkr_store::Error> for Error {
    fn from(e: zkr_store::Error) -> Self {
        use zkr_store::Error as S;
        match e {
            S::Config(m) => Error::Config(m),
            S::Database(e) => Error::Database(e),
            S::Migrate(e) => Error::Migrate(e),
            S::Io(e) => Error::Io(e),
        }
    }
}

impl From<zkr_artifacts::Error> for Error {
    fn from(e: zkr_artifacts::Error) -> Self {
        // A key directory belongs to the operator, not to the client: any
        // problem with it is internal.
        Error::Internal(e.to_string())
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let response = Error::Internal("secret path /etc/zkr/kek".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
        assert_eq!(code, Some("internal"));
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            let response = Error::Database(e).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
            let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
            assert_eq!(code, Some("unavailable"));
        }
        // A statement that is wrong stays an internal error.
        let response = Error::Database(sqlx::Error::RowNotFound).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
        for (code, unavailable) in [
            ("08006", true),
            ("57P01", true),
            ("53100", true),
            ("23505", false),
            ("42P01", false),
            ("13", true),
            ("778", true),
            ("5", true),
            ("19", false),
            ("787", false),
        ] {
            assert_eq!(unavailable_code(code), unavailable, "{code}");
        }
    }

    #[test]
    fn every_503_tells_when_to_retry() {
        for e in [
            Error::Unavailable("db".into()),
            Error::AuditUnavailable,
            Error::JobNotCreated,
        ] {
            let response = e.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let response = Error::RateLimited {
            retry_after_secs: 3,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }
}
