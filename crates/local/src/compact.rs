//! Compaction: merges segments of one day partition into one segment.
//!
//! Every segment is sorted by [`SORT_KEYS`](crate::logstore::SORT_KEYS),
//! then time, so the merge is a k-way merge of sorted streams: each input is
//! read one batch at a time and rows are copied to the output in key order,
//! in batches of [`MERGE_BATCH_ROWS`]. Memory is bounded by one batch per
//! input plus one output row group (capped in bytes by the segment writer),
//! whatever the size of the day. Which segments to merge, and publishing the
//! result in the manifest, is the logstore's part (`logstore.rs`).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::columnar::{self, SegmentWriter, TIME};
use crate::logstore::SORT_KEYS;

/// Rows per batch read from each input and written to the output.
const MERGE_BATCH_ROWS: usize = 8192;

/// What a merge wrote.
#[derive(Debug)]
pub(crate) struct Merged {
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
}

/// One sorted input: its current batch (as a slot of the merge) and the
/// sort keys of that batch in row format.
struct Input {
    reader: ParquetRecordBatchReader,
    slot: usize,
    keys: Rows,
    row: usize,
}

/// The key columns of `batch` (unified to the output schema): the sort keys
/// it has, then `__time__`.
fn key_columns(batch: &RecordBatch) -> Vec<ArrayRef> {
    SORT_KEYS
        .iter()
        .chain(std::iter::once(&TIME))
        .filter_map(|name| batch.column_by_name(name).cloned())
        .collect()
}

struct Merge<'a> {
    schema: &'a SchemaRef,
    converter: RowConverter,
    /// Batches referenced by `pending` or current in an input.
    slots: Vec<RecordBatch>,
    /// Output rows not yet written: (slot, row).
    pending: Vec<(usize, usize)>,
    writer: SegmentWriter,
    merged: Merged,
}

impl Merge<'_> {
    /// The input's next non-empty batch, unified to the output schema.
    fn next_batch(
        &mut self,
        reader: &mut ParquetRecordBatchReader,
    ) -> Result<Option<(usize, Rows)>, String> {
        for batch in reader.by_ref() {
            let batch = batch.map_err(|error| format!("reading segment: {error}"))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = columnar::unify(&batch, self.schema).map_err(|error| error.to_string())?;
            let keys = self
                .converter
                .convert_columns(&key_columns(&batch))
                .map_err(|error| error.to_string())?;
            self.slots.push(batch);
            return Ok(Some((self.slots.len() - 1, keys)));
        }
        Ok(None)
    }

    /// Writes the pending rows and forgets the batches only they used.
    fn write_pending(&mut self, inputs: &mut [Input]) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let slots: Vec<&RecordBatch> = self.slots.iter().collect();
        let batch = arrow::compute::interleave_record_batch(&slots, &self.pending)
            .map_err(|error| error.to_string())?;
        self.pending.clear();
        let times = batch.column(0).as_primitive::<Int64Type>();
        if let (Some(low), Some(high)) = (arrow::compute::min(times), arrow::compute::max(times)) {
            self.merged.min_time = self.merged.min_time.min(low);
            self.merged.max_time = self.merged.max_time.max(high);
        }
        self.merged.rows += batch.num_rows() as u64;
        self.writer.write(&batch)?;
        let mut kept = Vec::with_capacity(inputs.len());
        for input in inputs.iter_mut() {
            kept.push(self.slots[input.slot].clone());
            input.slot = kept.len() - 1;
        }
        self.slots = kept;
        Ok(())
    }
}

/// Merges the sorted segments `inputs` into the segment `output` with
/// `schema` (a superset of every input's columns; Int64 only where every
/// input holding the column has it as Int64). `cancelled` is polled between
/// batches; a cancelled or failed merge leaves no output file.
pub(crate) fn merge(
    inputs: &[PathBuf],
    schema: &SchemaRef,
    output: &Path,
    cancelled: &dyn Fn() -> bool,
) -> Result<Merged, String> {
    let key_fields: Vec<SortField> = SORT_KEYS
        .iter()
        .chain(std::iter::once(&TIME))
        .filter_map(|name| schema.field_with_name(name).ok())
        .map(|field| SortField::new(field.data_type().clone()))
        .collect();
    let mut merge = Merge {
        schema,
        converter: RowConverter::new(key_fields).map_err(|error| error.to_string())?,
        slots: Vec::new(),
        pending: Vec::with_capacity(MERGE_BATCH_ROWS),
        writer: SegmentWriter::create(output, schema.clone())?,
        merged: Merged {
            rows: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        },
    };
    let mut active: Vec<Input> = Vec::with_capacity(inputs.len());
    for path in inputs {
        let file =
            File::open(path).map_err(|error| format!("opening {}: {error}", path.display()))?;
        let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|error| format!("reading {}: {error}", path.display()))?
            .with_batch_size(MERGE_BATCH_ROWS)
            .build()
            .map_err(|error| format!("reading {}: {error}", path.display()))?;
        if let Some((slot, keys)) = merge.next_batch(&mut reader)? {
            active.push(Input {
                reader,
                slot,
                keys,
                row: 0,
            });
        }
    }
    while !active.is_empty() {
        // The input with the smallest current key, and the next smallest key
        // among the others: the first one's rows up to that key go out as a
        // run (rows of a group are contiguous, so runs are long).
        let mut best = 0;
        for index in 1..active.len() {
            if active[index].keys.row(active[index].row) < active[best].keys.row(active[best].row) {
                best = index;
            }
        }
        let bound: Option<OwnedRow> = (0..active.len())
            .filter(|&index| index != best)
            .map(|index| active[index].keys.row(active[index].row))
            .min()
            .map(|row| row.owned());
        let input = &mut active[best];
        let rows = input.keys.num_rows();
        loop {
            merge.pending.push((input.slot, input.row));
            input.row += 1;
            if input.row == rows
                || merge.pending.len() >= MERGE_BATCH_ROWS
                || bound
                    .as_ref()
                    .is_some_and(|bound| input.keys.row(input.row) > bound.row())
            {
                break;
            }
        }
        if input.row == rows {
            let mut reader_input = active.swap_remove(best);
            if let Some((slot, keys)) = merge.next_batch(&mut reader_input.reader)? {
                reader_input.slot = slot;
                reader_input.keys = keys;
                reader_input.row = 0;
                active.push(reader_input);
            }
        }
        if merge.pending.len() >= MERGE_BATCH_ROWS {
            if cancelled() {
                return Err("compaction cancelled".into());
            }
            merge.write_pending(&mut active)?;
        }
    }
    merge.write_pending(&mut active)?;
    let Merge { writer, merged, .. } = merge;
    writer.finish()?;
    Ok(merged)
}
