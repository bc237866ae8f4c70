//! The SLS query language (`search_statement [| sql]`): syntax only.
//!
//! This crate owns the grammar of SLS search statements (full-text and field
//! terms, wildcards, numeric comparisons and ranges, `and`/`or`/`not`), their
//! typed AST ([`SearchExpr`]), a printer whose output parses back to the same
//! AST, the quoting helpers other crates use to build search statements from
//! untrusted strings ([`quote_value`], [`quote_field`]), and the split of a
//! query into its search part, `set session` settings and SQL part
//! ([`split_query`], [`parse_query`]). It does not parse or execute SQL, and it
//! does not match logs: executing a [`SearchExpr`] belongs to the local store.
//!
//! ```
//! use sentry_sls_slsql::{parse_query, quote_field, quote_value, SearchExpr};
//!
//! let query = parse_query("level:error and status >= 500 | select count(*) as c").unwrap();
//! assert_eq!(query.sql.as_deref(), Some("select count(*) as c"));
//! assert_eq!(query.search.to_string(), "level:error and status >= 500");
//!
//! let search = format!("{}:{}", quote_field("file info"), quote_value("a \"b\""));
//! assert_eq!(search, r#""file info":"a \"b\"""#);
//! assert!(matches!(
//!     sentry_sls_slsql::parse_search(&search).unwrap(),
//!     SearchExpr::Term { .. }
//! ));
//! ```

mod ast;
mod error;
mod parser;
mod printer;
mod split;

pub use ast::{CompareOp, Pattern, Query, SearchExpr};
pub use error::ParseError;
pub use parser::{parse_search, MAX_CONDITIONS, MAX_DEPTH};
pub use printer::{quote_field, quote_value};
pub use split::{parse_query, split_query, SplitQuery};
