//! Addressing: from the configured endpoint and project to the URL connected to and the
//! `Host` header sent.
//!
//! SLS identifies the project only by the first label of `Host` (§1.1). For a domain endpoint
//! that label is part of the URL (`http://proj.cn-hangzhou.log.aliyuncs.com/...`) and the HTTP
//! library writes `Host` from it. An IP address or `localhost` cannot take a label in front
//! (`proj.127.0.0.1` does not resolve), so the client connects to the address itself and
//! writes `Host: {project}.{host}` explicitly, without the port, exactly as the Python SDK's
//! raw-IP mode does (§6.3). reqwest keeps an explicit `Host` header instead of deriving one.

use std::net::IpAddr;

use sentry_sls_store::StoreError;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Plain HTTP, the default, as in every official SDK.
    Http,
    /// HTTPS (needs a reqwest TLS backend in the build).
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A parsed endpoint bound to a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Scheme of every request.
    pub(crate) scheme: Scheme,
    /// `{scheme}://{authority}` requests go to, without a trailing slash.
    pub(crate) base_url: String,
    /// An explicit `Host` value for direct (IP/localhost) endpoints; `None` when the URL's
    /// own host already is `{project}.{endpoint}`.
    pub(crate) host_header: Option<String>,
    /// Whether the endpoint is this machine (`localhost`, `127.0.0.0/8`, `::1`): no HTTP
    /// proxy from the environment can reach it, so none is used.
    pub(crate) loopback: bool,
}

impl Endpoint {
    /// Parses `endpoint` (`[http[s]://]host[:port][/]`) for `project`.
    ///
    /// Errors (`ParameterInvalid`): an unknown scheme, a path/query/userinfo part, an empty
    /// host, a bad port, or a project name that is not a DNS label.
    pub(crate) fn parse(endpoint: &str, project: &str) -> Result<Endpoint, StoreError> {
        validate_project(project)?;
        let trimmed = endpoint.trim().trim_end_matches('/');
        let (scheme, authority) = split_scheme(trimmed)?;
        if authority.is_empty()
            || authority
                .chars()
                .any(|c| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace())
        {
            return Err(StoreError::invalid(format!(
                "endpoint {endpoint:?} must be [http[s]://]host[:port] without a path"
            )));
        }
        let host = host_of(authority)
            .ok_or_else(|| StoreError::invalid(format!("endpoint {endpoint:?} has a bad host")))?;
        let is_localhost = host.eq_ignore_ascii_case("localhost");
        let ip = host.parse::<IpAddr>().ok();
        let direct = is_localhost || ip.is_some();
        let loopback = is_localhost || ip.is_some_and(|ip| ip.is_loopback());
        let scheme_text = scheme.as_str();
        let (base_url, host_header) = if direct {
            (
                format!("{scheme_text}://{authority}"),
                Some(format!("{project}.{host}")),
            )
        } else {
            (format!("{scheme_text}://{project}.{authority}"), None)
        };
        Ok(Endpoint {
            scheme,
            base_url,
            host_header,
            loopback,
        })
    }

    /// The full URL of `path` (which starts with `/`) with an already encoded query.
    pub(crate) fn url(&self, path: &str, encoded_query: &str) -> String {
        if encoded_query.is_empty() {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{path}?{encoded_query}", self.base_url)
        }
    }
}

fn split_scheme(endpoint: &str) -> Result<(Scheme, &str), StoreError> {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return Ok((Scheme::Http, endpoint));
    };
    if scheme.eq_ignore_ascii_case("http") {
        Ok((Scheme::Http, rest))
    } else if scheme.eq_ignore_ascii_case("https") {
        Ok((Scheme::Https, rest))
    } else {
        Err(StoreError::invalid(format!(
            "endpoint scheme {scheme:?} is not http or https"
        )))
    }
}

/// The host part of `host[:port]`, `[v6]:port`, `[v6]` or a bare IPv6 address; `None` when
/// the host is empty or the port is not a number.
fn host_of(authority: &str) -> Option<&str> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return (port_ok && !host.is_empty()).then_some(host);
    }
    if authority.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(authority);
    }
    let host = match authority.split_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return None,
        None => authority,
    };
    (!host.is_empty()).then_some(host)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.parse::<u16>().is_ok()
}

