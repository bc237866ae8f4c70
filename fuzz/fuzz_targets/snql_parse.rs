//! Any text: the SnQL parser and validator never panic, and whatever parses
//! prints back to text that parses to the same AST.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(query) = sentry_sls_snql::parse_initial(text) {
        let printed = query.to_string();
        let reparsed = sentry_sls_snql::parse_initial(&printed)
            .unwrap_or_else(|error| panic!("printed query does not parse: {error}\n{printed}"));
        assert_eq!(reparsed, query, "round trip changed the AST:\n{text}\n{printed}");
    }
    let _ = sentry_sls_query::parse_and_validate(text, sentry_sls_query::Checks::QUERY);
});
