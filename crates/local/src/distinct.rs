//! `sls_count_distinct(x)`: what `count(DISTINCT x)` means, computed as
//! ClickHouse computes `uniq`: one small set of value hashes per group.
//!
//! DataFusion turns `count(DISTINCT x) … GROUP BY g` into a second grouping
//! by `(g, x)`: for Sentry's issue list sorted by users that is a hash table
//! of 2.5 million (group, user) string pairs per query. Here each group keeps
//! the 128-bit hashes of its distinct values, so the aggregation stays one
//! row per group and strings are hashed once, in batches. Two values count as
//! one only if both 64-bit halves of their hashes collide (probability about
//! n² / 2¹²⁹ for n distinct values of a group: never, in practice).
//! NULLs are not counted, as in SQL.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::hash_utils::{create_hashes, QualityRandomState};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The name the embedded store's SQL rewrite gives `count(DISTINCT x)`.
pub const NAME: &str = "sls_count_distinct";

/// The values are already well-mixed hashes: use their low bits.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

type Hashes = HashSet<u128, BuildHasherDefault<Passthrough>>;

/// 128-bit hashes of `array`'s rows (two seeds of DataFusion's own hashing,
/// which handles every Arrow type, dictionaries included).
fn hash_rows(array: &ArrayRef, low: &mut Vec<u64>, high: &mut Vec<u64>) -> Result<()> {
    let rows = array.len();
    low.clear();
    low.resize(rows, 0);
    high.clear();
    high.resize(rows, 0);
    create_hashes([array], &QualityRandomState::with_seed(0x5157_6c73), low)?;
    create_hashes([array], &QualityRandomState::with_seed(0x736c_7351), high)?;
    Ok(())
}

fn combined(low: u64, high: u64) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

/// Whether `row` counts: not NULL, and selected by the aggregate's FILTER.
fn counted(nulls: Option<&NullBuffer>, filter: Option<&BooleanArray>, row: usize) -> bool {
    nulls.is_none_or(|nulls| nulls.is_valid(row))
        && filter.is_none_or(|filter| filter.is_valid(row) && filter.value(row))
}

/// The serialized state of one set: its hashes, 16 little-endian bytes each.
fn state_bytes(set: &Hashes) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(set.len() * 16);
    for hash in set {
        bytes.extend_from_slice(&hash.to_le_bytes());
    }
    bytes
}

fn merge_state(set: &mut Hashes, bytes: &[u8]) {
    set.extend(
        bytes
            .chunks_exact(16)
            .map(|chunk| u128::from_le_bytes(chunk.try_into().expect("16-byte chunk"))),
    );
}

fn set_bytes(set: &Hashes) -> usize {
    set.capacity() * (std::mem::size_of::<u128>() + 1) + std::mem::size_of::<Hashes>()
}

/// The aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountDistinct {
    signature: Signature,
}

impl CountDistinct {
    /// `sls_count_distinct(any) -> Int64`.
    pub fn new() -> CountDistinct {
        CountDistinct {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for CountDistinct {
    fn default() -> Self {
        CountDistinct::new()
    }
}

impl AggregateUDFImpl for CountDistinct {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "hashes"),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SetAccumulator::default()))
    }

    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SetsAccumulator::default()))
    }

    fn default_value(&self, _: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

/// Without GROUP BY: one set.
#[derive(Debug, Default)]
struct SetAccumulator {
    set: Hashes,
    low: Vec<u64>,
    high: Vec<u64>,
}

impl Accumulator for SetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = &values[0];
        hash_rows(array, &mut self.low, &mut self.high)?;
        let nulls = array.logical_nulls();
        for row in 0..array.len() {
            if counted(nulls.as_ref(), None, row) {
                self.set.insert(combined(self.low[row], self.high[row]));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.set.len() as i64)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + set_bytes(&self.set)
            + (self.low.capacity() + self.high.capacity()) * 8
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(state_bytes(&self.set)))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = states[0].as_binary::<i32>();
        for state in states.iter().flatten() {
            merge_state(&mut self.set, state);
        }
        Ok(())
    }
}

/// With GROUP BY: one set per group.
#[derive(Default)]
struct SetsAccumulator {
    sets: Vec<Hashes>,
    /// Bytes held by the sets (kept up to date as they grow).
    bytes: usize,
    low: Vec<u64>,
    high: Vec<u64>,
}

impl SetsAccumulator {
    fn grow(&mut self, total_num_groups: usize) {
        if self.sets.len() < total_num_groups {
            self.bytes += (total_num_groups - self.sets.len()) * std::mem::size_of::<Hashes>();
            self.sets.resize_with(total_num_groups, Hashes::default);
        }
    }

