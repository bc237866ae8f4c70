//! Id lookups without a full scan.
//!
//! The nodestore finds an event body by `node_id` with a search-only query
//! (`node_id: a or node_id: b …`) over the whole retention window. Executed
//! as is, that reads the `node_id` column of every segment and runs the
//! token matcher on every row. SLS answers it from its inverted index; here
//! each segment gets a small Bloom filter of the tokens of its lookup
//! columns ([`LOOKUP_FIELDS`]), built on first use from that one Parquet
//! column and cached (segments are immutable). A query whose search
//! *requires* a term on such a field ([`required_terms`]) then skips the
//! segments whose filter cannot hold the term's tokens; of the others it
//! reads that one column, then only the rows whose value holds the tokens
//! (a Parquet row selection, at most [`MAX_SELECTED_ROWS`] per segment,
//! else the segment is scanned), and it keeps only the memtable batches
//! that hold them. Pruning only drops rows that cannot match: the full
//! search filter still runs on what is left, so answers do not change.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use parquet::arrow::ProjectionMask;
use sentry_sls_slsql::{CompareOp, Pattern, SearchExpr};
use sentry_sls_store::{FieldType, IndexConfig};

use crate::udf::tokenize;

/// Fields that get per-segment token filters: the ids looked up one by one.
pub const LOOKUP_FIELDS: [&str; 1] = ["node_id"];

/// Most segment filters kept in memory (about 1.2 MB per million rows each).
const MAX_CACHED: usize = 4096;

/// A Bloom filter over tokens (k = 7, about 10 bits per token: < 1 %
/// false positives).
#[derive(Debug)]
pub struct TokenBloom {
    bits: Vec<u64>,
}

const HASHES: u64 = 7;

fn hashes(token: &str) -> (u64, u64) {
    // SipHash with fixed keys: deterministic within and across processes.
    let mut first = std::hash::DefaultHasher::new();
    token.hash(&mut first);
    let mut second = std::hash::DefaultHasher::new();
    (token, 0x9e37_79b9_7f4a_7c15_u64).hash(&mut second);
    (first.finish(), second.finish() | 1)
}

impl TokenBloom {
    /// An empty filter sized for `tokens` tokens.
    pub fn with_capacity(tokens: usize) -> Self {
        let words = (tokens.saturating_mul(10) / 64).max(16);
        TokenBloom {
            bits: vec![0; words],
        }
    }

    fn positions(&self, token: &str) -> impl Iterator<Item = usize> {
        let (first, second) = hashes(token);
        let size = (self.bits.len() * 64) as u64;
        (0..HASHES).map(move |i| (first.wrapping_add(i.wrapping_mul(second)) % size) as usize)
    }

    /// Adds a token.
    pub fn insert(&mut self, token: &str) {
        let positions: Vec<usize> = self.positions(token).collect();
        for position in positions {
            self.bits[position / 64] |= 1 << (position % 64);
        }
    }

    /// Whether the token may have been added (never false for an added one).
    pub fn may_contain(&self, token: &str) -> bool {
        self.positions(token)
            .all(|position| self.bits[position / 64] & (1 << (position % 64)) != 0)
    }
}

/// How a lookup field's values are tokenised (from its index config).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tokenizer {
    delimiters: String,
    case_sensitive: bool,
}

impl Tokenizer {
    /// The tokenizer of `field` in `index`, if it is a text key.
    pub fn of(index: &IndexConfig, field: &str) -> Option<Tokenizer> {
        let config = index.keys.get(field)?;
        if config.field_type != FieldType::Text {
            return None;
        }
        Some(Tokenizer {
            delimiters: if config.token.is_empty() {
                crate::search::DEFAULT_TOKENS.to_string()
            } else {
                config.token.concat()
            },
            case_sensitive: config.case_sensitive,
        })
    }

    /// The tokens of `text` as the index sees them.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let text = if self.case_sensitive {
            text.to_string()
        } else {
            text.to_lowercase()
        };
        tokenize(&text, &self.delimiters)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// Alternatives of token sets: a row can match only if its `field` holds
