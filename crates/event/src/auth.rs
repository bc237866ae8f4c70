//! Sentry request authentication: `X-Sentry-Auth`, `Authorization`, query parameters and DSNs.
//!
//! Sources (reference/peers.md §6 "Auth sources", Relay's `extractors/request_meta.rs`):
//!
//! - `X-Sentry-Auth: Sentry sentry_key=…, sentry_version=7, sentry_client=…, sentry_secret=…`
//! - `Authorization:` in the same `Sentry …` format (other schemes, e.g. `Bearer`, are
//!   [`AuthError::InvalidSyntax`], as in Relay)
//! - the query string `?sentry_key=…&sentry_version=7&…` (browser SDKs, to avoid a CORS
//!   preflight)
//! - the `dsn` in the envelope header, when the request carries none of the above
//!   ([`Auth::from_dsn`]).
//!
//! Relay answers 401 to missing, multiple or malformed auth, and 400 to a protocol version above
//! [`PROTOCOL_VERSION`]; that mapping is the caller's. Key values are not validated here (Alibaba
//! Cloud's endpoint accepts any key; whether a key is known is the caller's decision).

use crate::ids::ProjectId;

/// The newest Sentry protocol version (`sentry_version`) Relay accepts.
pub const PROTOCOL_VERSION: u16 = 7;

/// Why no usable auth was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No auth in any source.
    #[error("missing authorization information")]
    Missing,
    /// More than one request source carries auth (Relay rejects this).
    #[error("multiple authorization payloads detected")]
    Multiple,
    /// A header that is not in the `Sentry key=value, …` format.
    #[error("invalid authorization header syntax")]
    InvalidSyntax,
    /// Auth without a (non-empty) `sentry_key`.
    #[error("missing public key")]
    MissingPublicKey,
    /// `sentry_version` is not an unsigned integer.
    #[error("invalid protocol version")]
    InvalidVersion,
    /// A DSN that is not `scheme://public_key[:secret]@host/…`.
    #[error("invalid dsn: {0}")]
    InvalidDsn(&'static str),
}

/// Sentry auth of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// `sentry_key`: the DSN public key.
    pub public_key: String,
    /// `sentry_secret`: the legacy DSN secret, if sent (non-empty).
    pub secret_key: Option<String>,
    /// `sentry_version`: protocol version, if sent.
    pub version: Option<u16>,
    /// `sentry_client`: SDK name/version, e.g. `sentry.python/2.19.0`, if sent.
    pub client: Option<String>,
}

impl Auth {
    /// Parses an `X-Sentry-Auth` or `Authorization` header value:
    /// `Sentry sentry_key=…, sentry_version=7, …` (scheme in any case; values may be
    /// double-quoted; keys without the `sentry_` prefix are ignored).
    pub fn from_header(header_value: &str) -> Result<Auth, AuthError> {
        let trimmed = header_value.trim();
        let (scheme, params) = trimmed
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((trimmed, ""));
        if !scheme.eq_ignore_ascii_case("sentry") {
            return Err(AuthError::InvalidSyntax);
        }
        Auth::from_pairs(params.split(',').filter_map(|pair| {
            let (key, raw_value) = pair.split_once('=')?;
            let value = raw_value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((key.trim(), unquoted))
        }))
    }

    /// Parses auth from a URL query string (with or without the leading `?`), percent-decoded.
    pub fn from_query(query: &str) -> Result<Auth, AuthError> {
        let without_mark = query.strip_prefix('?').unwrap_or(query);
        let pairs: Vec<_> = form_urlencoded::parse(without_mark.as_bytes()).collect();
        Auth::from_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }

