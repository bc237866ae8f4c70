//! Size and count limits enforced while an envelope is parsed.
//!
//! The defaults are Relay's current `Limits::default` (`relay-config/src/config.rs`), as listed
//! in reference/peers.md §6 "Size limits"; the grouping of item types into limit categories
//! follows Relay's `check_envelope_size_limits` (`relay-server/src/utils/sizes.rs`): each
//! category has a per-item size, a count and a combined size per envelope. Any breach is a
//! size-limit error, which Relay answers with 413.

use super::item::{Item, ItemType};
use super::EnvelopeError;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Limits applied while parsing an envelope. All sizes are in bytes of the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whole envelope (decoded). Default 200 MiB (peers.md §6: "envelope 200 MiB").
    pub max_envelope_size: usize,
    /// Event-like items (`event`, `transaction`, `security`, `raw_security`, `nel`, `feedback`,
    /// `form_data`, `replay_event`), each and combined; at most one per envelope. Default 1 MiB
    /// (peers.md §6: "event 1 MiB").
    pub max_event_size: usize,
    /// Each attachment (`attachment`, `unreal_report`, `user_report`). Default 200 MiB
    /// (peers.md §6: "attachment 200 MiB each").
    pub max_attachment_size: usize,
    /// All attachments combined. Default 200 MiB (peers.md §6: "200 MiB all attachments").
    pub max_attachments_size: usize,
    /// Attachments per envelope. Default 30 (peers.md §6: "max 30 attachments").
    pub max_attachment_count: usize,
    /// `session` and `sessions` items, each and combined. Default 10 MiB (peers.md §6:
    /// "sessions 10 MiB").
    pub max_sessions_size: usize,
    /// `session` and `sessions` items per envelope. Default 100 (peers.md §6: "≤ 100 items").
    pub max_session_count: usize,
    /// `client_report` items, each and combined. Default 100 KiB (peers.md §6: "client reports
    /// 100 KiB").
    pub max_client_reports_size: usize,
    /// `client_report` items per envelope. Default 100 (Relay `max_client_reports_count`).
    pub max_client_reports_count: usize,
    /// A `check_in` item (one per envelope). Default 100 KiB (peers.md §6: "check-in 100 KiB").
    pub max_check_in_size: usize,
    /// A `profile` or `profile_chunk` item (one per envelope). Default 50 MiB (peers.md §6:
    /// "profile 50 MiB").
    pub max_profile_size: usize,
    /// One log (`log`, `otel_log`; for a container, its size divided by `item_count`); one
    /// such item per envelope. Default 2 MiB (peers.md §6: "log 2 MiB").
    pub max_log_size: usize,
    /// One span (`span`, `otel_span`; for a container, its size divided by `item_count`).
    /// Default 10 MiB (peers.md §6: "span 10 MiB").
    pub max_span_size: usize,
    /// Standalone (non-container) `span`/`otel_span` items per envelope. Default 25 (Relay
    /// `max_standalone_span_count`).
    pub max_standalone_span_count: usize,
    /// An item container (logs, spans, trace metrics, OTLP traces) as a whole. Default 12 MiB
    /// (Relay `max_container_size`).
    pub max_container_size: usize,
    /// A `statsd` item (one per envelope). Default 1 MiB (Relay `max_statsd_size`).
    pub max_statsd_size: usize,
    /// A `metric_buckets` item (one per envelope). Default 1 MiB (Relay
    /// `max_metric_buckets_size`).
    pub max_metric_buckets_size: usize,
    /// One trace metric (`trace_metric`; for a container, its size divided by `item_count`).
    /// Default 1 MiB (Relay `max_trace_metric_size`).
    pub max_trace_metric_size: usize,
    /// A `replay_recording` or `replay_video` item as sent (one of each per envelope). Default
    /// 10 MiB (peers.md §6: "replay 10 MiB compressed").
    pub max_replay_compressed_size: usize,
    /// A replay recording once decompressed. Not enforced by the envelope parser (it does not
    /// decompress payloads); for the consumer that does. Default 100 MiB (peers.md §6: "100 MiB
    /// uncompressed").
    pub max_replay_uncompressed_size: usize,
    /// Items per envelope of each category Relay allows only once: event-like items, replay
    /// recording, replay video, profile, check-in, statsd, metric buckets, log, trace metric,
    /// span container, OTLP traces. Default 1 (Relay's `total_count: 1` in
    /// `check_envelope_size_limits`).
    pub max_singleton_count: usize,
    /// Items of any type per envelope. Relay has no such limit; sentry-sls sets one so a body
    /// of millions of tiny items cannot cost more memory than its bytes. Default 1000.
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_envelope_size: 200 * MIB,
            max_event_size: MIB,
            max_attachment_size: 200 * MIB,
            max_attachments_size: 200 * MIB,
            max_attachment_count: 30,
            max_sessions_size: 10 * MIB,
            max_session_count: 100,
            max_client_reports_size: 100 * KIB,
            max_client_reports_count: 100,
            max_check_in_size: 100 * KIB,
            max_profile_size: 50 * MIB,
            max_log_size: 2 * MIB,
            max_span_size: 10 * MIB,
            max_standalone_span_count: 25,
            max_container_size: 12 * MIB,
            max_statsd_size: MIB,
            max_metric_buckets_size: MIB,
            max_trace_metric_size: MIB,
            max_replay_compressed_size: 10 * MIB,
            max_replay_uncompressed_size: 100 * MIB,
            max_singleton_count: 1,
            max_items: 1000,
        }
    }
}

