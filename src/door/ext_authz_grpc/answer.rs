//! A [`CheckAnswer`] rendered as the CheckResponse Envoy acts on.
//!
//! How each header list is written, and why (Envoy's `ext_authz_grpc_impl.cc`):
//! - Upstream headers: the first value of a name overwrites whatever the client sent (a spoofed
//!   identity header must not survive), further values of that name append. Envoy up to 1.36
//!   reads only the deprecated `append` flag there and newer Envoy lets it win over
//!   `append_action`, so both are written and agree.
//! - Client headers (Set-Cookie): every value appends as its own line. `append` stays unset:
//!   when set, Envoy joins values with commas, which breaks Set-Cookie.
//! - Headers of a denied answer: the first value of a name overwrites (Envoy's own
//!   Content-Type), further values append as their own lines; `append` unset, as above.

use http::HeaderMap;

use super::CheckAnswer;
use crate::door::envoy_proto::check_response::HttpResponse;
use crate::door::envoy_proto::header_value_option::HeaderAppendAction;
use crate::door::envoy_proto::{
    CheckResponse, DeniedHttpResponse, HeaderValue, HeaderValueOption, HttpStatus, OkHttpResponse,
    RpcStatus,
};

/// The CheckResponse for `answer`. A denial never carries code OK, which Envoy would take as
/// an allow.
pub(super) fn render(answer: CheckAnswer) -> CheckResponse {
    match answer {
        CheckAnswer::Allow {
            upstream,
            remove,
            client,
        } => CheckResponse {
            status: Some(RpcStatus::default()),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: options(&upstream, upstream_rule),
                headers_to_remove: remove.iter().map(|name| name.as_str().to_owned()).collect(),
                response_headers_to_add: options(&client, |_| {
                    (HeaderAppendAction::AppendIfExistsOrAdd, None)
                }),
            })),
        },
        CheckAnswer::Deny {
            status,
            headers,
            body,
            code,
        } => CheckResponse {
            status: Some(RpcStatus {
                code: denial_code(code) as i32,
                message: String::new(),
            }),
            http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: i32::from(status.as_u16()),
                }),
                headers: options(&headers, denied_rule),
                body,
            })),
        },
    }
}

fn denial_code(code: tonic::Code) -> tonic::Code {
    if code == tonic::Code::Ok {
        tracing::error!("a denial carried gRPC code OK; sending PERMISSION_DENIED");
        return tonic::Code::PermissionDenied;
    }
    code
}

/// How the `nth` value (0 = first) of a name is applied: the action, and the deprecated flag.
type Rule = fn(usize) -> (HeaderAppendAction, Option<bool>);

fn upstream_rule(nth: usize) -> (HeaderAppendAction, Option<bool>) {
    match nth {
        0 => (HeaderAppendAction::OverwriteIfExistsOrAdd, Some(false)),
        _ => (HeaderAppendAction::AppendIfExistsOrAdd, Some(true)),
    }
}

fn denied_rule(nth: usize) -> (HeaderAppendAction, Option<bool>) {
    match nth {
        0 => (HeaderAppendAction::OverwriteIfExistsOrAdd, None),
        _ => (HeaderAppendAction::AppendIfExistsOrAdd, None),
    }
}

/// One option per header value, in the map's order. Values that are not UTF-8 cannot travel
/// in the `value` text field (Envoy ignores `raw_value` in answers): they are left out, logged.
fn options(headers: &HeaderMap, rule: Rule) -> Vec<HeaderValueOption> {
    let mut options = Vec::with_capacity(headers.len());
    for name in headers.keys() {
        for (nth, value) in headers.get_all(name).iter().enumerate() {
            let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
                tracing::warn!(header = %name, "header value is not UTF-8; not sent to envoy");
                continue;
            };
            let (action, append) = rule(nth);
            options.push(HeaderValueOption {
                header: Some(HeaderValue {
                    key: name.as_str().to_owned(),
                    value: text.to_owned(),
                    raw_value: Vec::new(),
                }),
                append,
                append_action: action as i32,
            });
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use http::{HeaderName, StatusCode};
    use prost::Message;

    use super::*;
    use crate::door::ext_authz_grpc::testdata;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        map
    }

    /// The same answer the Go vector `check_response_ok.hex` states.
    fn allow() -> CheckAnswer {
        CheckAnswer::Allow {
            upstream: headers(&[
                ("x-auth-request-user", "alice"),
                ("x-auth-request-groups", "admins"),
                ("x-auth-request-groups", "devs"),
            ]),
            remove: vec![HeaderName::from_static("x-auth-request-email")],
            client: headers(&[("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2; Path=/")]),
        }
    }

    /// The same answer the Go vector `check_response_denied.hex` states.
    fn sign_in() -> CheckAnswer {
        CheckAnswer::Deny {
            status: StatusCode::FOUND,
            headers: headers(&[
                ("location", "https://auth.example.com/oauth2/start?rd=%2F"),
                ("set-cookie", "state=xyz; Path=/"),
                ("set-cookie", "csrf=1; Path=/"),
            ]),
            body: "sign in".into(),
            code: tonic::Code::Unauthenticated,
        }
    }

    #[test]
    fn allow_matches_envoys_go_types() {
        let expected = testdata::bytes(testdata::RESPONSE_OK);
        let rendered = render(allow());
        assert_eq!(
            rendered,
            CheckResponse::decode(expected.as_slice()).unwrap()
        );
        assert_eq!(rendered.encode_to_vec(), expected);
    }

    #[test]
    fn deny_matches_envoys_go_types() {
        let expected = testdata::bytes(testdata::RESPONSE_DENIED);
        let rendered = render(sign_in());
        assert_eq!(
            rendered,
            CheckResponse::decode(expected.as_slice()).unwrap()
        );
        assert_eq!(rendered.encode_to_vec(), expected);
    }

    #[test]
    fn denial_never_carries_ok() {
        let answer = CheckAnswer::Deny {
            status: StatusCode::FORBIDDEN,
            headers: HeaderMap::new(),
            body: String::new(),
            code: tonic::Code::Ok,
        };
        let status = render(answer).status.unwrap();
        assert_eq!(status.code, tonic::Code::PermissionDenied as i32);
    }

    #[test]
    fn non_utf8_values_left_out() {
        let mut upstream = headers(&[("x-auth-request-user", "alice")]);
        upstream.insert(
            "x-bytes",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let answer = CheckAnswer::Allow {
            upstream,
            remove: Vec::new(),
            client: HeaderMap::new(),
        };
        let Some(HttpResponse::OkResponse(ok)) = render(answer).http_response else {
            panic!("an OK response");
        };
        let keys: Vec<_> = ok
            .headers
            .iter()
            .map(|o| o.header.as_ref().unwrap().key.as_str())
            .collect();
        assert_eq!(keys, ["x-auth-request-user"]);
    }
}