    /// Builds auth from `(key, value)` pairs such as `("sentry_key", "abc")`. Keys without the
    /// `sentry_` prefix, and unknown keys (`sentry_timestamp`, …), are ignored; the last of
    /// repeated keys wins.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Auth, AuthError> {
        let mut public_key = None;
        let mut auth = Auth {
            public_key: String::new(),
            secret_key: None,
            version: None,
            client: None,
        };
        for (full_key, raw_value) in pairs {
            let Some(key) = full_key.strip_prefix("sentry_") else {
                continue;
            };
            let value = raw_value.trim();
            match key {
                "key" => public_key = Some(value).filter(|v| !v.is_empty()),
                "secret" => auth.secret_key = Some(value.to_owned()).filter(|v| !v.is_empty()),
                "version" => {
                    auth.version = Some(value.parse().map_err(|_| AuthError::InvalidVersion)?)
                }
                "client" => auth.client = Some(value.to_owned()).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        auth.public_key = public_key.ok_or(AuthError::MissingPublicKey)?.to_owned();
        Ok(auth)
    }

    /// Auth from a DSN (the envelope header's `dsn`): its public key and secret; no version or
    /// client.
    pub fn from_dsn(dsn: &str) -> Result<Auth, AuthError> {
        let dsn = Dsn::parse(dsn)?;
        Ok(Auth {
            public_key: dsn.public_key,
            secret_key: dsn.secret_key,
            version: None,
            client: None,
        })
    }

    /// Auth of a request, Relay's way: at most one of the `X-Sentry-Auth` header, the
    /// `Authorization` header, and a query string with `sentry_*` parameters may carry auth
    /// ([`AuthError::Multiple`] otherwise); none is [`AuthError::Missing`] (the caller may then
    /// fall back to the envelope header's DSN).
    pub fn from_request(
        x_sentry_auth: Option<&str>,
        authorization: Option<&str>,
        query: Option<&str>,
    ) -> Result<Auth, AuthError> {
        let mut found = None;
        if let Some(header) = x_sentry_auth {
            found = Some(Auth::from_header(header)?);
        }
        if let Some(header) = authorization {
            if found.is_some() {
                return Err(AuthError::Multiple);
            }
            found = Some(Auth::from_header(header)?);
        }
        if let Some(query) = query.filter(|q| query_has_sentry_params(q)) {
            if found.is_some() {
                return Err(AuthError::Multiple);
            }
            found = Some(Auth::from_query(query)?);
        }
        found.ok_or(AuthError::Missing)
    }
}

fn query_has_sentry_params(query: &str) -> bool {
    let without_mark = query.strip_prefix('?').unwrap_or(query);
    form_urlencoded::parse(without_mark.as_bytes()).any(|(key, _)| key.starts_with("sentry_"))
}

/// A parsed DSN: `scheme://public_key[:secret]@host[:port]/path/project_id`.
///
/// Alibaba Cloud RUM DSNs (`https://<key>@<endpoint>/rum/sentry/<workspace>/<service>/<project>`)
/// parse too: the project id is the last path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `http` or `https` (any scheme is accepted).
    pub scheme: String,
    /// The public key (user part).
    pub public_key: String,
    /// The legacy secret (password part), if non-empty.
    pub secret_key: Option<String>,
    /// `host` or `host:port`.
    pub host: String,
    /// The path, from its leading `/` (query and fragment dropped).
    pub path: String,
    /// The last non-empty path segment, if it is a project id.
    pub project_id: Option<ProjectId>,
}

/// Splits a DSN into (scheme, userinfo, host, path).
fn split_dsn(dsn: &str) -> Result<(&str, &str, &str, &str), AuthError> {
    let (scheme, after_scheme) = dsn
        .trim()
        .split_once("://")
        .ok_or(AuthError::InvalidDsn("missing scheme"))?;
    if scheme.is_empty() {
        return Err(AuthError::InvalidDsn("missing scheme"));
    }
    let before_query = after_scheme.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match before_query.find('/') {
        Some(slash) => before_query.split_at(slash),
        None => (before_query, ""),
    };
    let (userinfo, host) = authority
        .rsplit_once('@')
        .ok_or(AuthError::InvalidDsn("missing public key"))?;
    if host.is_empty() {
        return Err(AuthError::InvalidDsn("missing host"));
    }
    Ok((scheme, userinfo, host, path))
}

/// The public key of a DSN, borrowed, if the DSN is well formed with a non-empty key.
pub fn dsn_public_key(dsn: &str) -> Option<&str> {
    let (_, userinfo, _, _) = split_dsn(dsn).ok()?;
    let key = userinfo.split(':').next().unwrap_or_default();
    (!key.is_empty()).then_some(key)
}

