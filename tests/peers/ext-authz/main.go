// Command ext-authz speaks Envoy's external authorization gRPC API
// (envoy.service.auth.v3.Authorization) over cleartext HTTP/2, with Envoy's own generated code
// (go-control-plane), in either role:
//
//	ext-authz serve -answers FILE
//	    An authorization server that records what its client sends: it listens on an
//	    ephemeral port of 127.0.0.1, prints "listening on 127.0.0.1:PORT", then one line
//	    "check: {CheckRequest as protojson}" per call, and answers each call with the
//	    CheckResponse that FILE (a JSON object) gives for the request's path without its
//	    query, or for "*" when the path has none. Tests put it behind a real Envoy to see
//	    exactly what Envoy's ext_authz filter sends and how it applies each answer.
//
//	ext-authz check -server HOST:PORT
//	    A client: reads a CheckRequest as protojson on stdin (for example a line recorded by
//	    `serve`), calls Check on the server, and prints the CheckResponse as protojson; a
//	    failed call prints its gRPC status code and message and exits 1.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "check":
		err = check(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ext-authz:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ext-authz serve -answers FILE | ext-authz check -server HOST:PORT < request.json")
	os.Exit(64)
}
