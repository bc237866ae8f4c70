//! `sls_map_facets(object, time)`: the tag-facet aggregation in one pass.
//!
//! Sentry's tag facets (the issue page's tag distribution) are
//! `SELECT k, v, count(*), min(__time__), max(__time__) FROM log CROSS JOIN
//! UNNEST(cast(json_parse(tags) AS map(varchar, varchar))) AS t(k, v) …
//! GROUP BY k, v`. Planned as written, every row's object becomes one row
//! per member (5 M rows for the hottest issue of the bench) that are then
//! hashed again by key and value. This aggregate reads each object once and
//! counts its members straight into one map, keyed by the member's bytes; it
//! returns the groups as a list of structs `(k, v, n, lo, hi)` that the
//! rewritten query unnests (see `sql.rs`). Same groups and values as the
//! written query; JSON null values stay NULL.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, ListArray, StringBuilder, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use crate::udf::{walk_objects, ObjectEvent};

/// The function's name.
pub const NAME: &str = "sls_map_facets";

/// The fields of one facet: key, value, count, least and greatest time.
fn facet_fields() -> Fields {
    Fields::from(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Utf8, true),
        Field::new("n", DataType::Int64, false),
        Field::new("lo", DataType::Int64, true),
        Field::new("hi", DataType::Int64, true),
    ])
}

fn facets_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(facet_fields()),
        true,
    )))
}

/// The aggregate function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MapFacets {
    signature: Signature,
}

impl MapFacets {
    /// The function, taking an object text and an integer time.
    pub fn new() -> Self {
        MapFacets {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for MapFacets {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for MapFacets {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(facets_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "facets"),
            facets_type(),
            true,
        ))])
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FacetAccumulator::default()))
    }
}

/// A member's key and value as one map key: the key's length (4 bytes),
/// the key, then nothing for a NULL value or `1` and the value.
fn encode(pair: &mut Vec<u8>, key: &str, value: Option<&str>) {
    pair.clear();
    pair.extend_from_slice(&(key.len() as u32).to_le_bytes());
    pair.extend_from_slice(key.as_bytes());
    if let Some(value) = value {
        pair.push(1);
        pair.extend_from_slice(value.as_bytes());
    }
}

fn decode(pair: &[u8]) -> (&str, Option<&str>) {
    let (length, rest) = pair.split_at(4);
    let length = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
    let (key, value) = rest.split_at(length);
    let text = |bytes| std::str::from_utf8(bytes).expect("encoded from a str");
    (text(key), value.split_first().map(|(_, value)| text(value)))
}

/// Count, least and greatest time of one member (`i64::MAX`/`MIN`: none).
#[derive(Debug, Clone, Copy)]
struct Facet {
    count: i64,
    low: i64,
    high: i64,
}

impl Facet {
    const EMPTY: Facet = Facet {
        count: 0,
        low: i64::MAX,
        high: i64::MIN,
    };

    fn add(&mut self, count: i64, low: Option<i64>, high: Option<i64>) {
        self.count += count;
        if let Some(low) = low {
            self.low = self.low.min(low);
        }
        if let Some(high) = high {
            self.high = self.high.max(high);
        }
    }
}

#[derive(Debug, Default)]
struct FacetAccumulator {
    facets: HashMap<Box<[u8]>, Facet, ahash::RandomState>,
    bytes: usize,
    scratch: Vec<u8>,
}

impl FacetAccumulator {
    fn add(
        &mut self,
        key: &str,
        value: Option<&str>,
        count: i64,
        low: Option<i64>,
        high: Option<i64>,
    ) {
        encode(&mut self.scratch, key, value);
        match self.facets.get_mut(self.scratch.as_slice()) {
            Some(facet) => facet.add(count, low, high),
            None => {
                let mut facet = Facet::EMPTY;
                facet.add(count, low, high);
                self.bytes += self.scratch.len() + std::mem::size_of::<(Box<[u8]>, Facet)>();
                self.facets.insert(self.scratch.as_slice().into(), facet);
            }
        }
    }

    fn facets(&self) -> Result<ScalarValue> {
        let rows = self.facets.len();
        let mut keys = StringBuilder::with_capacity(rows, self.bytes);
        let mut values = StringBuilder::with_capacity(rows, self.bytes);
        let (mut counts, mut lows, mut highs) = (
            Int64Builder::with_capacity(rows),
            Int64Builder::with_capacity(rows),
            Int64Builder::with_capacity(rows),
        );
        for (pair, facet) in &self.facets {
            let (key, value) = decode(pair);
            keys.append_value(key);
            values.append_option(value);
            counts.append_value(facet.count);
            lows.append_option((facet.low != i64::MAX).then_some(facet.low));
            highs.append_option((facet.high != i64::MIN).then_some(facet.high));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(keys.finish()),
            Arc::new(values.finish()),
            Arc::new(counts.finish()),
            Arc::new(lows.finish()),
            Arc::new(highs.finish()),
        ];
        let facets = StructArray::try_new(facet_fields(), columns, None)?;
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(
                DataType::Struct(facet_fields()),
                true,
            )),
            OffsetBuffer::from_lengths([rows]),
            Arc::new(facets),
            None,
        )?;
        Ok(ScalarValue::List(Arc::new(list)))
    }
}

impl Accumulator for FacetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let times = arrow::compute::cast(&values[1], &DataType::Int64)?;
        let times: &Int64Array = times.as_primitive::<Int64Type>();
        let mut row = 0;
        let mut member = |accumulator: &mut Self, event: ObjectEvent<'_>| match event {
            ObjectEvent::Member(key, value) => {
                let time = times.is_valid(row).then(|| times.value(row));
                accumulator.add(key, value, 1, time, time);
            }
            ObjectEvent::End(_) => row += 1,
        };
        let objects = &values[0];
        match objects.data_type() {
            DataType::Utf8View => {
                walk_objects(objects.as_string_view(), |event| member(self, event))
            }
            DataType::LargeUtf8 => {
                walk_objects(objects.as_string::<i64>(), |event| member(self, event))
            }
            _ => {
                let objects = arrow::compute::cast(objects, &DataType::Utf8)?;
                walk_objects(objects.as_string::<i32>(), |event| member(self, event))
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.facets()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.bytes + self.scratch.capacity()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.facets()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for list in lists.iter().flatten() {
            let facets = list.as_struct();
            let keys = facets.column(0).as_string::<i32>();
            let values = facets.column(1).as_string::<i32>();
            let counts = facets.column(2).as_primitive::<Int64Type>();
            let lows = facets.column(3).as_primitive::<Int64Type>();
            let highs = facets.column(4).as_primitive::<Int64Type>();
            for row in 0..facets.len() {
                self.add(
                    keys.value(row),
                    values.is_valid(row).then(|| values.value(row)),
                    counts.value(row),
                    lows.is_valid(row).then(|| lows.value(row)),
                    highs.is_valid(row).then(|| highs.value(row)),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        let mut pair = Vec::new();
        for (key, value) in [
            ("a", Some("b")),
            ("", None),
            ("k", Some("")),
            ("é\u{1}", Some("x\0")),
        ] {
            encode(&mut pair, key, value);
            assert_eq!(decode(&pair), (key, value));
        }
    }
}
