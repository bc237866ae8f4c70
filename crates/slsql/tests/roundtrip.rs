//! Property tests: a printed AST parses back to the same AST, quoting helpers
//! produce literal terms, and no input makes the parser panic.

use proptest::prelude::*;
use sentry_sls_slsql::{
    parse_query, parse_search, quote_field, quote_value, split_query, CompareOp, Pattern, Query,
    SearchExpr, MAX_CONDITIONS,
};

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_.@-]{0,8}",
        1 => Just("__tag__:__receive_time__".to_string()),
        1 => "__tag__:[a-z_]{1,6}",
        1 => prop::sample::select(vec!["__tag__", "and", "Or", "NOT", "in", "limit", "a:b", "x y"])
            .prop_map(str::to_string),
        3 => any::<String>().prop_filter("non-empty", |name| !name.is_empty()),
    ]
}

fn literal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-z0-9]{1,8}",
        1 => prop::sample::select(vec!["and", "OR", "not", "in", "*", "?", "", "-", "sort", "1.5"])
            .prop_map(str::to_string),
        2 => "[a-z*? :=<>\"\\\\|()\\[\\]]{0,8}",
        3 => any::<String>(),
    ]
}

/// Wildcard text that can be written as a bare word (see
/// `Pattern::is_expressible`).
fn wildcard_text(fielded: bool) -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9_.é中/-]",
        any::<String>(),
        "[*?]{1,2}",
        any::<String>(),
    )
        .prop_map(move |(first, middle, wildcards, tail)| {
            let clean = |text: String| -> String {
                text.chars()
                    .filter(|&ch| {
                        !ch.is_whitespace()
                            && !"\"()|".contains(ch)
                            && (fielded || !":=<>".contains(ch))
                    })
                    .collect()
            };
            format!("{first}{}{wildcards}{}", clean(middle), clean(tail))
        })
}

fn term() -> impl Strategy<Value = SearchExpr> {
    prop_oneof![
        literal_text().prop_map(SearchExpr::term),
        (field_name(), literal_text())
            .prop_map(|(field, value)| SearchExpr::field_term(field, value)),
        wildcard_text(false).prop_map(|text| SearchExpr::Term {
            field: None,
            value: Pattern::Wildcard(text)
        }),
        (field_name(), wildcard_text(true)).prop_map(|(field, text)| SearchExpr::Term {
            field: Some(field),
            value: Pattern::Wildcard(text)
        }),
    ]
}

fn number() -> impl Strategy<Value = String> {
    "[+-]?([0-9]{1,4}(\\.[0-9]{0,3})?|\\.[0-9]{1,3})([eE][+-]?[0-9]{1,2})?"
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn leaf() -> impl Strategy<Value = SearchExpr> {
    prop_oneof![
        1 => Just(SearchExpr::All),
        6 => term(),
        2 => (field_name(), compare_op(), number())
            .prop_map(|(field, op, value)| SearchExpr::Compare { field, op, value }),
        2 => (field_name(), number(), number(), any::<bool>(), any::<bool>()).prop_map(
            |(field, low, high, low_inclusive, high_inclusive)| SearchExpr::Range {
                field,
                low,
                high,
                low_inclusive,
                high_inclusive,
            }
        ),
    ]
}

fn search_expr() -> impl Strategy<Value = SearchExpr> {
    leaf()
        .prop_recursive(5, 30, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..5).prop_map(SearchExpr::And),
                prop::collection::vec(inner.clone(), 2..5).prop_map(SearchExpr::Or),
                inner.prop_map(|operand| SearchExpr::Not(Box::new(operand))),
            ]
        })
        .prop_filter("at most 30 conditions", |expr| {
            expr.condition_count() <= MAX_CONDITIONS
        })
}

/// Text made of the grammar's pieces, to reach deep into the parser.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "a",
        "B1",
        "and",
        "OR",
        "not",
        "in",
        "*",
        "?",
        "ab*",
        "c?d",
        "(",
        ")",
        "\"",
        "\\",
        "|",
        ":",
        "=",
        ">",
        ">=",
        "<",
        "<=",
        "[",
        "]",
        "1",
        "-2.5",
        "1e3",
        " ",
        " ",
        "  ",
        "\n",
        "k",
        "__tag__",
        "__tag__:t",
        "\"x y\"",
        "é",
        "set session a=b;",
        "select 1",
        "/x:y*",
        "a.b:c*",
        "\"\"",
        "NOT",
        "And",
    ]);
    prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printed_ast_parses_back(expr in search_expr()) {
        let printed = expr.to_string();
        prop_assert_eq!(parse_search(&printed), Ok(expr), "printed: {}", printed);
    }

    #[test]
    fn printed_query_parses_back(
        search in search_expr(),
        settings in prop::collection::vec(("[a-z_]{1,12}", "[a-z0-9]{1,6}"), 0..3),
        sql in prop::option::of("select [a-z0-9,*()|'\"]{1,16}"),
    ) {
        let query = Query {
            search,
            settings: if sql.is_some() { settings } else { Vec::new() },
            sql,
        };
        let printed = query.to_string();
        prop_assert_eq!(parse_query(&printed), Ok(query), "printed: {}", printed);
    }

    #[test]
    fn quoted_value_is_one_literal_term(value in any::<String>()) {
        let quoted = quote_value(&value);
        prop_assert_eq!(parse_search(&quoted), Ok(SearchExpr::term(value.clone())));
    }

    #[test]
    fn quoted_field_and_value_are_one_field_term(
        field in field_name(),
        value in literal_text(),
    ) {
        let text = format!("{}:{}", quote_field(&field), quote_value(&value));
        prop_assert_eq!(parse_search(&text), Ok(SearchExpr::field_term(field, value)));
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Ok(expr) = parse_search(&text) {
            prop_assert_eq!(parse_search(&expr.to_string()), Ok(expr));
        }
        let _ = split_query(&text);
        let _ = parse_query(&text);
    }

    #[test]
    fn parsed_soup_reprints_to_itself(text in token_soup()) {
        if let Ok(expr) = parse_search(&text) {
            let printed = expr.to_string();
            prop_assert_eq!(parse_search(&printed), Ok(expr), "{} -> {}", text, printed);
        }
        if let Ok(query) = parse_query(&text) {
            let printed = query.to_string();
            prop_assert_eq!(parse_query(&printed), Ok(query), "{} -> {}", text, printed);
        }
    }
}
