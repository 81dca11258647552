// Writes serialized Envoy ext_authz messages, built with Envoy's published Go types, as hex
// test vectors for Sekisho's hand-written protobuf messages (src/door/testdata/).
//
// Not part of the test run: the vectors are committed. To remake them (module versions pinned
// in go.mod): cd tests/peers/ext-authz-vectors && go run . ../../../src/door/testdata
package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	auth "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func socket(ip string, port uint32) *auth.AttributeContext_Peer {
	return &auth.AttributeContext_Peer{Address: &core.Address{Address: &core.Address_SocketAddress{
		SocketAddress: &core.SocketAddress{Address: ip, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port}},
	}}}
}

func raw(key, value string) *core.HeaderValue {
	return &core.HeaderValue{Key: key, RawValue: []byte(value)}
}

func option(key, value string, append *bool, action core.HeaderValueOption_HeaderAppendAction) *core.HeaderValueOption {
	o := &core.HeaderValueOption{Header: &core.HeaderValue{Key: key, Value: value}, AppendAction: action}
	if append != nil {
		o.Append = wrapperspb.Bool(*append)
	}
	return o
}

var (
	yes = true
	no  = false
)

// Envoy's default: headers in the map, pseudo-headers included, plus fields Sekisho skips.
func headersRequest() proto.Message {
	meta, _ := structpb.NewStruct(map[string]any{"k": "v"})
	return &auth.CheckRequest{Attributes: &auth.AttributeContext{
		Source:      socket("203.0.113.7", 51234),
		Destination: socket("192.0.2.10", 8080),
		Request: &auth.AttributeContext_Request{
			Time: &timestamppb.Timestamp{Seconds: 1767225600},
			Http: &auth.AttributeContext_HttpRequest{
				Id:     "7f3a9c1e-0d2b-4b5e-9a61-2c8d5e4f1a0b",
				Method: "GET",
				Headers: map[string]string{
					":authority":        "app.example.com",
					":method":           "GET",
					":path":             "/dashboard?tab=2",
					":scheme":           "https",
					"cookie":            "sekisho=abc; theme=dark",
					"user-agent":        "curl/8.5.0",
					"x-forwarded-for":   "198.51.100.1",
					"x-forwarded-proto": "https",
				},
				Path:     "/dashboard?tab=2",
				Host:     "app.example.com",
				Scheme:   "https",
				Size:     -1,
				Protocol: "HTTP/1.1",
			},
		},
		ContextExtensions: map[string]string{"door": "envoy"},
		MetadataContext:   &core.Metadata{FilterMetadata: map[string]*structpb.Struct{"f": meta}},
	}}
}

// encode_raw_headers: one entry per header line, bytes in raw_value, a non-UTF-8 value.
func rawHeadersRequest() proto.Message {
	return &auth.CheckRequest{Attributes: &auth.AttributeContext{
		Source: socket("2001:db8::7", 443),
		Request: &auth.AttributeContext_Request{Http: &auth.AttributeContext_HttpRequest{
			Method: "POST",
			HeaderMap: &core.HeaderMap{Headers: []*core.HeaderValue{
				raw(":authority", "app.example.com"),
				raw(":path", "/a?b=1"),
				raw(":method", "POST"),
				raw(":scheme", "http"),
				raw("x-multi", "one"),
				raw("x-multi", "two"),
				raw("cookie", "a=1"),
				raw("x-latin1", "caf\xe9"),
			}},
			Path:     "/a?b=1",
			Host:     "app.example.com",
			Scheme:   "http",
			Protocol: "HTTP/2",
			Body:     `{"a":1}`,
		}},
	}}
}

// Both lists filled, disagreeing: the rule under test decides which one counts.
func bothHeadersRequest() proto.Message {
	return &auth.CheckRequest{Attributes: &auth.AttributeContext{
		Source: socket("203.0.113.8", 40000),
		Request: &auth.AttributeContext_Request{Http: &auth.AttributeContext_HttpRequest{
			Method:    "GET",
			Headers:   map[string]string{"x-user": "from-headers", "x-only-in-headers": "1"},
			HeaderMap: &core.HeaderMap{Headers: []*core.HeaderValue{raw("x-user", "from-header-map")}},
			Path:      "/",
			Host:      "app.example.com",
			Scheme:    "https",
		}},
	}}
}

