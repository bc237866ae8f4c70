//! Parse errors, worded like Snuba's.

/// A SnQL syntax or post-parse error. Every variant is an `invalid_query` for
/// the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text does not match the grammar. `line` is 1-based; `snippet` is the
    /// text around the failure (3 characters before, 10 after), as Snuba shows it.
    #[error("Parsing error on line {line} at '{snippet}'")]
    Syntax {
        /// 1-based line of the failure.
        line: usize,
        /// Byte offset of the failure.
        position: usize,
        /// Text around the failure.
        snippet: String,
        /// What the parser expected there.
        expected: String,
    },
    /// A rule applied after parsing rejected the query.
    #[error("{message}")]
    Invalid {
        /// Snuba's wording where known.
        message: String,
        /// Byte offset of the offending part, when known.
        position: Option<usize>,
    },
}

impl ParseError {
    /// A post-parse error with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        ParseError::Invalid {
            message: message.into(),
            position: None,
        }
    }

    /// A post-parse error with a message and a position.
    pub fn invalid_at(message: impl Into<String>, position: usize) -> Self {
        ParseError::Invalid {
            message: message.into(),
            position: Some(position),
        }
    }

    /// Byte offset of the error, when known.
    pub fn position(&self) -> Option<usize> {
        match self {
            ParseError::Syntax { position, .. } => Some(*position),
            ParseError::Invalid { position, .. } => *position,
        }
    }
}
