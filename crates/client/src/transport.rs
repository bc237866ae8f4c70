//! One signed SLS request, sent with retries: the only place this crate touches HTTP.
//!
//! Every attempt is signed afresh (the `Date` moves on, and SLS rejects dates more than 15
//! minutes off), carries the full header set of §1.2, and is retried only when
//! [`sentry_sls_protocol::is_retryable`] says so (§5.3): network errors and timeouts, 5xx,
//! and 403 `*QuotaExceed`. 400, 401 and 404 are returned after one attempt.

use std::time::SystemTime;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HOST};
use reqwest::Method;
use sentry_sls_protocol::sign::{authorize, content_md5, encode_query, rfc1123_date};
use sentry_sls_protocol::{header, CompressType, SignatureInput};
use sentry_sls_store::StoreError;
use serde::de::DeserializeOwned;

use crate::errors::{bad_response, failure_from_response, failure_from_transport, Failure};
use crate::Inner;

/// Largest response body accepted, compressed or not, and largest declared raw size of a
/// compressed one: far above any real answer (10,000 SQL rows), low enough to stop a
/// misbehaving server from exhausting memory.
pub(crate) const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// Bodies above this size are decoded on the blocking pool rather than an async thread.
const BLOCKING_DECODE_BYTES: usize = 256 * 1024;

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("sentry-sls-client/", env!("CARGO_PKG_VERSION"));

/// A request body and how it is encoded.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingBody {
    /// The bytes on the wire (compressed when `compress` is not `None`).
    pub(crate) bytes: Bytes,
    /// Length before compression, for `x-log-bodyrawsize`.
    pub(crate) raw_size: usize,
    /// `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Codec named in `x-log-compresstype`.
    pub(crate) compress: CompressType,
}

impl OutgoingBody {
    /// An uncompressed JSON body.
    pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<OutgoingBody, StoreError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|error| StoreError::internal(format!("cannot encode json body: {error}")))?;
        Ok(OutgoingBody {
            raw_size: bytes.len(),
            bytes: Bytes::from(bytes),
            content_type: header::CONTENT_TYPE_JSON,
            compress: CompressType::None,
        })
    }
}

/// One API call: method, path, decoded query pairs and optional body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// HTTP method.
    pub(crate) method: Method,
    /// Path as sent and signed, e.g. `/logstores/ls/shards/lb`.
    pub(crate) path: String,
    /// Decoded query pairs: form-encoded on the wire, signed verbatim.
    pub(crate) query: Vec<(String, String)>,
    /// The body, if any.
    pub(crate) body: Option<OutgoingBody>,
    /// Ask for an LZ4-compressed response (GetLogsV2).
    pub(crate) accept_lz4: bool,
}

impl Call {
    /// A bodiless call.
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            accept_lz4: false,
        }
    }

    /// Adds a query pair.
    pub(crate) fn query(mut self, key: &str, value: impl Into<String>) -> Call {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub(crate) fn body(mut self, body: OutgoingBody) -> Call {
        self.body = Some(body);
        self
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Response headers.
    pub(crate) headers: HeaderMap,
    /// The body as received (maybe compressed).
    pub(crate) body: Bytes,
    /// `x-log-requestid`.
    pub(crate) request_id: Option<String>,
}

impl Reply {
    /// A response header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Decodes the JSON body into `T`, decompressing first when the server set
    /// `x-log-compresstype` (with `x-log-bodyrawsize`). Large bodies are decoded on the
    /// blocking pool.
    pub(crate) async fn json<T: DeserializeOwned + Send + 'static>(self) -> Result<T, StoreError> {
        let compress_header = self.header(header::COMPRESS_TYPE).map(str::to_owned);
        let raw_size_header = self.header(header::BODY_RAW_SIZE).map(str::to_owned);
        let request_id = self.request_id;
        let body = self.body;
        let body_len = body.len();
        let decode = move || {
            decode_json::<T>(
                &body,
                compress_header.as_deref(),
                raw_size_header.as_deref(),
                request_id,
            )
        };
        if body_len <= BLOCKING_DECODE_BYTES {
            return decode();
        }
        tokio::task::spawn_blocking(decode)
            .await
            .map_err(|error| StoreError::internal(format!("response decoding panicked: {error}")))?
    }
}