impl Limits {
    /// No limits at all (every field `usize::MAX`): for re-parsing data already accepted, and
    /// for tests.
    pub fn unlimited() -> Self {
        Limits {
            max_envelope_size: usize::MAX,
            max_event_size: usize::MAX,
            max_attachment_size: usize::MAX,
            max_attachments_size: usize::MAX,
            max_attachment_count: usize::MAX,
            max_sessions_size: usize::MAX,
            max_session_count: usize::MAX,
            max_client_reports_size: usize::MAX,
            max_client_reports_count: usize::MAX,
            max_check_in_size: usize::MAX,
            max_profile_size: usize::MAX,
            max_log_size: usize::MAX,
            max_span_size: usize::MAX,
            max_standalone_span_count: usize::MAX,
            max_container_size: usize::MAX,
            max_statsd_size: usize::MAX,
            max_metric_buckets_size: usize::MAX,
            max_trace_metric_size: usize::MAX,
            max_replay_compressed_size: usize::MAX,
            max_replay_uncompressed_size: usize::MAX,
            max_singleton_count: usize::MAX,
            max_items: usize::MAX,
        }
    }
}

/// The limit categories of `check_envelope_size_limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Event,
    Attachment,
    ReplayRecording,
    ReplayVideo,
    Session,
    ClientReport,
    Profile,
    CheckIn,
    Statsd,
    MetricBuckets,
    Log,
    TraceMetric,
    SpanContainer,
    SpanStandalone,
    OtelTraces,
}

const CATEGORIES: usize = 15;

