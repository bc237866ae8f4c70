//! Every corpus query on a stored errors entity that validates must either
//! translate into an SLS query or be refused with a Snuba error (never panic);
//! the share that translates is reported and must not regress.

use sentry_sls_query::translate::translate;
use sentry_sls_query::{parse_and_validate, Checks};
use serde_json::Value;

#[test]
fn corpus_queries_on_errors_entities_translate() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/snql_corpus.jsonl"
    ))
    .unwrap();
    let (mut total, mut translated) = (0, 0);
    let mut failures = std::collections::BTreeMap::<String, usize>::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let Some(query) = record["query"].as_str() else {
            continue;
        };
        let Ok(validated) = parse_and_validate(query, Checks::QUERY) else {
            continue;
        };
        if !validated.entity.is_some_and(|entity| entity.stored) {
            continue;
        }
        if !matches!(
            validated.query.source,
            sentry_sls_snql::Source::Entity(_) | sentry_sls_snql::Source::Subquery(_)
        ) {
            continue;
        }
        total += 1;
        match translate(&validated, 1_764_590_400, 30) {
            Ok(_) => translated += 1,
            Err(error) => {
                let message = error.to_string();
                if std::env::var_os("SHOW_REFUSALS").is_some() {
                    eprintln!("{message}\n    {query}");
                }
                let key: String = message.chars().take(70).collect();
                *failures.entry(key).or_default() += 1;
            }
        }
    }
    eprintln!("translated {translated} of {total}; refusals: {failures:#?}");
    assert!(total > 50, "{total}");
    assert!(
        translated * 10 >= total * 8,
        "{translated} of {total}: {failures:#?}"
    );
}
