//! Runs every string of Snuba's conformance corpus through the grammar:
//! records that Snuba's grammar accepts (`grammar_ok`) must parse, the others
//! must be rejected. Semantic verdicts (`expect`) are checked by the query
//! crate, which knows the entities.

use std::path::PathBuf;

fn corpus_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../tests/data/snql_corpus.jsonl"),
        manifest.join("../../../shared/reference/snql_corpus.jsonl"),
    ];
    candidates
        .into_iter()
        .find(|path| path.exists())
        .expect("snql_corpus.jsonl not found (tests/data/ or ../shared/reference/)")
}

/// Extracts a JSON string or bool field without a JSON dependency: the corpus
/// is machine-written, one object per line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let marker = format!("\"{key}\": ");
    let start = line.find(&marker)? + marker.len();
    Some(&line[start..])
}

fn string_field(line: &str, key: &str) -> Option<String> {
    let rest = field(line, key)?;
    let mut out = String::new();
    let mut chars = rest.strip_prefix('"')?.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            other => out.push(other),
        }
    }
    None
}

#[test]
fn grammar_accepts_exactly_what_snuba_grammar_accepts() {
    let text = std::fs::read_to_string(corpus_path()).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in text.lines() {
        let query = string_field(line, "query").expect("query field");
        let grammar_ok = field(line, "grammar_ok").unwrap().starts_with("true");
        let line_no = field(line, "line")
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let result = sentry_sls_snql::parse_initial(&query);
        checked += 1;
        match (grammar_ok, &result) {
            (true, Err(error)) => {
                failures.push(format!("line {line_no}: rejected: {error}\n  {query}"))
            }
            (false, Ok(_)) => failures.push(format!(
                "line {line_no}: accepted but Snuba's grammar rejects it\n  {query}"
            )),
            _ => {}
        }
    }
    assert_eq!(checked, 336);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
