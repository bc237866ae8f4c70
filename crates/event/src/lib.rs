//! What Sentry SDKs send, parsed: the pure front half of sentry-sls ingest.
//!
//! This crate owns, without any I/O, async or HTTP:
//!
//! - [`ids`]: [`EventId`] and [`ProjectId`] parsing, and the two derived ids the rest of
//!   sentry-sls relies on: [`node_id`] (md5 hex of `"{project_id}:{event_id}"`, the nodestore key)
//!   and [`group_id`] (an issue id in `[2^52, 2^53)` from the primary grouping hash);
//! - [`decode`]: bounded `Content-Encoding` decoding (gzip, deflate, br, zstd) that fails cleanly
//!   on decompression bombs and corrupt data;
//! - [`envelope`]: the Sentry envelope format (headers, items, item types), parsed under Relay's
//!   size and count [`Limits`] and serialized back;
//! - [`store_body`]: the legacy `/store/` body (JSON, or base64 of zlib-compressed JSON), wrapped
//!   as an envelope;
//! - [`auth`]: Sentry auth from `X-Sentry-Auth`, `Authorization`, query parameters and DSNs.
//!
//! It does not normalise events, compute grouping hashes, decide whether a key belongs to a
//! project, or touch HTTP or storage: those belong to the normalize, ingest and server crates,
//! which build on the types here.
//!
//! Behaviour follows Relay as summarised in reference/peers.md §6; where this crate departs from
//! Relay the item's documentation says so.
//!
//! ```
//! use sentry_sls_event::{decode_body, Envelope, ItemType, Limits};
//!
//! let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
//!              {\"type\":\"event\",\"length\":16}\n\
//!              {\"message\":\"hi\"}\n";
//! let limits = Limits::default();
//! let decoded = decode_body(None, body, limits.max_envelope_size).unwrap();
//! let envelope = Envelope::parse(decoded.into(), &limits).unwrap();
//! assert_eq!(envelope.items[0].ty(), &ItemType::Event);
//! assert_eq!(envelope.event_id().unwrap().to_string(), "9ec79c33ec9942ab8353589fcb2e04dc");
//! ```

pub mod auth;
pub mod decode;
pub mod envelope;
pub mod ids;
pub mod store_body;

pub use auth::{Auth, AuthError, Dsn, PROTOCOL_VERSION};
pub use decode::{decode_body, decode_body_bytes, ContentEncoding, DecodeError};
pub use envelope::{Envelope, EnvelopeError, EnvelopeHeaders, Item, ItemHeaders, ItemType, Limits};
pub use ids::{group_id, node_id, EventId, IdError, ProjectId, GROUP_ID_END, GROUP_ID_MIN};
pub use store_body::{decode_store_body, parse_store_body, StoreBodyError};
