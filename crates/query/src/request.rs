//! The query request body of `POST /{dataset}/snql` (snuba-api.md §1.2):
//! one JSON object, `additionalProperties: false`, defaults filled in.

use serde_json::{json, Map, Value};

use crate::error::SnubaError;

/// A validated request body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryRequest {
    /// The SnQL (or MQL) text.
    pub query: String,
    /// `dataset` as sent (the URL wins for routing).
    pub dataset: Option<String>,
    /// MQL context, for `/mql`.
    pub mql_context: Option<Value>,
    /// Flags.
    pub flags: Flags,
    /// `referrer` in the body, if any.
    pub referrer: Option<String>,
    /// `app_id`, default `default`.
    pub app_id: String,
    /// `tenant_ids`, default `{"<unknown>": "<unknown>"}`.
    pub tenant_ids: Map<String, Value>,
    /// `parent_api`, default `<unknown>`.
    pub parent_api: String,
}

/// Execution flags of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// Allow sampling; never add FINAL.
    pub turbo: bool,
    /// Read with sequential consistency.
    pub consistent: bool,
    /// Add `stats`, `sql`, `experiments` to the response.
    pub debug: bool,
    /// Validate but do not execute.
    pub dry_run: bool,
    /// Produced by snuba-sdk's legacy converter.
    pub legacy: bool,
}

enum Kind {
    String,
    Bool,
    Object,
}

/// Keys of the merged Snuba request schema with their JSON types.
const PROPERTIES: &[(&str, Kind)] = &[
    ("query", Kind::String),
    ("dataset", Kind::String),
    ("mql_context", Kind::Object),
    ("turbo", Kind::Bool),
    ("consistent", Kind::Bool),
    ("debug", Kind::Bool),
    ("dry_run", Kind::Bool),
    ("legacy", Kind::Bool),
    ("referrer", Kind::String),
    ("app_id", Kind::String),
    ("tenant_ids", Kind::Object),
    ("parent_api", Kind::String),
    ("team", Kind::String),
    ("feature", Kind::String),
];

impl QueryRequest {
    /// Parses and validates a raw body.
    pub fn from_slice(body: &[u8]) -> Result<Self, SnubaError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|error| SnubaError::Json(format!("Malformed JSON: {error}")))?;
        Self::from_json(value)
    }

    /// Validates a parsed body against the schema.
    pub fn from_json(value: Value) -> Result<Self, SnubaError> {
        let Value::Object(object) = value else {
            return Err(SnubaError::Internal(
                "the request body must be a JSON object".into(),
            ));
        };
        for (key, value) in &object {
            let Some((_, kind)) = PROPERTIES.iter().find(|(name, _)| name == key) else {
                return Err(SnubaError::Schema {
                    message: format!(
                        "Additional properties are not allowed ('{key}' was unexpected)"
                    ),
                    path: Vec::new(),
                    schema: json!({"additionalProperties": false}),
                });
            };
            let (matches, type_name) = match kind {
                Kind::String => (value.is_string(), "string"),
                Kind::Bool => (value.is_boolean(), "boolean"),
                Kind::Object => (value.is_object(), "object"),
            };
            if !matches {
                return Err(SnubaError::Schema {
                    message: format!("{value} is not of type '{type_name}'"),
                    path: vec![key.clone()],
                    schema: json!({"type": type_name}),
                });
            }
        }
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
        let query = text("query").ok_or_else(|| {
            // Snuba fails with a KeyError here, i.e. a 500.
            SnubaError::Internal("the request has no 'query'".into())
        })?;
        let tenant_ids = match object.get("tenant_ids") {
            Some(Value::Object(tenants)) => tenants.clone(),
            _ => {
                let mut defaults = Map::new();
                defaults.insert("<unknown>".into(), json!("<unknown>"));
                defaults
            }
        };
        Ok(QueryRequest {
            query,
            dataset: text("dataset"),
            mql_context: object.get("mql_context").cloned(),
            flags: Flags {
                turbo: flag("turbo"),
                consistent: flag("consistent"),
                debug: flag("debug"),
                dry_run: flag("dry_run"),
                legacy: flag("legacy"),
            },
            referrer: text("referrer"),
            app_id: text("app_id").unwrap_or_else(|| "default".into()),
            tenant_ids,
            parent_api: text("parent_api").unwrap_or_else(|| "<unknown>".into()),
        })
    }

    /// The effective referrer: `tenant_ids.referrer`, else the HTTP `referer`
    /// header, else `<unknown>` (Snuba's `_get_referrer`).
    pub fn effective_referrer(&self, header: Option<&str>) -> String {
        self.tenant_ids
            .get("referrer")
            .and_then(Value::as_str)
            .or(header)
            .or(self.referrer.as_deref())
            .unwrap_or("<unknown>")
            .to_string()
    }

    /// `tenant_ids.organization_id`, if sent.
    pub fn organization_id(&self) -> Option<u64> {
        self.tenant_ids
            .get("organization_id")
            .and_then(Value::as_u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_defaults() {
        let request = QueryRequest::from_slice(br#"{"query": "MATCH (events) SELECT x"}"#).unwrap();
        assert_eq!(request.app_id, "default");
        assert_eq!(request.parent_api, "<unknown>");
        assert!(!request.flags.dry_run);
        assert_eq!(request.effective_referrer(None), "<unknown>");
        assert_eq!(request.effective_referrer(Some("search")), "search");
    }

    #[test]
    fn reads_flags_and_tenants() {
        let body = br#"{"query": "q", "dry_run": true, "debug": true, "legacy": true,
            "tenant_ids": {"organization_id": 1, "referrer": "tsdb-modelid:4"}}"#;
        let request = QueryRequest::from_slice(body).unwrap();
        assert!(request.flags.dry_run && request.flags.debug && request.flags.legacy);
        assert_eq!(request.organization_id(), Some(1));
        assert_eq!(request.effective_referrer(Some("other")), "tsdb-modelid:4");
    }

    #[test]
    fn rejects_what_snuba_rejects() {
        let error = QueryRequest::from_slice(b"{not json").unwrap_err();
        assert_eq!(error.error_type(), "json");
        let error = QueryRequest::from_slice(br#"{"query": "q", "totals": true}"#).unwrap_err();
        assert_eq!(error.error_type(), "schema");
        assert_eq!(error.status(), 400);
        let error = QueryRequest::from_slice(br#"{"query": "q", "debug": "yes"}"#).unwrap_err();
        assert_eq!(error.error_type(), "schema");
        assert_eq!(error.to_body()["error"]["path"], json!(["debug"]));
        let error = QueryRequest::from_slice(br#"[1, 2]"#).unwrap_err();
        assert_eq!(error.status(), 500);
    }
}
