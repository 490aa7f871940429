//! The one mapping from every failure of the server (domain refusals, log errors, authentication,
//! limits, malformed requests) to a GraphQL error with a stable `extensions.code`.
//!
//! [`ApiError`] deliberately does not implement `Display`: async-graphql converts any `Display`
//! type into an error *without* a code, so a resolver that writes `domain_result?` would lose the
//! code silently. Resolvers return `async_graphql::Result<T>` and convert through `ApiError`
//! (`.map_err(ApiError::from)?`); `From<ApiError> for async_graphql::Error` attaches the code.
//! Errors that async-graphql itself raises (parse, validation, limits) get their code in
//! [`label_response`], run on every response, over HTTP and WebSocket alike.

use async_graphql::{ErrorExtensionValues, Response, ServerError};
use eventlog::{AppendError, ReadError};

/// Codes a client can rely on, in `errors[].extensions.code`.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const CONFLICT: &str = "CONFLICT";
    pub const INVALID: &str = "INVALID";
    pub const DEADLINE_PASSED: &str = "DEADLINE_PASSED";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
    /// The request itself is not a GraphQL request the server can run: malformed JSON, a
    /// syntax error, an unknown field, a wrong argument type, a mutation over GET.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    pub const INTERNAL: &str = "INTERNAL";
}

/// Every way an API call can fail, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No valid bearer token: missing where needed, expired, revoked or forged.
    Unauthenticated(String),
    /// The viewer is known but the policy refuses.
    Forbidden(String),
    NotFound(String),
    /// A concurrent change or an already-used identifier.
    Conflict(String),
    /// Input that does not make a valid value or command.
    Invalid(String),
    /// A legal deadline is over.
    DeadlinePassed(String),
    /// Too many failures; retry after this many seconds.
    RateLimited {
        retry_after_s: u64,
    },
    /// A size, depth, complexity or page limit was crossed.
    LimitExceeded(String),
    /// Not a runnable GraphQL request.
    BadRequest(String),
    /// The server is shutting down or the log refuses writes for now.
    Unavailable(String),
    /// A code the domain defines that has no variant here; kept as is.
    Coded {
        code: &'static str,
        message: String,
    },
    /// A bug or an I/O failure; the details go to the log, not to the client.
    Internal(String),
}

impl ApiError {
    /// The stable code, as put into `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => code::UNAUTHENTICATED,
            ApiError::Forbidden(_) => code::FORBIDDEN,
            ApiError::NotFound(_) => code::NOT_FOUND,
            ApiError::Conflict(_) => code::CONFLICT,
            ApiError::Invalid(_) => code::INVALID,
            ApiError::DeadlinePassed(_) => code::DEADLINE_PASSED,
            ApiError::RateLimited { .. } => code::RATE_LIMITED,
            ApiError::LimitExceeded(_) => code::LIMIT_EXCEEDED,
            ApiError::BadRequest(_) => code::BAD_REQUEST,
            ApiError::Unavailable(_) => code::UNAVAILABLE,
            ApiError::Coded { code, .. } => code,
            ApiError::Internal(_) => code::INTERNAL,
        }
    }

    /// The message shown to the client. Internal details are not shown.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Invalid(m)
            | ApiError::DeadlinePassed(m)
            | ApiError::LimitExceeded(m)
            | ApiError::BadRequest(m)
            | ApiError::Unavailable(m)
            | ApiError::Coded { message: m, .. } => m.clone(),
            ApiError::RateLimited { retry_after_s } => {
                format!("too many failed attempts; retry in {retry_after_s} s")
            }
            ApiError::Internal(_) => "internal server error".to_owned(),
        }
    }

    /// Builds a domain-specific error from its stable code and message; the codes the API
    /// knows become their variant, any other is carried through unchanged.
    pub fn from_code(code: &'static str, message: String) -> Self {
        match code {
            code::UNAUTHENTICATED => ApiError::Unauthenticated(message),
            code::FORBIDDEN => ApiError::Forbidden(message),
            code::NOT_FOUND => ApiError::NotFound(message),
            code::CONFLICT => ApiError::Conflict(message),
            code::INVALID => ApiError::Invalid(message),
            code::DEADLINE_PASSED => ApiError::DeadlinePassed(message),
            code::LIMIT_EXCEEDED => ApiError::LimitExceeded(message),
            _ => ApiError::Coded { code, message },
        }
    }

    /// The error as a GraphQL server error (used where async-graphql's resolver path does not
    /// apply: HTTP-level rejections and WebSocket init).
    pub fn to_server_error(&self) -> ServerError {
        let mut error = ServerError::new(self.message(), None);
        error.extensions = Some(self.extensions());
        error
    }

    fn extensions(&self) -> ErrorExtensionValues {
        if let ApiError::Internal(detail) = self {
            tracing::error!(detail = %detail, "internal error");
        }
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", self.code());
        if let ApiError::RateLimited { retry_after_s } = self {
            ext.set("retryAfterSeconds", *retry_after_s);
        }
        ext
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let mut out = async_graphql::Error::new(error.message());
        out.extensions = Some(error.extensions());
        out
    }
}

impl From<domain::error::DomainError> for ApiError {
    fn from(error: domain::error::DomainError) -> Self {
        ApiError::from_code(error.code(), error.message().to_owned())
    }
}