/// every token of at least one alternative. `None`: the search does not
/// require a term on `field` (no pruning).
pub fn required_terms(
    search: &SearchExpr,
    field: &str,
    tokenizer: &Tokenizer,
) -> Option<Vec<Vec<String>>> {
    let literal = |text: &str| -> Option<Vec<Vec<String>>> {
        let tokens = tokenizer.tokens(text);
        (!tokens.is_empty()).then(|| vec![tokens])
    };
    match search {
        SearchExpr::Term {
            field: Some(name),
            value: Pattern::Literal(text),
        } if name == field => literal(text),
        SearchExpr::Compare {
            field: name,
            op: CompareOp::Eq,
            value,
        } if name == field => literal(value),
        SearchExpr::Or(items) if !items.is_empty() => {
            let mut alternatives = Vec::new();
            for item in items {
                alternatives.extend(required_terms(item, field, tokenizer)?);
            }
            Some(alternatives)
        }
        SearchExpr::And(items) => items
            .iter()
            .find_map(|item| required_terms(item, field, tokenizer)),
        _ => None,
    }
}

fn matches_any(contains: impl Fn(&str) -> bool, alternatives: &[Vec<String>]) -> bool {
    alternatives
        .iter()
        .any(|tokens| tokens.iter().all(|token| contains(token)))
}

/// A segment file as it is now: a rewritten file under the same name is
/// another segment for the caches below.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SegmentFile {
    path: PathBuf,
    length: u64,
    modified: Option<SystemTime>,
}

