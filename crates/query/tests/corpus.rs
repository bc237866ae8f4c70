//! Runs the whole SnQL conformance corpus (tests/data/snql_corpus.jsonl,
//! harvested from Snuba 25.9.0 and snuba-sdk 3.0.43 tests) through the stages
//! each record's `kind` names:
//!
//! - `sdk_output`, `parse_initial_ast`: grammar and LIMIT only;
//! - `parse_full_ast*`: parser and post-processors (joins, time range, lambdas);
//! - everything else: the full pipeline the HTTP API runs, in subscription
//!   mode for subscription records (Snuba injects their project and time).
//!
//! `valid` records must pass; `invalid` records must fail with an
//! `invalid_query` error; `unknown` records are reported. A few records
//! cannot be judged from their text; they are listed in [`EXEMPT`] with why.

use sentry_sls_query::{parse_and_validate, Checks, SnubaError};
use serde_json::Value;

/// (file:line, reason) for records whose label depends on something other
/// than the SnQL text.
const EXEMPT: &[(&str, &str)] = &[
    ("snuba:tests/admin/test_api.py:1063", "admin tool project allow-list; the public API accepts it"),
    ("snuba:tests/admin/test_production_queries.py:41", "admin tool project allow-list; the public API accepts it"),
    ("snuba:tests/test_api.py:2238", "rejected for the URL's dataset/entity combination, not the text"),
    ("snuba:tests/test_api.py:2261", "rejected for time_window 0 (a subscription parameter), not the text"),
    ("snuba:tests/test_api.py:2362", "rejected for the URL's dataset/entity combination, not the text"),
    ("snuba:tests/test_snql_api.py:189", "the test mocks a RecursionError; the same text is labelled valid elsewhere"),
    ("snuba:tests/test_snql_api.py:1376", "same text as invalid test_snql_api.py:1185 (quantile over a String), which we reject like ClickHouse; this test stops it earlier with an injected allocation policy"),
    ("snuba:tests/subscriptions/test_partitioner.py:27", "the partitioner never validates it; the same text is invalid in test_subscription.py"),
    ("snuba:tests/subscriptions/test_codecs.py:356", "template artefact: a metrics subscription rendered onto MATCH (events)"),
    ("snuba:tests/test_metrics_meta_api.py:110", "template artefact: the entity name was rendered as events_meta"),
    ("snuba:tests/test_metrics_meta_api.py:139", "template artefact: the entity name was rendered as events_meta"),
];

/// Labelled invalid only because "error" is in the test's name; a positive
/// test, which must be accepted.
const MISLABELLED_INVALID: &[&str] = &["snuba:tests/subscriptions/test_scheduler.py:237"];

/// Valid-labelled template artefacts: the test renders them onto another
/// entity than the text names (placeholders `entity`, `self`).
const TEMPLATE_ARTEFACTS: &[&str] = &["test_app_start_type", "test_profile_id", "test_profiler_id"];

fn checks_for(kind: &str) -> Option<Checks> {
    match kind {
        "sdk_output" | "parse_initial_ast" => None,
        kind if kind.starts_with("parse_full_ast") => Some(Checks::POST_PARSE),
        "subscription" => Some(Checks::SUBSCRIPTION),
        _ => Some(Checks::QUERY),
    }
}

fn run(record: &Value) -> Result<(), SnubaError> {
    let text = record["query"].as_str().unwrap();
    let kind = record["kind"].as_str().unwrap();
    let is_subscription_create = record["http_status"].as_u64() == Some(202);
    let checks = if is_subscription_create {
        Some(Checks::SUBSCRIPTION)
    } else {
        checks_for(kind)
    };
    match checks {
        None => {
            let query = sentry_sls_snql::parse_initial(text)?;
            sentry_sls_snql::passes::validate_limit(&query)?;
            Ok(())
        }
        Some(checks) => parse_and_validate(text, checks).map(|_| ()),
    }
}

#[test]
fn corpus_verdicts_match_snuba() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/snql_corpus.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut failures = Vec::new();
    let (mut valid, mut invalid, mut exempt) = (0, 0, 0);
    let mut unknown_report = Vec::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let line_no = record["line"].as_u64().unwrap();
        let location = format!("{}:{}", record["file"].as_str().unwrap(), line_no);
        let test_name = record["test"].as_str().unwrap_or("");
        let expect = record["expect"].as_str().unwrap();
        let result = run(&record);
        if EXEMPT
            .iter()
            .any(|(exempt_location, _)| *exempt_location == location)
        {
            exempt += 1;
            continue;
        }
        if MISLABELLED_INVALID.contains(&location.as_str()) {
            if let Err(error) = &result {
                failures.push(format!(
                    "{location} is a positive test but was rejected: {error}"
                ));
            }
            continue;
        }
        match (expect, &result) {
            ("valid", Ok(())) => valid += 1,
            ("valid", Err(_)) if TEMPLATE_ARTEFACTS.contains(&test_name) => exempt += 1,
            ("valid", Err(error)) => {
                failures.push(format!("{location} valid but rejected: {error}"))
            }
            ("invalid", Err(error)) if error.error_type() == "invalid_query" => invalid += 1,
            ("invalid", Err(error)) => failures.push(format!(
                "{location} rejected as {} instead of invalid_query: {error}",
                error.error_type()
            )),
            ("invalid", Ok(())) => failures.push(format!("{location} invalid but accepted")),
            (_, outcome) => unknown_report.push(format!(
                "{location}: {}",
                match outcome {
                    Ok(()) => "accepted".to_string(),
                    Err(error) => format!("rejected ({error})"),
                }
            )),
        }
    }
    println!(
        "unknown-labelled records ({}):\n{}",
        unknown_report.len(),
        unknown_report.join("\n")
    );
    println!("valid passed: {valid}, invalid rejected: {invalid}, exempt: {exempt}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(unknown_report.len(), 46);
}
