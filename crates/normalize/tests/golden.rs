//! Golden tests against real Sentry 23.7.1 output (`tests/data/grouping/`, see
//! `tests/grouping/README.md`): every corpus event must get Sentry's hashes, and the same
//! type, title, culprit, location, metadata and fingerprint.

use sentry_sls_normalize::{normalize, Options};
use serde_json::Value;
use std::fmt::Write as _;

const RECEIVED: f64 = 1_689_336_000.0;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/data/grouping/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn options() -> Options {
    Options::new(1, RECEIVED)
}

/// Finds the first difference between two component trees, for readable failures.
fn first_diff(path: &str, a: &Value, b: &Value, out: &mut String) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                let av = x.get(k).unwrap_or(&Value::Null);
                if first_diff(&format!("{path}.{k}"), av, v, out) {
                    return true;
                }
            }
            false
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                let _ = write!(out, "{path}: len {} != expected {}", x.len(), y.len());
                return true;
            }
            x.iter()
                .zip(y)
                .enumerate()
                .any(|(i, (p, q))| first_diff(&format!("{path}[{i}]"), p, q, out))
        }
        _ if a != b => {
            let _ = write!(out, "{path}: got {a} expected {b}");
            true
        }
        _ => false,
    }
}

#[test]
fn hashes_and_metadata_match_sentry() {
    let corpus = load("corpus.json");
    let expected = load("expected.json");
    let corpus = corpus.as_array().expect("corpus list");
    let expected = expected["events"].as_array().expect("expected events");
    assert_eq!(corpus.len(), expected.len());

    let mut hash_failures = Vec::new();
    let mut meta_failures = Vec::new();
    // Twice: the second pass answers rule matching from the per-thread match caches the
    // first pass filled, and must give the same hashes.
    let twice = corpus
        .iter()
        .zip(expected)
        .chain(corpus.iter().zip(expected));
    for (entry, exp) in twice {
        let name = entry["name"].as_str().unwrap_or("?");
        let n = match normalize(entry["event"].clone(), &options()) {
            Ok(n) => n,
            Err(e) => {
                hash_failures.push(format!("{name}: error {e}"));
                continue;
            }
        };
        let exp_hashes: Vec<String> =
            serde_json::from_value(exp["hashes"].clone()).unwrap_or_default();
        if n.hashes != exp_hashes
            || n.primary_variant != exp["primary_variant"].as_str().unwrap_or("")
        {
            let mut detail = String::new();
            let g = sentry_sls_normalize::grouping_variants(&n.event);
            for (vname, v) in &g.variants {
                if let Some(ev) = exp["variants"].get(vname) {
                    let mut d = String::new();
                    if first_diff(vname, &v.as_dict(), ev, &mut d) {
                        let _ = write!(detail, "\n      {d}");
                    }
                } else {
                    let _ = write!(detail, "\n      extra variant {vname}");
                }
            }
            hash_failures.push(format!(
                "{name}: hashes {:?} ({}) expected {:?} ({}){detail}",
                n.hashes, n.primary_variant, exp_hashes, exp["primary_variant"]
            ));
        }
        let exp_fp: Vec<String> =
            serde_json::from_value(exp["fingerprint"].clone()).unwrap_or_default();
        let checks = [
            (
                "type",
                Value::from(n.event_type.clone()),
                exp["type"].clone(),
            ),
            ("title", Value::from(n.title.clone()), exp["title"].clone()),
            (
                "culprit",
                Value::from(n.culprit.clone()),
                exp["culprit"].clone(),
            ),
            (
                "location",
                serde_json::json!(n.location),
                exp["location"].clone(),
            ),
            (
                "metadata",
                Value::Object(n.metadata.clone()),
                exp["metadata"].clone(),
            ),
            (
                "fingerprint",
                serde_json::json!(n.fingerprint),
                serde_json::json!(exp_fp),
            ),
        ];
        for (field, got, want) in checks {
            if got != want {
                let g = got.to_string();
                let w = want.to_string();
                meta_failures.push(format!(
                    "{name}: {field} {} != expected {}",
                    &g[..g.len().min(300)],
                    &w[..w.len().min(300)]
                ));
            }
        }
    }
    let total = 2 * corpus.len();
    eprintln!(
        "hashes: {}/{total} match; title/culprit/location/metadata/fingerprint: {} mismatches",
        total - hash_failures.len(),
        meta_failures.len()
    );
    assert!(
        hash_failures.is_empty() && meta_failures.is_empty(),
        "{} hash mismatches:\n  {}\n{} field mismatches:\n  {}",
        hash_failures.len(),
        hash_failures.join("\n  "),
        meta_failures.len(),
        meta_failures.join("\n  ")
    );
}