    /// Applies `change` to a group's set, keeping [`Self::bytes`] up to date.
    fn change(&mut self, group: usize, change: impl FnOnce(&mut Hashes)) {
        let set = &mut self.sets[group];
        let before = set.capacity();
        change(set);
        self.bytes += (set.capacity() - before) * (std::mem::size_of::<u128>() + 1);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Hashes> {
        let taken = emit_to.take_needed(&mut self.sets);
        self.bytes = self.bytes.saturating_sub(taken.iter().map(set_bytes).sum());
        taken
    }
}

impl GroupsAccumulator for SetsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let array = &values[0];
        let (mut low, mut high) = (
            std::mem::take(&mut self.low),
            std::mem::take(&mut self.high),
        );
        hash_rows(array, &mut low, &mut high)?;
        let nulls = array.logical_nulls();
        for (row, &group) in group_indices.iter().enumerate() {
            if counted(nulls.as_ref(), opt_filter, row) {
                let hash = combined(low[row], high[row]);
                self.change(group, |set| {
                    set.insert(hash);
                });
            }
        }
        (self.low, self.high) = (low, high);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts: Int64Array = self
            .take(emit_to)
            .iter()
            .map(|set| Some(set.len() as i64))
            .collect();
        Ok(Arc::new(counts))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sets = self.take(emit_to);
        let mut builder =
            BinaryBuilder::with_capacity(sets.len(), sets.iter().map(|set| set.len() * 16).sum());
        for set in &sets {
            builder.append_value(state_bytes(set));
        }
        Ok(vec![Arc::new(builder.finish())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let states = values[0].as_binary::<i32>();
        for (row, &group) in group_indices.iter().enumerate() {
            if states.is_null(row) {
                continue;
            }
            self.change(group, |set| merge_state(set, states.value(row)));
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own set: its hash, or none.
        let array = &values[0];
        let (mut low, mut high) = (Vec::new(), Vec::new());
        hash_rows(array, &mut low, &mut high)?;
        let nulls = array.logical_nulls();
        let mut builder = BinaryBuilder::with_capacity(array.len(), array.len() * 16);
        for row in 0..array.len() {
            if counted(nulls.as_ref(), opt_filter, row) {
                builder.append_value(combined(low[row], high[row]).to_le_bytes());
            } else {
                builder.append_value([]);
            }
        }
        Ok(vec![Arc::new(builder.finish())])
    }

    fn size(&self) -> usize {
        self.bytes + (self.low.capacity() + self.high.capacity()) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn counts(array: ArrayRef) -> Vec<i64> {
        array
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn sets_count_distinct_non_null_values_per_group_and_merge() {
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            Some("c"),
            Some("a"),
        ]));
        let groups = [0, 0, 0, 0, 1, 1];
        let mut first = SetsAccumulator::default();
        first
            .update_batch(std::slice::from_ref(&values), &groups, None, 2)
            .unwrap();
        // A second partition saw "b" in group 1 and "a" again in group 0.
        let mut second = SetsAccumulator::default();
        let more: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        second.update_batch(&[more], &[0, 1], None, 2).unwrap();
        let state = second.state(EmitTo::All).unwrap();
        first.merge_batch(&state, &[0, 1], 2).unwrap();
        assert_eq!(counts(first.evaluate(EmitTo::All).unwrap()), [2, 3]);
        assert!(first.size() < 1 << 20);

        // Rows turned into states directly (skipped partial aggregation).
        let rows = first.convert_to_state(&[values], None).unwrap();
        let mut third = SetsAccumulator::default();
        third.merge_batch(&rows, &[0, 0, 0, 0, 0, 0], 1).unwrap();
        assert_eq!(counts(third.evaluate(EmitTo::All).unwrap()), [3]);
    }

    #[test]
    fn one_set_without_groups_and_filters_apply() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(1), None, Some(7)]));
        let mut single = SetAccumulator::default();
        single.update_batch(std::slice::from_ref(&values)).unwrap();
        let state = single.state().unwrap();
        let mut merged = SetAccumulator::default();
        merged.merge_batch(&[state[0].to_array().unwrap()]).unwrap();
        assert_eq!(merged.evaluate().unwrap(), ScalarValue::Int64(Some(2)));

        let filter = BooleanArray::from(vec![true, true, true, false]);
        let mut grouped = SetsAccumulator::default();
        grouped
            .update_batch(&[values], &[0, 0, 0, 0], Some(&filter), 1)
            .unwrap();
        assert_eq!(counts(grouped.evaluate(EmitTo::All).unwrap()), [1]);
    }
}
