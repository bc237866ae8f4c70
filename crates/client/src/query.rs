//! Reading: GetLogsV2 (and the v1 fallback) with `Incomplete` re-issue, plus the two paging
//! helpers of §3.3 (SQL `LIMIT offset,count` pages and search `offset`/`line` pages).

use std::collections::HashSet;
use std::future::Future;

use reqwest::Method;
use sentry_sls_protocol::model::MAX_SEARCH_LINE;
use sentry_sls_protocol::{header, GetLogsV2Request, GetLogsV2Response, LogRow};
use sentry_sls_store::{Progress, QueryRequest, QueryResult, StoreError};

use crate::endpoint::validate_logstore;
use crate::errors::bad_response;
use crate::transport::{Call, OutgoingBody};
use crate::SlsClient;

/// Rows per page of [`SlsClient::get_logs_all_sql`]: the largest `count` SLS allows in
/// `LIMIT offset, count`.
pub const SQL_PAGE_ROWS: u32 = 10_000;
/// Most rows [`SlsClient::get_logs_all_sql`] fetches: SLS refuses `offset + count` above it.
pub const MAX_SQL_ROWS: u32 = 1_000_000;
/// Rows per page of [`SlsClient::get_logs_all_search`]: the largest `line` SLS allows.
pub const SEARCH_PAGE_LINES: u32 = MAX_SEARCH_LINE;

impl SlsClient {
    /// Runs `request` with GetLogsV2 (`POST /logstores/{logstore}/logs`), asking for an LZ4
    /// response. An `Incomplete` answer is re-issued identically, with backoff, up to
    /// [`max_incomplete_retries`](crate::SlsClientConfig::max_incomplete_retries) times; if it
    /// is still incomplete then, that last answer is returned (progress `Incomplete`) rather
    /// than an error.
    ///
    /// An empty `query` means `*`; `line`/`offset` of 0 are left out (SLS then defaults to
    /// 100 rows for searches; SQL queries must page with `LIMIT`, see
    /// [`get_logs_all_sql`](Self::get_logs_all_sql)). For SQL the columns come from
    /// `meta.keys` and every row follows that order; for searches `keys` is the union of the
    /// row keys in first-seen order.
    pub async fn get_logs_v2(
        &self,
        logstore: &str,
        request: &QueryRequest,
    ) -> Result<QueryResult, StoreError> {
        validate_logstore(logstore)?;
        let body = OutgoingBody::json(&v2_body(request))?;
        let mut call = Call::new(Method::POST, format!("/logstores/{logstore}/logs")).body(body);
        call.accept_lz4 = true;
        self.until_complete(logstore, || async {
            let reply = self.inner.execute(&call).await?;
            let response: GetLogsV2Response = reply.json().await?;
            Ok(result_from_v2(response))
        })
        .await
    }

    /// Runs `request` with the older GetLogs v1 API
    /// (`GET /logstores/{logstore}?type=log&from=&to=&query=&line=&offset=&reverse=`), with
    /// the same `Incomplete` handling as [`get_logs_v2`](Self::get_logs_v2).
    ///
    /// The body is a JSON array of flat string maps; progress comes from `x-log-progress`
    /// (required, as in the Python SDK), processed rows from `x-log-processed-rows`, the SQL
    /// flag from `x-log-has-sql`, and SQL column order from `keys` in `x-log-query-info`
    /// when present.
    pub async fn get_logs_v1(
        &self,
        logstore: &str,
        request: &QueryRequest,
    ) -> Result<QueryResult, StoreError> {
        validate_logstore(logstore)?;
        let mut call = Call::new(Method::GET, format!("/logstores/{logstore}"))
            .query("type", "log")
            .query("from", request.from.to_string())
            .query("to", request.to.to_string())
            .query("query", query_or_star(&request.query));
        if request.line > 0 {
            call = call.query("line", request.line.to_string());
        }
        call = call
            .query("offset", request.offset.to_string())
            .query("reverse", request.reverse.to_string());
        self.until_complete(logstore, || async {
            let reply = self.inner.execute(&call).await?;
            let progress = match reply.header(header::PROGRESS) {
                Some(header::PROGRESS_COMPLETE) => Progress::Complete,
                Some(_) => Progress::Incomplete,
                None => {
                    return Err(bad_response(
                        "GetLogs v1 response without x-log-progress",
                        reply.request_id,
                    ))
                }
            };
            let processed_rows = reply
                .header(header::PROCESSED_ROWS)
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let has_sql = reply
                .header(header::HAS_SQL)
                .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
            let sql_keys = reply.header(header::QUERY_INFO).and_then(query_info_keys);
            let rows: Vec<LogRow> = reply.json().await?;
            let rows = rows.into_iter().map(|row| row.0).collect();
            Ok(assemble(progress, has_sql, sql_keys, rows, processed_rows))
        })
        .await
    }