impl SegmentFile {
    fn of(path: &Path) -> Result<SegmentFile, String> {
        let metadata = std::fs::metadata(path)
            .map_err(|error| format!("reading {}: {error}", path.display()))?;
        Ok(SegmentFile {
            path: path.to_path_buf(),
            length: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SegmentKey {
    file: SegmentFile,
    field: String,
    tokenizer: Tokenizer,
}

/// One segment's filter for one field, and its row count.
#[derive(Debug)]
struct SegmentFilter {
    /// `None`: the segment has no such column (nothing can match).
    bloom: Option<TokenBloom>,
    rows: u64,
}

/// The per-segment filters of a project's logstores, built lazily.
#[derive(Debug, Default)]
pub struct LookupIndex {
    filters: Mutex<HashMap<SegmentKey, Arc<SegmentFilter>>>,
}

impl LookupIndex {
    /// Filters built so far (for tests and diagnostics).
    pub fn cached(&self) -> usize {
        self.filters.lock().expect("lookup index lock").len()
    }

    fn filter(
        &self,
        path: &Path,
        field: &str,
        tokenizer: &Tokenizer,
    ) -> Result<Arc<SegmentFilter>, String> {
        let key = SegmentKey {
            file: SegmentFile::of(path)?,
            field: field.to_string(),
            tokenizer: tokenizer.clone(),
        };
        if let Some(found) = self.filters.lock().expect("lookup index lock").get(&key) {
            return Ok(Arc::clone(found));
        }
        let built = Arc::new(build_filter(path, field, tokenizer)?);
        let mut filters = self.filters.lock().expect("lookup index lock");
        if filters.len() >= MAX_CACHED {
            // Segments come and go with retention: start over rather than track age.
            filters.clear();
        }
        filters.insert(key, Arc::clone(&built));
        Ok(built)
    }

    /// Whether [`LookupIndex::prune`] can prune for this search.
    pub fn applies(&self, search: &SearchExpr, index: &IndexConfig) -> bool {
        LOOKUP_FIELDS.iter().any(|field| {
            Tokenizer::of(index, field)
                .is_some_and(|tokenizer| required_terms(search, field, &tokenizer).is_some())
        })
    }

    /// Keeps only the segments and memtable batches that may hold a row the
    /// search matches, when the search requires a term on a lookup field.
    /// Returns the rows left to read, or `None` when nothing was pruned.
    pub fn prune(
        &self,
        search: &SearchExpr,
        index: &IndexConfig,
        segment_paths: &mut Vec<PathBuf>,
        memtable: &mut Vec<RecordBatch>,
    ) -> Option<u64> {
        let (field, tokenizer, alternatives) = LOOKUP_FIELDS.iter().find_map(|field| {
            let tokenizer = Tokenizer::of(index, field)?;
            let alternatives = required_terms(search, field, &tokenizer)?;
            Some((*field, tokenizer, alternatives))
        })?;
        let mut rows = 0;
        let mut kept = Vec::with_capacity(segment_paths.len());
        let mut selected = Vec::new();
        for path in segment_paths.drain(..) {
            let filter = match self.filter(&path, field, &tokenizer) {
                Ok(filter) => filter,
                Err(error) => {
                    // Never lose rows over a filter: read the segment.
                    tracing::warn!(%error, "lookup filter unavailable; scanning the segment");
                    kept.push(path);
                    continue;
                }
            };
            let may_match = filter
                .bloom
                .as_ref()
                .is_some_and(|bloom| matches_any(|token| bloom.may_contain(token), &alternatives));
            if !may_match {
                continue;
            }
            rows += filter.rows;
            match select_rows(&path, field, &tokenizer, &alternatives) {
                Ok(Some(batches)) => selected.extend(batches),
                Ok(None) => kept.push(path),
                Err(error) => {
                    tracing::warn!(%error, "lookup row selection failed; scanning the segment");
                    kept.push(path);
                }
            }
        }
        *segment_paths = kept;
        memtable.retain(|batch| batch_may_match(batch, field, &tokenizer, &alternatives));
        rows += memtable
            .iter()
            .map(|batch| batch.num_rows() as u64)
            .sum::<u64>();
        memtable.extend(selected);
        Some(rows)
    }
}

fn build_filter(path: &Path, field: &str, tokenizer: &Tokenizer) -> Result<SegmentFilter, String> {
    let file = std::fs::File::open(path)
        .map_err(|error| format!("opening {}: {error}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let Some(position) = builder
        .schema()
        .fields()
        .iter()
        .position(|column| column.name() == field)
    else {
        return Ok(SegmentFilter { bloom: None, rows });
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [position]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    let mut bloom = TokenBloom::with_capacity(rows as usize);
    for batch in reader {
        let batch = batch.map_err(|error| format!("reading {}: {error}", path.display()))?;
        let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)
            .map_err(|error| error.to_string())?;
        let values = column.as_string::<i32>();
        for row in 0..values.len() {
            if values.is_valid(row) {
                for token in tokenizer.tokens(values.value(row)) {
                    bloom.insert(&token);
                }
            }
        }
    }
    Ok(SegmentFilter {
        bloom: Some(bloom),
        rows,
    })
}

/// Whether a value holds every token of some alternative (a necessary
/// condition for the search to match its row).
fn value_may_match(value: &str, tokenizer: &Tokenizer, alternatives: &[Vec<String>]) -> bool {
    let lowered = if tokenizer.case_sensitive || !value.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Borrowed(value)
    } else {
        std::borrow::Cow::Owned(value.to_lowercase())
    };
    // Cheap substring test first; tokenise only the few candidates.
    matches_any(|token| lowered.contains(token), alternatives) && {
        let tokens = tokenizer.tokens(value);
        matches_any(
            |token| tokens.iter().any(|have| have == token),
            alternatives,
        )
    }
}

fn batch_may_match(
    batch: &RecordBatch,
    field: &str,
    tokenizer: &Tokenizer,
    alternatives: &[Vec<String>],
) -> bool {
    let Some(column) = batch.column_by_name(field) else {
        return false;
    };
    let Ok(column) = arrow::compute::cast(column, &DataType::Utf8) else {
        return true;
    };
    let values = column.as_string::<i32>();
    (0..values.len()).any(|row| {
        values.is_valid(row) && value_may_match(values.value(row), tokenizer, alternatives)
    })
}

/// Most rows one segment may contribute as selected rows; a lookup that
/// selects more scans the segment instead (bounded memory).
pub const MAX_SELECTED_ROWS: usize = 10_000;

/// The rows of a segment whose `field` may match, read with every column
/// (two passes: the one column, then only those rows). `None`: too many.
fn select_rows(
    path: &Path,
    field: &str,
    tokenizer: &Tokenizer,
    alternatives: &[Vec<String>],
) -> Result<Option<Vec<RecordBatch>>, String> {
    let open = || -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>, String> {
        let file = std::fs::File::open(path)
            .map_err(|error| format!("opening {}: {error}", path.display()))?;
        ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|error| format!("reading {}: {error}", path.display()))
    };
    let builder = open()?;
    let total = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let Some(position) = builder
        .schema()
        .fields()
        .iter()
        .position(|column| column.name() == field)
    else {
        return Ok(Some(Vec::new()));
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [position]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    let mut matches: Vec<usize> = Vec::new();
    let mut offset = 0;
    for batch in reader {
        let batch = batch.map_err(|error| format!("reading {}: {error}", path.display()))?;
        let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)
            .map_err(|error| error.to_string())?;
        let values = column.as_string::<i32>();
        for row in 0..values.len() {
            if values.is_valid(row) && value_may_match(values.value(row), tokenizer, alternatives) {
                matches.push(offset + row);
            }
        }
        if matches.len() > MAX_SELECTED_ROWS {
            return Ok(None);
        }
        offset += values.len();
    }
    if matches.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let selection = RowSelection::from_consecutive_ranges(
        matches.iter().map(|&row| row..row + 1),
        total.max(offset),
    );
    let reader = open()?
        .with_row_selection(selection)
        .build()
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, _>>()
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    Ok(Some(batches))
}

// --- Exact ids: the segments' Parquet Bloom filters, kept in memory ---------
//
// Sentry's event-by-id query (`event_id IN ('…')`) names its id in SQL.
// DataFusion can prune row groups by the Parquet Bloom filters of
// `columnar::BLOOM_COLUMNS`, but it reads them from the file on every
// query: about 150 KB per 128 Ki-row row group, 14 MB for 10 M events, most
// of the query's time. Segments are immutable, so their filters are read
// once and kept here; a query then reads only the segments whose filters may
// hold one of its ids (and DataFusion probes just those files' filters).

/// Most bytes of Bloom filters kept in memory (about 1.2 MB per million rows).
const MAX_BLOOM_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BloomKey {
    file: SegmentFile,
    column: String,
}

/// One segment's Bloom filters of one column, one per row group; `None`:
/// the column has no filter somewhere, so the segment cannot be ruled out.
#[derive(Debug)]
struct SegmentBlooms {
    row_groups: Option<Vec<parquet::bloom_filter::Sbbf>>,
    bytes: usize,
}

impl SegmentBlooms {
    fn may_hold_any(&self, values: &[String]) -> bool {
        self.row_groups.as_ref().is_none_or(|filters| {
            filters
                .iter()
                .any(|filter| values.iter().any(|value| filter.check(value.as_str())))
        })
    }
}

/// The Parquet Bloom filters of the segments, read once per segment.
#[derive(Debug, Default)]
pub struct ParquetBlooms {
    cache: Mutex<(HashMap<BloomKey, Arc<SegmentBlooms>>, usize)>,
}

impl ParquetBlooms {
    fn segment(&self, path: &Path, column: &str) -> Result<Arc<SegmentBlooms>, String> {
        let key = BloomKey {
            file: SegmentFile::of(path)?,
            column: column.to_string(),
        };
        if let Some(found) = self.cache.lock().expect("bloom cache lock").0.get(&key) {
            return Ok(Arc::clone(found));
        }
        let built = Arc::new(read_blooms(path, column)?);
        let mut cache = self.cache.lock().expect("bloom cache lock");
        if cache.1 + built.bytes > MAX_BLOOM_BYTES {
            // Segments come and go with compaction: start over rather than track age.
            *cache = Default::default();
        }
        cache.1 += built.bytes;
        cache.0.insert(key, Arc::clone(&built));
        Ok(built)
    }

    /// Keeps the segments that may hold a row whose `column` equals one of
    /// `values`; returns how many were dropped. A segment whose filters
    /// cannot be read is kept (never lose rows over a filter).
    pub fn retain(
        &self,
        segment_paths: &mut Vec<PathBuf>,
        column: &str,
        values: &[String],
    ) -> usize {
        let before = segment_paths.len();
        segment_paths.retain(|path| match self.segment(path, column) {
            Ok(blooms) => blooms.may_hold_any(values),
            Err(error) => {
                tracing::warn!(%error, "Bloom filters unavailable; scanning the segment");
                true
            }
        });
        before - segment_paths.len()
    }
}

fn read_blooms(path: &Path, column: &str) -> Result<SegmentBlooms, String> {
    let failed =
        |error: parquet::errors::ParquetError| format!("reading {}: {error}", path.display());
    let file = std::fs::File::open(path)
        .map_err(|error| format!("opening {}: {error}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(failed)?;
    let metadata = Arc::clone(builder.metadata());
    let leaves = metadata.file_metadata().schema_descr().columns();
    let Some(index) = leaves
        .iter()
        .position(|leaf| leaf.path().parts() == [column])
    else {
        // No such column: every row's value is NULL, never equal to an id.
        return Ok(SegmentBlooms {
            row_groups: Some(Vec::new()),
            bytes: 0,
        });
    };
    // Only filters of strings hold the bytes a string id is checked with
    // (a column once stored as integers hashes 8-byte values).
    if leaves[index].physical_type() != parquet::basic::Type::BYTE_ARRAY {
        return Ok(SegmentBlooms {
            row_groups: None,
            bytes: 0,
        });
    }
    let mut filters = Vec::with_capacity(metadata.num_row_groups());
    let mut bytes = 0;
    for row_group in 0..metadata.num_row_groups() {
        match builder
            .get_row_group_column_bloom_filter(row_group, index)
            .map_err(failed)?
        {
            Some(filter) => {
                bytes += filter.num_blocks() * 32;
                filters.push(filter);
            }
            None => {
                return Ok(SegmentBlooms {
                    row_groups: None,
                    bytes: 0,
                })
            }
        }
    }
    Ok(SegmentBlooms {
        row_groups: Some(filters),
        bytes,
    })
}

/// The values that every row `statement` reads from `log` must hold in
/// `column`: from a conjunct `"column" = 'v'` or `"column" IN ('v', …)` of
/// the WHERE of the SELECT that reads `log` (directly, or as the only table
/// of nested derived tables). `None` when there is no such conjunct, or
/// when the statement reads `log` anywhere else too (a subquery, a CTE),
/// where the pruned segments would be missed.
pub fn required_values(
    statement: &datafusion::sql::sqlparser::ast::Statement,
    column: &str,
) -> Option<Vec<String>> {
    use datafusion::sql::sqlparser::ast::{visit_relations, SetExpr, Statement, TableFactor};
    let Statement::Query(query) = statement else {
        return None;
    };
    let mut tables = 0;
    let _ = visit_relations(statement, |_| {
        tables += 1;
        std::ops::ControlFlow::<()>::Continue(())
    });
    if tables != 1 || crate::sql::has_subquery(statement) || query.with.is_some() {
        return None;
    }
    let mut query = query.as_ref();
    loop {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        let [from] = select.from.as_slice() else {
            return None;
        };
        if !from.joins.is_empty() {
            return None;
        }
        match &from.relation {
            TableFactor::Table { name, .. } if name.to_string().eq_ignore_ascii_case("log") => {
                return conjunct_values(select.selection.as_ref()?, column);
            }
            TableFactor::Derived { subquery, .. } => query = subquery,
            _ => return None,
        }
    }
}

fn conjunct_values(
    condition: &datafusion::sql::sqlparser::ast::Expr,
    column: &str,
) -> Option<Vec<String>> {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};
    let is_column = |expr: &Expr| match expr {
        Expr::Identifier(ident) => match ident.quote_style {
            Some('"') => ident.value == column,
            None => ident.value.eq_ignore_ascii_case(column),
            Some(_) => false,
        },
        _ => false,
    };
    let string = |expr: &Expr| match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    };
    match condition {
        Expr::Nested(inner) => conjunct_values(inner, column),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => conjunct_values(left, column).or_else(|| conjunct_values(right, column)),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            if is_column(left) {
                Some(vec![string(right)?])
            } else if is_column(right) {
                Some(vec![string(left)?])
            } else {
                None
            }
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } if is_column(expr) => list.iter().map(string).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> Tokenizer {
        Tokenizer {
            delimiters: crate::search::DEFAULT_TOKENS.to_string(),
            case_sensitive: false,
        }
    }

    #[test]
    fn the_bloom_filter_has_no_false_negatives_and_few_false_positives() {
        let mut bloom = TokenBloom::with_capacity(10_000);
        for i in 0..10_000 {
            bloom.insert(&format!("{i:032x}"));
        }
        assert!((0..10_000).all(|i| bloom.may_contain(&format!("{i:032x}"))));
        let false_positives = (10_000..20_000)
            .filter(|i| bloom.may_contain(&format!("{i:032x}")))
            .count();
        assert!(false_positives < 300, "{false_positives}");
    }

    #[test]
    fn only_searches_that_require_the_field_prune() {
        let parse = |text: &str| sentry_sls_slsql::parse_query(text).unwrap().search;
        let t = tokenizer();
        assert_eq!(
            required_terms(&parse("node_id: ABC or node_id: d"), "node_id", &t),
            Some(vec![vec!["abc".to_string()], vec!["d".to_string()]])
        );
        assert_eq!(
            required_terms(&parse("__topic__: x and node_id: \"a:b\""), "node_id", &t),
            Some(vec![vec!["a".to_string(), "b".to_string()]])
        );
        for search in [
            "node_id: abc or level: error",
            "node_id: ab*",
            "not node_id: abc",
            "*",
        ] {
            assert_eq!(
                required_terms(&parse(search), "node_id", &t),
                None,
                "{search}"
            );
        }
    }

    #[test]
    fn only_conjuncts_over_log_name_required_ids() {
        let values = |sql: &str| {
            let prepared = crate::sql::prepare(sql).unwrap();
            required_values(&prepared.statement, "event_id")
        };
        let ids = |list: &[&str]| Some(list.iter().map(|id| id.to_string()).collect::<Vec<_>>());
        assert_eq!(
            values("SELECT a FROM log WHERE ((\"event_id\" IN ('x', 'y')) AND (b = 1))"),
            ids(&["x", "y"])
        );
        assert_eq!(
            values("SELECT a FROM log WHERE b = 1 AND 'x' = EVENT_ID"),
            ids(&["x"])
        );
        assert_eq!(
            values("SELECT c FROM (SELECT a AS c FROM log WHERE event_id = 'x') AS t"),
            ids(&["x"])
        );
        for sql in [
            "SELECT a FROM log WHERE event_id = 'x' OR b = 1",
            "SELECT a FROM log WHERE NOT (event_id = 'x')",
            "SELECT a FROM log WHERE event_id NOT IN ('x')",
            "SELECT a FROM log WHERE event_id IN ('x', 1)",
            "SELECT a FROM log WHERE \"EVENT_ID\" = 'x'",
            "SELECT a FROM log WHERE event_id > 'x'",
            "SELECT a FROM log",
            "SELECT a FROM log AS l JOIN log AS m ON l.a = m.a WHERE event_id = 'x'",
            "SELECT a FROM other WHERE event_id = 'x'",
            "SELECT c FROM (SELECT event_id AS c FROM log) AS t WHERE c = 'x'",
            // `log` read elsewhere too: pruning would cut those reads.
            "SELECT a FROM log WHERE event_id = 'x' AND b IN (SELECT b FROM log)",
            "SELECT a, (SELECT count(*) FROM log) AS n FROM log WHERE event_id = 'x'",
            "WITH t AS (SELECT a, event_id FROM log) SELECT a FROM t WHERE event_id = 'x'",
            "WITH log AS (SELECT b AS event_id FROM log) SELECT * FROM log WHERE event_id = 'x'",
        ] {
            assert_eq!(values(sql), None, "{sql}");
        }
    }
}
