//! `DomainError`: every way a command can be refused, with a stable code the API exposes as
//! `extensions.code`. The message is for people; the code is for programs and never changes.

/// Why a command was refused, or why an input did not become a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The actor may not do this (policy).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The thing the command is about does not exist (yet, or any more).
    #[error("not found: {0}")]
    NotFound(String),
    /// The command contradicts the current state (already done, wrong status, duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An input is malformed or out of its bounds.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The command came after a legal or configured time limit.
    #[error("deadline passed: {0}")]
    DeadlinePassed(String),
    /// The personal data this command needs has been erased.
    #[error("erased: {0}")]
    Erased(String),
}

impl DomainError {
    /// The stable machine-readable code: `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `INVALID`,
    /// `DEADLINE_PASSED`, `ERASED`.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Forbidden(_) => "FORBIDDEN",
            DomainError::NotFound(_) => "NOT_FOUND",
            DomainError::Conflict(_) => "CONFLICT",
            DomainError::Invalid(_) => "INVALID",
            DomainError::DeadlinePassed(_) => "DEADLINE_PASSED",
            DomainError::Erased(_) => "ERASED",
        }
    }

    /// The human-readable message without the code prefix.
    pub fn message(&self) -> &str {
        match self {
            DomainError::Forbidden(m)
            | DomainError::NotFound(m)
            | DomainError::Conflict(m)
            | DomainError::Invalid(m)
            | DomainError::DeadlinePassed(m)
            | DomainError::Erased(m) => m,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        DomainError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        DomainError::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        DomainError::Conflict(message.into())
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        DomainError::Invalid(message.into())
    }

    pub fn deadline_passed(message: impl Into<String>) -> Self {
        DomainError::DeadlinePassed(message.into())
    }

    pub fn erased(message: impl Into<String>) -> Self {
        DomainError::Erased(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases = [
            (DomainError::forbidden("x"), "FORBIDDEN"),
            (DomainError::not_found("x"), "NOT_FOUND"),
            (DomainError::conflict("x"), "CONFLICT"),
            (DomainError::invalid("x"), "INVALID"),
            (DomainError::deadline_passed("x"), "DEADLINE_PASSED"),
            (DomainError::erased("x"), "ERASED"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.message(), "x");
        }
    }
}