    /// Fetches up to `max_rows` rows of an SQL query by paging with `LIMIT offset, count`.
    ///
    /// The query sent for each page is `{search} | {sql} limit {offset},{count}` with pages
    /// of [`SQL_PAGE_ROWS`]; paging stops at the first short page or at `max_rows` (capped at
    /// [`MAX_SQL_ROWS`], SLS's own ceiling). `search` may be empty (meaning `*`). `sql` is the
    /// analytic statement **without** a `LIMIT` clause and should have an `ORDER BY` that is a
    /// total order, because each page is a separate query and SLS does not otherwise promise
    /// a stable row order between them.
    ///
    /// Rows are concatenated in page order; `keys` are the first page's; `processed_rows`
    /// sums all pages; progress is `Incomplete` if any page still was after its re-issues.
    pub async fn get_logs_all_sql(
        &self,
        logstore: &str,
        from: i64,
        to: i64,
        search: &str,
        sql: &str,
        max_rows: u32,
    ) -> Result<QueryResult, StoreError> {
        let max_rows = max_rows.min(MAX_SQL_ROWS);
        let search = query_or_star(search);
        let sql = sql.trim();
        let mut merged = empty_result(true);
        let mut offset = 0u32;
        while offset < max_rows {
            let count = SQL_PAGE_ROWS.min(max_rows - offset);
            let request = QueryRequest {
                from,
                to,
                query: format!("{search} | {sql} limit {offset},{count}"),
                line: 0,
                offset: 0,
                reverse: false,
            };
            let page = self.get_logs_v2(logstore, &request).await?;
            let returned = page.rows.len();
            if offset == 0 {
                merged.keys = page.keys;
                merged.has_sql = page.has_sql;
            }
            absorb_stats(&mut merged, page.progress, page.processed_rows);
            merged.rows.extend(page.rows);
            if returned < count as usize {
                break;
            }
            offset += count;
        }
        merged.rows.truncate(max_rows as usize);
        Ok(merged)
    }

    /// Fetches up to `max_rows` rows of a search-only query (no `| SQL`) by paging with
    /// `offset`/`line` ([`SEARCH_PAGE_LINES`] per page), following §3.3: keep advancing the
    /// offset by the rows returned until a page comes back empty.
    ///
    /// An empty page that is still `Incomplete` after its re-issues ends paging too, and the
    /// merged result is then `Incomplete`, as it is when any page was. `keys` is the union of
    /// all row keys in first-seen order; `processed_rows` sums all pages.
    pub async fn get_logs_all_search(
        &self,
        logstore: &str,
        from: i64,
        to: i64,
        query: &str,
        reverse: bool,
        max_rows: u32,
    ) -> Result<QueryResult, StoreError> {
        let mut merged = empty_result(false);
        let mut seen_keys: HashSet<String> = HashSet::new();
        let mut offset = 0u32;
        while merged.rows.len() < max_rows as usize {
            let remaining = max_rows - merged.rows.len() as u32;
            let request = QueryRequest {
                from,
                to,
                query: query.to_owned(),
                line: SEARCH_PAGE_LINES.min(remaining),
                offset,
                reverse,
            };
            let page = self.get_logs_v2(logstore, &request).await?;
            absorb_stats(&mut merged, page.progress, page.processed_rows);
            if page.rows.is_empty() {
                break;
            }
            for key in page.keys {
                if seen_keys.insert(key.clone()) {
                    merged.keys.push(key);
                }
            }
            offset += page.rows.len() as u32;
            merged.rows.extend(page.rows);
        }
        merged.rows.truncate(max_rows as usize);
        Ok(merged)
    }

