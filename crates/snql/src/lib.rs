//! SnQL, the query language Sentry speaks to Snuba: syntax only.
//!
//! This crate owns the grammar of SnQL (`MATCH … SELECT … BY … WHERE …`), its
//! typed AST with source positions, a printer whose output parses back to the
//! same AST, and the post-parse rules of Snuba that need no knowledge of
//! entities (AND/OR nesting, `toDateTime('…')` literals, alias checks and
//! expansion, lambda identifiers, `arrayExists` sugar). Rules that need to
//! know an entity's columns (array-condition rewriting, required conditions)
//! live in `sentry-sls-query`, which also owns translation to SLS queries.
//!
//! ```
//! let query = sentry_sls_snql::parse(
//!     "MATCH (events) SELECT count() AS `c` BY group_id WHERE project_id = 1",
//! )
//! .unwrap();
//! assert_eq!(query.select[0].name, "group_id");
//! assert_eq!(query.select[1].name, "c");
//! ```

mod ast;
mod error;
mod literal;
mod parser;
pub mod passes;
mod printer;

pub use ast::{
    Direction, EntityMatch, Expr, ExprKind, LimitBy, Literal, OrderBy, Query, Relationship,
    SelectedExpr, Source, Span,
};
pub use error::ParseError;
pub use literal::{decode_string, encode_string, parse_datetime};
pub use parser::{parse, parse_initial, MAX_LIMIT};
