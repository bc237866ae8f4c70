//! Property tests: a printed AST parses back to the same AST, and no input
//! makes the parser panic.

use proptest::prelude::*;
use sentry_sls_snql::{
    parse, parse_initial, Direction, EntityMatch, Expr, ExprKind, LimitBy, Literal, OrderBy, Query,
    Relationship, SelectedExpr, Source, Span,
};

fn is_reserved(name: &str) -> bool {
    ["null", "true", "false"].contains(&name.to_ascii_lowercase().as_str())
}

fn column_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}(\\.[a-z_][a-z0-9_]{0,4})?"
        .prop_filter("reserved", |name| !is_reserved(name))
}

fn alias() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_.:]{0,6}"
}

fn function_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("count".to_string()),
        Just("plus".to_string()),
        Just("equals".to_string()),
        Just("toDateTime".to_string()),
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(|value| Literal::Int(value.into())),
        any::<f64>()
            .prop_filter("finite", |value| value.is_finite())
            .prop_map(Literal::Float),
        any::<String>().prop_map(Literal::String),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        literal().prop_map(Expr::literal),
        column_name().prop_map(Expr::column),
        (
            prop_oneof![Just("tags"), Just("contexts"), Just("e.tags")],
            "[a-zA-Z0-9_.: -]{0,10}"
        )
            .prop_map(|(column, key)| Expr::new(ExprKind::Subscript {
                column: column.to_string(),
                key
            })),
    ]
}

fn with_alias(expr: Expr, alias: Option<String>) -> Expr {
    Expr { alias, ..expr }
}

/// Expressions in expression position: aliases only on function calls.
fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                function_name(),
                prop::collection::vec(inner.clone(), 0..3),
                prop::option::of(alias())
            )
                .prop_map(|(name, args, alias)| with_alias(Expr::function(name, args), alias)),
            (
                function_name(),
                prop::collection::vec(inner.clone(), 0..2),
                prop::collection::vec(inner.clone(), 1..3)
            )
                .prop_map(|(name, params, args)| Expr::new(ExprKind::Curried {
                    name,
                    params,
                    args
                })),
            (inner.clone(), inner.clone()).prop_map(|(value, column)| {
                // ``arrayExists((`x`) -> equals(`x`, value), column)``
                let body = Expr::function(
                    "equals",
                    vec![Expr::new(ExprKind::Argument("x".into())), value],
                );
                let lambda = Expr::new(ExprKind::Lambda {
                    params: vec!["x".into()],
                    body: Box::new(body),
                });
                Expr::function("arrayExists", vec![lambda, column])
            }),
        ]
    })
}

fn comparison_rhs() -> impl Strategy<Value = Expr> {
    prop_oneof![
        literal().prop_map(Expr::literal),
        column_name().prop_map(Expr::column),
        (function_name(), prop::collection::vec(expr(), 0..3))
            .prop_map(|(name, args)| Expr::function(name, args)),
    ]
}

fn condition() -> impl Strategy<Value = Expr> {
    let operators = prop::sample::select(vec![
        "equals",
        "notEquals",
        "less",
        "lessOrEquals",
        "greater",
        "greaterOrEquals",
        "in",
        "notIn",
        "like",
        "notLike",
    ]);
    let comparison = (operators, expr(), comparison_rhs())
        .prop_map(|(operator, lhs, rhs)| Expr::function(operator, vec![lhs, rhs]));
    let null_check = (prop::sample::select(vec!["isNull", "isNotNull"]), expr())
        .prop_map(|(function, operand)| Expr::function(function, vec![operand]));
    prop_oneof![comparison, null_check].prop_recursive(3, 12, 2, |inner| {
        (
            prop::sample::select(vec!["and", "or"]),
            inner.clone(),
            inner,
        )
            .prop_map(|(function, left, right)| Expr::function(function, vec![left, right]))
    })
}

fn selected() -> impl Strategy<Value = SelectedExpr> {
    let top_level_alias =
        (leaf(), prop::option::of(alias())).prop_map(|(expr, alias)| match expr.kind {
            // Literals cannot carry an alias in SnQL.
            ExprKind::Literal(_) => expr,
            _ => with_alias(expr, alias),
        });
    prop_oneof![top_level_alias, expr()].prop_map(|expr| SelectedExpr {
        name: String::new(),
        expr,
    })
}