    /// Issues a query until it is complete or the re-issue budget is spent; returns the last
    /// answer either way. Errors are returned at once (transport retries already happened).
    async fn until_complete<F, Fut>(
        &self,
        logstore: &str,
        mut issue: F,
    ) -> Result<QueryResult, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<QueryResult, StoreError>>,
    {
        let config = &self.inner.config;
        let mut reissue = 0u32;
        loop {
            let result = issue().await?;
            if result.progress == Progress::Complete || reissue >= config.max_incomplete_retries {
                if result.progress == Progress::Incomplete {
                    tracing::debug!(logstore, reissue, "sls query still incomplete, giving up");
                }
                return Ok(result);
            }
            let delay = self
                .inner
                .jitter
                .delay(config.base_backoff, config.max_backoff, reissue);
            tracing::debug!(
                logstore,
                reissue = reissue + 1,
                max = config.max_incomplete_retries,
                delay_ms = delay.as_millis() as u64,
                "sls query incomplete, re-issuing"
            );
            tokio::time::sleep(delay).await;
            reissue += 1;
        }
    }
}

/// `query`, or `*` when it is blank.
fn query_or_star(query: &str) -> String {
    let trimmed = query.trim();
    if trimmed.is_empty() {
        "*".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The GetLogsV2 body for a store request.
fn v2_body(request: &QueryRequest) -> GetLogsV2Request {
    GetLogsV2Request {
        from: request.from,
        to: request.to,
        line: (request.line > 0).then_some(request.line),
        offset: (request.offset > 0).then_some(request.offset),
        reverse: Some(request.reverse),
        query: Some(query_or_star(&request.query)),
        ..GetLogsV2Request::default()
    }
}

/// A GetLogsV2 answer in store terms.
fn result_from_v2(response: GetLogsV2Response) -> QueryResult {
    let meta = response.meta;
    let progress = if meta.is_complete() {
        Progress::Complete
    } else {
        Progress::Incomplete
    };
    let processed_rows = meta
        .processed_rows
        .map_or(0, |rows| u64::try_from(rows).unwrap_or(0));
    let rows = response.data.into_iter().map(|row| row.0).collect();
    assemble(
        progress,
        meta.has_sql.unwrap_or(false),
        meta.keys,
        rows,
        processed_rows,
    )
}

/// Builds a result: SQL answers with column names are ordered by them, everything else
/// takes the union of row keys.
fn assemble(
    progress: Progress,
    has_sql: bool,
    sql_keys: Option<Vec<String>>,
    rows: Vec<Vec<(String, String)>>,
    processed_rows: u64,
) -> QueryResult {
    let sql_keys = sql_keys.filter(|keys| has_sql && !keys.is_empty());
    let (keys, rows) = match sql_keys {
        Some(keys) => {
            let ordered = rows
                .into_iter()
                .map(|row| order_by_keys(&keys, row))
                .collect();
            (keys, ordered)
        }
        None => (union_keys(&rows), rows),
    };
    QueryResult {
        progress,
        keys,
        rows,
        processed_rows,
        has_sql,
    }
}

/// `row` with the columns named in `keys` first, in that order, then any others.
fn order_by_keys(keys: &[String], row: Vec<(String, String)>) -> Vec<(String, String)> {
    let already_ordered =
        row.len() == keys.len() && row.iter().zip(keys).all(|((column, _), key)| column == key);
    if already_ordered {
        return row;
    }
    let mut remaining = row;
    let mut ordered = Vec::with_capacity(remaining.len());
    for key in keys {
        if let Some(position) = remaining.iter().position(|(column, _)| column == key) {
            ordered.push(remaining.remove(position));
        }
    }
    ordered.extend(remaining);
    ordered
}

/// Every column name of `rows`, in first-seen order.
fn union_keys(rows: &[Vec<(String, String)>]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for row in rows {
        for (column, _) in row {
            if seen.insert(column.as_str()) {
                keys.push(column.clone());
            }
        }
    }
    keys
}

/// `keys` of an `x-log-query-info` header, if it has them.
fn query_info_keys(query_info: &str) -> Option<Vec<String>> {
    let info: serde_json::Value = serde_json::from_str(query_info).ok()?;
    let keys = info.get("keys")?.as_array()?;
    keys.iter()
        .map(|key| key.as_str().map(str::to_owned))
        .collect()
}

/// An empty, complete result to merge pages into.
fn empty_result(has_sql: bool) -> QueryResult {
    QueryResult {
        progress: Progress::Complete,
        keys: Vec::new(),
        rows: Vec::new(),
        processed_rows: 0,
        has_sql,
    }
}

/// Folds one page's progress and scan count into a merged result.
fn absorb_stats(merged: &mut QueryResult, progress: Progress, processed_rows: u64) {
    if progress == Progress::Incomplete {
        merged.progress = Progress::Incomplete;
    }
    merged.processed_rows = merged.processed_rows.saturating_add(processed_rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn sql_answers_follow_meta_keys() {
        let body = r#"{"meta":{"progress":"Complete","count":2,"hasSQL":true,
            "keys":["level","c"],"processedRows":42},
            "data":[{"c":"3","level":"error"},{"level":"null","c":"1"}]}"#;
        let response: GetLogsV2Response = serde_json::from_str(body).unwrap();
        let result = result_from_v2(response);
        assert_eq!(result.progress, Progress::Complete);
        assert!(result.has_sql);
        assert_eq!(result.keys, vec!["level", "c"]);
        assert_eq!(result.processed_rows, 42);
        assert_eq!(
            result.rows,
            vec![
                pairs(&[("level", "error"), ("c", "3")]),
                pairs(&[("level", "null"), ("c", "1")])
            ]
        );
    }

    #[test]
    fn search_answers_take_the_union_of_row_keys() {
        let body = r#"{"meta":{"progress":"Incomplete","count":2,"hasSQL":false,"keys":[]},
            "data":[{"__time__":"1","a":"x"},{"__time__":"2","b":"y"}]}"#;
        let response: GetLogsV2Response = serde_json::from_str(body).unwrap();
        let result = result_from_v2(response);
        assert_eq!(result.progress, Progress::Incomplete);
        assert!(!result.has_sql);
        assert_eq!(result.keys, vec!["__time__", "a", "b"]);
        assert_eq!(result.processed_rows, 0);
        assert_eq!(result.rows[1], pairs(&[("__time__", "2"), ("b", "y")]));
    }

    #[test]
    fn rows_reorder_with_extras_last() {
        let keys = vec!["a".to_owned(), "b".to_owned(), "missing".to_owned()];
        let row = pairs(&[("extra", "e"), ("b", "2"), ("a", "1")]);
        assert_eq!(
            order_by_keys(&keys, row),
            pairs(&[("a", "1"), ("b", "2"), ("extra", "e")])
        );
    }

    #[test]
    fn request_bodies_leave_out_zero_paging() {
        let request = QueryRequest {
            from: 10,
            to: 20,
            query: "  ".to_owned(),
            line: 0,
            offset: 0,
            reverse: true,
        };
        assert_eq!(
            serde_json::to_string(&v2_body(&request)).unwrap(),
            r#"{"from":10,"to":20,"reverse":true,"query":"*"}"#
        );
        let paged = QueryRequest {
            line: 100,
            offset: 200,
            query: "level:error".to_owned(),
            ..request
        };
        assert_eq!(
            serde_json::to_string(&v2_body(&paged)).unwrap(),
            r#"{"from":10,"to":20,"line":100,"offset":200,"reverse":true,"query":"level:error"}"#
        );
    }

    #[test]
    fn query_info_keys_are_read_leniently() {
        assert_eq!(
            query_info_keys(r#"{"keys":["a","b"],"mode":0}"#),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(query_info_keys(r#"{"mode":0}"#), None);
        assert_eq!(query_info_keys("not json"), None);
        assert_eq!(query_info_keys(r#"{"keys":[1]}"#), None);
    }
}
