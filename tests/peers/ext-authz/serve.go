package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// recorder answers Check from a fixed table and prints every request it gets.
type recorder struct {
	authv3.UnimplementedAuthorizationServer
	answers map[string]*authv3.CheckResponse
	// out serialises the lines, so concurrent calls never interleave.
	out sync.Mutex
}

func serve(args []string) error {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	answersFile := flags.String("answers", "", "JSON object: request path (or \"*\") to CheckResponse")
	listen := flags.String("listen", "127.0.0.1:0", "address to listen on")
	flags.Parse(args)
	if *answersFile == "" {
		return fmt.Errorf("-answers FILE is required")
	}
	answers, err := readAnswers(*answersFile)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	server := grpc.NewServer()
	authv3.RegisterAuthorizationServer(server, &recorder{answers: answers})
	fmt.Printf("listening on %s\n", listener.Addr())
	return server.Serve(listener)
}

// readAnswers parses FILE: each value is a CheckResponse in protojson, checked field by field.
func readAnswers(path string) (map[string]*authv3.CheckResponse, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(text, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	answers := make(map[string]*authv3.CheckResponse, len(raw))
	for key, value := range raw {
		response := &authv3.CheckResponse{}
		if err := protojson.Unmarshal(value, response); err != nil {
			return nil, fmt.Errorf("%s: the answer for %q is not a CheckResponse: %w", path, key, err)
		}
		answers[key] = response
	}
	return answers, nil
}

func (r *recorder) Check(_ context.Context, request *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	line, err := protojson.MarshalOptions{}.Marshal(request)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot print the request: %v", err)
	}
	r.out.Lock()
	fmt.Printf("check: %s\n", line)
	r.out.Unlock()
	// Envoy's path is the request target: the query comes with it.
	path, _, _ := strings.Cut(request.GetAttributes().GetRequest().GetHttp().GetPath(), "?")
	if answer, ok := r.answers[path]; ok {
		return answer, nil
	}
	if answer, ok := r.answers["*"]; ok {
		return answer, nil
	}
	return nil, status.Errorf(codes.NotFound, "no answer for path %q", path)
}
