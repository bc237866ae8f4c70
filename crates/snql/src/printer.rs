//! Prints the AST back to SnQL.
//!
//! The output is canonical rather than a copy of the input: function form for
//! arithmetic (`plus(a, b)`), infix for conditions, back-ticked aliases. It
//! parses back to the same AST, which the round-trip property test checks.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{Direction, EntityMatch, Expr, ExprKind, Literal, Query, SelectedExpr, Source};
use crate::literal::encode_string;
use crate::parser::comparison_operator;

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "MATCH {} SELECT ", self.source)?;
        write_selected(f, self.selected_only())?;
        if !self.group_by.is_empty() {
            f.write_str(" BY ")?;
            write_selected(f, &self.group_by)?;
        }
        if !self.array_join.is_empty() {
            f.write_str(" ARRAY JOIN ")?;
            write_joined(f, &self.array_join)?;
        }
        if let Some(condition) = &self.condition {
            write!(f, " WHERE {}", Condition(condition))?;
        }
        if let Some(having) = &self.having {
            write!(f, " HAVING {}", Condition(having))?;
        }
        for (index, item) in self.order_by.iter().enumerate() {
            f.write_str(if index == 0 { " ORDER BY " } else { ", " })?;
            let direction = match item.direction {
                Direction::Asc => "ASC",
                Direction::Desc => "DESC",
            };
            write!(f, "{} {direction}", item.expr)?;
        }
        if let Some(limit_by) = &self.limit_by {
            write!(f, " LIMIT {} BY ", limit_by.limit)?;
            write_joined(f, &limit_by.columns)?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        if let Some(granularity) = self.granularity {
            write!(f, " GRANULARITY {granularity}")?;
        }
        if let Some(totals) = self.totals {
            write!(f, " TOTALS {}", if totals { "True" } else { "False" })?;
        }
        Ok(())
    }
}

fn write_selected(f: &mut Formatter<'_>, items: &[SelectedExpr]) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}", item.expr)?;
    }
    Ok(())
}

fn write_joined(f: &mut Formatter<'_>, exprs: &[Expr]) -> fmt::Result {
    for (index, expr) in exprs.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{expr}")?;
    }
    Ok(())
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Entity(entity) => write!(f, "({entity})"),
            Source::Storage(storage) => write!(f, "STORAGE({storage})"),
            Source::Subquery(query) => write!(f, "{{ {query} }}"),
            Source::Join(relationships) => {
                for (index, relationship) in relationships.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(
                        f,
                        "({}) -[{}]-> ({})",
                        relationship.lhs, relationship.name, relationship.rhs
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl Display for EntityMatch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(alias) = &self.alias {
            write!(f, "{alias}: ")?;
        }
        f.write_str(&self.name)?;
        if let Some(sample) = self.sample {
            write!(f, " SAMPLE {}", format_float(sample))?;
        }
        Ok(())
    }
}

/// An expression printed in condition position (WHERE/HAVING): comparisons
/// and AND/OR infix, everything else as an expression.
struct Condition<'a>(&'a Expr);

impl Display for Condition<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let expr = self.0;
        let Some((name, args)) = expr.as_function() else {
            return write!(f, "{expr}");
        };
        if expr.alias.is_some() {
            return write!(f, "{expr}");
        }
        match (name, args) {
            ("and" | "or", [left, right]) => {
                let keyword = if name == "and" { "AND" } else { "OR" };
                // Parenthesise a left operand of the same kind (we nest to the
                // right) and any OR under AND (AND binds tighter).
                let wrap_left = is_boolean(left, name) || (name == "and" && is_boolean(left, "or"));
                let wrap_right = name == "and" && is_boolean(right, "or");
                write_operand(f, left, wrap_left)?;
                write!(f, " {keyword} ")?;
                write_operand(f, right, wrap_right)
            }
            ("isNull" | "isNotNull", [operand]) => {
                let suffix = if name == "isNull" {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                };
                write!(f, "{operand} {suffix}")
            }
            (_, [lhs, rhs]) if comparison_operator(name).is_some() && is_simple_rhs(rhs) => {
                let operator = comparison_operator(name).unwrap_or("=");
                write!(f, "{lhs} {operator} {rhs}")
            }
            _ => write!(f, "{expr}"),
        }
    }
}

fn write_operand(f: &mut Formatter<'_>, operand: &Expr, wrap: bool) -> fmt::Result {
    if wrap {
        write!(f, "({})", Condition(operand))
    } else {
        write!(f, "{}", Condition(operand))
    }
}

fn is_boolean(expr: &Expr, function: &str) -> bool {
    expr.alias.is_none() && matches!(expr.as_function(), Some((name, [_, _])) if name == function)
}

/// The grammar allows only a function call or a simple term on the right of
/// a comparison.
fn is_simple_rhs(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Function { .. } | ExprKind::Curried { .. } => true,
        ExprKind::Literal(_) | ExprKind::Column(_) => expr.alias.is_none(),
        ExprKind::Subscript { .. } | ExprKind::Lambda { .. } | ExprKind::Argument(_) => false,
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(literal) => write!(f, "{literal}")?,
            ExprKind::Column(name) => f.write_str(name)?,
            ExprKind::Subscript { column, key } => write!(f, "{column}[{key}]")?,
            ExprKind::Function { name, args } => {
                write!(f, "{name}(")?;
                write_joined(f, args)?;
                f.write_char(')')?;
            }
            ExprKind::Curried { name, params, args } => {
                write!(f, "{name}(")?;
                write_joined(f, params)?;
                f.write_str(")(")?;
                write_joined(f, args)?;
                f.write_char(')')?;
            }
            ExprKind::Lambda { params, body } => {
                f.write_char('(')?;
                for (index, param) in params.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{param}`")?;
                }
                write!(f, ") -> {body}")?;
            }
            ExprKind::Argument(name) => write!(f, "`{name}`")?,
        }
        if let Some(alias) = &self.alias {
            write!(f, " AS `{alias}`")?;
        }
        Ok(())
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Int(value) => write!(f, "{value}"),
            Literal::Float(value) => f.write_str(&format_float(*value)),
            Literal::String(value) => write!(f, "'{}'", encode_string(value)),
            Literal::DateTime(value) => {
                write!(f, "toDateTime('{}')", value.format("%Y-%m-%dT%H:%M:%S"))
            }
        }
    }
}

/// Formats a float so SnQL reads it back as the same float: always with a
/// fraction or an exponent, and exponents signed (`1e+16`).
pub(crate) fn format_float(value: f64) -> String {
    let text = format!("{value:?}");
    match text.find('e') {
        Some(index) if !text[index + 1..].starts_with('-') => {
            let (mantissa, exponent) = text.split_at(index + 1);
            format!("{mantissa}+{exponent}")
        }
        _ => text,
    }
}
