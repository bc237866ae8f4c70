//! Property tests: serialize → parse gives back any envelope; no input panics a parser.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use sentry_sls_event::envelope::{RESERVED_ENVELOPE_HEADERS, RESERVED_ITEM_HEADERS};
use sentry_sls_event::{
    decode_body, parse_store_body, Auth, Envelope, EnvelopeHeaders, EventId, Item, ItemHeaders,
    ItemType, Limits,
};
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            btree_map(".{0,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Header keys that are not reserved (so they round-trip through `other`).
fn other_headers(
    reserved: &'static [&'static str],
) -> impl Strategy<Value = BTreeMap<String, Value>> {
    btree_map(".{1,10}", json_value(), 0..4).prop_map(move |mut map| {
        map.retain(|key, _| !reserved.contains(&key.as_str()));
        map
    })
}

fn item_type() -> impl Strategy<Value = ItemType> {
    let known: Vec<ItemType> = ItemType::known().cloned().collect();
    prop_oneof![
        3 => proptest::sample::select(known),
        1 => "[a-z_]{1,16}".prop_map(|name| ItemType::from_name(&name)),
        1 => ".{1,16}".prop_map(|name| ItemType::from_name(&name)),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    (
        item_type(),
        option::of(".{0,20}"),
        option::of(".{0,20}"),
        option::of(".{0,20}"),
        other_headers(RESERVED_ITEM_HEADERS),
        vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(ty, content_type, filename, attachment_type, other, payload)| Item {
                headers: ItemHeaders {
                    ty,
                    content_type,
                    filename,
                    attachment_type,
                    other,
                },
                payload: Bytes::from(payload),
            },
        )
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let sdk = option::of(json_value().prop_filter("null reads as absent", |v| !v.is_null()));
    (
        option::of(any::<[u8; 16]>()),
        option::of(".{0,40}"),
        sdk,
        option::of(".{0,30}"),
        other_headers(RESERVED_ENVELOPE_HEADERS),
        vec(item(), 0..8),
    )
        .prop_map(|(event_id, dsn, sdk, sent_at, other, items)| Envelope {
            headers: EnvelopeHeaders {
                event_id: event_id.map(EventId::from_uuid_bytes),
                dsn,
                sdk,
                sent_at,
                other,
            },
            items,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn serialize_then_parse_round_trips(envelope in envelope()) {
        let bytes = envelope.serialize();
        let parsed = Envelope::parse(Bytes::from(bytes.clone()), &Limits::unlimited()).unwrap();
        prop_assert_eq!(&parsed, &envelope);
        prop_assert_eq!(parsed.serialize(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse_slice(&bytes, &Limits::default());
        let _ = parse_store_body(Bytes::from(bytes.clone()), &Limits::default());
        for encoding in ["gzip", "deflate", "br", "zstd", "identity"] {
            let _ = decode_body(Some(encoding), &bytes, 1 << 16);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = Auth::from_header(&text);
        let _ = Auth::from_query(&text);
    }

    #[test]
    fn envelope_shaped_noise_never_panics(
        header in prop_oneof![Just("{}".to_string()), ".{0,20}"],
        lines in vec(
            prop_oneof![
                Just("{\"type\":\"event\"}".to_string()),
                (0u64..40).prop_map(|n| format!("{{\"type\":\"attachment\",\"length\":{n}}}")),
                Just(String::new()),
                ".{0,20}",
            ],
            0..8,
        ),
    ) {
        let body = format!("{header}\n{}", lines.join("\n"));
        let _ = Envelope::parse_slice(body.as_bytes(), &Limits::default());
    }

    #[test]
    fn corrupted_envelopes_never_panic(
        envelope in envelope(),
        cut in any::<proptest::sample::Index>(),
        flip in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = envelope.serialize();
        let flip_at = flip.index(bytes.len());
        bytes[flip_at] = byte;
        let cut_at = cut.index(bytes.len() + 1);
        let _ = Envelope::parse_slice(&bytes[..cut_at], &Limits::default());
    }
}
