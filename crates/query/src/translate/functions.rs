//! ClickHouse functions as SLS (Presto) SQL. Every spelling here is valid on
//! SLS and on the embedded store (which rewrites the few Presto-only ones).

use sentry_sls_snql::{Expr, ExprKind, Literal};

use super::columns::{self, key, string_literal, ColumnSql};
use super::{unsupported, Sql, Translator};
use crate::error::SnubaError;
use crate::types::strip_nullable;

fn infix(operator: &str, left: &Sql, right: &Sql) -> Sql {
    Sql::value(format!(
        "({} {operator} {})",
        left.as_number(),
        right.as_number()
    ))
}

fn arity(name: &str, args: &[Expr], expected: usize) -> Result<(), SnubaError> {
    if args.len() == expected {
        Ok(())
    } else {
        Err(SnubaError::InvalidQuery(format!(
            "function {name} expects {expected} argument(s), got {}",
            args.len()
        )))
    }
}

/// The JSON array of a `tuple(…)` whose items are all literals.
pub(crate) fn constant_tuple(items: &[Expr]) -> Option<String> {
    let values: Option<Vec<serde_json::Value>> = items
        .iter()
        .map(|item| match &item.kind {
            ExprKind::Literal(Literal::String(text)) => Some(text.clone().into()),
            ExprKind::Literal(Literal::Int(value)) => i64::try_from(*value).ok().map(Into::into),
            ExprKind::Literal(Literal::Float(value)) => {
                serde_json::Number::from_f64(*value).map(serde_json::Value::Number)
            }
            ExprKind::Literal(Literal::Null) => Some(serde_json::Value::Null),
            _ => None,
        })
        .collect();
    serde_json::to_string(&values?).ok()
}

/// The Presto name of a ClickHouse variance aggregate.
fn variance_function(name: &str) -> &'static str {
    match name {
        "varPop" => "var_pop",
        "stddevSamp" => "stddev_samp",
        "stddevPop" => "stddev_pop",
        _ => "var_samp",
    }
}

/// Small deterministic hash of a string, folded into 31 bits.
fn fold(text: &str) -> u64 {
    text.bytes().fold(1_469_598_103u64, |hash, byte| {
        (hash.wrapping_mul(31).wrapping_add(u64::from(byte))) % 2_147_483_647
    })
}