// A request that came over a Unix socket: no IP address to report.
func pipeSourceRequest() proto.Message {
	return &auth.CheckRequest{Attributes: &auth.AttributeContext{
		Source: &auth.AttributeContext_Peer{Address: &core.Address{Address: &core.Address_Pipe{
			Pipe: &core.Pipe{Path: "/run/envoy/listener.sock"},
		}}},
		Request: &auth.AttributeContext_Request{Http: &auth.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Host: "app.example.com", Scheme: "http",
		}},
	}}
}

// No request attributes at all.
func noHttpRequest() proto.Message {
	return &auth.CheckRequest{Attributes: &auth.AttributeContext{Source: socket("203.0.113.7", 1)}}
}

// What Sekisho should answer for an allowed request (see the Rust test that renders it).
func okResponse() proto.Message {
	return &auth.CheckResponse{
		Status: &rpcstatus.Status{Code: 0},
		HttpResponse: &auth.CheckResponse_OkResponse{OkResponse: &auth.OkHttpResponse{
			Headers: []*core.HeaderValueOption{
				option("x-auth-request-user", "alice", &no, core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
				option("x-auth-request-groups", "admins", &no, core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
				option("x-auth-request-groups", "devs", &yes, core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
			},
			HeadersToRemove: []string{"x-auth-request-email"},
			ResponseHeadersToAdd: []*core.HeaderValueOption{
				option("set-cookie", "a=1; Path=/", nil, core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
				option("set-cookie", "b=2; Path=/", nil, core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
			},
		}},
	}
}

// What Sekisho should answer when sending the client to sign in.
func deniedResponse() proto.Message {
	return &auth.CheckResponse{
		Status: &rpcstatus.Status{Code: 16},
		HttpResponse: &auth.CheckResponse_DeniedResponse{DeniedResponse: &auth.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Found},
			Headers: []*core.HeaderValueOption{
				option("location", "https://auth.example.com/oauth2/start?rd=%2F", nil, core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
				option("set-cookie", "state=xyz; Path=/", nil, core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
				option("set-cookie", "csrf=1; Path=/", nil, core.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
			},
			Body: "sign in",
		}},
	}
}

func version(path string) string {
	info, _ := debug.ReadBuildInfo()
	for _, dep := range info.Deps {
		if dep.Path == path {
			return dep.Version
		}
	}
	return "unknown"
}

func main() {
	dir := os.Args[1]
	vectors := []struct {
		name, about string
		message     func() proto.Message
	}{
		{"check_request_headers", "CheckRequest, headers in the `headers` map (Envoy's default)", headersRequest},
		{"check_request_raw_headers", "CheckRequest, `header_map` with raw values (encode_raw_headers)", rawHeadersRequest},
		{"check_request_both_headers", "CheckRequest, `headers` and `header_map` both filled and disagreeing", bothHeadersRequest},
		{"check_request_pipe_source", "CheckRequest, source address is a pipe", pipeSourceRequest},
		{"check_request_no_http", "CheckRequest without request attributes", noHttpRequest},
		{"check_response_ok", "CheckResponse, OK with upstream, removed and client headers", okResponse},
		{"check_response_denied", "CheckResponse, denied with a 302 to sign in", deniedResponse},
	}
	made := fmt.Sprintf("# Made by tests/peers/ext-authz-vectors with github.com/envoyproxy/go-control-plane/envoy %s,\n# google.golang.org/genproto/googleapis/rpc %s, google.golang.org/protobuf %s (Deterministic).\n",
		version("github.com/envoyproxy/go-control-plane/envoy"),
		version("google.golang.org/genproto/googleapis/rpc"),
		version("google.golang.org/protobuf"))
	for _, v := range vectors {
		bytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(v.message())
		if err != nil {
			panic(err)
		}
		var text strings.Builder
		text.WriteString("# " + v.about + "\n" + made)
		encoded := hex.EncodeToString(bytes)
		for len(encoded) > 96 {
			text.WriteString(encoded[:96] + "\n")
			encoded = encoded[96:]
		}
		text.WriteString(encoded + "\n")
		if err := os.WriteFile(filepath.Join(dir, v.name+".hex"), []byte(text.String()), 0o644); err != nil {
			panic(err)
		}
	}
}