/// Decompresses (when a codec header is present) and parses a JSON body.
pub(crate) fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    compress_header: Option<&str>,
    raw_size_header: Option<&str>,
    request_id: Option<String>,
) -> Result<T, StoreError> {
    let codec = CompressType::from_header(compress_header)
        .map_err(|error| bad_response(error.message, request_id.clone()))?;
    let decompressed;
    let raw: &[u8] = if codec == CompressType::None {
        body
    } else {
        let raw_size = raw_size_header
            .and_then(|value| value.trim().parse::<usize>().ok())
            .ok_or_else(|| {
                bad_response(
                    "compressed response without a numeric x-log-bodyrawsize",
                    request_id.clone(),
                )
            })?;
        decompressed = sentry_sls_protocol::decompress(codec, body, raw_size, MAX_RESPONSE_BYTES)
            .map_err(|error| bad_response(error.to_string(), request_id.clone()))?;
        &decompressed
    };
    serde_json::from_slice(raw).map_err(|error| {
        bad_response(
            format!("response body is not the expected json: {error}"),
            request_id,
        )
    })
}

impl Inner {
    /// Sends `call`, retrying retryable failures with jittered exponential backoff.
    pub(crate) async fn execute(&self, call: &Call) -> Result<Reply, StoreError> {
        let mut retry = 0u32;
        loop {
            let failure = match self.attempt(call).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            if !failure.is_retryable() || retry >= self.config.max_retries {
                return Err(failure.error);
            }
            let delay = self
                .jitter
                .delay(self.config.base_backoff, self.config.max_backoff, retry);
            tracing::debug!(
                method = %call.method,
                path = %call.path,
                retry = retry + 1,
                max_retries = self.config.max_retries,
                status = failure.status,
                code = %failure.code,
                request_id = failure.error.request_id.as_deref().unwrap_or(""),
                delay_ms = delay.as_millis() as u64,
                "retrying sls request"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    /// One signed attempt.
    async fn attempt(&self, call: &Call) -> Result<Reply, Failure> {
        let date = rfc1123_date(SystemTime::now());
        let body = call.body.as_ref();
        let md5 = body
            .map(|body| content_md5(&body.bytes))
            .unwrap_or_default();
        let content_type = body.map_or("", |body| body.content_type);

        let mut signed_headers: Vec<(&'static str, String)> = vec![
            (header::API_VERSION, header::API_VERSION_VALUE.to_owned()),
            (
                header::SIGNATURE_METHOD,
                header::SIGNATURE_METHOD_VALUE.to_owned(),
            ),
            (
                header::BODY_RAW_SIZE,
                body.map_or(0, |body| body.raw_size).to_string(),
            ),
        ];
        if let Some(codec) = body.and_then(|body| body.compress.header_value()) {
            signed_headers.push((header::COMPRESS_TYPE, codec.to_owned()));
        }
        if let Some(token) = &self.config.security_token {
            signed_headers.push((header::SECURITY_TOKEN, token.clone()));
        }
        let header_pairs: Vec<(&str, &str)> = signed_headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let authorization = authorize(
            &self.config.access_key_id,
            &self.config.access_key_secret,
            &SignatureInput {
                method: call.method.as_str(),
                content_md5: &md5,
                content_type,
                date: &date,
                headers: &header_pairs,
                path: &call.path,
                query: &call.query,
            },
        );

        let url = self.endpoint.url(&call.path, &encode_query(&call.query));
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(header::DATE, date)
            .header(header::AUTHORIZATION, authorization)
            .header(reqwest::header::USER_AGENT, USER_AGENT);
        for (name, value) in signed_headers {
            request = request.header(name, value);
        }
        if let Some(host) = &self.endpoint.host_header {
            request = request.header(HOST, host);
        }
        if call.accept_lz4 {
            request = request.header(header::ACCEPT_ENCODING, "lz4");
        }
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, body.content_type)
                .header(header::CONTENT_MD5, md5)
                .body(body.bytes.clone());
        }

        let response = request
            .send()
            .await
            .map_err(|error| failure_from_transport(&error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let request_id = headers
            .get(header::REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = read_bounded(response, request_id.clone()).await?;
        if !(200..300).contains(&status) {
            return Err(failure_from_response(status, request_id, &body));
        }
        Ok(Reply {
            headers,
            body,
            request_id,
        })
    }
}

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`].
async fn read_bounded(
    mut response: reqwest::Response,
    request_id: Option<String>,
) -> Result<Bytes, Failure> {
    let too_large = |request_id: Option<String>| Failure {
        status: 200,
        code: sentry_sls_protocol::ErrorCode::Other(crate::errors::BAD_RESPONSE.to_owned()),
        error: bad_response(
            format!("response body is larger than {MAX_RESPONSE_BYTES} bytes"),
            request_id,
        ),
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large(request_id));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|error| {
            let mut failure = failure_from_transport(&error);
            failure.error.request_id = request_id.clone();
            failure
        })?;
        let Some(chunk) = chunk else {
            return Ok(Bytes::from(body));
        };
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large(request_id));
        }
        body.extend_from_slice(&chunk);
    }
}