impl Translator<'_> {
    fn args(&mut self, args: &[Expr]) -> Result<Vec<Sql>, SnubaError> {
        args.iter().map(|arg| self.expr(arg)).collect()
    }

    /// The JSON key behind an array/map column argument, if it is one.
    fn array_key(&mut self, expr: &Expr) -> Result<Option<ColumnSql>, SnubaError> {
        match expr.as_column() {
            Some(name) if self.inner.is_empty() => match self.column(name)? {
                ColumnSql::Scalar(_) => Ok(None),
                other => Ok(Some(other)),
            },
            _ => Ok(None),
        }
    }

    fn comparison(&mut self, name: &str, args: &[Expr]) -> Result<Sql, SnubaError> {
        arity(name, args, 2)?;
        let (lhs_expr, rhs_expr) = (&args[0], &args[1]);
        let lhs = self.expr(lhs_expr)?;
        if matches!(name, "in" | "notIn") {
            let items: Vec<&Expr> = match rhs_expr.as_function() {
                Some(("tuple" | "array", items)) => items.iter().collect(),
                _ => vec![rhs_expr],
            };
            if items.is_empty() {
                return Ok(Sql::condition(
                    if name == "in" { "false" } else { "true" }.into(),
                ));
            }
            let mut texts = Vec::new();
            for item in items {
                texts.push(self.operand(lhs_expr, item)?.as_number());
            }
            let keyword = if name == "in" { "IN" } else { "NOT IN" };
            return Ok(Sql::condition(format!(
                "({} {keyword} ({}))",
                lhs.as_number(),
                texts.join(", ")
            )));
        }
        let rhs = self.operand(lhs_expr, rhs_expr)?;
        // `cond = 1` / `cond != 0`: ClickHouse compares the UInt8 condition.
        if lhs.boolean && !rhs.boolean {
            if let ExprKind::Literal(Literal::Int(value @ (0 | 1))) = &rhs_expr.kind {
                let truthy = match name {
                    "equals" => *value == 1,
                    "notEquals" => *value == 0,
                    _ => return Ok(infix_condition(name, &lhs, &rhs)),
                };
                return Ok(Sql::condition(if truthy {
                    lhs.text
                } else {
                    format!("(NOT {})", lhs.text)
                }));
            }
        }
        Ok(infix_condition(name, &lhs, &rhs))
    }

    /// `arrayExists((x) -> f(x), arr)` / `arrayAll(…)`, for the lambda shapes
    /// Snuba's array-condition rewrite and Sentry produce.
    fn array_predicate(&mut self, name: &str, args: &[Expr]) -> Result<Sql, SnubaError> {
        arity(name, args, 2)?;
        let ExprKind::Lambda { params, body } = &args[0].kind else {
            return Err(unsupported(format!("{name} without a lambda")));
        };
        let Some(ColumnSql::JsonArray(array)) = self.array_key(&args[1])? else {
            return Err(unsupported(format!(
                "{name} over a non-array-column argument"
            )));
        };
        let [param] = params.as_slice() else {
            return Err(unsupported(format!(
                "{name} with several lambda parameters"
            )));
        };
        // Unwrap assumeNotNull(…).
        let mut body: &Expr = body;
        while let Some(("assumeNotNull", [inner])) = body.as_function() {
            body = inner;
        }
        let Some((operator, [lhs, rhs])) = body.as_function() else {
            return Err(unsupported(format!("{name} with this lambda body")));
        };
        if !matches!(&lhs.kind, ExprKind::Argument(arg) if arg == param) {
            return Err(unsupported(format!("{name} with this lambda body")));
        }
        if matches!(operator, "like" | "notLike") {
            let ExprKind::Literal(Literal::String(pattern)) = &rhs.kind else {
                return Err(unsupported(format!("{name} with a computed LIKE pattern")));
            };
            // A regular expression over the array's JSON text that matches one
            // whole string element: both SLS and the embedded store have it.
            let any = format!(
                "coalesce(regexp_like({}, {}), false)",
                key(array),
                string_literal(&like_element_regex(pattern))
            );
            return match (name, operator) {
                ("arrayExists", "like") => Ok(Sql::condition(any)),
                ("arrayAll", "notLike") => Ok(Sql::condition(format!("(NOT {any})"))),
                _ => Err(unsupported(format!(
                    "{name} with the lambda operator {operator}"
                ))),
            };
        }
        let values: Vec<&Expr> = match (operator, rhs.as_function()) {
            ("equals" | "notEquals", _) => vec![rhs],
            ("in" | "notIn", Some(("tuple" | "array", items))) => items.iter().collect(),
            _ => {
                return Err(unsupported(format!(
                    "{name} with the lambda operator {operator}"
                )))
            }
        };
        let mut contains = Vec::new();
        for value in values {
            if !matches!(value.kind, ExprKind::Literal(_)) {
                return Err(unsupported(format!("{name} comparing with a non-literal")));
            }
            let value = self.expr(value)?;
            contains.push(format!(
                "coalesce(json_array_contains({}, {}), false)",
                key(array),
                value.text
            ));
        }
        let any = if contains.is_empty() {
            "false".to_string()
        } else {
            format!("({})", contains.join(" OR "))
        };
        let positive = matches!(operator, "equals" | "in");
        Ok(Sql::condition(match (name, positive) {
            // some element equals: any; some element differs is not expressible
            ("arrayExists", true) => any,
            // every element differs: none equals
            ("arrayAll", false) => format!("(NOT {any})"),
            _ => {
                return Err(unsupported(format!(
                    "{name} with the lambda operator {operator}"
                )))
            }
        }))
    }

    /// A ClickHouse function call.
    pub(crate) fn function(&mut self, name: &str, args: &[Expr]) -> Result<Sql, SnubaError> {
        if self.window_totals && crate::functions::is_aggregate_function(name) {
            return self.window_total(name, args);
        }
        match name {
            "equals" | "notEquals" | "less" | "lessOrEquals" | "greater" | "greaterOrEquals"
            | "in" | "notIn" => self.comparison(name, args),
            "like" | "notLike" => {
                arity(name, args, 2)?;
                let value = self.expr(&args[0])?;
                let pattern = self.expr(&args[1])?;
                let like = format!("({} LIKE {})", value.text, pattern.text);
                Ok(Sql::condition(if name == "like" {
                    like
                } else {
                    format!("(NOT {like})")
                }))
            }
            "match" => {
                arity(name, args, 2)?;
                let [value, pattern] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                Ok(Sql::condition(format!(
                    "regexp_like({}, {})",
                    value.text, pattern.text
                )))
            }
            "and" | "or" => {
                // Flattened: long condition chains stay shallow for SQL parsers.
                let mut flat = Vec::new();
                flatten(name, args, &mut flat);
                let mut parts = Vec::new();
                for arg in flat {
                    parts.push(self.expr(arg)?.as_bool());
                }
                if parts.is_empty() {
                    return Err(SnubaError::InvalidQuery(format!(
                        "{name}() needs arguments"
                    )));
                }
                let keyword = if name == "and" { " AND " } else { " OR " };
                Ok(Sql::condition(format!("({})", parts.join(keyword))))
            }
            "not" => {
                arity(name, args, 1)?;
                Ok(Sql::condition(format!(
                    "(NOT {})",
                    self.expr(&args[0])?.as_bool()
                )))
            }
            "isNull" | "isNotNull" => {
                arity(name, args, 1)?;
                let value = self.expr(&args[0])?;
                let test = if name == "isNull" {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                };
                Ok(Sql::condition(format!("({} {test})", value.text)))
            }
            "plus" | "minus" | "multiply" | "modulo" | "intDiv" => {
                arity(name, args, 2)?;
                let [left, right] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                let operator = match name {
                    "plus" => "+",
                    "minus" => "-",
                    "multiply" => "*",
                    "modulo" => "%",
                    _ => "/",
                };
                Ok(infix(operator, left, right))
            }
            "divide" => {
                arity(name, args, 2)?;
                let [left, right] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                // ClickHouse divides as floats.
                Ok(Sql::value(format!(
                    "(cast({} AS double) / {})",
                    left.as_number(),
                    right.as_number()
                )))
            }
            "negate" => {
                arity(name, args, 1)?;
                Ok(Sql::value(format!(
                    "(- {})",
                    self.expr(&args[0])?.as_number()
                )))
            }
            "abs" | "floor" | "ceil" | "sqrt" | "exp" | "lower" | "upper" | "length" => {
                arity(name, args, 1)?;
                if name == "length" {
                    if let Some(ColumnSql::JsonArray(array)) = self.array_key(&args[0])? {
                        return Ok(Sql::value(format!(
                            "coalesce(json_array_length({}), 0)",
                            key(array)
                        )));
                    }
                }
                let value = self.expr(&args[0])?;
                Ok(Sql::value(format!("{name}({})", value.as_number())))
            }
            "log" | "ln" => {
                arity(name, args, 1)?;
                Ok(Sql::value(format!(
                    "ln(cast({} AS double))",
                    self.expr(&args[0])?.as_number()
                )))
            }
            "pow" | "power" => {
                arity(name, args, 2)?;
                let [base, exponent] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                Ok(Sql::value(format!(
                    "power(cast({} AS double), {})",
                    base.as_number(),
                    exponent.as_number()
                )))
            }
            "greatest" | "least" => {
                let parts: Vec<String> = self.args(args)?.iter().map(Sql::as_number).collect();
                Ok(Sql::value(format!("{name}({})", parts.join(", "))))
            }
            "if" => {
                arity(name, args, 3)?;
                let [condition, then, otherwise] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                Ok(Sql::value(format!(
                    "CASE WHEN {} THEN {} ELSE {} END",
                    condition.as_bool(),
                    then.as_number(),
                    otherwise.as_number()
                )))
            }
            "multiIf" => {
                if args.len() < 3 || args.len().is_multiple_of(2) {
                    return Err(SnubaError::InvalidQuery(
                        "multiIf needs an odd number (≥ 3) of arguments".into(),
                    ));
                }
                let parts = self.args(args)?;
                let mut text = String::from("CASE");
                for pair in parts[..parts.len() - 1].chunks(2) {
                    text.push_str(&format!(
                        " WHEN {} THEN {}",
                        pair[0].as_bool(),
                        pair[1].as_number()
                    ));
                }
                text.push_str(&format!(" ELSE {} END", parts[parts.len() - 1].as_number()));
                Ok(Sql::value(text))
            }
            "coalesce" | "ifNull" => {
                let parts: Vec<String> = self.args(args)?.iter().map(Sql::as_number).collect();
                Ok(Sql::value(format!("coalesce({})", parts.join(", "))))
            }
            "nullIf" => {
                arity(name, args, 2)?;
                let [value, other] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                Ok(Sql::value(format!(
                    "nullif({}, {})",
                    value.text, other.text
                )))
            }
            "assumeNotNull" | "toNullable" | "toDateTime" | "toUnixTimestamp" => {
                // DateTimes are epoch seconds in SQL already.
                let Some(first) = args.first() else {
                    return Err(SnubaError::InvalidQuery(format!(
                        "{name} needs an argument"
                    )));
                };
                self.expr(first)
            }
            "toStartOfMinute"
            | "toStartOfFiveMinute"
            | "toStartOfHour"
            | "toStartOfDay"
            | "toDate" => {
                let Some(first) = args.first() else {
                    return Err(SnubaError::InvalidQuery(format!(
                        "{name} needs an argument"
                    )));
                };
                let seconds = match name {
                    "toStartOfMinute" => 60,
                    "toStartOfFiveMinute" => 300,
                    "toStartOfHour" => 3600,
                    _ => 86400,
                };
                let value = self.expr(first)?.as_number();
                Ok(Sql::value(columns::bucket(&value, seconds)))
            }
            "now" => Ok(Sql::value(self.now.to_string())),
            "toUInt64" | "toInt64" | "toUInt32" | "toUInt16" | "toUInt8" | "toInt32"
            | "toInt16" | "toInt8" => {
                arity(name, args, 1)?;
                let value = self.expr(&args[0])?;
                let ty = strip_nullable(&self.type_of(&args[0]));
                // ClickHouse truncates floats; Presto's cast rounds.
                let text = if ty.starts_with("Float") {
                    format!("cast(floor({}) AS bigint)", value.as_number())
                } else if ty == "String" {
                    format!("cast({} AS bigint)", value.text)
                } else {
                    format!("cast({} AS bigint)", value.as_number())
                };
                Ok(Sql::value(text))
            }
            "toFloat64" => {
                arity(name, args, 1)?;
                Ok(Sql::value(format!(
                    "cast({} AS double)",
                    self.expr(&args[0])?.as_number()
                )))
            }
            "toString" => {
                arity(name, args, 1)?;
                Ok(Sql::value(format!(
                    "cast({} AS varchar)",
                    self.expr(&args[0])?.as_number()
                )))
            }
            "positionCaseInsensitive" | "position" => {
                arity(name, args, 2)?;
                let [haystack, needle] = &self.args(args)?[..] else {
                    unreachable!("arity checked");
                };
                Ok(Sql::value(if name == "position" {
                    format!("strpos({}, {})", haystack.text, needle.text)
                } else {
                    format!("strpos(lower({}), lower({}))", haystack.text, needle.text)
                }))
            }
            "notEmpty" | "empty" => {
                arity(name, args, 1)?;
                let test = match self.array_key(&args[0])? {
                    Some(ColumnSql::JsonArray(array)) => {
                        format!("coalesce(json_array_length({}), 0) > 0", key(array))
                    }
                    Some(ColumnSql::MapKeys(object) | ColumnSql::MapValues(object)) => {
                        format!("coalesce({}, '{{}}') <> '{{}}'", key(object))
                    }
                    _ => format!("length({}) > 0", self.expr(&args[0])?.text),
                };
                Ok(Sql::condition(if name == "notEmpty" {
                    format!("({test})")
                } else {
                    format!("(NOT ({test}))")
                }))
            }
            "has" => {
                arity(name, args, 2)?;
                match self.array_key(&args[0])? {
                    Some(ColumnSql::JsonArray("exception_stacks_mechanism_handled"))
                        if matches!(args[1].kind, ExprKind::Literal(Literal::Int(0))) =>
                    {
                        // Ingest's `unhandled` key is exactly has(…, 0).
                        Ok(Sql::condition("(coalesce(\"unhandled\", 0) = 1)".into()))
                    }
                    Some(ColumnSql::JsonArray(array)) => {
                        let value = self.expr(&args[1])?;
                        Ok(Sql::condition(format!(
                            "coalesce(json_array_contains({}, {}), false)",
                            key(array),
                            value.text
                        )))
                    }
                    Some(ColumnSql::MapKeys(object)) => match &args[1].kind {
                        ExprKind::Literal(Literal::String(member)) => Ok(Sql::condition(format!(
                            "({} IS NOT NULL)",
                            columns::json_member(object, member)?.replacen(
                                "json_extract_scalar",
                                "json_extract",
                                1
                            )
                        ))),
                        _ => Err(unsupported("has(tags.key, …) with a non-literal key")),
                    },
                    _ => Err(unsupported("has over a non-array-column argument")),
                }
            }
            "arrayExists" | "arrayAll" => self.array_predicate(name, args),
            "arrayElement" => {
                arity(name, args, 2)?;
                // arrayElement(tags.value, indexOf(tags.key, 'k')) is tags[k]
                // spelled out (Snuba's own expansion, sent by older callers).
                if let (Some(ColumnSql::MapValues(object)), Some(("indexOf", [keys, member]))) =
                    (self.array_key(&args[0])?, args[1].as_function())
                {
                    let same_object = matches!(
                        self.array_key(keys)?,
                        Some(ColumnSql::MapKeys(keys_object)) if keys_object == object
                    );
                    if let (true, ExprKind::Literal(Literal::String(member))) =
                        (same_object, &member.kind)
                    {
                        return Ok(Sql::value(format!(
                            "coalesce({}, '')",
                            columns::json_member(object, member)?
                        )));
                    }
                }
                let Some(ColumnSql::JsonArray(array)) = self.array_key(&args[0])? else {
                    return Err(unsupported("arrayElement over a non-array-column argument"));
                };
                match &args[1].kind {
                    ExprKind::Literal(Literal::Int(index)) if *index >= 1 => {
                        Ok(Sql::value(format!(
                            "json_extract_scalar({}, {})",
                            key(array),
                            string_literal(&format!("$[{}]", index - 1))
                        )))
                    }
                    _ => Err(unsupported(
                        "arrayElement with a non-positive or computed index",
                    )),
                }
            }
            "isHandled" | "notHandled" => Ok(Sql::condition(format!(
                "(coalesce(\"unhandled\", 0) = {})",
                if name == "isHandled" { 0 } else { 1 }
            ))),
            "cityHash64" => {
                // Not ClickHouse's hash: Sentry only orders a sample by it,
                // which needs determinism, not the exact function. Lehmer
                // steps keep every intermediate below 2^47.
                let mut text = String::from("1");
                for arg in args {
                    let part = match &arg.kind {
                        ExprKind::Literal(Literal::String(literal)) => fold(literal).to_string(),
                        _ => format!("({} % 2147483647)", self.expr(arg)?.as_number()),
                    };
                    text = format!("((({text}) * 48271 + {part}) % 2147483647)");
                }
                Ok(Sql::value(text))
            }
            "transform" => {
                // transform(x, array(from…), array(to…), default): Discover's
                // project-id → name mapping.
                let [value, from, to, default] = args else {
                    return Err(SnubaError::InvalidQuery(
                        "transform needs 4 arguments (value, from, to, default)".into(),
                    ));
                };
                let (Some(("array" | "tuple", from)), Some(("array" | "tuple", to))) =
                    (from.as_function(), to.as_function())
                else {
                    return Err(unsupported("transform with computed arrays"));
                };
                if from.len() != to.len() {
                    return Err(SnubaError::InvalidQuery(
                        "transform: the arrays differ in length".into(),
                    ));
                }
                let value = self.expr(value)?.as_number();
                let mut text = String::from("CASE");
                for (from, to) in from.iter().zip(to) {
                    text.push_str(&format!(
                        " WHEN {value} = {} THEN {}",
                        self.expr(from)?.as_number(),
                        self.expr(to)?.as_number()
                    ));
                }
                text.push_str(&format!(" ELSE {} END", self.expr(default)?.as_number()));
                Ok(Sql::value(text))
            }
            "substring" | "substringUTF8" => {
                let parts: Vec<String> = self.args(args)?.iter().map(Sql::as_number).collect();
                if !(2..=3).contains(&parts.len()) {
                    return Err(SnubaError::InvalidQuery(format!(
                        "{name} takes 2 or 3 arguments"
                    )));
                }
                Ok(Sql::value(format!("substr({})", parts.join(", "))))
            }
            "concat" => {
                let parts: Vec<String> = self
                    .args(args)?
                    .iter()
                    .map(|part| format!("cast({} AS varchar)", part.as_number()))
                    .collect();
                Ok(Sql::value(format!("concat({})", parts.join(", "))))
            }
            "replaceAll" => {
                arity(name, args, 3)?;
                let parts: Vec<String> = self.args(args)?.iter().map(|p| p.text.clone()).collect();
                Ok(Sql::value(format!("replace({})", parts.join(", "))))
            }
            "emptyIfNull" => {
                arity(name, args, 1)?;
                Ok(Sql::value(format!(
                    "coalesce({}, '')",
                    self.expr(&args[0])?.text
                )))
            }
            // A tuple of literals (Sentry's `project_threshold_config`) is a
            // constant: its JSON text, decoded as a `Tuple(…)` cell.
            "tuple" => match constant_tuple(args) {
                Some(json) => Ok(Sql::value(string_literal(&json))),
                None => Err(unsupported("tuple(…) of non-literals outside IN")),
            },
            "array" => Err(unsupported("array(…) outside IN is not supported")),
            // Snuba's ArrayJoinKeyValueOptimizer: one array join of the
            // pairs, which is what `tags_key` / `tags_value` unnest.
            "arrayJoin" => {
                arity(name, args, 1)?;
                let column = match args[0].as_column() {
                    Some("tags.key") => "tags_key",
                    Some("tags.value") => "tags_value",
                    Some("flags.key") => "flags_key",
                    Some("flags.value") => "flags_value",
                    _ => return Err(unsupported("arrayJoin of anything but tags or flags")),
                };
                self.expr(&Expr::column(column))
            }
            "tupleElement" => {
                arity(name, args, 2)?;
                let index = match &args[1].kind {
                    ExprKind::Literal(Literal::Int(index)) => *index,
                    _ => return Err(unsupported("tupleElement with a computed index")),
                };
                match args[0].as_function() {
                    Some(("tuple", items)) if index >= 1 && index as usize <= items.len() => {
                        self.expr(&items[index as usize - 1])
                    }
                    _ => Err(unsupported(
                        "tupleElement of anything but a tuple(…) literal",
                    )),
                }
            }
            // Snuba's `failure_rate()`: the share of transactions whose status
            // is not ok (0), cancelled (1) or unknown (2).
            "failure_rate" => {
                arity(name, args, 0)?;
                let status = Expr::column("transaction_status");
                let ok = Expr::function(
                    "tuple",
                    [0, 1, 2]
                        .map(|code| Expr::literal(Literal::Int(code)))
                        .to_vec(),
                );
                let failed = Expr::function("notIn", vec![status, ok]);
                let rate = Expr::function(
                    "divide",
                    vec![
                        Expr::function("countIf", vec![failed]),
                        Expr::function("count", Vec::new()),
                    ],
                );
                self.expr(&rate)
            }
            // Aggregates.
            "count" => match args {
                [] if self.counts_events() => Ok(Sql::value("count(DISTINCT \"event_id\")".into())),
                [] => Ok(Sql::value("count(*)".into())),
                [value] => Ok(Sql::value(format!("count({})", self.expr(value)?.text))),
                _ => Err(SnubaError::InvalidQuery(
                    "count takes at most 1 argument".into(),
                )),
            },
            "countIf" => {
                let condition = match args {
                    [condition] => self.expr(condition)?.as_bool(),
                    [value, condition] => format!(
                        "({} IS NOT NULL AND {})",
                        self.expr(value)?.text,
                        self.expr(condition)?.as_bool()
                    ),
                    _ => {
                        return Err(SnubaError::InvalidQuery(
                            "countIf takes 1 or 2 arguments".into(),
                        ))
                    }
                };
                if self.counts_events() {
                    return Ok(Sql::value(format!(
                        "count(DISTINCT CASE WHEN {condition} THEN \"event_id\" END)"
                    )));
                }
                Ok(Sql::value(format!("count_if({condition})")))
            }
            "uniq" | "uniqExact" | "uniqHLL12" | "uniqCombined" | "uniqCombined64" => {
                arity(name, args, 1)?;
                // `uniq(k)` of a GROUP BY key is 1 per group (0 for the NULL
                // key): no distinct set per group (the issue list's `total`).
                if args[0]
                    .as_column()
                    .is_some_and(|column| self.group_keys.iter().any(|key| key == column))
                {
                    let value = self.expr(&args[0])?.text;
                    return Ok(Sql::value(format!(
                        "CASE WHEN {value} IS NULL THEN 0 ELSE 1 END"
                    )));
                }
                Ok(Sql::value(format!(
                    "count(DISTINCT {})",
                    self.expr(&args[0])?.as_number()
                )))
            }
            "uniqIf" | "uniqExactIf" => {
                arity(name, args, 2)?;
                let value = self.expr(&args[0])?.as_number();
                let condition = self.expr(&args[1])?.as_bool();
                Ok(Sql::value(format!(
                    "count(DISTINCT CASE WHEN {condition} THEN {value} END)"
                )))
            }
            "min" | "max" | "sum" | "avg" | "any" | "anyLast" => {
                arity(name, args, 1)?;
                let value = self.expr(&args[0])?;
                let function = match name {
                    "any" | "anyLast" => "arbitrary",
                    other => other,
                };
                let text = if value.boolean && function != "arbitrary" {
                    value.as_number()
                } else {
                    value.text
                };
                Ok(Sql::value(format!("{function}({text})")))
            }
            "minIf" | "maxIf" | "sumIf" | "avgIf" => {
                arity(name, args, 2)?;
                let value = self.expr(&args[0])?.as_number();
                let condition = self.expr(&args[1])?.as_bool();
                let function = &name[..name.len() - 2];
                Ok(Sql::value(format!(
                    "{function}(CASE WHEN {condition} THEN {value} END)"
                )))
            }
            // Presto's names; ClickHouse's sample variance of one value is
            // nan, Presto's NULL (Sentry's trends treat both as no data).
            "varSamp" | "varPop" | "stddevSamp" | "stddevPop" => {
                arity(name, args, 1)?;
                let value = self.expr(&args[0])?.as_number();
                Ok(Sql::value(format!(
                    "{}(cast({value} AS double))",
                    variance_function(name)
                )))
            }
            "varSampIf" | "varPopIf" | "stddevSampIf" | "stddevPopIf" => {
                arity(name, args, 2)?;
                let value = self.expr(&args[0])?.as_number();
                let condition = self.expr(&args[1])?.as_bool();
                Ok(Sql::value(format!(
                    "{}(CASE WHEN {condition} THEN cast({value} AS double) END)",
                    variance_function(&name[..name.len() - 2])
                )))
            }
            "argMax" | "argMin" => {
                arity(name, args, 2)?;
                let value = self.expr(&args[0])?;
                let by = self.expr(&args[1])?.as_number();
                let function = if name == "argMax" { "max_by" } else { "min_by" };
                let result = Sql {
                    text: format!("{function}({}, {by})", value.text),
                    boolean: false,
                };
                Ok(result)
            }
            "median" => {
                arity(name, args, 1)?;
                Ok(Sql::value(format!(
                    "approx_percentile({}, 0.5)",
                    self.expr(&args[0])?.as_number()
                )))
            }
            other => Err(unsupported(format!(
                "function {other} is not supported by sentry-sls"
            ))),
        }
    }

    /// The `TOTALS` value of aggregate `name(args)` in a grouped query, as a
    /// window over the grouped rows: the sum of the per-group counts and
    /// sums, the min of the mins, the max of the maxes, and for `uniq(k)` of
    /// the only GROUP BY key the number of groups with a non-NULL key. So
    /// the totals come with the rows from one scan (ClickHouse computes
    /// TOTALS in the same pass). Any other aggregate cannot be combined from
    /// per-group values: an error, and the caller runs a totals query.
    /// Exact only when every row is in exactly one group (no arrayJoin) and
    /// the totals cover every group (no HAVING): the caller checks both.
    fn window_total(&mut self, name: &str, args: &[Expr]) -> Result<Sql, SnubaError> {
        let combine = match name {
            "count" | "countIf" | "sum" | "sumIf" => "sum",
            "min" | "minIf" => "min",
            "max" | "maxIf" => "max",
            "uniq" | "uniqExact" | "uniqHLL12" | "uniqCombined" | "uniqCombined64" => {
                arity(name, args, 1)?;
                if !(self.group_keys.len() == 1
                    && args[0].as_column() == Some(self.group_keys[0].as_str()))
                {
                    return Err(unsupported("no window total for uniq of a non-key"));
                }
                // A column reference: no aggregate inside, so no recursion here.
                let key = self.expr(&args[0])?;
                return Ok(Sql::value(format!("count({}) OVER ()", key.text)));
            }
            _ => return Err(unsupported(format!("no window total for {name}"))),
        };
        self.window_totals = false;
        let inner = self.function(name, args);
        self.window_totals = true;
        let inner = inner?;
        if inner.boolean {
            return Err(unsupported("no window total for a boolean aggregate"));
        }
        Ok(Sql::value(format!("{combine}({}) OVER ()", inner.text)))
    }

    /// `quantile(p)(x)` and friends.
    pub(crate) fn curried(
        &mut self,
        name: &str,
        params: &[Expr],
        args: &[Expr],
    ) -> Result<Sql, SnubaError> {
        match (name, params, args) {
            (
                "quantile" | "quantileExact" | "quantileTDigest" | "quantileTiming",
                [level],
                [value],
            ) => {
                let level = match &level.kind {
                    ExprKind::Literal(Literal::Float(level)) => *level,
                    ExprKind::Literal(Literal::Int(level)) => *level as f64,
                    _ => return Err(unsupported("quantile with a computed level")),
                };
                if !(0.0..=1.0).contains(&level) {
                    return Err(SnubaError::InvalidQuery(format!(
                        "quantile level {level} is not in [0, 1]"
                    )));
                }
                Ok(Sql::value(format!(
                    "approx_percentile({}, cast({level:?} AS double))",
                    self.expr(value)?.as_number()
                )))
            }
            (
                "quantileIf" | "quantileExactIf" | "quantileTDigestIf",
                [level],
                [value, condition],
            ) => {
                // The rows where the condition fails give NULL, which the
                // percentile skips.
                let value = Expr::function(
                    "if",
                    vec![
                        condition.clone(),
                        value.clone(),
                        Expr::literal(Literal::Null),
                    ],
                );
                self.curried("quantile", std::slice::from_ref(level), &[value])
            }
            _ => Err(unsupported(format!(
                "function {name}(…)(…) is not supported by sentry-sls"
            ))),
        }
    }
}

