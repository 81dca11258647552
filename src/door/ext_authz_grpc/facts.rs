//! A CheckRequest read into [`CheckFacts`], or refused with a short reason.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::header::{CONTENT_TYPE, HOST};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::{CheckAnswer, CheckFacts};
use crate::door::envoy_proto::attribute_context::HttpRequest;
use crate::door::envoy_proto::{AttributeContext, CheckRequest};

/// Why a CheckRequest cannot be read. The text goes to the client in a 400: no values in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Unreadable {
    #[error("no request.http attributes")]
    NoHttp,
    #[error("bad method")]
    Method,
    #[error("bad path")]
    Path,
    #[error("bad header name")]
    HeaderName,
    #[error("bad value for header {0}")]
    HeaderValue(HeaderName),
    #[error("more than one {0}")]
    Repeated(&'static str),
    #[error("bad :authority")]
    Authority,
    #[error("host and :authority disagree")]
    HostMismatch,
}

/// The answer to `request`, which cannot be read for `why`; logged here, with its id.
pub(super) fn refuse(request: &CheckRequest, why: &Unreadable) -> CheckAnswer {
    let id = http_request(request).map_or("", |http| http.id.as_str());
    tracing::warn!(request_id = id, reason = %why, "envoy check request unreadable");
    refusal(why)
}

/// The answer to an unreadable CheckRequest: 400 to the client, INVALID_ARGUMENT to Envoy.
fn refusal(why: &Unreadable) -> CheckAnswer {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    CheckAnswer::Deny {
        status: StatusCode::BAD_REQUEST,
        headers,
        body: format!("bad request: {why}\n"),
        code: tonic::Code::InvalidArgument,
    }
}

fn http_request(request: &CheckRequest) -> Option<&HttpRequest> {
    request.attributes.as_ref()?.request.as_ref()?.http.as_ref()
}

/// Reads the facts a CheckRequest states; anything malformed refuses the whole request.
pub(super) fn read(request: &CheckRequest) -> Result<CheckFacts, Unreadable> {
    let http = http_request(request).ok_or(Unreadable::NoHttp)?;
    let method = Method::from_bytes(http.method.as_bytes()).map_err(|_| Unreadable::Method)?;
    if http.path.parse::<PathAndQuery>().is_err() {
        return Err(Unreadable::Path);
    }
    let (headers, authority) = headers(http)?;
    Ok(CheckFacts {
        source: request.attributes.as_ref().and_then(source),
        method,
        scheme: non_empty(&http.scheme),
        host: host(http, authority.as_deref(), &headers)?,
        path: http.path.clone(),
        headers,
    })
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// The source's IP address and port; port 0 when Envoy names no numeric port. None for a pipe,
/// an internal address or text that is not an IP literal.
fn source(attributes: &AttributeContext) -> Option<SocketAddr> {
    let socket = attributes
        .source
        .as_ref()?
        .address
        .as_ref()?
        .socket_address
        .as_ref()?;
    let ip: IpAddr = socket.address.parse().ok()?;
    let port = u16::try_from(socket.port_value.unwrap_or(0)).ok()?;
    Some(SocketAddr::new(ip, port))
}

/// The header lines Envoy sent. `header_map` (raw, one entry per line, set under
/// `encode_raw_headers`) wins when it has any entry, and then `headers` is ignored whole:
/// Envoy fills one or the other, and merging both would count a header twice. An entry's
/// `raw_value` bytes win over its `value` text.
fn lines(http: &HttpRequest) -> Vec<(&str, Cow<'_, [u8]>)> {
    match &http.header_map {
        Some(map) if !map.headers.is_empty() => map
            .headers
            .iter()
            .map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    &h.raw_value
                };
                (h.key.as_str(), Cow::Borrowed(value))
            })
            .collect(),
        _ => http
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_bytes())))
            .collect(),
    }
}

/// The regular headers (names lower-cased) and the `:authority` pseudo-header, if sent once.
fn headers(http: &HttpRequest) -> Result<(HeaderMap, Option<String>), Unreadable> {
    let mut headers = HeaderMap::new();
    let mut authority = None;
    for (key, value) in lines(http) {
        if key == ":authority" {
            if authority.is_some() {
                return Err(Unreadable::Repeated(":authority"));
            }
            let text = std::str::from_utf8(&value).map_err(|_| Unreadable::Authority)?;
            authority = Some(text.to_owned());
        } else if !key.starts_with(':') {
            let name =
                HeaderName::from_bytes(key.as_bytes()).map_err(|_| Unreadable::HeaderName)?;
            let value = HeaderValue::from_bytes(&value)
                .map_err(|_| Unreadable::HeaderValue(name.clone()))?;
            headers.append(name, value);
        }
    }
    if headers.get_all(HOST).iter().count() > 1 {
        return Err(Unreadable::Repeated("host"));
    }
    Ok((headers, authority))
}

