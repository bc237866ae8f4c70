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

/// A value as a map key: nothing for NULL, else `1` and the value.
fn encode(encoded: &mut Vec<u8>, value: Option<&str>) {
    encoded.clear();
    if let Some(value) = value {
        encoded.push(1);
        encoded.extend_from_slice(value.as_bytes());
    }
}

fn decode(encoded: &[u8]) -> Option<&str> {
    encoded
        .split_first()
        .map(|(_, value)| std::str::from_utf8(value).expect("encoded from a str"))
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

/// The facets of one key. Consecutive rows (one issue's events, in time
/// order) often repeat a value: the last one is checked before hashing.
#[derive(Debug)]
struct Slot {
    key: Box<str>,
    /// Encoded value → its facet in `facets`.
    values: HashMap<Box<[u8]>, u32, ahash::RandomState>,
    facets: Vec<Facet>,
    /// The last value added, and its facet.
    last: (Vec<u8>, usize),
}

#[derive(Debug, Default)]
struct FacetAccumulator {
    slots: Vec<Slot>,
    by_key: HashMap<Box<str>, usize, ahash::RandomState>,
    /// The slot of each member position of the previous object: objects
    /// mostly have the same keys in the same order.
    positions: Vec<usize>,
    bytes: usize,
    scratch: Vec<u8>,
}

impl FacetAccumulator {
    /// The slot of `key`, met at member `position` of an object (or
    /// `usize::MAX`: no position).
    fn slot(&mut self, key: &str, position: usize) -> usize {
        if let Some(&slot) = self.positions.get(position) {
            if *self.slots[slot].key == *key {
                return slot;
            }
        }
        let slot = match self.by_key.get(key) {
            Some(&slot) => slot,
            None => {
                self.slots.push(Slot {
                    key: key.into(),
                    values: HashMap::default(),
                    facets: Vec::new(),
                    // No encoded value starts with 2.
                    last: (vec![2], 0),
                });
                self.by_key.insert(key.into(), self.slots.len() - 1);
                self.bytes += 2 * key.len() + std::mem::size_of::<Slot>();
                self.slots.len() - 1
            }
        };
        if position != usize::MAX {
            if position >= self.positions.len() {
                self.positions.resize(position + 1, usize::MAX);
            }
            self.positions[position] = slot;
        }
        slot
    }

    fn add(
        &mut self,
        (key, position): (&str, usize),
        value: Option<&str>,
        count: i64,
        low: Option<i64>,
        high: Option<i64>,
    ) {
        let slot = self.slot(key, position);
        encode(&mut self.scratch, value);
        let slot = &mut self.slots[slot];
        if slot.last.0 != self.scratch {
            let index = match slot.values.get(self.scratch.as_slice()) {
                Some(&index) => index as usize,
                None => {
                    // The value, its map entry (with the map's spare room)
                    // and its facet.
                    self.bytes += self.scratch.len()
                        + 2 * std::mem::size_of::<(Box<[u8]>, u32)>()
                        + std::mem::size_of::<Facet>();
                    slot.values
                        .insert(self.scratch.as_slice().into(), slot.facets.len() as u32);
                    slot.facets.push(Facet::EMPTY);
                    slot.facets.len() - 1
                }
            };
            slot.last.0.clone_from(&self.scratch);
            slot.last.1 = index;
        }
        slot.facets[slot.last.1].add(count, low, high);
    }

    fn facets(&self) -> Result<ScalarValue> {
        let rows = self.slots.iter().map(|slot| slot.facets.len()).sum();
        let mut keys = StringBuilder::with_capacity(rows, self.bytes);
        let mut values = StringBuilder::with_capacity(rows, self.bytes);
        let (mut counts, mut lows, mut highs) = (
            Int64Builder::with_capacity(rows),
            Int64Builder::with_capacity(rows),
            Int64Builder::with_capacity(rows),
        );
        for slot in &self.slots {
            for (value, &index) in &slot.values {
                let facet = &slot.facets[index as usize];
                keys.append_value(&slot.key);
                values.append_option(decode(value));
                counts.append_value(facet.count);
                lows.append_option((facet.low != i64::MAX).then_some(facet.low));
                highs.append_option((facet.high != i64::MIN).then_some(facet.high));
            }
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
        let (mut row, mut position) = (0, 0);
        let mut member = |accumulator: &mut Self, event: ObjectEvent<'_>| match event {
            ObjectEvent::Member(key, value) => {
                let time = times.is_valid(row).then(|| times.value(row));
                accumulator.add((key, position), value, 1, time, time);
                position += 1;
            }
            ObjectEvent::End(_) => {
                row += 1;
                position = 0;
            }
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
                    (keys.value(row), usize::MAX),
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
    fn values_round_trip() {
        let mut encoded = Vec::new();
        for value in [Some("b"), None, Some(""), Some("x\0é")] {
            encode(&mut encoded, value);
            assert_eq!(decode(&encoded), value);
        }
    }

    #[test]
    fn members_count_into_their_key_and_value() {
        let mut accumulator = FacetAccumulator::default();
        // Positions as in objects `{a, b}`, `{a, b}`, `{b}`, then a merge.
        for (key, position, value, time) in [
            ("a", 0, Some("1"), 5),
            ("b", 1, None, 5),
            ("a", 0, Some("1"), 7),
            ("b", 1, Some("x"), 7),
            ("b", 0, None, 3),
            ("a", usize::MAX, Some("2"), 9),
        ] {
            accumulator.add((key, position), value, 1, Some(time), Some(time));
        }
        let ScalarValue::List(list) = accumulator.facets().unwrap() else {
            panic!("list");
        };
        let facets = list.value(0);
        let facets = facets.as_struct();
        let mut got: Vec<(String, Option<String>, i64, i64, i64)> = (0..facets.len())
            .map(|row| {
                let text = |column: usize| {
                    let array = facets.column(column).as_string::<i32>();
                    array.is_valid(row).then(|| array.value(row).to_string())
                };
                let number =
                    |column: usize| facets.column(column).as_primitive::<Int64Type>().value(row);
                (text(0).unwrap(), text(1), number(2), number(3), number(4))
            })
            .collect();
        got.sort();
        let some = |text: &str| Some(text.to_string());
        assert_eq!(
            got,
            [
                ("a".into(), some("1"), 2, 5, 7),
                ("a".into(), some("2"), 1, 9, 9),
                ("b".into(), None, 2, 3, 5),
                ("b".into(), some("x"), 1, 7, 7),
            ]
        );
    }
}