/// A LIKE pattern as a regular expression matching one string element of a
/// compact JSON array text (`["a","b"]`). Literal characters are compared in
/// their JSON-escaped form; `%` is any run and `_` one character of an element.
pub(crate) fn like_element_regex(pattern: &str) -> String {
    const ANY_CHAR: &str = r#"(?:[^"\\]|\\u[0-9a-fA-F]{4}|\\.)"#;
    let mut body = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let literal = match c {
            '%' => {
                body.push_str(ANY_CHAR);
                body.push('*');
                continue;
            }
            '_' => {
                body.push_str(ANY_CHAR);
                continue;
            }
            '\\' => chars.next().unwrap_or('\\'),
            other => other,
        };
        let encoded = serde_json::to_string(&literal.to_string()).unwrap_or_default();
        for e in encoded[1..encoded.len() - 1].chars() {
            match e {
                '\\' | ']' | '[' | '^' => {
                    body.push('\\');
                    body.push(e);
                }
                c if c.is_ascii_punctuation() || c == ' ' => {
                    body.push('[');
                    body.push(c);
                    body.push(']');
                }
                c => body.push(c),
            }
        }
    }
    format!(r#"(?:\[|,)"{body}"(?:,|\])"#)
}

fn flatten<'e>(name: &str, args: &'e [Expr], out: &mut Vec<&'e Expr>) {
    for arg in args {
        match arg.as_function() {
            Some((inner, inner_args)) if inner == name => flatten(name, inner_args, out),
            _ => out.push(arg),
        }
    }
}

fn infix_condition(name: &str, lhs: &Sql, rhs: &Sql) -> Sql {
    let operator = match name {
        "equals" => "=",
        "notEquals" => "<>",
        "less" => "<",
        "lessOrEquals" => "<=",
        "greater" => ">",
        _ => ">=",
    };
    let (left, right) = if lhs.boolean && rhs.boolean {
        (lhs.text.clone(), rhs.text.clone())
    } else {
        (lhs.as_number(), rhs.as_number())
    };
    Sql::condition(format!("({left} {operator} {right})"))
}