/// `http.host`, else `:authority`, else the Host header. Sources that are present must agree
/// (case-insensitively): the host chooses the policy and the sign-in redirect.
fn host(
    http: &HttpRequest,
    authority: Option<&str>,
    headers: &HeaderMap,
) -> Result<Option<String>, Unreadable> {
    let header = match headers.get(HOST) {
        Some(value) => Some(value.to_str().map_err(|_| Unreadable::HeaderValue(HOST))?),
        None => None,
    };
    let mut named = [
        Some(http.host.as_str()).filter(|h| !h.is_empty()),
        authority,
        header,
    ]
    .into_iter()
    .flatten();
    let Some(first) = named.next() else {
        return Ok(None);
    };
    if named.any(|other| !other.eq_ignore_ascii_case(first)) {
        return Err(Unreadable::HostMismatch);
    }
    Ok(Some(first.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost::Message;

    use super::*;
    use crate::door::envoy_proto::attribute_context::{Peer, Request};
    use crate::door::envoy_proto::{Address, HeaderMap as ProtoHeaderMap, SocketAddress};
    use crate::door::ext_authz_grpc::testdata;

    fn decode(hex: &str) -> CheckRequest {
        CheckRequest::decode(testdata::bytes(hex).as_slice()).expect("vector decodes")
    }

    fn values<'a>(facts: &'a CheckFacts, name: &str) -> Vec<&'a [u8]> {
        facts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    }

    #[test]
    fn envoy_default_headers_map() {
        let request = decode(testdata::HEADERS);
        let facts = read(&request).unwrap();
        assert_eq!(facts.source, Some("203.0.113.7:51234".parse().unwrap()));
        assert_eq!(facts.method, Method::GET);
        assert_eq!(facts.scheme.as_deref(), Some("https"));
        assert_eq!(facts.host.as_deref(), Some("app.example.com"));
        assert_eq!(facts.path, "/dashboard?tab=2");
        assert_eq!(values(&facts, "cookie"), [b"sekisho=abc; theme=dark"]);
        assert_eq!(values(&facts, "x-forwarded-for"), [b"198.51.100.1"]);
        assert_eq!(values(&facts, "user-agent"), [b"curl/8.5.0"]);
        assert_eq!(values(&facts, "x-forwarded-proto"), [b"https"]);
        assert_eq!(facts.headers.len(), 4, "pseudo-headers dropped");
        let attributes = request.attributes.unwrap();
        assert_eq!(attributes.context_extensions["door"], "envoy");
        let http = attributes.request.unwrap().http.unwrap();
        assert_eq!(http.id, "7f3a9c1e-0d2b-4b5e-9a61-2c8d5e4f1a0b");
        assert_eq!(http.protocol, "HTTP/1.1");
    }

    #[test]
    fn raw_header_map_keeps_each_line_and_its_bytes() {
        let request = decode(testdata::RAW_HEADERS);
        let facts = read(&request).unwrap();
        assert_eq!(facts.source, Some("[2001:db8::7]:443".parse().unwrap()));
        assert_eq!(facts.method, Method::POST);
        assert_eq!(facts.scheme.as_deref(), Some("http"));
        assert_eq!(facts.host.as_deref(), Some("app.example.com"));
        assert_eq!(facts.path, "/a?b=1");
        assert_eq!(values(&facts, "x-multi"), [b"one", b"two"]);
        assert_eq!(values(&facts, "x-latin1"), [b"caf\xe9"]);
        assert_eq!(values(&facts, "cookie"), [b"a=1"]);
        assert_eq!(facts.headers.len(), 4, "pseudo-headers dropped");
        let http = request.attributes.unwrap().request.unwrap().http.unwrap();
        assert_eq!(http.body, r#"{"a":1}"#);
        assert_eq!(http.protocol, "HTTP/2");
    }

    #[test]
    fn header_map_wins_over_headers_whole() {
        let facts = read(&decode(testdata::BOTH_HEADERS)).unwrap();
        assert_eq!(values(&facts, "x-user"), [b"from-header-map"]);
        assert!(facts.headers.get("x-only-in-headers").is_none());
        assert_eq!(facts.headers.len(), 1);
    }

    #[test]
    fn pipe_source_is_no_address() {
        let facts = read(&decode(testdata::PIPE_SOURCE)).unwrap();
        assert_eq!(facts.source, None);
        assert_eq!(facts.host.as_deref(), Some("app.example.com"));
        assert!(facts.headers.is_empty());
    }

    #[test]
    fn missing_http_attributes_refused() {
        assert_eq!(
            read(&decode(testdata::NO_HTTP)).unwrap_err(),
            Unreadable::NoHttp
        );
        assert_eq!(
            read(&CheckRequest::default()).unwrap_err(),
            Unreadable::NoHttp
        );
    }

    /// A request for `/` on app.example.com, for the table below to spoil one way or another.
    fn plain() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/".into(),
            host: "app.example.com".into(),
            scheme: "https".into(),
            ..HttpRequest::default()
        }
    }

    fn request(http: HttpRequest, source: Option<SocketAddress>) -> CheckRequest {
        CheckRequest {
            attributes: Some(AttributeContext {
                source: source.map(|socket| Peer {
                    address: Some(Address {
                        socket_address: Some(socket),
                    }),
                }),
                request: Some(Request { http: Some(http) }),
                ..AttributeContext::default()
            }),
        }
    }

    fn raw(lines: &[(&str, &[u8])]) -> Option<ProtoHeaderMap> {
        let headers = lines
            .iter()
            .map(|(key, value)| crate::door::envoy_proto::HeaderValue {
                key: (*key).into(),
                raw_value: value.to_vec(),
                ..Default::default()
            })
            .collect();
        Some(ProtoHeaderMap { headers })
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn malformed_requests_refused() {
        let cases: Vec<(&str, HttpRequest, Unreadable)> = vec![
            (
                "empty method",
                HttpRequest {
                    method: "".into(),
                    ..plain()
                },
                Unreadable::Method,
            ),
            (
                "space in method",
                HttpRequest {
                    method: "GE T".into(),
                    ..plain()
                },
                Unreadable::Method,
            ),
            (
                "empty path",
                HttpRequest {
                    path: "".into(),
                    ..plain()
                },
                Unreadable::Path,
            ),
            (
                "space in path",
                HttpRequest {
                    path: "/a b".into(),
                    ..plain()
                },
                Unreadable::Path,
            ),
            (
                "bad header name",
                HttpRequest {
                    headers: map(&[("bad name", "x")]),
                    ..plain()
                },
                Unreadable::HeaderName,
            ),
            (
                "newline in header value",
                HttpRequest {
                    headers: map(&[("x-a", "1\r\nx-b: 2")]),
                    ..plain()
                },
                Unreadable::HeaderValue(HeaderName::from_static("x-a")),
            ),
            (
                "NUL in raw header value",
                HttpRequest {
                    header_map: raw(&[("x-a", b"1\0")]),
                    ..plain()
                },
                Unreadable::HeaderValue(HeaderName::from_static("x-a")),
            ),
            (
                "two :authority lines",
                HttpRequest {
                    header_map: raw(&[
                        (":authority", b"app.example.com"),
                        (":authority", b"evil.example"),
                    ]),
                    ..plain()
                },
                Unreadable::Repeated(":authority"),
            ),
            (
                "two host lines",
                HttpRequest {
                    host: "".into(),
                    header_map: raw(&[("host", b"app.example.com"), ("host", b"evil.example")]),
                    ..plain()
                },
                Unreadable::Repeated("host"),
            ),
            (
                ":authority not UTF-8",
                HttpRequest {
                    header_map: raw(&[(":authority", b"caf\xe9.example")]),
                    ..plain()
                },
                Unreadable::Authority,
            ),
            (
                "host and :authority disagree",
                HttpRequest {
                    headers: map(&[(":authority", "evil.example")]),
                    ..plain()
                },
                Unreadable::HostMismatch,
            ),
            (
                "host field and Host header disagree",
                HttpRequest {
                    headers: map(&[("host", "evil.example")]),
                    ..plain()
                },
                Unreadable::HostMismatch,
            ),
        ];
        for (name, http, expected) in cases {
            assert_eq!(read(&request(http, None)).unwrap_err(), expected, "{name}");
        }
    }

    #[test]
    fn refusal_is_a_400_with_invalid_argument() {
        let request = request(
            HttpRequest {
                method: "".into(),
                ..plain()
            },
            None,
        );
        let answer = refuse(&request, &read(&request).unwrap_err());
        let CheckAnswer::Deny {
            status, body, code, ..
        } = answer
        else {
            panic!("refused: {answer:?}");
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code, tonic::Code::InvalidArgument);
        assert_eq!(body, "bad request: bad method\n");
    }

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn refusal_logged_as_a_warning_with_the_request_id() {
        let log = Captured::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let request = request(
            HttpRequest {
                id: "req-7".into(),
                path: "".into(),
                ..plain()
            },
            None,
        );
        tracing::subscriber::with_default(subscriber, || {
            refuse(&request, &read(&request).unwrap_err());
        });
        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("WARN"), "{log}");
        assert!(log.contains("envoy check request unreadable"), "{log}");
        assert!(log.contains("request_id=\"req-7\""), "{log}");
        assert!(log.contains("reason=bad path"), "{log}");
    }

    #[test]
    fn host_sources_fall_back_in_order() {
        let cases = [
            ("host field", plain(), Some("app.example.com")),
            (
                ":authority when no host field",
                HttpRequest {
                    host: "".into(),
                    headers: map(&[(":authority", "b.example")]),
                    ..plain()
                },
                Some("b.example"),
            ),
            (
                "Host header last",
                HttpRequest {
                    host: "".into(),
                    headers: map(&[("host", "c.example")]),
                    ..plain()
                },
                Some("c.example"),
            ),
            (
                "agreeing up to case",
                HttpRequest {
                    headers: map(&[(":authority", "APP.example.com")]),
                    ..plain()
                },
                Some("app.example.com"),
            ),
            (
                "none",
                HttpRequest {
                    host: "".into(),
                    ..plain()
                },
                None,
            ),
        ];
        for (name, http, expected) in cases {
            let facts = read(&request(http, None)).unwrap();
            assert_eq!(facts.host.as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn header_names_lower_cased_and_raw_value_preferred() {
        let http = HttpRequest {
            headers: map(&[("X-Upper", "1")]),
            ..plain()
        };
        let facts = read(&request(http, None)).unwrap();
        assert_eq!(values(&facts, "x-upper"), [b"1"]);

        let mut line = crate::door::envoy_proto::HeaderValue {
            key: "x-a".into(),
            value: "text".into(),
            raw_value: b"bytes".to_vec(),
        };
        let with_both = HttpRequest {
            header_map: Some(ProtoHeaderMap {
                headers: vec![line.clone()],
            }),
            ..plain()
        };
        assert_eq!(
            values(&read(&request(with_both, None)).unwrap(), "x-a"),
            [b"bytes"]
        );
        line.raw_value.clear();
        let text_only = HttpRequest {
            header_map: Some(ProtoHeaderMap {
                headers: vec![line],
            }),
            ..plain()
        };
        assert_eq!(
            values(&read(&request(text_only, None)).unwrap(), "x-a"),
            [b"text"]
        );
    }

    #[test]
    fn empty_header_map_falls_back_to_headers() {
        let http = HttpRequest {
            headers: map(&[("x-a", "1")]),
            header_map: Some(ProtoHeaderMap::default()),
            ..plain()
        };
        assert_eq!(values(&read(&request(http, None)).unwrap(), "x-a"), [b"1"]);
    }

    #[test]
    fn source_addresses() {
        let socket = |address: &str, port: Option<u32>| SocketAddress {
            address: address.into(),
            port_value: port,
        };
        let cases = [
            (
                socket("198.51.100.4", Some(8443)),
                Some("198.51.100.4:8443"),
            ),
            (socket("::1", Some(1)), Some("[::1]:1")),
            (socket("198.51.100.4", None), Some("198.51.100.4:0")),
            (socket("198.51.100.4", Some(70000)), None),
            (socket("envoy.internal", Some(80)), None),
            (socket("[::1]", Some(80)), None),
            (socket("", Some(80)), None),
        ];
        for (socket, expected) in cases {
            let name = format!("{socket:?}");
            let facts = read(&request(plain(), Some(socket))).unwrap();
            assert_eq!(facts.source, expected.map(|a| a.parse().unwrap()), "{name}");
        }
    }

    proptest::proptest! {
        /// Whatever Envoy (or anyone) sends, reading answers without panicking, and what it
        /// accepts has no pseudo-headers.
        #[test]
        fn never_panics(
            method in ".{0,8}",
            path in ".{0,16}",
            host in ".{0,16}",
            lines in proptest::collection::vec((".{0,8}", proptest::collection::vec(proptest::num::u8::ANY, 0..8)), 0..6),
        ) {
            let http = HttpRequest { method, path, host, header_map: raw(
                &lines.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect::<Vec<_>>()), ..plain() };
            if let Ok(facts) = read(&request(http, None)) {
                proptest::prop_assert!(facts.headers.keys().all(|name| !name.as_str().starts_with(':')));
            }
        }
    }
}