/// A project name becomes a DNS label, so only ASCII letters, digits and `-` are allowed.
fn validate_project(project: &str) -> Result<(), StoreError> {
    let valid = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "project {project:?} must be a non-empty DNS label (letters, digits, '-')"
        )))
    }
}

/// A logstore name goes into the URL path verbatim, so anything that would need escaping is
/// refused up front (SLS itself allows only lowercase letters, digits, `-` and `_`).
pub(crate) fn validate_logstore(logstore: &str) -> Result<(), StoreError> {
    let valid = !logstore.is_empty()
        && logstore
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "logstore {logstore:?} must be non-empty and use only letters, digits, '-', '_', '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(endpoint: &str) -> Endpoint {
        Endpoint::parse(endpoint, "proj").unwrap()
    }

    #[test]
    fn domain_endpoints_put_the_project_in_the_url() {
        let endpoint = parse("cn-hangzhou.log.aliyuncs.com");
        assert_eq!(endpoint.scheme, Scheme::Http);
        assert_eq!(
            endpoint.base_url,
            "http://proj.cn-hangzhou.log.aliyuncs.com"
        );
        assert_eq!(endpoint.host_header, None);
        assert!(!endpoint.loopback);

        let secure = parse("https://cn-hangzhou.log.aliyuncs.com/");
        assert_eq!(secure.scheme, Scheme::Https);
        assert_eq!(secure.base_url, "https://proj.cn-hangzhou.log.aliyuncs.com");

        let with_port = parse("HTTP://sls.test:8080");
        assert_eq!(with_port.base_url, "http://proj.sls.test:8080");
        assert_eq!(with_port.host_header, None);
    }

    #[test]
    fn ip_and_localhost_endpoints_connect_directly_and_send_host() {
        let loopback = parse("http://127.0.0.1:9100");
        assert_eq!(loopback.base_url, "http://127.0.0.1:9100");
        assert_eq!(loopback.host_header.as_deref(), Some("proj.127.0.0.1"));
        assert!(loopback.loopback);

        let bare = parse("10.0.0.7");
        assert_eq!(bare.base_url, "http://10.0.0.7");
        assert_eq!(bare.host_header.as_deref(), Some("proj.10.0.0.7"));
        assert!(!bare.loopback);

        let localhost = parse("LocalHost:9100");
        assert_eq!(localhost.base_url, "http://LocalHost:9100");
        assert_eq!(localhost.host_header.as_deref(), Some("proj.LocalHost"));
        assert!(localhost.loopback);

        let v6 = parse("http://[::1]:9100");
        assert_eq!(v6.base_url, "http://[::1]:9100");
        assert_eq!(v6.host_header.as_deref(), Some("proj.::1"));
        assert!(v6.loopback);
    }

    #[test]
    fn urls_join_path_and_query() {
        let endpoint = parse("127.0.0.1:9100");
        assert_eq!(
            endpoint.url("/logstores/ls/shards/lb", ""),
            "http://127.0.0.1:9100/logstores/ls/shards/lb"
        );
        assert_eq!(
            endpoint.url("/logstores/ls", "type=log&query=a+b"),
            "http://127.0.0.1:9100/logstores/ls?type=log&query=a+b"
        );
    }

    #[test]
    fn malformed_endpoints_and_projects_are_rejected() {
        for bad in [
            "",
            "ftp://host",
            "http://",
            "host/path",
            "host:port",
            "host:99999",
            "user@host",
            "[::1",
            "http://[::1]x",
            ":9100",
        ] {
            assert!(Endpoint::parse(bad, "proj").is_err(), "{bad:?} accepted");
        }
        for bad_project in ["", "a.b", "a b", "p/q", "proj:1"] {
            assert!(
                Endpoint::parse("127.0.0.1", bad_project).is_err(),
                "{bad_project:?} accepted"
            );
        }
    }

    #[test]
    fn logstore_names_must_be_path_safe() {
        assert!(validate_logstore("sentry_events-1").is_ok());
        for bad in ["", "a/b", "a?b", "a b", "ä"] {
            assert!(validate_logstore(bad).is_err(), "{bad:?} accepted");
        }
    }
}