/// The full grouping-info trees (components, hints, descriptions) of every variant.
#[test]
fn variant_trees_match_sentry() {
    let corpus = load("corpus.json");
    let expected = load("expected.json");
    let mut failures = Vec::new();
    for (entry, exp) in corpus
        .as_array()
        .into_iter()
        .flatten()
        .zip(expected["events"].as_array().into_iter().flatten())
    {
        let name = entry["name"].as_str().unwrap_or("?");
        let Ok(n) = normalize(entry["event"].clone(), &options()) else {
            continue;
        };
        let g = sentry_sls_normalize::grouping_variants(&n.event);
        let exp_variants = exp["variants"].as_object().cloned().unwrap_or_default();
        let names: Vec<&String> = g.variants.iter().map(|(k, _)| k).collect();
        let mut exp_names: Vec<&String> = exp_variants.keys().collect();
        let mut got_names = names.clone();
        got_names.sort();
        exp_names.sort();
        if got_names != exp_names {
            failures.push(format!(
                "{name}: variants {got_names:?} expected {exp_names:?}"
            ));
            continue;
        }
        for (vname, v) in &g.variants {
            let mut d = String::new();
            if first_diff(vname, &v.as_dict(), &exp_variants[vname.as_str()], &mut d) {
                failures.push(format!("{name}: {d}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} variant tree mismatches:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Collects every differing path between two JSON values.
fn all_diffs(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                match x.get(k) {
                    Some(g) => all_diffs(&format!("{path}.{k}"), g, v, out),
                    None => out.push(format!("{path}.{k}: missing (expected {})", short(v))),
                }
            }
            for k in x.keys().filter(|k| !y.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected {}", short(&x[k])));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (g, w)) in x.iter().zip(y).enumerate() {
                all_diffs(&format!("{path}[{i}]"), g, w, out);
            }
        }
        _ if !json_eq(got, want) => out.push(format!(
            "{path}: got {} expected {}",
            short(got),
            short(want)
        )),
        _ => {}
    }
}

/// Equality that treats `1689336000` and `1689336000.0` alike.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(160).collect()
}

/// Body paths not compared, and why:
/// - `contexts.browser`, `contexts.os` derived from a `User-Agent` header: Relay parses user
///   agents with the uap-core regex database, which this crate does not embed; SDK-sent
///   contexts are compared.
/// - `tags` entries `browser`, `browser.name`, `os`, `os.name` that come from those derived
///   contexts, for the same reason.
const NOT_COMPARED: [&str; 2] = ["contexts.browser", "contexts.client_os"];

fn ua_derived(path: &str, sample: &Value) -> bool {
    let has_ua = sample["request"]["headers"].as_array().is_some_and(|h| {
        h.iter().any(|p| {
            p[0].as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("user-agent"))
        })
    });
    has_ua && (path.starts_with(".contexts") || path.starts_with(".tags"))
        || NOT_COMPARED
            .iter()
            .any(|p| path.starts_with(&format!(".{p}")))
}

/// The full processed bodies of the 22 samples Sentry wrote, as `body::to_json` writes them.
#[test]
fn normalized_bodies_match_sentry() {
    let corpus = load("corpus.json");
    let samples = load("normalized_samples.json");
    let by_name: std::collections::HashMap<&str, &Value> = corpus
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?, &e["event"])))
        .collect();
    let mut failures = Vec::new();
    for sample in samples["events"].as_array().into_iter().flatten() {
        let name = sample["name"].as_str().unwrap_or("?");
        let want = &sample["normalized"];
        let Some(raw) = by_name.get(name) else {
            failures.push(format!("{name}: not in corpus"));
            continue;
        };
        let got = match normalize((*raw).clone(), &options()) {
            Ok(n) => serde_json::from_slice(&sentry_sls_normalize::body::to_json(&n.event, 0))
                .expect("bodies are JSON"),
            Err(e) => {
                failures.push(format!("{name}: error {e}"));
                continue;
            }
        };
        let mut diffs = Vec::new();
        all_diffs("", &got, want, &mut diffs);
        diffs.retain(|d| !ua_derived(d.split(':').next().unwrap_or(""), want));
        for d in diffs {
            failures.push(format!("{name}: {d}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} body differences:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
