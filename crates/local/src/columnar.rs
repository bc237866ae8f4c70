//! Rows to columns: turns log batches into Arrow record batches (every
//! content key a nullable string column, `__time__` an integer), and writes
//! them as Parquet segments.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sentry_sls_store::LogBatch;

/// Log time, unix seconds.
pub const TIME: &str = "__time__";
/// Nanosecond part of the log time.
pub const TIME_NS: &str = "__time_ns_part__";
/// Topic of the log group.
pub const TOPIC: &str = "__topic__";
/// Source of the log group.
pub const SOURCE: &str = "__source__";
/// Prefix of tag columns.
pub const TAG_PREFIX: &str = "__tag__:";

/// The columns every segment has, before the content keys.
pub const META_COLUMNS: [&str; 4] = [TIME, TIME_NS, TOPIC, SOURCE];

/// The storage schema for a set of content/tag column names: meta columns
/// first, then the names, all strings.
pub fn storage_schema(names: &BTreeSet<String>) -> SchemaRef {
    let mut fields = vec![
        Field::new(TIME, DataType::Int64, false),
        Field::new(TIME_NS, DataType::Int64, false),
        Field::new(TOPIC, DataType::Utf8, true),
        Field::new(SOURCE, DataType::Utf8, true),
    ];
    fields.extend(
        names
            .iter()
            .filter(|name| !META_COLUMNS.contains(&name.as_str()))
            .map(|name| Field::new(name.as_str(), DataType::Utf8, true)),
    );
    Arc::new(Schema::new(fields))
}

