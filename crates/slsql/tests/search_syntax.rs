//! Search statements from the SLS documentation (§4.2 of the protocol notes),
//! error cases, and the split of whole queries.

use sentry_sls_slsql::{
    parse_query, parse_search, split_query, CompareOp, ParseError, Pattern, SearchExpr,
    MAX_CONDITIONS,
};

fn term(value: &str) -> SearchExpr {
    SearchExpr::term(value)
}

fn field(name: &str, value: &str) -> SearchExpr {
    SearchExpr::field_term(name, value)
}

fn wildcard(field: Option<&str>, value: &str) -> SearchExpr {
    SearchExpr::Term {
        field: field.map(str::to_string),
        value: Pattern::Wildcard(value.into()),
    }
}

fn compare(field: &str, op: CompareOp, value: &str) -> SearchExpr {
    SearchExpr::Compare {
        field: field.into(),
        op,
        value: value.into(),
    }
}

fn and(items: Vec<SearchExpr>) -> SearchExpr {
    SearchExpr::And(items)
}

fn or(items: Vec<SearchExpr>) -> SearchExpr {
    SearchExpr::Or(items)
}

fn not(inner: SearchExpr) -> SearchExpr {
    SearchExpr::Not(Box::new(inner))
}

fn parse(text: &str) -> SearchExpr {
    let expr = parse_search(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    // Every accepted statement prints to something that parses back the same.
    let printed = expr.to_string();
    assert_eq!(
        parse_search(&printed).as_ref(),
        Ok(&expr),
        "{text} -> {printed}"
    );
    expr
}

fn error(text: &str) -> ParseError {
    match parse_search(text) {
        Ok(expr) => panic!("{text}: expected an error, got {expr:?}"),
        Err(error) => error,
    }
}

#[test]
fn full_text_and_fields() {
    assert_eq!(
        parse("PUT and cn-shanghai"),
        and(vec![term("PUT"), term("cn-shanghai")])
    );
    assert_eq!(parse("level:error"), field("level", "error"));
    assert_eq!(parse("level: error"), field("level", "error"));
    assert_eq!(parse(r#""file info":apsara"#), field("file info", "apsara"));
    assert_eq!(parse("__topic__:x"), field("__topic__", "x"));
    assert_eq!(
        parse("__source__:1.2.*"),
        wildcard(Some("__source__"), "1.2.*")
    );
    assert_eq!(
        parse("__tag__:__receive_time__:1700000000"),
        field("__tag__:__receive_time__", "1700000000")
    );
    assert_eq!(
        parse("__tag__:__receive_time__ >= 1700000000"),
        compare("__tag__:__receive_time__", CompareOp::Ge, "1700000000")
    );
    assert_eq!(parse("__tag__:x"), field("__tag__", "x"));
    assert_eq!(
        parse(r#""__tag__:__path__":"/var/log""#),
        field("__tag__:__path__", "/var/log")
    );
    assert_eq!(
        parse("url:http://x/a?b=c"),
        wildcard(Some("url"), "http://x/a?b=c")
    );
    assert_eq!(
        parse(r#"url:"http://x/a?b=c""#),
        field("url", "http://x/a?b=c")
    );
    assert_eq!(parse("ctx.a.b:x"), field("ctx.a.b", "x"));
    assert_eq!(parse("user@host-1:y"), field("user@host-1", "y"));
    assert_eq!(parse("日志:错误"), field("日志", "错误"));
    assert_eq!(parse("a/b:c"), term("a/b:c"));
}

#[test]
fn quoted_phrases() {
    assert_eq!(parse(r#""hello world""#), term("hello world"));
    assert_eq!(parse(r#"msg:"hello world""#), field("msg", "hello world"));
    assert_eq!(parse(r#""say \"hi\"""#), term(r#"say "hi""#));
    assert_eq!(parse(r#""back\\slash""#), term(r"back\slash"));
    assert_eq!(parse(r#""a|b""#), term("a|b"));
    assert_eq!(parse(r#""and""#), term("and"));
    assert_eq!(parse(r#""""#), term(""));
    // Quoted text is literal: no wildcards inside quotes.
    assert_eq!(parse(r#""abc*""#), term("abc*"));
    assert_eq!(parse(r#""*""#), term("*"));
}

#[test]
fn wildcards() {
    assert_eq!(parse("abc*"), wildcard(None, "abc*"));
    assert_eq!(parse("ab?d"), wildcard(None, "ab?d"));
    assert_eq!(parse("level:err*"), wildcard(Some("level"), "err*"));
    assert_eq!(parse("k = ab*"), wildcard(Some("k"), "ab*"));
}

#[test]
fn comparisons_and_ranges() {
    assert_eq!(
        parse("status >= 500"),
        compare("status", CompareOp::Ge, "500")
    );
    assert_eq!(parse("status>500"), compare("status", CompareOp::Gt, "500"));
    assert_eq!(parse("k < -1.5"), compare("k", CompareOp::Lt, "-1.5"));
    assert_eq!(parse("k <= 1e3"), compare("k", CompareOp::Le, "1e3"));
    // `=` with a number is a comparison; with anything else it is `k:v`.
    assert_eq!(parse("k = 100"), compare("k", CompareOp::Eq, "100"));
    assert_eq!(parse("k = abc"), field("k", "abc"));
    assert_eq!(parse(r#"k = "a b""#), field("k", "a b"));
    assert_eq!(parse("k:100"), field("k", "100"));
    assert_eq!(
        parse("latency in [100 200)"),
        SearchExpr::Range {
            field: "latency".into(),
            low: "100".into(),
            high: "200".into(),
            low_inclusive: true,
            high_inclusive: false,
        }
    );
    assert_eq!(
        parse("(latency in (0.5   2]) or x"),
        or(vec![
            SearchExpr::Range {
                field: "latency".into(),
                low: "0.5".into(),
                high: "2".into(),
                low_inclusive: false,
                high_inclusive: true,
            },
            term("x"),
        ])
    );
    // Only lowercase `in` makes a range.
    assert_eq!(parse("k IN x"), and(vec![term("k"), term("IN"), term("x")]));
}

#[test]
fn operators_and_precedence() {
    assert_eq!(
        parse("status >= 500 and not method:GET"),
        and(vec![
            compare("status", CompareOp::Ge, "500"),
            not(field("method", "GET")),
        ])
    );
    assert_eq!(
        parse("a or b and c"),
        or(vec![term("a"), and(vec![term("b"), term("c")])])
    );
    assert_eq!(
        parse("a and b or c"),
        or(vec![and(vec![term("a"), term("b")]), term("c")])
    );
    assert_eq!(parse("not a"), not(term("a")));
    assert_eq!(parse("NOT a"), not(term("a")));
    assert_eq!(parse("a not b"), and(vec![term("a"), not(term("b"))]));
    assert_eq!(
        parse("a b not c not d"),
        and(vec![term("a"), term("b"), not(term("c")), not(term("d"))])
    );
    // `not` groups looser than `and`.
    assert_eq!(parse("not a and b"), not(and(vec![term("a"), term("b")])));
    assert_eq!(
        parse("x and not a and b"),
        and(vec![term("x"), not(and(vec![term("a"), term("b")]))])
    );
    assert_eq!(parse("a or not b"), or(vec![term("a"), not(term("b"))]));
    assert_eq!(parse("not not a"), not(not(term("a"))));
    assert_eq!(
        parse("(a or b) c"),
        and(vec![or(vec![term("a"), term("b")]), term("c")])
    );
    assert_eq!(
        parse("a AND b Or c"),
        or(vec![and(vec![term("a"), term("b")]), term("c")])
    );
    assert_eq!(
        parse("(a and b) and c"),
        and(vec![and(vec![term("a"), term("b")]), term("c")])
    );
    assert_eq!(parse("((a))"), term("a"));
    assert_eq!(parse("* and a"), and(vec![SearchExpr::All, term("a")]));
    assert_eq!(parse("not *"), not(SearchExpr::All));
    assert_eq!(
        parse("android notice orange"),
        and(vec![term("android"), term("notice"), term("orange")])
    );
}

#[test]
fn printer_output() {
    let cases = [
        ("level:error", "level:error"),
        ("a b", "a and b"),
        ("a not b", "a and not b"),
        ("not a b", "not (a and b)"),
        ("not a or b", "not a or b"),
        ("(not a) b", "(not a) and b"),
        ("a (b or c)", "a and (b or c)"),
        ("k=100", "k = 100"),
        ("k = x", "k:x"),
        (r#""file info":"a b""#, r#""file info":"a b""#),
        ("latency in [100 200)", "latency in [100 200)"),
        (r#""and" or "IN""#, r#""and" or "IN""#),
        (r#"sort:"limit""#, r#""sort":"limit""#),
    ];
    for (input, printed) in cases {
        assert_eq!(parse(input).to_string(), printed, "{input}");
    }
}

#[test]
fn errors() {
    let cases = [
        ("(a", 0, "unbalanced parentheses: '(' is never closed"),
        ("a)", 1, "unexpected ')'"),
        ("a and )", 6, "expected a term after 'and'"),
        ("()", 0, "empty parentheses"),
        ("( )", 0, "empty parentheses"),
        (
            "*abc",
            0,
            "wildcard '*' cannot start a term (suffix search is not supported)",
        ),
        (
            "?abc",
            0,
            "wildcard '?' cannot start a term (suffix search is not supported)",
        ),
        (
            "k:*abc",
            2,
            "wildcard '*' cannot start a term (suffix search is not supported)",
        ),
        (
            "k:*",
            2,
            "wildcard '*' cannot start a term (suffix search is not supported)",
        ),
        ("a and", 5, "expected a term after 'and'"),
        ("a or", 4, "expected a term after 'or'"),
        ("not", 3, "expected a term after 'not'"),
        ("a not", 5, "expected a term after 'not'"),
        ("and a", 0, "unexpected 'and'"),
        ("a or or b", 5, "expected a term after 'or'"),
        ("k:", 2, "expected a value after ':'"),
        ("k: (a)", 3, "expected a value after ':'"),
        (":x", 0, "expected a field name before ':'"),
        ("level :error", 6, "expected a field name before ':'"),
        ("(>= 5)", 1, "expected a field name before '>'"),
        ("k > abc", 4, "expected a number after '>'"),
        ("k >", 3, "expected a number after '>'"),
        ("k =", 3, "expected a value after '='"),
        (r#"k > "5""#, 4, "expected a number after '>'"),
        ("k in [1 x]", 8, "invalid range bound: expected a number"),
        ("k in [1 2", 9, "expected ']' or ')' to close the range"),
        ("k in [1]", 7, "invalid range: expected two bounds"),
        ("k in [1[2]", 7, "expected whitespace between range bounds"),
        (r#""abc"#, 0, "unterminated quoted string"),
        (r#"k:"abc\""#, 2, "unterminated quoted string"),
        ("a | b", 2, "unexpected '|'"),
        (r#""":x"#, 0, "empty field name"),
    ];
    for (input, position, message) in cases {
        let error = error(input);
        assert_eq!(
            (error.position, error.message.as_str()),
            (position, message),
            "{input}"
        );
        assert_eq!(error.message, error.message.to_lowercase(), "{input}");
    }
    assert_eq!(
        error("a and )").to_string(),
        "line 1:7: expected a term after 'and'"
    );
    assert_eq!(error("a\n  )").to_string(), "line 2:3: unexpected ')'");
}

#[test]
fn condition_limit() {
    let terms: Vec<String> = (0..MAX_CONDITIONS)
        .map(|index| format!("t{index}"))
        .collect();
    let expr = parse(&terms.join(" or "));
    assert_eq!(expr.condition_count(), MAX_CONDITIONS);
    let too_many = format!("{} or k:v", terms.join(" or "));
    let error = error(&too_many);
    assert_eq!(
        error.message,
        "too many conditions: a search statement allows at most 30"
    );
    assert_eq!(error.position, too_many.len() - 3);
    // `*` is not a condition.
    let with_all = format!("{} and *", terms.join(" and "));
    assert!(parse_search(&with_all).is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_an_overflow() {
    for depth in [65, 10_000, 200_000] {
        let text = "(".repeat(depth) + "a" + &")".repeat(depth);
        let error = error(&text);
        assert!(error.message.contains("nested too deeply"), "{error}");
        assert!(parse_search(&"(".repeat(depth)).is_err());
        assert!(parse_search(&"not ".repeat(depth)).is_err());
    }
    let ok = "(".repeat(64) + "a" + &")".repeat(64);
    assert_eq!(parse(&ok), term("a"));
}

#[test]
fn split_queries() {
    let split = split_query("* | select count(*) as c").unwrap();
    assert_eq!(
        (split.search, split.sql),
        ("*", Some("select count(*) as c"))
    );

    let split = split_query("level:error | select 1").unwrap();
    assert_eq!((split.search, split.sql), ("level:error", Some("select 1")));

    let split = split_query(r#""a|b" | select 2"#).unwrap();
    assert_eq!((split.search, split.sql), (r#""a|b""#, Some("select 2")));

    let split = split_query("| select 1").unwrap();
    assert_eq!((split.search, split.sql), ("*", Some("select 1")));

    let split = split_query("* | set session parallel_sql=true; select 1").unwrap();
    assert_eq!(split.settings, vec![("parallel_sql".into(), "true".into())]);
    assert_eq!(split.sql, Some("select 1"));

    let split = split_query(
        "* | SET SESSION parallel_sql = true ; set session query_max_run_time=10s;select 1",
    )
    .unwrap();
    assert_eq!(
        split.settings,
        vec![
            ("parallel_sql".into(), "true".into()),
            ("query_max_run_time".into(), "10s".into())
        ]
    );
    assert_eq!(split.sql, Some("select 1"));

    // Without `|` everything is search, even `select …`; a trailing `;` stays.
    let split = split_query("select count(*)").unwrap();
    assert_eq!((split.search, split.sql), ("select count(*)", None));
    let split = split_query("* | select 1;").unwrap();
    assert_eq!(split.sql, Some("select 1;"));
    // Only the first `|` splits.
    let split = split_query("a | select 'x|y'").unwrap();
    assert_eq!(split.sql, Some("select 'x|y'"));
    // A setting-like statement later in the SQL is SQL.
    let split = split_query("* | select 1; set session a=b;").unwrap();
    assert!(split.settings.is_empty());
}

#[test]
fn split_errors() {
    let cases = [
        ("* |", "missing sql statement after '|'"),
        ("* |   ", "missing sql statement after '|'"),
        (
            "* | set session a=b;",
            "missing sql statement after 'set session'",
        ),
        (
            "* | set session a=b select 1",
            "expected ';' after the set session statement",
        ),
        (
            "* | set session ab; select 1",
            "expected 'name=value' after 'set session'",
        ),
        ("* | set session =b; select 1", "invalid set session name"),
        ("* | set session a=; select 1", "missing set session value"),
    ];
    for (input, message) in cases {
        let error = split_query(input).expect_err(input);
        assert_eq!(error.message, message, "{input}");
    }
}

#[test]
fn whole_queries() {
    let query = parse_query("level:error and status >= 500 | select count(*) as c").unwrap();
    assert_eq!(
        query.search,
        and(vec![
            field("level", "error"),
            compare("status", CompareOp::Ge, "500")
        ])
    );
    assert_eq!(query.sql.as_deref(), Some("select count(*) as c"));
    assert_eq!(
        query.to_string(),
        "level:error and status >= 500 | select count(*) as c"
    );

    let query = parse_query("* | set session parallel_sql=true; select 1").unwrap();
    assert_eq!(query.search, SearchExpr::All);
    assert_eq!(
        query.to_string(),
        "* | set session parallel_sql=true; select 1"
    );
    assert_eq!(parse_query(&query.to_string()), Ok(query));

    let query = parse_query("  | select 1").unwrap();
    assert_eq!(query.search, SearchExpr::All);

    // Errors in the search part are positioned in the whole query.
    let error = parse_query("a and ) | select 1").unwrap_err();
    assert_eq!(error.position, 6);
    let error = parse_query("  *x | select 1").unwrap_err();
    assert_eq!((error.position, error.column), (2, 3));
}
