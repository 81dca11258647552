package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

func check(args []string) error {
	flags := flag.NewFlagSet("check", flag.ExitOnError)
	server := flags.String("server", "", "HOST:PORT of the authorization server (cleartext HTTP/2)")
	timeout := flags.Duration("timeout", 10*time.Second, "deadline of the call")
	flags.Parse(args)
	if *server == "" {
		return fmt.Errorf("-server HOST:PORT is required")
	}
	text, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	request := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(text, request); err != nil {
		return fmt.Errorf("stdin is not a CheckRequest: %w", err)
	}
	conn, err := grpc.NewClient(*server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	response, err := authv3.NewAuthorizationClient(conn).Check(ctx, request)
	if err != nil {
		failure := status.Convert(err)
		return fmt.Errorf("Check failed: %s: %s", failure.Code(), failure.Message())
	}
	line, err := protojson.Marshal(response)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", line)
	return nil
}