impl Category {
    fn of(item: &Item) -> Option<Category> {
        Some(match item.ty() {
            ItemType::Event
            | ItemType::Transaction
            | ItemType::Security
            | ItemType::ReplayEvent
            | ItemType::RawSecurity
            | ItemType::Nel
            | ItemType::Feedback
            | ItemType::FormData => Category::Event,
            ItemType::Attachment | ItemType::UnrealReport | ItemType::UserReport => {
                Category::Attachment
            }
            ItemType::ReplayRecording => Category::ReplayRecording,
            ItemType::ReplayVideo => Category::ReplayVideo,
            ItemType::Session | ItemType::Sessions => Category::Session,
            ItemType::ClientReport => Category::ClientReport,
            ItemType::Profile | ItemType::ProfileChunk => Category::Profile,
            ItemType::CheckIn => Category::CheckIn,
            ItemType::Statsd => Category::Statsd,
            ItemType::MetricBuckets => Category::MetricBuckets,
            ItemType::Log | ItemType::OtelLog => Category::Log,
            ItemType::TraceMetric => Category::TraceMetric,
            ItemType::Span if item.is_container() => Category::SpanContainer,
            ItemType::Span | ItemType::OtelSpan => Category::SpanStandalone,
            ItemType::OtelTracesData => Category::OtelTraces,
            ItemType::Unknown(_) => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Category::Event => "event",
            Category::Attachment => "attachment",
            Category::ReplayRecording => "replay_recording",
            Category::ReplayVideo => "replay_video",
            Category::Session => "session",
            Category::ClientReport => "client_report",
            Category::Profile => "profile",
            Category::CheckIn => "check_in",
            Category::Statsd => "statsd",
            Category::MetricBuckets => "metric_buckets",
            Category::Log => "log",
            Category::TraceMetric => "trace_metric",
            Category::SpanContainer | Category::SpanStandalone => "span",
            Category::OtelTraces => "otel_traces_data",
        }
    }

    /// (per-item size, count per envelope, combined size per envelope).
    fn bounds(self, l: &Limits) -> (usize, usize, usize) {
        match self {
            Category::Event => (l.max_event_size, l.max_singleton_count, l.max_event_size),
            Category::Attachment => (
                l.max_attachment_size,
                l.max_attachment_count,
                l.max_attachments_size,
            ),
            Category::ReplayRecording | Category::ReplayVideo => (
                l.max_replay_compressed_size,
                l.max_singleton_count,
                l.max_replay_compressed_size,
            ),
            Category::Session => (
                l.max_sessions_size,
                l.max_session_count,
                l.max_sessions_size,
            ),
            Category::ClientReport => (
                l.max_client_reports_size,
                l.max_client_reports_count,
                l.max_client_reports_size,
            ),
            Category::Profile => (
                l.max_profile_size,
                l.max_singleton_count,
                l.max_profile_size,
            ),
            Category::CheckIn => (
                l.max_check_in_size,
                l.max_singleton_count,
                l.max_check_in_size,
            ),
            Category::Statsd => (l.max_statsd_size, l.max_singleton_count, l.max_statsd_size),
            Category::MetricBuckets => (
                l.max_metric_buckets_size,
                l.max_singleton_count,
                l.max_metric_buckets_size,
            ),
            Category::Log => (l.max_log_size, l.max_singleton_count, l.max_container_size),
            Category::TraceMetric => (
                l.max_trace_metric_size,
                l.max_singleton_count,
                l.max_container_size,
            ),
            Category::SpanContainer => {
                (l.max_span_size, l.max_singleton_count, l.max_container_size)
            }
            Category::SpanStandalone => (
                l.max_span_size,
                l.max_standalone_span_count,
                l.max_container_size,
            ),
            Category::OtelTraces => (
                l.max_container_size,
                l.max_singleton_count,
                l.max_container_size,
            ),
        }
    }
}

/// Running totals of one envelope against its [`Limits`].
pub(crate) struct Budget<'a> {
    limits: &'a Limits,
    items: usize,
    /// Per category: (count, combined size).
    used: [(usize, usize); CATEGORIES],
}

