//! Parse errors, worded like SLS's own (`line 1:12: unexpected ')'`).

/// A syntax error in an SLS query: in the search statement, or in the
/// `set session` prefix of the SQL part.
///
/// Displays as `line {line}:{column}: {message}`; messages are lowercase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}:{column}: {message}")]
pub struct ParseError {
    /// Byte offset of the error in the text that was parsed (the whole query
    /// for [`crate::parse_query`] and [`crate::split_query`]).
    pub position: usize,
    /// 1-based line of `position`.
    pub line: usize,
    /// 1-based column (in characters) of `position` within its line.
    pub column: usize,
    /// What is wrong, in lowercase.
    pub message: String,
}

impl ParseError {
    /// An error at byte offset `position` of `text`; line and column are
    /// computed from `text`. A position past the end, or inside a character,
    /// is moved back to the nearest character boundary.
    pub fn new(text: &str, position: usize, message: impl Into<String>) -> Self {
        let mut position = position.min(text.len());
        while !text.is_char_boundary(position) {
            position -= 1;
        }
        let before = &text[..position];
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        ParseError {
            position,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ParseError;

    #[test]
    fn display_has_line_and_column() {
        let error = ParseError::new("a and )", 6, "unexpected ')'");
        assert_eq!(error.to_string(), "line 1:7: unexpected ')'");
        let error = ParseError::new("a\nbé )", 6, "unexpected ')'");
        assert_eq!((error.line, error.column), (2, 4));
    }

    #[test]
    fn position_is_clamped_to_a_char_boundary() {
        let error = ParseError::new("é", 1, "x");
        assert_eq!(error.position, 0);
        let error = ParseError::new("ab", 10, "x");
        assert_eq!((error.position, error.column), (2, 3));
    }
}