impl From<AppendError> for ApiError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::WrongExpectedVersion { .. } | AppendError::CommandIdReused { .. } => {
                ApiError::Conflict(error.to_string())
            }
            AppendError::PayloadTooLarge { .. } | AppendError::TooManyEvents { .. } => {
                ApiError::LimitExceeded(error.to_string())
            }
            AppendError::Closed => ApiError::Unavailable("the server is shutting down".into()),
            AppendError::EmptyAppend
            | AppendError::DuplicateStream { .. }
            | AppendError::InvalidEventType
            | AppendError::InvalidMetadata
            | AppendError::Failed { .. } => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Closed => ApiError::Unavailable("the server is shutting down".into()),
            ReadError::Io(_) | ReadError::Corrupt { .. } => ApiError::Internal(error.to_string()),
        }
    }
}

/// Whether a response failed before execution started: no data and only errors without a path
/// (parse, validation and limit errors). The GraphQL-over-HTTP spec answers those with 400.
pub fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Gives every error of a response that has no code one, from what async-graphql raised:
/// depth and complexity limits → `LIMIT_EXCEEDED`; other request errors (syntax, validation,
/// variables) → `BAD_REQUEST`; argument values that fail to parse during execution →
/// `INVALID`; anything else a resolver raised without going through [`ApiError`] → `INTERNAL`.
pub fn label_response(response: &mut Response) {
    let request_error = is_request_error(response);
    for error in &mut response.errors {
        label_error(error, request_error);
    }
}

fn label_error(error: &mut ServerError, request_error: bool) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if has_code {
        return;
    }
    let code = if error.message == "Query is nested too deep."
        || error.message == "Query is too complex."
    {
        code::LIMIT_EXCEEDED
    } else if request_error || error.path.is_empty() {
        code::BAD_REQUEST
    } else if error.message.starts_with("Failed to parse")
        || error.message.starts_with("Invalid value")
    {
        code::INVALID
    } else {
        code::INTERNAL
    };
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_conflict_is_conflict() {
        let stream = eventlog::StreamId::new("account-1").unwrap();
        let error = AppendError::WrongExpectedVersion {
            stream,
            expected: eventlog::ExpectedVersion::NoStream,
            actual: Some(0),
        };
        assert_eq!(ApiError::from(error).code(), "CONFLICT");
        assert_eq!(ApiError::from(AppendError::Closed).code(), "UNAVAILABLE");
    }

    #[test]
    fn domain_errors_keep_their_code() {
        use domain::error::DomainError;
        let cases = [
            (DomainError::Forbidden("no".into()), "FORBIDDEN"),
            (DomainError::NotFound("no".into()), "NOT_FOUND"),
            (DomainError::Conflict("no".into()), "CONFLICT"),
            (DomainError::Invalid("no".into()), "INVALID"),
            (DomainError::DeadlinePassed("no".into()), "DEADLINE_PASSED"),
            (DomainError::Erased("no".into()), "ERASED"),
        ];
        for (error, code) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.code(), code);
            assert_eq!(api.message(), "no");
        }
    }

    #[test]
    fn graphql_error_carries_the_code() {
        let error: async_graphql::Error = ApiError::RateLimited { retry_after_s: 4 }.into();
        let ext = error.extensions.unwrap();
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("RATE_LIMITED"))
        );
        assert_eq!(
            ext.get("retryAfterSeconds"),
            Some(&async_graphql::Value::from(4u64))
        );
    }

    #[test]
    fn internal_details_are_hidden() {
        let error = ApiError::Internal("disk on fire at /var/x".into());
        assert_eq!(error.message(), "internal server error");
    }

    #[test]
    fn labels_execution_errors_and_keeps_existing_codes() {
        use async_graphql::PathSegment;
        let at = |e: ServerError| e.with_path(vec![PathSegment::Field("x".into())]);
        let coded = ServerError {
            extensions: Some(ApiError::Forbidden("no".into()).extensions()),
            ..at(ServerError::new("no", None))
        };
        let mut response = Response::new(async_graphql::Value::Null);
        response.errors = vec![
            at(ServerError::new(
                "Failed to parse \"Int\": not a number",
                None,
            )),
            at(ServerError::new("Data `Foo` does not exist.", None)),
            coded,
        ];
        assert!(!is_request_error(&response));
        label_response(&mut response);
        let codes: Vec<_> = response
            .errors
            .iter()
            .map(|e| e.extensions.as_ref().unwrap().get("code").cloned().unwrap())
            .collect();
        assert_eq!(
            codes,
            vec![
                async_graphql::Value::from("INVALID"),
                async_graphql::Value::from("INTERNAL"),
                async_graphql::Value::from("FORBIDDEN"),
            ]
        );
    }

    #[test]
    fn labels_limit_and_request_errors() {
        let mut response = Response::from_errors(vec![
            ServerError::new("Query is nested too deep.", None),
            ServerError::new("Unknown field \"x\"", None),
        ]);
        label_response(&mut response);
        let codes: Vec<_> = response
            .errors
            .iter()
            .map(|e| e.extensions.as_ref().unwrap().get("code").cloned().unwrap())
            .collect();
        assert_eq!(
            codes,
            vec![
                async_graphql::Value::from("LIMIT_EXCEEDED"),
                async_graphql::Value::from("BAD_REQUEST")
            ]
        );
    }
}
