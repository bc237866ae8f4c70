//! Compaction: merges segments of one day partition into one segment.
//!
//! Every segment is sorted by [`SORT_KEYS`](crate::logstore::SORT_KEYS),
//! then time, so the merge is a k-way merge of sorted streams: each input is
//! read one batch at a time and rows are copied to the output in key order.
//! Memory is bounded by one batch per input (about [`INPUT_BATCH_BYTES`])
//! plus one output row group (capped in bytes by the segment writer),
//! whatever the size of the day; the logstore caps the inputs per merge. Which segments to merge, and publishing the
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

/// Most rows per batch read from each input and written to the output.
const MERGE_BATCH_ROWS: usize = 8192;

/// Memory one input's batch may take: rows carry event bodies of up to
/// hundreds of KiB, so the batch shrinks with the segment's mean row size.
const INPUT_BATCH_BYTES: usize = 1024 * 1024;

/// Rows per batch for a segment with these row groups: about
/// [`INPUT_BATCH_BYTES`] of decoded data, between 64 and [`MERGE_BATCH_ROWS`].
fn batch_rows(metadata: &parquet::file::metadata::ParquetMetaData) -> usize {
    let rows: i64 = metadata
        .row_groups()
        .iter()
        .map(|group| group.num_rows())
        .sum();
    let bytes: i64 = metadata
        .row_groups()
        .iter()
        .map(|group| group.total_byte_size())
        .sum();
    if rows <= 0 || bytes <= 0 {
        return MERGE_BATCH_ROWS;
    }
    let per_row = (bytes / rows).max(1) as usize;
    (INPUT_BATCH_BYTES / per_row).clamp(64, MERGE_BATCH_ROWS)
}

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
    // Output batches are as small as the smallest input batch.
    let mut output_rows = MERGE_BATCH_ROWS;
    for path in inputs {
        let file =
            File::open(path).map_err(|error| format!("opening {}: {error}", path.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|error| format!("reading {}: {error}", path.display()))?;
        let rows = batch_rows(builder.metadata());
        output_rows = output_rows.min(rows);
        let mut reader = builder
            .with_batch_size(rows)
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
                || merge.pending.len() >= output_rows
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
        if merge.pending.len() >= output_rows {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn segment(path: &Path, rows: i64, width: usize, start: i64) -> RecordBatch {
        let batch = RecordBatch::try_from_iter([
            (
                TIME,
                Arc::new(Int64Array::from_iter_values(start..start + rows)) as ArrayRef,
            ),
            (
                "body",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|row| format!("{row}{}", "x".repeat(width))),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        columnar::write_parquet(path, &batch).unwrap();
        batch
    }

    /// Batches shrink with the row size, and a merge of wide rows keeps
    /// every row in order.
    #[test]
    fn wide_rows_merge_in_small_batches() {
        let directory = tempfile::tempdir().unwrap();
        let narrow = directory.path().join("narrow.parquet");
        let wide = directory.path().join("wide.parquet");
        segment(&narrow, 1000, 8, 0);
        segment(&wide, 300, 64 * 1024, 500);
        let rows_of = |path: &Path| {
            let file = File::open(path).unwrap();
            batch_rows(
                ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .metadata(),
            )
        };
        assert_eq!(rows_of(&narrow), MERGE_BATCH_ROWS);
        assert_eq!(rows_of(&wide), 64);

        let output = directory.path().join("merged.parquet");
        let schema = arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new(TIME, arrow::datatypes::DataType::Int64, false),
            arrow::datatypes::Field::new("body", arrow::datatypes::DataType::Utf8, true),
        ]);
        let merged = merge(&[narrow, wide], &Arc::new(schema), &output, &|| false).unwrap();
        assert_eq!(
            (merged.rows, merged.min_time, merged.max_time),
            (1300, 0, 999)
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&output).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let times: Vec<i64> = reader
            .flat_map(|batch| {
                batch
                    .unwrap()
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        let mut expected: Vec<i64> = (0..1000).chain(500..800).collect();
        expected.sort();
        assert_eq!(times, expected);
    }
}
