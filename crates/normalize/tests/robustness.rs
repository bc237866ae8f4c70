//! Bad input never panics: odd shapes, wrong types, deep nesting and huge strings all give
//! `Ok` or `Err`.

use proptest::prelude::*;
use sentry_sls_normalize::{normalize, Options};
use serde_json::{json, Value};

fn opts() -> Options {
    Options::new(1, 1_689_336_000.0)
}

#[test]
fn odd_shapes() {
    let huge = "x".repeat(2_000_000);
    let mut deep = json!("leaf");
    // serde_json refuses to parse deeper than 128 levels, so this is as deep as input gets.
    for _ in 0..120 {
        deep = json!([deep]);
    }
    let cases = vec![
        json!(null),
        json!(1),
        json!("event"),
        json!([]),
        json!({}),
        json!({"exception": 5}),
        json!({"exception": {"values": [1, "x", null, {"type": 5, "value": [1]}]}}),
        json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [1, null, {"function": 5, "in_app": "yes", "lineno": "x"}]}}]}}),
        json!({"exception": {"values": [{"type": "E", "mechanism": {"exception_id": 0, "is_exception_group": true}},
                                         {"type": "F", "mechanism": {"exception_id": 1, "parent_id": 0}},
                                         {"type": "G", "mechanism": {"exception_id": 2, "parent_id": 2}}]}}),
        json!({"threads": {"values": [{"crashed": true, "stacktrace": {"frames": "no"}}]}}),
        json!({"threads": 3, "stacktrace": [], "template": "t", "logentry": 7}),
        json!({"logentry": {"message": "%s %d %(x)s {0} {", "params": {"x": 1}}}),
        json!({"message": {"message": "%", "params": [1]}}),
        json!({"fingerprint": [1.5e300, null, {}, true, "{{ tags.x }}", "{{ default }}"], "tags": "x"}),
        json!({"checksum": 5, "level": 99, "timestamp": "garbage", "platform": 3}),
        json!({"message": huge, "platform": "native",
               "exception": {"values": [{"type": huge, "value": huge, "stacktrace": {"frames": [{"function": huge, "context_line": huge}]}}]}}),
        json!({"extra": deep}),
        json!({"request": {"url": "%zz?%%&a=%4", "headers": [[1, 2], ["a"]], "query_string": {"a": [1]}}}),
        json!({"contexts": {"os": {"name": ["x"]}, "x": 1}, "breadcrumbs": [1, {"timestamp": "x"}]}),
        json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"function": "operator<<<(((", "platform": "native"}, {"function": ")))>>>", "platform": "native"},
            {"function": "<", "platform": "native"}, {"function": "a::b<c<d>>(e) const &", "platform": "cocoa"}]}}]}}),
    ];
    for case in cases {
        let _ = normalize(case, &opts());
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_{}%<>():. -]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "exception",
            "values",
            "stacktrace",
            "frames",
            "function",
            "type",
            "value",
            "in_app",
            "module",
            "abs_path",
            "platform",
            "native",
            "javascript",
            "mechanism",
            "threads",
            "logentry",
            "message",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "exception",
                        "values",
                        "stacktrace",
                        "frames",
                        "function",
                        "type",
                        "value",
                        "in_app",
                        "module",
                        "abs_path",
                        "filename",
                        "platform",
                        "mechanism",
                        "threads",
                        "logentry",
                        "message",
                        "params",
                        "fingerprint",
                        "tags",
                        "checksum",
                        "crashed",
                        "data",
                        "raw_function",
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn never_panics(event in arb_json()) {
        let _ = normalize(event, &opts());
    }
}
