//! The slice of Envoy's external authorization contract (`envoy.service.auth.v3`) that Sekisho
//! reads or writes, as hand-written `prost` messages.
//!
//! Written by hand so a build needs no `protoc` and no vendored `.proto` files. Field numbers
//! and wire types are those of the published contract, read from the struct tags of
//! go-control-plane `envoy` v1.40.0 and genproto `googleapis/rpc` v0.0.0-20260720211330
//! (`service/auth/v3/external_auth.pb.go`, `attribute_context.pb.go`, `config/core/v3/base.pb.go`,
//! `address.pb.go`, `type/v3/http_status.pb.go`, `rpc/status/status.pb.go`). Fields Sekisho
//! does not use are left out: prost skips unknown fields when decoding, so a newer Envoy's
//! additions cost nothing. Nested messages live in modules named after their parent, as
//! `prost-build` would lay them out.

use std::collections::HashMap;

/// `envoy.service.auth.v3.CheckRequest`: what Envoy asks about.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeContext>,
}

/// `envoy.service.auth.v3.AttributeContext`: the request and the two ends of its connection.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeContext {
    /// The downstream end: the address Envoy saw the request come from.
    #[prost(message, optional, tag = "1")]
    pub source: Option<attribute_context::Peer>,
    #[prost(message, optional, tag = "2")]
    pub destination: Option<attribute_context::Peer>,
    #[prost(message, optional, tag = "4")]
    pub request: Option<attribute_context::Request>,
    /// Per-route settings from Envoy's configuration (`check_settings.context_extensions`).
    #[prost(map = "string, string", tag = "10")]
    pub context_extensions: HashMap<String, String>,
}

/// Messages nested in `envoy.service.auth.v3.AttributeContext`.
pub mod attribute_context {
    use std::collections::HashMap;

    use super::{Address, HeaderMap};

    /// `envoy.service.auth.v3.AttributeContext.Peer`: one end of a connection.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Peer {
        #[prost(message, optional, tag = "1")]
        pub address: Option<Address>,
    }

    /// `envoy.service.auth.v3.AttributeContext.Request`: the request being checked.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(message, optional, tag = "2")]
        pub http: Option<HttpRequest>,
    }

    /// `envoy.service.auth.v3.AttributeContext.HttpRequest`: the HTTP request being checked.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HttpRequest {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub method: String,
        /// Lower-case names; repeated headers merged into one value; pseudo-headers included.
        /// Empty when Envoy's `encode_raw_headers` is on: `header_map` carries them instead.
        #[prost(map = "string, string", tag = "3")]
        pub headers: HashMap<String, String>,
        /// The request target with its query, as in the request line (or `:path`).
        #[prost(string, tag = "4")]
        pub path: String,
        /// `Host` or `:authority`.
        #[prost(string, tag = "5")]
        pub host: String,
        #[prost(string, tag = "6")]
        pub scheme: String,
        /// Always empty: the query is part of `path`.
        #[prost(string, tag = "7")]
        pub query: String,
        /// Always empty: a fragment never reaches a server.
        #[prost(string, tag = "8")]
        pub fragment: String,
        /// "HTTP/1.0", "HTTP/1.1", "HTTP/2" or "HTTP/3".
        #[prost(string, tag = "10")]
        pub protocol: String,
        #[prost(string, tag = "11")]
        pub body: String,
        /// Raw headers, one entry per header line (`encode_raw_headers`), values in `raw_value`.
        #[prost(message, optional, tag = "13")]
        pub header_map: Option<HeaderMap>,
    }
}

/// `envoy.config.core.v3.Address`. Only the `socket_address` member of its `address` oneof is
/// read; a pipe or internal address decodes as `socket_address: None`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Address {
    #[prost(message, optional, tag = "1")]
    pub socket_address: Option<SocketAddress>,
}

/// `envoy.config.core.v3.SocketAddress`. `port_value` is a member of the `port_specifier`
/// oneof; an optional field has the same wire form and the same presence.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SocketAddress {
    /// An IP address literal (no brackets around IPv6).
    #[prost(string, tag = "2")]
    pub address: String,
    #[prost(uint32, optional, tag = "3")]
    pub port_value: Option<u32>,
}

/// `envoy.config.core.v3.HeaderMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderMap {
    #[prost(message, repeated, tag = "1")]
    pub headers: Vec<HeaderValue>,
}

/// `envoy.config.core.v3.HeaderValue`: one header line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value as UTF-8 text (Envoy replaces other bytes with `!` here).
    #[prost(string, tag = "2")]
    pub value: String,
    /// The value's bytes as received, set instead of `value` under `encode_raw_headers`.
    #[prost(bytes = "vec", tag = "3")]
    pub raw_value: Vec<u8>,
}

/// `envoy.config.core.v3.HeaderValueOption`: a header and how to apply it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValueOption {
    #[prost(message, optional, tag = "1")]
    pub header: Option<HeaderValue>,
    /// Deprecated `google.protobuf.BoolValue append`. When present, Envoy obeys it rather than
    /// `append_action` (and Envoy up to 1.36 reads only it for `OkHttpResponse.headers`).
    #[prost(message, optional, tag = "2")]
    pub append: Option<bool>,
    #[prost(enumeration = "header_value_option::HeaderAppendAction", tag = "3")]
    pub append_action: i32,
}

/// Types nested in `envoy.config.core.v3.HeaderValueOption`.
pub mod header_value_option {
    /// `envoy.config.core.v3.HeaderValueOption.HeaderAppendAction`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum HeaderAppendAction {
        AppendIfExistsOrAdd = 0,
        AddIfAbsent = 1,
        OverwriteIfExistsOrAdd = 2,
        OverwriteIfExists = 3,
    }
}

/// `envoy.service.auth.v3.CheckResponse`: Sekisho's answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckResponse {
    /// `OK` (0) lets the request through; any other code denies it.
    #[prost(message, optional, tag = "1")]
    pub status: Option<RpcStatus>,
    #[prost(oneof = "check_response::HttpResponse", tags = "2, 3")]
    pub http_response: Option<check_response::HttpResponse>,
}

/// Types nested in `envoy.service.auth.v3.CheckResponse`.
pub mod check_response {
    use super::{DeniedHttpResponse, OkHttpResponse};

    /// The `http_response` oneof (its `error_response` member, 5, is not used).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum HttpResponse {
        #[prost(message, tag = "2")]
        DeniedResponse(DeniedHttpResponse),
        #[prost(message, tag = "3")]
        OkResponse(OkHttpResponse),
    }
}

/// `envoy.service.auth.v3.DeniedHttpResponse`: the answer Envoy gives the client itself.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeniedHttpResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<HttpStatus>,
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<HeaderValueOption>,
    #[prost(string, tag = "3")]
    pub body: String,
}

/// `envoy.service.auth.v3.OkHttpResponse`: changes to make when the request goes through.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OkHttpResponse {
    /// Headers set on the request to the upstream.
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<HeaderValueOption>,
    /// Header names removed from the request to the upstream.
    #[prost(string, repeated, tag = "5")]
    pub headers_to_remove: Vec<String>,
    /// Headers added to the response to the client.
    #[prost(message, repeated, tag = "6")]
    pub response_headers_to_add: Vec<HeaderValueOption>,
}

/// `envoy.type.v3.HttpStatus`. `code` is the enum `envoy.type.v3.StatusCode`, whose numbers
/// are the HTTP status codes themselves; an enum is an `int32` on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
}

/// `google.rpc.Status` (its `details`, 3, are not used).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}