fn entity(with_alias: bool) -> impl Strategy<Value = EntityMatch> {
    (
        "[a-z_]{1,12}",
        prop::option::of(prop_oneof![(0.0f64..1.0), (1.0f64..1e6)]),
        "[a-z_][a-z0-9_]{0,3}",
    )
        .prop_map(move |(name, sample, alias)| EntityMatch {
            alias: with_alias.then_some(alias),
            name,
            sample,
            span: Span::default(),
        })
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        4 => entity(false).prop_map(Source::Entity),
        1 => entity(false).prop_map(Source::Storage),
        1 => prop::collection::vec(
            (entity(true), "[a-z_][a-z0-9_]{0,8}", entity(true))
                .prop_map(|(lhs, name, rhs)| Relationship { lhs, name, rhs }),
            1..3,
        )
        .prop_map(Source::Join),
    ]
}

fn limit_by_column() -> impl Strategy<Value = Expr> {
    prop_oneof![
        column_name().prop_map(Expr::column),
        "[a-z0-9_.:-]{1,8}".prop_map(|key| Expr::new(ExprKind::Subscript {
            column: "tags".into(),
            key
        })),
    ]
}

fn query_with(source: impl Strategy<Value = Source>) -> impl Strategy<Value = Query> {
    (
        source,
        prop::collection::vec(selected(), 1..4),
        prop::collection::vec(selected(), 0..3),
        prop::option::of(condition()),
        prop::option::of(condition()),
        prop::collection::vec(
            (expr(), any::<bool>()).prop_map(|(expr, asc)| OrderBy {
                expr,
                direction: if asc { Direction::Asc } else { Direction::Desc },
            }),
            0..3,
        ),
        prop::option::of(
            (0u64..100, prop::collection::vec(limit_by_column(), 1..3))
                .prop_map(|(limit, columns)| LimitBy { limit, columns }),
        ),
        (
            prop::option::of(0u64..=10_000),
            prop::option::of(0u64..1_000_000),
            prop::option::of(prop::sample::select(vec![60u64, 3600, 86400, 7])),
            prop::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(source, selected, group_by, condition, having, order_by, limit_by, tail)| {
                let (limit, offset, granularity, totals) = tail;
                let mut select = group_by.clone();
                select.extend(selected);
                Query {
                    source,
                    select,
                    group_by,
                    array_join: Vec::new(),
                    condition,
                    having,
                    order_by,
                    limit_by,
                    limit,
                    offset,
                    granularity,
                    totals,
                }
            },
        )
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        4 => query_with(source()),
        1 => query_with(source()).prop_flat_map(|inner| {
            query_with(Just(Source::Subquery(Box::new(inner))))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_ast_parses_back_to_the_same_ast(query in query()) {
        let text = query.to_string();
        let parsed = parse_initial(&text)
            .unwrap_or_else(|error| panic!("printed query does not parse: {error}\n{text}"));
        prop_assert_eq!(&parsed, &query, "text: {}", text);
        // Printing is stable too.
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn snql_shaped_text_never_panics(text in "MATCH [({][a-z :]{0,12}[)}] SELECT [ -~]{0,80}") {
        let _ = parse(&text);
    }
}

/// Parsed corpus queries survive print → parse unchanged. (After the
/// post-parse passes an AST may hold expanded aliases where the surface
/// grammar allows none, so the property is about the grammar stage.)
#[test]
fn corpus_queries_round_trip() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/snql_corpus.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut round_tripped = 0;
    for line in text.lines() {
        let start = line.find("\"query\": \"").unwrap() + 10;
        let mut query_text = String::new();
        let mut chars = line[start..].chars();
        while let Some(ch) = chars.next() {
            match ch {
                '"' => break,
                '\\' => match chars.next().unwrap() {
                    'n' => query_text.push('\n'),
                    't' => query_text.push('\t'),
                    other => query_text.push(other),
                },
                other => query_text.push(other),
            }
        }
        if let Ok(query) = parse_initial(&query_text) {
            let printed = query.to_string();
            let reparsed = parse_initial(&printed).unwrap_or_else(|error| {
                panic!("reprint of corpus query fails: {error}\n{query_text}\n{printed}")
            });
            assert_eq!(reparsed, query, "\n{query_text}\n{printed}");
            round_tripped += 1;
        }
    }
    assert_eq!(
        round_tripped, 318,
        "every grammatical corpus query round-trips"
    );
}