/// The storage schema with the columns named in `int_columns` typed Int64
/// (long keys whose values are all canonical integers, see
/// [`type_long_columns`]); every other column a string.
pub fn storage_schema_typed(names: &BTreeSet<String>, int_columns: &BTreeSet<String>) -> SchemaRef {
    let plain = storage_schema(names);
    if int_columns.is_empty() {
        return plain;
    }
    let fields: Vec<Field> = plain
        .fields()
        .iter()
        .map(|field| {
            if !META_COLUMNS.contains(&field.name().as_str()) && int_columns.contains(field.name())
            {
                Field::new(field.name(), DataType::Int64, true)
            } else {
                field.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `text` as an integer if it is the canonical spelling of one (what
/// `i64::to_string` prints), so turning the column back into text gives
/// the stored strings exactly.
pub fn canonical_i64(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && (digits.len() > 1 || digits.len() != bytes.len()))
    {
        return None;
    }
    text.parse().ok()
}

/// Replaces each string column named in `long_keys` whose every value is a
/// canonical integer ([`canonical_i64`]) by an Int64 column. Segments keep
/// such columns typed, so filters on them prune by Parquet statistics and
/// SQL reads them without parsing; read back as text they are unchanged.
pub fn type_long_columns(batch: RecordBatch, long_keys: &BTreeSet<String>) -> RecordBatch {
    use arrow::array::AsArray;
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut changed = false;
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.data_type() == &DataType::Utf8
            && !META_COLUMNS.contains(&field.name().as_str())
            && long_keys.contains(field.name())
        {
            let strings = column.as_string::<i32>();
            let mut builder = Int64Builder::with_capacity(column.len());
            let mut all = true;
            for value in strings.iter() {
                match value {
                    None => builder.append_null(),
                    Some(text) => match canonical_i64(text) {
                        Some(number) => builder.append_value(number),
                        None => {
                            all = false;
                            break;
                        }
                    },
                }
            }
            if all {
                fields.push(Field::new(field.name(), DataType::Int64, true));
                columns.push(Arc::new(builder.finish()));
                changed = true;
                continue;
            }
        }
        fields.push(field.as_ref().clone());
        columns.push(Arc::clone(column));
    }
    if !changed {
        return batch;
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("same columns, retyped")
}

/// Columns (meta columns excluded) typed Int64 in every batch that has
/// them.
pub fn int_columns<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> BTreeSet<String> {
    let mut typed = BTreeSet::new();
    let mut untyped = BTreeSet::new();
    for batch in batches {
        for field in batch.schema().fields() {
            if META_COLUMNS.contains(&field.name().as_str()) {
                continue;
            }
            if field.data_type() == &DataType::Int64 {
                typed.insert(field.name().clone());
            } else {
                untyped.insert(field.name().clone());
            }
        }
    }
    typed.difference(&untyped).cloned().collect()
}

/// Every content key and tag column name in `batches`.
pub fn column_names<'a>(batches: impl IntoIterator<Item = &'a LogBatch>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for batch in batches {
        for (key, _) in &batch.tags {
            names.insert(format!("{TAG_PREFIX}{key}"));
        }
        for log in &batch.logs {
            for (key, _) in &log.contents {
                if !names.contains(key) {
                    names.insert(key.clone());
                }
            }
        }
    }
    names
}

/// Builds one record batch with `schema` from the logs of `batches` whose
/// time is in `[from, to)`. Columns not in the schema are dropped; absent
/// values are NULL. With duplicate keys in one log, the last value wins.
pub fn to_record_batch(
    batches: &[&LogBatch],
    schema: &SchemaRef,
    from: i64,
    to: i64,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let rows: usize = batches.iter().map(|batch| batch.logs.len()).sum();
    let mut times = Int64Builder::with_capacity(rows);
    let mut time_ns = Int64Builder::with_capacity(rows);
    let content_fields: Vec<&str> = schema
        .fields()
        .iter()
        .map(|field| field.name().as_str())
        .filter(|name| !META_COLUMNS.contains(name))
        .collect();
    let mut topic = StringBuilder::new();
    let mut source = StringBuilder::new();
    let mut columns: Vec<StringBuilder> = content_fields
        .iter()
        .map(|_| StringBuilder::new())
        .collect();
    let positions: std::collections::HashMap<&str, usize> = content_fields
        .iter()
        .enumerate()
        .map(|(index, name)| (*name, index))
        .collect();
    let index_of = |name: &str| positions.get(name).copied();
    let mut row_values: Vec<Option<&str>> = vec![None; content_fields.len()];
    for batch in batches {
        let tag_values: Vec<(usize, &str)> = batch
            .tags
            .iter()
            .filter_map(|(key, value)| {
                index_of(&format!("{TAG_PREFIX}{key}")).map(|i| (i, value.as_str()))
            })
            .collect();
        for log in &batch.logs {
            let time = i64::from(log.time);
            if time < from || time >= to {
                continue;
            }
            times.append_value(time);
            time_ns.append_value(i64::from(log.time_ns));
            topic.append_value(&batch.topic);
            source.append_value(&batch.source);
            row_values.iter_mut().for_each(|value| *value = None);
            for (index, value) in &tag_values {
                row_values[*index] = Some(value);
            }
            for (key, value) in &log.contents {
                if let Some(index) = index_of(key) {
                    row_values[index] = Some(value.as_str());
                }
            }
            for (builder, value) in columns.iter_mut().zip(&row_values) {
                builder.append_option(*value);
            }
        }
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(times.finish()),
        Arc::new(time_ns.finish()),
        Arc::new(topic.finish()),
        Arc::new(source.finish()),
    ];
    arrays.extend(
        columns
            .iter_mut()
            .map(|builder| Arc::new(builder.finish()) as ArrayRef),
    );
    RecordBatch::try_new(schema.clone(), arrays)
}

/// One log batch as Arrow, with a schema of exactly its own columns (meta
/// columns first, then its content and tag keys in name order). The
/// memtable keeps appends in this form, so queries and flushes never touch
/// the row-wise strings again.
pub fn log_batch_to_arrow(batch: &LogBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let names = column_names([batch]);
    let schema = storage_schema(&names);
    to_record_batch_one(batch, &schema)
}

fn to_record_batch_one(
    batch: &LogBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    to_record_batch(&[batch], schema, i64::MIN, i64::MAX)
}

/// `batch` with exactly the columns of `schema`, in its order: columns the
/// batch lacks are all-NULL, a column of another type (an Int64 one where
/// the schema has text) is cast. Nothing else is copied.
pub fn unify(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(Arc::clone(column)),
            Some(column) => arrow::compute::cast(column, field.data_type()),
            None => Ok(arrow::array::new_null_array(field.data_type(), rows)),
        })
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// Content and tag column names of Arrow batches (meta columns excluded).
pub fn arrow_column_names<'a>(
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for batch in batches {
        for field in batch.schema().fields() {
            if !META_COLUMNS.contains(&field.name().as_str()) {
                names.insert(field.name().clone());
            }
        }
    }
    names
}

/// Rows per Parquet row group of a segment.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Most rows per Parquet data page.
const PAGE_ROWS: usize = 4096;

/// Columns whose row groups carry a Parquet Bloom filter: the ids looked up
/// one at a time (`event_id = x`), which no sort order clusters.
pub const BLOOM_COLUMNS: [&str; 1] = ["event_id"];

/// Id columns: nearly every row has its own value (a trace's events share
/// theirs), so a dictionary never pays for itself, and trying one costs a hash
/// of every value.
const UNIQUE_COLUMNS: [&str; 3] = ["event_id", "node_id", "trace_id"];

/// Whether `name` holds a chunk of an event body (`body_zstd_1` … `body_zstd_n`,
/// docs/schema.md §2): base64 of zstd, which LZ4 cannot shrink (about 1 %)
/// and no two rows share.
fn is_body_chunk(name: &str) -> bool {
    name.strip_prefix("body_zstd_")
        .is_some_and(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
}

/// Writer properties of every segment: LZ4, 128 Ki-row row groups,
/// 4,096-row pages, Bloom filters on [`BLOOM_COLUMNS`] present in `schema`;
/// body chunks stored as they are (no dictionary, no compression) and ids
/// without a dictionary, so flushes and compactions do not spend CPU on them.
fn segment_properties(schema: &Schema) -> WriterProperties {
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Small pages: rows are sorted by project and group, so the page
        // index narrows a group's rows to a few thousand per segment.
        .set_data_page_row_count_limit(PAGE_ROWS);
    for name in BLOOM_COLUMNS {
        if schema.column_with_name(name).is_some() {
            let path = parquet::schema::types::ColumnPath::from(name);
            properties = properties
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_max_ndv(path.clone(), ROW_GROUP_ROWS as u64)
                .set_column_bloom_filter_fpp(path, 0.01);
        }
    }
    for field in schema.fields() {
        let name = field.name().as_str();
        let path = || parquet::schema::types::ColumnPath::from(name);
        if is_body_chunk(name) {
            properties = properties
                .set_column_dictionary_enabled(path(), false)
                .set_column_compression(path(), Compression::UNCOMPRESSED);
        } else if UNIQUE_COLUMNS.contains(&name) {
            properties = properties.set_column_dictionary_enabled(path(), false);
        }
    }
    properties.build()
}

/// Memory a [`SegmentWriter`]'s open row group may take (encoded pages plus
/// what the encoders buffer) before the row group is closed early, so writing
/// a segment of wide rows (event bodies) stays within bounded memory.
const MAX_ROW_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// Dirty bytes a [`SegmentWriter`] leaves before it syncs them.
const SYNC_STEP_BYTES: usize = 8 * 1024 * 1024;

/// A segment file that is synced as it is written, every [`SYNC_STEP_BYTES`].
/// Synced only at the end, a compacted segment (hundreds of MiB) would sit
/// dirty in the page cache, and its one final fsync would stall the spool's
/// and the WAL's small fsyncs, which acknowledge requests, behind a burst of
/// writeback. RocksDB's `bytes_per_sync` avoids the same with
/// `sync_file_range`, which does not wait; `sync_data` waits, which only
/// the flusher or compactor thread writing the segment feels.
struct SyncingFile {
    file: File,
    unsynced: usize,
    /// Syncs made before the final one.
    steps: usize,
}

impl std::io::Write for SyncingFile {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        // Sync before writing, so that an error means nothing was written
        // (a caller may retry the same bytes).
        if self.unsynced >= SYNC_STEP_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
            self.steps += 1;
        }
        let written = self.file.write(buffer)?;
        self.unsynced += written;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes one Parquet segment from a stream of batches: into a temporary
/// file that [`SegmentWriter::finish`] fsyncs and renames into place, so a
/// crash never leaves a half-written file under the segment's name.
pub struct SegmentWriter {
    path: std::path::PathBuf,
    temporary: std::path::PathBuf,
    writer: Option<ArrowWriter<SyncingFile>>,
}

impl SegmentWriter {
    /// Starts the segment `path` (written as `path.parquet.tmp` until finished).
    pub fn create(path: &Path, schema: SchemaRef) -> Result<SegmentWriter, String> {
        let temporary = path.with_extension("parquet.tmp");
        let file = File::create(&temporary)
            .map_err(|error| format!("creating {}: {error}", temporary.display()))?;
        let properties = segment_properties(&schema);
        let file = SyncingFile {
            file,
            unsynced: 0,
            steps: 0,
        };
        let writer = ArrowWriter::try_new(file, schema, Some(properties))
            .map_err(|error| error.to_string())?;
        Ok(SegmentWriter {
            path: path.to_path_buf(),
            temporary,
            writer: Some(writer),
        })
    }

    /// Appends rows (with the schema given at creation).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let writer = self.writer.as_mut().expect("segment writer in use");
        writer.write(batch).map_err(|error| error.to_string())?;
        if writer.memory_size() >= MAX_ROW_GROUP_BYTES {
            writer.flush().map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Completes the file, fsyncs it, renames it into place and fsyncs the
    /// directory.
    pub fn finish(mut self) -> Result<(), String> {
        let writer = self.writer.take().expect("segment writer in use");
        let file = writer.into_inner().map_err(|error| error.to_string())?.file;
        file.sync_all().map_err(|error| error.to_string())?;
        std::fs::rename(&self.temporary, &self.path)
            .map_err(|error| format!("renaming segment: {error}"))?;
        if let Some(parent) = self.path.parent() {
            sentry_sls_wal::sync_directory(parent).map_err(|error| error.to_string())?;
        }
        Ok(())
    }
}

impl Drop for SegmentWriter {
    /// An unfinished segment (error or cancellation) leaves no file behind.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Writes `batch` as a Parquet file at `path` (via a temporary file renamed
/// into place, then fsynced) so a crash never leaves a half-written segment.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), String> {
    let mut writer = SegmentWriter::create(path, batch.schema())?;
    writer.write(batch)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use sentry_sls_store::LogRecord;

    #[test]
    fn builds_columns_with_nulls_and_time_filter() {
        let batch = Arc::new(LogBatch {
            topic: "t".into(),
            source: "s".into(),
            tags: vec![("host".into(), "h1".into())],
            logs: vec![
                LogRecord {
                    time: 10,
                    time_ns: 0,
                    contents: vec![("a".into(), "1".into())],
                },
                LogRecord {
                    time: 20,
                    time_ns: 0,
                    contents: vec![("b".into(), "2".into())],
                },
                LogRecord {
                    time: 30,
                    time_ns: 0,
                    contents: vec![("a".into(), "3".into())],
                },
            ],
        });
        let names = column_names([batch.as_ref()]);
        let schema = storage_schema(&names);
        let record_batch = to_record_batch(&[batch.as_ref()], &schema, 0, 25).unwrap();
        assert_eq!(record_batch.num_rows(), 2);
        let a = record_batch.column_by_name("a").unwrap().as_string::<i32>();
        assert_eq!(a.value(0), "1");
        assert!(a.is_null(1));
        let host = record_batch
            .column_by_name("__tag__:host")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(host.value(1), "h1");
    }

    /// Body chunks are written as they are, ids without a dictionary, the
    /// rest with LZ4 and dictionaries; and a segment of wide rows closes its
    /// row groups at the writer's memory cap, not at the row cap.
    #[test]
    fn segments_store_bodies_plainly_and_cap_row_group_memory() {
        use parquet::basic::Encoding;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let rows = 12_000;
        // Incompressible, like base64 of zstd: 4 KiB per row, 47 MiB in all.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |length: usize| -> String {
            (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'A' + (state % 26) as u8)
                })
                .collect()
        };
        let body: Vec<String> = (0..rows).map(|_| noise(4096)).collect();
        let event_id: Vec<String> = (0..rows).map(|row| format!("{row:032x}")).collect();
        let level: Vec<&str> = (0..rows).map(|row| ["error", "warning"][row % 2]).collect();
        let batch = RecordBatch::try_from_iter([
            (
                TIME,
                Arc::new(arrow::array::Int64Array::from_iter_values(0..rows as i64)) as _,
            ),
            (
                "body_zstd_1",
                Arc::new(arrow::array::StringArray::from(body)) as _,
            ),
            (
                "event_id",
                Arc::new(arrow::array::StringArray::from(event_id)) as _,
            ),
            (
                "level",
                Arc::new(arrow::array::StringArray::from(level)) as _,
            ),
        ])
        .unwrap();
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("segment.parquet");
        let mut writer = SegmentWriter::create(&path, batch.schema()).unwrap();
        for offset in (0..rows).step_by(500) {
            writer
                .write(&batch.slice(offset, 500.min(rows - offset)))
                .unwrap();
        }
        writer.finish().unwrap();

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let metadata = reader.metadata();
        assert!(
            metadata.num_row_groups() >= 2,
            "one row group of {rows} wide rows"
        );
        let mut total = 0;
        for group in metadata.row_groups() {
            total += group.num_rows();
            assert!(group.total_byte_size() < 2 * MAX_ROW_GROUP_BYTES as i64);
            for column in group.columns() {
                let name = column.column_path().string();
                let dictionary = column.encodings().any(|encoding| {
                    matches!(
                        encoding,
                        Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY
                    )
                });
                match name.as_str() {
                    "body_zstd_1" => {
                        assert_eq!(column.compression(), Compression::UNCOMPRESSED);
                        assert!(!dictionary, "{name}");
                    }
                    "event_id" => assert!(!dictionary, "{name}"),
                    "level" => {
                        assert_eq!(column.compression(), Compression::LZ4_RAW);
                        assert!(dictionary, "{name}");
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(total, rows as i64);
    }

    #[test]
    fn body_chunks_are_recognised_by_name() {
        assert!(is_body_chunk("body_zstd_1"));
        assert!(is_body_chunk("body_zstd_12"));
        assert!(!is_body_chunk("body_zstd_"));
        assert!(!is_body_chunk("body_zstd_x"));
        assert!(!is_body_chunk("body"));
        assert!(!is_body_chunk("body_len"));
    }

    #[test]
    fn a_segment_file_is_synced_as_it_is_written() {
        use std::io::Write;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("file");
        let mut file = SyncingFile {
            file: File::create(&path).unwrap(),
            unsynced: 0,
            steps: 0,
        };
        let chunk = vec![7u8; 1024 * 1024];
        for _ in 0..(2 * SYNC_STEP_BYTES / chunk.len() + 3) {
            file.write_all(&chunk).unwrap();
        }
        // A step's sync runs at the next write: two steps, three chunks since.
        assert_eq!(file.steps, 2);
        assert_eq!(file.unsynced, 3 * chunk.len());
        drop(file);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            2 * SYNC_STEP_BYTES + 3 * chunk.len()
        );
    }
}