impl<'a> Budget<'a> {
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Budget {
            limits,
            items: 0,
            used: [(0, 0); CATEGORIES],
        }
    }

    /// Counts `item` in, failing if that breaks a limit.
    pub(crate) fn admit(&mut self, item: &Item) -> Result<(), EnvelopeError> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(EnvelopeError::TooManyItems {
                what: "envelope".into(),
                limit: self.limits.max_items,
            });
        }
        let Some(category) = Category::of(item) else {
            return Ok(());
        };
        let (item_size, count, total_size) = category.bounds(self.limits);
        // A container is checked on the average size of what it contains (individual entries
        // are checked once the container is unpacked).
        let size = if item.is_container() {
            let entries = item.item_count().unwrap_or(1).max(1);
            item.len() / usize::try_from(entries).unwrap_or(usize::MAX)
        } else {
            item.len()
        };
        if size > item_size {
            return Err(EnvelopeError::TooLarge {
                what: format!("{} item", item.ty()),
                limit: item_size,
            });
        }
        let used = &mut self.used[category as usize];
        used.0 += 1;
        if used.0 > count {
            return Err(EnvelopeError::TooManyItems {
                what: category.name().into(),
                limit: count,
            });
        }
        used.1 = used.1.saturating_add(item.len());
        if used.1 > total_size {
            return Err(EnvelopeError::TooLarge {
                what: format!("{} items combined", category.name()),
                limit: total_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(ty: ItemType, len: usize) -> Item {
        Item::new(ty, vec![b'x'; len])
    }

    #[test]
    fn defaults_match_relay() {
        let l = Limits::default();
        assert_eq!(l.max_envelope_size, 209_715_200);
        assert_eq!(l.max_event_size, 1_048_576);
        assert_eq!(l.max_attachment_size, 209_715_200);
        assert_eq!(l.max_attachment_count, 30);
        assert_eq!(l.max_session_count, 100);
        assert_eq!(l.max_client_reports_size, 102_400);
        assert_eq!(l.max_check_in_size, 102_400);
        assert_eq!(l.max_log_size, 2 * 1_048_576);
        assert_eq!(l.max_span_size, 10 * 1_048_576);
        assert_eq!(l.max_profile_size, 50 * 1_048_576);
        assert_eq!(l.max_replay_compressed_size, 10 * 1_048_576);
    }

    #[test]
    fn event_size_and_count() {
        let limits = Limits::default();
        let mut budget = Budget::new(&limits);
        budget.admit(&item(ItemType::Event, MIB)).unwrap();
        let err = budget.admit(&item(ItemType::Feedback, 10)).unwrap_err();
        assert!(
            matches!(&err, EnvelopeError::TooManyItems { what, limit: 1 } if what == "event"),
            "{err}"
        );

        let mut budget = Budget::new(&limits);
        let err = budget
            .admit(&item(ItemType::Transaction, MIB + 1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "transaction item exceeds the size limit of 1048576 bytes"
        );
    }

    #[test]
    fn attachments_count_and_total() {
        let limits = Limits {
            max_attachment_size: 10,
            max_attachments_size: 25,
            max_attachment_count: 3,
            ..Limits::default()
        };
        let mut budget = Budget::new(&limits);
        budget.admit(&item(ItemType::Attachment, 10)).unwrap();
        budget.admit(&item(ItemType::UserReport, 10)).unwrap();
        let err = budget.admit(&item(ItemType::Attachment, 10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "attachment items combined exceeds the size limit of 25 bytes"
        );

        let mut budget = Budget::new(&limits);
        for _ in 0..3 {
            budget.admit(&item(ItemType::Attachment, 1)).unwrap();
        }
        assert!(matches!(
            budget.admit(&item(ItemType::Attachment, 1)),
            Err(EnvelopeError::TooManyItems { limit: 3, .. })
        ));
        assert!(matches!(
            Budget::new(&limits).admit(&item(ItemType::Attachment, 11)),
            Err(EnvelopeError::TooLarge { limit: 10, .. })
        ));
    }

    #[test]
    fn containers_are_checked_per_entry() {
        let limits = Limits {
            max_log_size: 10,
            max_container_size: 100,
            ..Limits::default()
        };
        let mut log = item(ItemType::Log, 50);
        log.headers.content_type = Some("application/vnd.sentry.items.log+json".into());
        log.headers.other.insert("item_count".into(), 5.into());
        Budget::new(&limits).admit(&log).unwrap();
        log.headers.other.insert("item_count".into(), 4.into());
        assert!(Budget::new(&limits).admit(&log).is_err());
    }

    #[test]
    fn sessions_and_unknown_items() {
        let limits = Limits {
            max_items: 150,
            ..Limits::default()
        };
        let mut budget = Budget::new(&limits);
        for _ in 0..100 {
            budget.admit(&item(ItemType::Session, 10)).unwrap();
        }
        assert!(matches!(
            budget.admit(&item(ItemType::Sessions, 10)),
            Err(EnvelopeError::TooManyItems { limit: 100, .. })
        ));
        let mut budget = Budget::new(&limits);
        for _ in 0..150 {
            budget
                .admit(&item(ItemType::Unknown("x".into()), 1 << 20))
                .unwrap();
        }
        let err = budget
            .admit(&item(ItemType::Unknown("x".into()), 0))
            .unwrap_err();
        assert_eq!(err.to_string(), "too many envelope items (limit 150)");
    }

    #[test]
    fn standalone_spans() {
        let limits = Limits::default();
        let mut budget = Budget::new(&limits);
        for _ in 0..25 {
            budget.admit(&item(ItemType::Span, 100)).unwrap();
        }
        assert!(budget.admit(&item(ItemType::OtelSpan, 100)).is_err());
    }
}
