//! The SLS (Presto) functions DataFusion lacks or spells differently, as
//! DataFusion scalar functions. Functions that are plain rewrites of other
//! SQL (`count_if`, `if`, `max_by`, `arbitrary`, …) are rewritten on the SQL
//! syntax tree instead (see `sql.rs`); only what needs real code is here.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, StringArray, StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use serde_json::Value;

/// Registers every function of this module on `context`.
pub fn register(context: &SessionContext) -> Result<()> {
    for (name, kind) in [
        ("json_extract_scalar", JsonKind::ExtractScalar),
        ("json_extract", JsonKind::Extract),
        ("json_parse", JsonKind::Parse),
        ("json_format", JsonKind::Format),
        ("json_array_length", JsonKind::ArrayLength),
        ("json_array_get", JsonKind::ArrayGet),
        ("json_array_contains", JsonKind::ArrayContains),
    ] {
        context.register_udf(ScalarUDF::from(JsonFunction::new(name, kind)));
    }
    context.register_udf(ScalarUDF::from(JsonMapPart::new(true)));
    context.register_udf(ScalarUDF::from(JsonMapPart::new(false)));
    context.register_udf(ScalarUDF::from(JsonMapPairs {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    for key in [true, false] {
        context.register_udf(ScalarUDF::from(PairPart {
            key,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    context.register_udf(ScalarUDF::from(ToTimestamp::new()));
    context.register_udf(ScalarUDF::from(SlsMatch::new()));
    context.register_udaf(datafusion::logical_expr::AggregateUDF::from(
        crate::distinct::CountDistinct::new(),
    ));
    context.register_udaf(datafusion::logical_expr::AggregateUDF::from(
        crate::facets::MapFacets::new(),
    ));
    let array_element = context.udf("array_element")?;
    let map_extract = context.udf("map_extract")?;
    let array_has = context.udf("array_has")?;
    let string_contains = context.udf("contains")?;
    context.register_udf(ScalarUDF::from(Dispatch {
        name: "element_at".into(),
        signature: Signature::any(2, Volatility::Immutable),
        on_list: array_element,
        on_other: Some(map_extract),
    }));
    context.register_udf(ScalarUDF::from(Dispatch {
        name: "contains".into(),
        signature: Signature::any(2, Volatility::Immutable),
        on_list: array_has,
        on_other: Some(string_contains),
    }));
    Ok(())
}

/// `json_extract_scalar` as a function value (for planned expressions).
pub fn json_extract_scalar() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(JsonFunction::new(
        "json_extract_scalar",
        JsonKind::ExtractScalar,
    )))
}

/// `sls_match` as a function value (for planned expressions).
pub fn sls_match() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(SlsMatch::new()))
}

fn string_arrays(args: &[ColumnarValue]) -> Result<Vec<StringArray>> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    arrays
        .iter()
        .map(|array| Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone()))
        .collect()
}

/// A `$.a.b[0]["c d"]` path step.
#[derive(Debug, Clone, PartialEq)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses a Presto JSON path; `None` if it is not one.
fn parse_path(path: &str) -> Option<Vec<PathStep>> {
    let rest = path.trim().strip_prefix('$')?;
    let characters: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut position = 0;
    while position < characters.len() {
        match characters[position] {
            '.' => {
                let start = position + 1;
                let mut end = start;
                while end < characters.len() && characters[end] != '.' && characters[end] != '[' {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                steps.push(PathStep::Key(characters[start..end].iter().collect()));
                position = end;
            }
            '[' => {
                let close = characters[position..].iter().position(|&c| c == ']')? + position;
                let inner: String = characters[position + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(quoted) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(PathStep::Key(quoted.to_string()));
                } else if let Some(quoted) =
                    inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
                {
                    steps.push(PathStep::Key(quoted.to_string()));
                } else {
                    steps.push(PathStep::Index(inner.parse().ok()?));
                }
                position = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn walk<'a>(mut value: &'a Value, steps: &[PathStep]) -> Option<&'a Value> {
    for step in steps {
        value = match (step, value) {
            (PathStep::Key(key), Value::Object(map)) => map.get(key)?,
            (PathStep::Index(index), Value::Array(items)) => items.get(*index)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The text of a JSON scalar as Presto's `json_extract_scalar` gives it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JsonKind {
    ExtractScalar,
    Extract,
    Parse,
    Format,
    ArrayLength,
    ArrayGet,
    ArrayContains,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFunction {
    name: String,
    kind: JsonKind,
    signature: Signature,
}

impl JsonFunction {
    fn new(name: &str, kind: JsonKind) -> Self {
        let arity = match kind {
            JsonKind::Parse | JsonKind::Format | JsonKind::ArrayLength => 1,
            _ => 2,
        };
        JsonFunction {
            name: name.to_string(),
            kind,
            signature: Signature::any(arity, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            JsonKind::ArrayLength => DataType::Int64,
            JsonKind::ArrayContains => DataType::Boolean,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = string_arrays(&args.args)?;
        let input = &arrays[0];
        let rows = input.len();
        let array: ArrayRef = match self.kind {
            JsonKind::ArrayLength => {
                let mut builder = Int64Builder::with_capacity(rows);
                for row in 0..rows {
                    let length = input
                        .is_valid(row)
                        .then(|| serde_json::from_str::<Value>(input.value(row)).ok())
                        .flatten()
                        .and_then(|value| value.as_array().map(|items| items.len() as i64));
                    builder.append_option(length);
                }
                Arc::new(builder.finish())
            }
            JsonKind::ArrayContains => {
                let needles = &arrays[1];
                let mut builder = BooleanBuilder::with_capacity(rows);
                for row in 0..rows {
                    if input.is_null(row) || needles.is_null(row) {
                        builder.append_null();
                        continue;
                    }
                    let needle = needles.value(row);
                    let found = serde_json::from_str::<Value>(input.value(row))
                        .ok()
                        .and_then(|value| {
                            value.as_array().map(|items| {
                                items
                                    .iter()
                                    .any(|item| scalar_text(item).as_deref() == Some(needle))
                            })
                        });
                    builder.append_option(found);
                }
                Arc::new(builder.finish())
            }
            JsonKind::Parse | JsonKind::Format => {
                let mut builder = StringBuilder::with_capacity(rows, rows * 16);
                for row in 0..rows {
                    if input.is_null(row) {
                        builder.append_null();
                        continue;
                    }
                    match serde_json::from_str::<Value>(input.value(row)) {
                        Ok(value) => builder.append_value(value.to_string()),
                        Err(error) => {
                            return exec_err!(
                                "Cannot convert value to JSON: '{}' ({error})",
                                input.value(row)
                            );
                        }
                    }
                }
                Arc::new(builder.finish())
            }
            JsonKind::ExtractScalar | JsonKind::Extract | JsonKind::ArrayGet => {
                let selectors = &arrays[1];
                let mut builder = StringBuilder::with_capacity(rows, rows * 16);
                for row in 0..rows {
                    if input.is_null(row) || selectors.is_null(row) {
                        builder.append_null();
                        continue;
                    }
                    let steps = if self.kind == JsonKind::ArrayGet {
                        match selectors.value(row).trim().parse::<usize>() {
                            Ok(index) => vec![PathStep::Index(index)],
                            Err(_) => {
                                return exec_err!(
                                    "json_array_get: index must be a non-negative integer"
                                )
                            }
                        }
                    } else {
                        match parse_path(selectors.value(row)) {
                            Some(steps) => steps,
                            None => {
                                return exec_err!("Invalid JSON path: '{}'", selectors.value(row))
                            }
                        }
                    };
                    let document = serde_json::from_str::<Value>(input.value(row)).ok();
                    let found = document.as_ref().and_then(|value| walk(value, &steps));
                    let text = match self.kind {
                        JsonKind::ExtractScalar => found.and_then(scalar_text),
                        _ => found.map(Value::to_string),
                    };
                    builder.append_option(text);
                }
                Arc::new(builder.finish())
            }
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// `sls_json_map_keys(x)` / `sls_json_map_values(x)`: the keys, or the
/// values in the same order, of a JSON object text, as arrays of strings.
/// Presto's `UNNEST(cast(json_parse(x) AS map(varchar, varchar))) AS t(k, v)`
/// is rewritten to unnest the two side by side (see `sql.rs`). Non-string
/// values are rendered as JSON text, as Presto's cast would; a value that
/// is not a JSON object gives NULL (no rows when unnested).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonMapPart {
    keys: bool,
    signature: Signature,
}

impl JsonMapPart {
    fn new(keys: bool) -> Self {
        JsonMapPart {
            keys,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonMapPart {
    fn name(&self) -> &str {
        if self.keys {
            "sls_json_map_keys"
        } else {
            "sls_json_map_values"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = string_arrays(&args.args)?;
        let input = &arrays[0];
        // The tag-facet query calls keys and values on the same batch, one
        // after the other on one thread: the first call splits each object
        // once and leaves the other half here for the second.
        let cached = LAST_SPLIT.with(|last| {
            let mut last = last.borrow_mut();
            let hit = last
                .as_ref()
                .is_some_and(|split| split.input.to_data().ptr_eq(&input.to_data()));
            if hit {
                last.take()
                    .map(|split| if self.keys { split.keys } else { split.values })
            } else {
                None
            }
        });
        if let Some(array) = cached {
            return Ok(ColumnarValue::Array(array));
        }
        let (keys, values) = split_objects(input);
        let (wanted, other) = if self.keys {
            (keys, values)
        } else {
            (values, keys)
        };
        LAST_SPLIT.with(|last| {
            *last.borrow_mut() = Some(Split {
                // The cached input keeps its buffers alive, so a later batch
                // can never be mistaken for it by address.
                input: input.clone(),
                keys: if self.keys {
                    Arc::clone(&wanted)
                } else {
                    Arc::clone(&other)
                },
                values: if self.keys {
                    other
                } else {
                    Arc::clone(&wanted)
                },
            });
        });
        Ok(ColumnarValue::Array(wanted))
    }
}

/// One batch of JSON objects split into key and value lists.
struct Split {
    input: StringArray,
    keys: ArrayRef,
    values: ArrayRef,
}

thread_local! {
    /// The last batch split on this thread (see `JsonMapPart`).
    static LAST_SPLIT: std::cell::RefCell<Option<Split>> = const { std::cell::RefCell::new(None) };
}

/// What [`walk_objects`] reports, in order: each member of a row's object,
/// then the row's end (`false`: NULL or not an object).
pub(crate) enum ObjectEvent<'a> {
    Member(&'a str, Option<&'a str>),
    End(bool),
}

/// Walks the JSON object text of every row of `input`. Non-string values
/// come as their JSON text, JSON null as `None`.
pub(crate) fn walk_objects<'a>(
    texts: impl IntoIterator<Item = Option<&'a str>>,
    mut event: impl FnMut(ObjectEvent<'_>),
) {
    let mut pairs = Vec::new();
    for text in texts {
        let Some(text) = text else {
            event(ObjectEvent::End(false));
            continue;
        };
        // Tags are flat objects of strings: read those without building
        // a JSON value (the tag-facet query unnests every row's tags).
        if flat_string_object(text, &mut pairs) {
            for (key, value) in &pairs {
                event(ObjectEvent::Member(key, Some(value)));
            }
            event(ObjectEvent::End(true));
            continue;
        }
        match serde_json::from_str::<Value>(text).ok() {
            Some(Value::Object(map)) => {
                for (key, value) in &map {
                    match value {
                        Value::Null => event(ObjectEvent::Member(key, None)),
                        Value::String(text) => event(ObjectEvent::Member(key, Some(text))),
                        other => event(ObjectEvent::Member(key, Some(&other.to_string()))),
                    }
                }
                event(ObjectEvent::End(true));
            }
            _ => event(ObjectEvent::End(false)),
        }
    }
}

/// The keys and the values (same order) of each JSON object text as two
/// list arrays; NULL where the text is NULL or not an object.
fn split_objects(input: &StringArray) -> (ArrayRef, ArrayRef) {
    #[cfg(test)]
    tests::SPLITS.with(|splits| splits.set(splits.get() + 1));
    // Keys and values together are shorter than the texts: no regrowth.
    let bytes = input.value_data().len();
    let items = input.len() * 8;
    let mut keys = arrow::array::ListBuilder::new(StringBuilder::with_capacity(items, bytes / 2));
    let mut values = arrow::array::ListBuilder::new(StringBuilder::with_capacity(items, bytes));
    walk_objects(input, |event| match event {
        ObjectEvent::Member(key, value) => {
            keys.values().append_value(key);
            values.values().append_option(value);
        }
        ObjectEvent::End(valid) => {
            keys.append(valid);
            values.append(valid);
        }
    });
    (Arc::new(keys.finish()), Arc::new(values.finish()))
}

/// `sls_json_map_pairs(x)`: the members of a JSON object text as one list
/// of binary pairs, for grouping by key and value together: one binary
/// column groups about twice as fast as two string columns (see `sql.rs`,
/// which rewrites `GROUP BY k, v` over a map UNNEST to group by the pair).
/// A pair is the key's length (4 bytes, little endian), the key, then
/// nothing for a NULL value or `1` and the value; [`PairPart`] reads them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonMapPairs {
    signature: Signature,
}

impl ScalarUDFImpl for JsonMapPairs {
    fn name(&self) -> &str {
        "sls_json_map_pairs"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Binary,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = string_arrays(&args.args)?;
        let input = &arrays[0];
        let mut pairs = arrow::array::ListBuilder::new(arrow::array::BinaryBuilder::with_capacity(
            input.len() * 8,
            input.value_data().len(),
        ));
        let mut pair = Vec::new();
        walk_objects(input, |event| match event {
            ObjectEvent::Member(key, value) => {
                pair.clear();
                pair.extend_from_slice(&(key.len() as u32).to_le_bytes());
                pair.extend_from_slice(key.as_bytes());
                if let Some(value) = value {
                    pair.push(1);
                    pair.extend_from_slice(value.as_bytes());
                }
                pairs.values().append_value(&pair);
            }
            ObjectEvent::End(valid) => pairs.append(valid),
        });
        Ok(ColumnarValue::Array(Arc::new(pairs.finish())))
    }
}

/// `sls_pair_key(p)` / `sls_pair_value(p)`: the key, or the value (NULL
/// for JSON null), of a [`JsonMapPairs`] pair.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PairPart {
    key: bool,
    signature: Signature,
}

impl PairPart {
    /// The key and the value bytes (`None`: NULL) of a pair.
    fn split(pair: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
        let (length, rest) = pair.split_first_chunk::<4>()?;
        let (key, value) = rest.split_at_checked(u32::from_le_bytes(*length) as usize)?;
        Some((key, value.split_first().map(|(_, value)| value)))
    }
}

impl ScalarUDFImpl for PairPart {
    fn name(&self) -> &str {
        if self.key {
            "sls_pair_key"
        } else {
            "sls_pair_value"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = cast(&arrays[0], &DataType::Binary)?;
        let input = input.as_binary::<i32>();
        let mut output = StringBuilder::with_capacity(input.len(), input.value_data().len());
        for row in 0..input.len() {
            let part = input
                .is_valid(row)
                .then(|| PairPart::split(input.value(row)))
                .flatten()
                .and_then(|(key, value)| if self.key { Some(key) } else { value });
            match part {
                Some(bytes) => output.append_value(std::str::from_utf8(bytes).map_err(|_| {
                    datafusion::error::DataFusionError::Execution(format!(
                        "{}: not a pair",
                        self.name()
                    ))
                })?),
                None => output.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(output.finish())))
    }
}

/// Reads the members of a JSON object whose values are all strings and
/// whose keys are unique into `pairs`, in key order as a parsed `Map` iterates (ingest
/// writes tags sorted, so usually as they stand); `false` for anything else
/// (the caller then parses it as general JSON, which gives the same answer
/// for these). `pairs` is the caller's, reused across rows.
fn flat_string_object<'a>(
    text: &'a str,
    pairs: &mut Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> bool {
    pairs.clear();
    let bytes = text.as_bytes();
    let mut position = 0;
    let mut ascending = true;
    let skip_space = |position: &mut usize| {
        while *position < bytes.len() && matches!(bytes[*position], b' ' | b'\t' | b'\n' | b'\r') {
            *position += 1;
        }
    };
    // A JSON string starting at `position` (a quote); escapes decoded by serde.
    let string = |position: &mut usize| -> Option<std::borrow::Cow<'a, str>> {
        if bytes.get(*position) != Some(&b'"') {
            return None;
        }
        let start = *position + 1;
        let mut end = start;
        let mut escaped = false;
        loop {
            end += memchr::memchr2(b'"', b'\\', &bytes[end..])?;
            if bytes[end] == b'"' {
                break;
            }
            escaped = true;
            end += 2;
            if end > bytes.len() {
                return None;
            }
        }
        // JSON strings hold no raw control characters.
        if bytes[start..end].iter().any(|&byte| byte < 0x20) {
            return None;
        }
        *position = end + 1;
        if escaped {
            serde_json::from_str::<String>(&text[start - 1..=end])
                .ok()
                .map(std::borrow::Cow::Owned)
        } else {
            Some(std::borrow::Cow::Borrowed(&text[start..end]))
        }
    };
    skip_space(&mut position);
    if bytes.get(position) != Some(&b'{') {
        return false;
    }
    position += 1;
    skip_space(&mut position);
    if bytes.get(position) == Some(&b'}') {
        position += 1;
    } else {
        loop {
            skip_space(&mut position);
            let Some(key) = string(&mut position) else {
                return false;
            };
            skip_space(&mut position);
            if bytes.get(position) != Some(&b':') {
                return false;
            }
            position += 1;
            skip_space(&mut position);
            let Some(value) = string(&mut position) else {
                return false;
            };
            // Keys in ascending order (as ingest writes tags) are unique;
            // only others are checked against every earlier key.
            ascending &= pairs.last().is_none_or(|(last, _)| *last < key);
            if !ascending && pairs.iter().any(|(seen, _)| *seen == key) {
                return false;
            }
            pairs.push((key, value));
            skip_space(&mut position);
            match bytes.get(position) {
                Some(b',') => position += 1,
                Some(b'}') => {
                    position += 1;
                    break;
                }
                _ => return false,
            }
        }
    }
    skip_space(&mut position);
    if position != bytes.len() {
        return false;
    }
    if !ascending {
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    true
}

/// `sls_to_timestamp(x)`: unix seconds (integers, as `__time__` is) or a
/// timestamp string to a timestamp; timestamps pass through. Lets Presto's
/// `date_trunc('hour', __time__)` run on DataFusion's `date_trunc`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToTimestamp {
    signature: Signature,
}

impl ToTimestamp {
    fn new() -> Self {
        ToTimestamp {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToTimestamp {
    fn name(&self) -> &str {
        "sls_to_timestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match &arg_types[0] {
            timestamp @ DataType::Timestamp(_, _) => timestamp.clone(),
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Date32
            | DataType::Date64 => DataType::Timestamp(TimeUnit::Nanosecond, None),
            _ => DataType::Timestamp(TimeUnit::Second, None),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let target = args.return_type().clone();
        let value = &args.args[0];
        let source = match value.data_type() {
            DataType::Float32 | DataType::Float64 => DataType::Int64,
            other => other,
        };
        let prepared = value.cast_to(&source, None)?;
        prepared.cast_to(&target, None)
    }
}

/// `sls_match(value, term, delimiters, case_sensitive)`: SLS search's token
/// match. `value` is split at any character of `delimiters`; the term (itself
/// possibly several tokens: a phrase) must equal a run of consecutive tokens.
/// `*` and `?` in a term are wildcards unless `literal` (a 5th argument) is true.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SlsMatch {
    signature: Signature,
}

impl SlsMatch {
    fn new() -> Self {
        SlsMatch {
            signature: Signature::any(5, Volatility::Immutable),
        }
    }
}

/// Splits `text` into tokens at any delimiter character.
pub fn tokenize<'a>(text: &'a str, delimiters: &str) -> Vec<&'a str> {
    text.split(|character: char| {
        delimiters.contains(character) || (delimiters.is_empty() && character.is_whitespace())
    })
    .filter(|token| !token.is_empty())
    .collect()
}

/// Wildcard match: `*` any run, `?` one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Whether `value` matches the search term under SLS token rules.
pub fn token_match(
    value: &str,
    term: &str,
    delimiters: &str,
    case_sensitive: bool,
    literal: bool,
) -> bool {
    let (value, term) = if case_sensitive {
        (value.to_string(), term.to_string())
    } else {
        (value.to_lowercase(), term.to_lowercase())
    };
    let value_tokens = tokenize(&value, delimiters);
    let term_tokens = tokenize(&term, delimiters);
    if term_tokens.is_empty() {
        return value_tokens.is_empty() && value.is_empty() && term.is_empty();
    }
    let token_equal = |pattern: &str, token: &str| {
        if literal || !(pattern.contains('*') || pattern.contains('?')) {
            pattern == token
        } else {
            wildcard_match(pattern, token)
        }
    };
    value_tokens.windows(term_tokens.len()).any(|window| {
        window
            .iter()
            .zip(&term_tokens)
            .all(|(token, pattern)| token_equal(pattern, token))
    })
}

fn scalar_string(value: &ColumnarValue, name: &str) -> Result<String> {
    match value {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(text)))
        | ColumnarValue::Scalar(ScalarValue::Utf8View(Some(text)))
        | ColumnarValue::Scalar(ScalarValue::LargeUtf8(Some(text))) => Ok(text.clone()),
        _ => exec_err!("sls_match: {name} must be a string literal"),
    }
}

fn scalar_bool(value: &ColumnarValue, name: &str) -> Result<bool> {
    match value {
        ColumnarValue::Scalar(ScalarValue::Boolean(Some(flag))) => Ok(*flag),
        _ => exec_err!("sls_match: {name} must be a boolean literal"),
    }
}

impl ScalarUDFImpl for SlsMatch {
    fn name(&self) -> &str {
        "sls_match"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let term = scalar_string(&args.args[1], "term")?;
        let delimiters = scalar_string(&args.args[2], "delimiters")?;
        let case_sensitive = scalar_bool(&args.args[3], "case_sensitive")?;
        let literal = scalar_bool(&args.args[4], "literal")?;
        let values = match &args.args[0] {
            ColumnarValue::Array(array) => cast(array, &DataType::Utf8)?,
            ColumnarValue::Scalar(scalar) => {
                cast(&scalar.to_array_of_size(args.number_rows)?, &DataType::Utf8)?
            }
        };
        let values = values.as_string::<i32>();
        let mut builder = BooleanBuilder::with_capacity(values.len());
        // Values repeat in runs (a topic, a sorted id column): tokenise each
        // distinct run once.
        let mut previous: Option<(&str, bool)> = None;
        for row in 0..values.len() {
            // A missing field matches nothing (SLS: absent keys are not indexed).
            if !values.is_valid(row) {
                builder.append_value(false);
                continue;
            }
            let value = values.value(row);
            let matched = match previous {
                Some((last, matched)) if last == value => matched,
                _ => {
                    let matched = token_match(value, &term, &delimiters, case_sensitive, literal);
                    previous = Some((value, matched));
                    matched
                }
            };
            builder.append_value(matched);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

/// A Presto function whose meaning depends on its first argument's type:
/// lists go to `on_list`, anything else to `on_other`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Dispatch {
    name: String,
    signature: Signature,
    on_list: Arc<ScalarUDF>,
    on_other: Option<Arc<ScalarUDF>>,
}

fn is_list(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)
    )
}

fn list_element_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            Some(field.data_type().clone())
        }
        _ => None,
    }
}

impl Dispatch {
    /// Argument types the delegate expects for `arg_types`.
    fn delegate_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let first = &arg_types[0];
        if let Some(element) = list_element_type(first) {
            return Ok(if self.name == "element_at" {
                vec![first.clone(), DataType::Int64]
            } else {
                vec![first.clone(), element]
            });
        }
        match (self.name.as_str(), first) {
            ("element_at", DataType::Map(field, _)) => {
                let key = match field.data_type() {
                    DataType::Struct(fields) => fields[0].data_type().clone(),
                    _ => return plan_err!("element_at: malformed map type"),
                };
                Ok(vec![first.clone(), key])
            }
            ("element_at", _) => plan_err!("element_at expects an array or a map, got {first}"),
            _ => Ok(vec![DataType::Utf8, DataType::Utf8]),
        }
    }

    fn delegate(&self, first: &DataType) -> &Arc<ScalarUDF> {
        if is_list(first) {
            &self.on_list
        } else {
            self.on_other.as_ref().unwrap_or(&self.on_list)
        }
    }
}

/// Argument fields for `types` and the delegate's return field for them.
fn delegate_fields(
    delegate: &ScalarUDF,
    types: &[DataType],
) -> Result<(Vec<arrow::datatypes::FieldRef>, arrow::datatypes::FieldRef)> {
    let fields: Vec<arrow::datatypes::FieldRef> = types
        .iter()
        .map(|data_type| Arc::new(Field::new("argument", data_type.clone(), true)))
        .collect();
    let scalars: Vec<Option<&ScalarValue>> = vec![None; fields.len()];
    let returned = delegate.return_field_from_args(datafusion::logical_expr::ReturnFieldArgs {
        arg_fields: &fields,
        scalar_arguments: &scalars,
    })?;
    Ok((fields, returned))
}

impl ScalarUDFImpl for Dispatch {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let types = self.delegate_types(arg_types)?;
        let (_, returned) = delegate_fields(self.delegate(&types[0]), &types)?;
        // A map lookup returns a one-element list; Presto returns the value.
        match (self.name.as_str(), &types[0]) {
            ("element_at", DataType::Map(_, _)) => {
                Ok(list_element_type(returned.data_type()).unwrap_or(returned.data_type().clone()))
            }
            _ => Ok(returned.data_type().clone()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arg_types: Vec<DataType> = args.args.iter().map(ColumnarValue::data_type).collect();
        let types = self.delegate_types(&arg_types)?;
        let converted: Vec<ColumnarValue> = args
            .args
            .iter()
            .zip(&types)
            .map(|(value, target)| value.cast_to(target, None))
            .collect::<Result<_>>()?;
        let delegate = self.delegate(&types[0]);
        let (fields, return_field) = delegate_fields(delegate, &types)?;
        let result = delegate.invoke_with_args(ScalarFunctionArgs {
            args: converted,
            arg_fields: fields,
            number_rows: args.number_rows,
            return_field: Arc::clone(&return_field),
            config_options: Arc::clone(&args.config_options),
        })?;
        if let ("element_at", DataType::Map(_, _)) = (self.name.as_str(), &types[0]) {
            // map_extract gives [value] or []: take the first element.
            let list = result.into_array(args.number_rows)?;
            let index = ColumnarValue::Scalar(ScalarValue::Int64(Some(1)));
            let (element_fields, element_field) =
                delegate_fields(&self.on_list, &[list.data_type().clone(), DataType::Int64])?;
            return self.on_list.invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(list), index],
                arg_fields: element_fields,
                number_rows: args.number_rows,
                return_field: element_field,
                config_options: args.config_options,
            });
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Batches `split_objects` parsed on this thread.
        pub(super) static SPLITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Keys and values of the same batch come from one parse; another batch
    /// of the same shape is never answered from the cache.
    #[tokio::test]
    async fn map_keys_and_values_parse_each_batch_once() {
        use arrow::array::RecordBatch;
        let context = SessionContext::new();
        register(&context).unwrap();
        let batch = |texts: Vec<Option<&str>>| {
            RecordBatch::try_from_iter([("t", Arc::new(StringArray::from(texts)) as ArrayRef)])
                .unwrap()
        };
        let first = batch(vec![Some(r#"{"a":"1","b":"2"}"#), None, Some(r#"{"c":3}"#)]);
        let second = batch(vec![Some(r#"{"x":"9","y":"8"}"#), Some("[1]"), Some("{}")]);
        let table =
            datafusion::datasource::MemTable::try_new(first.schema(), vec![vec![first, second]])
                .unwrap();
        context.register_table("m", Arc::new(table)).unwrap();
        let before = SPLITS.with(std::cell::Cell::get);
        let rows = context
            .sql(
                "SELECT array_to_string(sls_json_map_keys(t), ',') AS k, \
                 array_to_string(sls_json_map_values(t), ',') AS v FROM m",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let splits = SPLITS.with(std::cell::Cell::get) - before;
        let text = arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        let lines: Vec<&str> = text.lines().filter(|line| line.starts_with("| ")).collect();
        assert_eq!(
            lines,
            vec![
                "| k   | v   |",
                "| a,b | 1,2 |",
                "|     |     |",
                "| c   | 3   |",
                "| x,y | 9,8 |",
                "|     |     |",
                "|     |     |",
            ]
        );
        assert_eq!(splits, 2, "one parse per batch");
    }

    #[test]
    fn flat_string_objects_read_like_json() {
        for text in [
            r#"{"a":"1","b.c":"x y","sentry:user":"id:7"}"#,
            r#" { "k" : "v\"q\u00e9" , "e" : "" } "#,
            r#"{"a\\":"b\\","c":"\\\""}"#,
            "{}",
        ] {
            let mut fast = Vec::new();
            assert!(flat_string_object(text, &mut fast), "{text}");
            let Value::Object(map) = serde_json::from_str::<Value>(text).unwrap() else {
                panic!("object");
            };
            let slow: Vec<(String, String)> = map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let fast: Vec<(String, String)> = fast
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(fast, slow, "{text}");
        }
        for text in [
            r#"{"a":1}"#,
            r#"{"a":"1","a":"2"}"#,
            r#"{"b":"1","a":"2","b":"3"}"#,
            r#"{"a":"1""#,
            r#"["a"]"#,
            r#"{"a":"1"} x"#,
            r#"{"a":"1\"}"#,
            r#"{"a":"1\"#,
            "{\"a\":\"1\u{1}\"}",
            r#"{"a":null}"#,
        ] {
            assert!(!flat_string_object(text, &mut Vec::new()), "{text}");
        }
    }

    #[test]
    fn json_paths() {
        assert_eq!(
            parse_path("$.a.b[0][\"c d\"]").unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Index(0),
                PathStep::Key("c d".into())
            ]
        );
        assert!(parse_path("a.b").is_none());
        assert!(parse_path("$..").is_none());
        let document: Value = serde_json::from_str(r#"{"a":{"b":[{"c d":5}]}}"#).unwrap();
        let found = walk(&document, &parse_path("$.a.b[0][\"c d\"]").unwrap()).unwrap();
        assert_eq!(scalar_text(found).unwrap(), "5");
    }

    #[test]
    fn tokens_and_wildcards() {
        let delimiters = " ,;=/:";
        assert!(token_match(
            "GET /api/v1 ok",
            "api",
            delimiters,
            false,
            false
        ));
        assert!(token_match(
            "GET /api/v1 ok",
            "API",
            delimiters,
            false,
            false
        ));
        assert!(!token_match(
            "GET /api/v1 ok",
            "API",
            delimiters,
            true,
            false
        ));
        assert!(!token_match("GET /apiary", "api", delimiters, false, false));
        assert!(token_match("GET /apiary", "api*", delimiters, false, false));
        assert!(!token_match("GET /apiary", "api*", delimiters, false, true));
        assert!(token_match(
            "hello big world",
            "big world",
            delimiters,
            false,
            false
        ));
        assert!(!token_match(
            "hello big world",
            "hello world",
            delimiters,
            false,
            false
        ));
        assert!(wildcard_match("a?c*", "abcdef"));
        assert!(!wildcard_match("a?c", "abcd"));
    }
}