impl Dsn {
    /// Parses a DSN.
    pub fn parse(dsn: &str) -> Result<Dsn, AuthError> {
        let (scheme, userinfo, host, path) = split_dsn(dsn)?;
        let (key, secret) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        if key.is_empty() {
            return Err(AuthError::MissingPublicKey);
        }
        let project_id = path
            .rsplit('/')
            .find(|segment| !segment.is_empty())
            .and_then(|segment| ProjectId::parse(segment).ok());
        Ok(Dsn {
            scheme: scheme.to_owned(),
            public_key: key.to_owned(),
            secret_key: (!secret.is_empty()).then(|| secret.to_owned()),
            host: host.to_owned(),
            path: path.to_owned(),
            project_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn x_sentry_auth_header() {
        let auth = Auth::from_header(
            "Sentry sentry_key=e12d836b15bb49d7bbf99e64295d995b, sentry_version=7, sentry_client=sentry.python/2.19.0, sentry_timestamp=1700000000.5",
        )
        .unwrap();
        assert_eq!(
            auth,
            Auth {
                public_key: "e12d836b15bb49d7bbf99e64295d995b".into(),
                secret_key: None,
                version: Some(7),
                client: Some("sentry.python/2.19.0".into()),
            }
        );
    }

    #[test]
    fn header_variants() {
        let auth =
            Auth::from_header("sentry sentry_key=\"abc\",sentry_secret=s3cr3t,sentry_version=5")
                .unwrap();
        assert_eq!(auth.public_key, "abc");
        assert_eq!(auth.secret_key.as_deref(), Some("s3cr3t"));
        assert_eq!(auth.version, Some(5));
        // Values may contain '=' (only the first splits).
        let auth = Auth::from_header("Sentry sentry_key=a=b, other=1").unwrap();
        assert_eq!(auth.public_key, "a=b");
        assert_eq!(auth.version, None);
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            Auth::from_header("Bearer abc"),
            Err(AuthError::InvalidSyntax)
        );
        assert_eq!(
            Auth::from_header("sentry_key=abc"),
            Err(AuthError::InvalidSyntax)
        );
        assert_eq!(
            Auth::from_header("Sentry"),
            Err(AuthError::MissingPublicKey)
        );
        assert_eq!(
            Auth::from_header("Sentry sentry_version=7"),
            Err(AuthError::MissingPublicKey)
        );
        assert_eq!(
            Auth::from_header("Sentry sentry_key=, sentry_version=7"),
            Err(AuthError::MissingPublicKey)
        );
        assert_eq!(
            Auth::from_header("Sentry sentry_key=a, sentry_version=seven"),
            Err(AuthError::InvalidVersion)
        );
        assert_eq!(
            AuthError::MissingPublicKey.to_string(),
            "missing public key"
        );
    }

    #[test]
    fn query_string() {
        let auth = Auth::from_query(
            "?sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.1.0&x=1",
        )
        .unwrap();
        assert_eq!(auth.public_key, "abc");
        assert_eq!(
            auth.client.as_deref(),
            Some("sentry.javascript.browser/8.1.0")
        );
        assert_eq!(Auth::from_query("x=1"), Err(AuthError::MissingPublicKey));
    }

    #[test]
    fn request_sources() {
        let header = Some("Sentry sentry_key=h");
        let query = Some("sentry_key=q&sentry_version=7");
        assert_eq!(
            Auth::from_request(header, None, None).unwrap().public_key,
            "h"
        );
        assert_eq!(
            Auth::from_request(None, header, Some("foo=bar"))
                .unwrap()
                .public_key,
            "h"
        );
        assert_eq!(
            Auth::from_request(None, None, query).unwrap().public_key,
            "q"
        );
        assert_eq!(
            Auth::from_request(header, header, None),
            Err(AuthError::Multiple)
        );
        assert_eq!(
            Auth::from_request(header, None, query),
            Err(AuthError::Multiple)
        );
        assert_eq!(
            Auth::from_request(None, None, Some("a=b")),
            Err(AuthError::Missing)
        );
        assert_eq!(
            Auth::from_request(None, None, None),
            Err(AuthError::Missing)
        );
        assert_eq!(
            Auth::from_request(None, Some("Bearer t"), None),
            Err(AuthError::InvalidSyntax)
        );
    }

    #[test]
    fn dsns() {
        let dsn = Dsn::parse("https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42").unwrap();
        assert_eq!(dsn.public_key, "e12d836b15bb49d7bbf99e64295d995b");
        assert_eq!(dsn.secret_key, None);
        assert_eq!(dsn.host, "sentry.io");
        assert_eq!(dsn.project_id, Some(ProjectId(42)));

        let dsn =
            Dsn::parse("https://anykey@proj.cn-hangzhou.log.aliyuncs.com/rum/sentry/ws-1/svc-2/0")
                .unwrap();
        assert_eq!(dsn.public_key, "anykey");
        assert_eq!(dsn.path, "/rum/sentry/ws-1/svc-2/0");
        assert_eq!(dsn.project_id, Some(ProjectId(0)));

        let dsn = Dsn::parse("http://pub:sec@localhost:9000/sub/7/?x=1").unwrap();
        assert_eq!(dsn.secret_key.as_deref(), Some("sec"));
        assert_eq!(dsn.host, "localhost:9000");
        assert_eq!(dsn.project_id, Some(ProjectId(7)));

        assert_eq!(Auth::from_dsn("https://k:s@h/1").unwrap().public_key, "k");
        for bad in [
            "",
            "sentry.io/42",
            "https://sentry.io/42",
            "https://@sentry.io/42",
            "https://k@/1",
            "://k@h/1",
        ] {
            assert!(Dsn::parse(bad).is_err(), "{bad}");
            assert_eq!(dsn_public_key(bad), None, "{bad}");
        }
        assert_eq!(dsn_public_key("https://k:s@h/1"), Some("k"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in ".*") {
            let _ = Auth::from_header(&text);
            let _ = Auth::from_query(&text);
            let _ = Dsn::parse(&text);
            let _ = dsn_public_key(&text);
        }
    }
}
