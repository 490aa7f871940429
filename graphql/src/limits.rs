//! Limits on what one request may ask for: body size, query depth, query complexity and page
//! size. Every limit is a number here and a clear GraphQL error (code `LIMIT_EXCEEDED`) when
//! crossed, never a crash or an unbounded allocation.

use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};

use crate::errors::ApiError;

/// Largest page a cursor-paginated list returns, whatever the client asks for more is refused.
pub const PAGE_SIZE_MAX: usize = 100;
/// Page size when the client gives none.
pub const PAGE_SIZE_DEFAULT: usize = 20;

/// The per-request limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted HTTP request body (and WebSocket message), in bytes.
    pub body_bytes_max: usize,
    /// Deepest accepted selection nesting.
    pub query_depth_max: usize,
    /// Largest accepted query complexity (each field counts 1 unless its resolver says more).
    pub query_complexity_max: usize,
    /// Largest number of fields, fragments and directives in one document, counted by the
    /// parser (`Schema::limit_recursive_depth` and friends guard the parser itself).
    pub query_recursive_depth_max: usize,
    /// Most WebSocket connections open at once; further upgrades get 503.
    pub ws_connections_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A publication body is at most 64 KiB; leave room for the query and JSON escaping.
            body_bytes_max: 256 * 1024,
            query_depth_max: 12,
            query_complexity_max: 1_000,
            query_recursive_depth_max: 32,
            ws_connections_max: 10_000,
        }
    }
}

impl Limits {
    /// Applies the depth and complexity limits to a schema under construction. The schema
    /// helper calls this on its `Schema::build(...)` so every schema of the server is limited.
    pub fn apply<Q, M, S>(&self, builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        builder
            .limit_depth(self.query_depth_max)
            .limit_complexity(self.query_complexity_max)
            .limit_recursive_depth(self.query_recursive_depth_max)
    }
}

/// The page size to use for a list given the client's `first` argument: the default when
/// absent, refused when zero or negative or above [`PAGE_SIZE_MAX`].
pub fn page_size(first: Option<i32>) -> Result<usize, ApiError> {
    let Some(first) = first else {
        return Ok(PAGE_SIZE_DEFAULT);
    };
    if first <= 0 {
        return Err(ApiError::Invalid(format!(
            "page size must be at least 1, got {first}"
        )));
    }
    let first = first as usize;
    if first > PAGE_SIZE_MAX {
        return Err(ApiError::LimitExceeded(format!(
            "page size {first} is above the limit of {PAGE_SIZE_MAX}"
        )));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_and_bounds() {
        assert_eq!(page_size(None).unwrap(), PAGE_SIZE_DEFAULT);
        assert_eq!(page_size(Some(1)).unwrap(), 1);
        assert_eq!(
            page_size(Some(PAGE_SIZE_MAX as i32)).unwrap(),
            PAGE_SIZE_MAX
        );
        assert_eq!(page_size(Some(0)).unwrap_err().code(), "INVALID");
        assert_eq!(page_size(Some(-3)).unwrap_err().code(), "INVALID");
        assert_eq!(
            page_size(Some(PAGE_SIZE_MAX as i32 + 1))
                .unwrap_err()
                .code(),
            "LIMIT_EXCEEDED"
        );
    }
}
