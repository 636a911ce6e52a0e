// Command presenced is the presence server and its administration tool.
//
//	presenced serve [flags]              run the server (zero configuration works)
//	presenced user add|list|delete|passwd manage accounts
//	presenced token issue ADDRESS         print a bearer token for an account
//	presenced bench idle|fanout [flags]   load generators (docs/benchmarks.md)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/server"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "presenced:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (u usageError) Error() string { return string(u) }

const usage = `usage: presenced <command> [arguments]

commands:
  serve                      run the server (try: presenced serve, then open the printed address)
  user add ADDRESS           create an account (password from a prompt, or --password-stdin)
  user list                  list accounts
  user delete ADDRESS        delete an account and everything it owns
  user passwd ADDRESS        change a password (revokes the account's tokens)
  token issue ADDRESS        print a new bearer token for an account
  bench idle|fanout          load generators; see docs/benchmarks.md
  version                    print the version

Run "presenced <command> -h" for a command's flags.`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "user":
		return userCmd(args[1:], stdin, stdout)
	case "token":
		return tokenCmd(args[1:], stdout)
	case "bench":
		return benchCmd(args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "presenced", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q\n\n%s", args[0], usage))
}

const version = "0.1.0-dev"

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	file := config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg, err := config.Load(fs, *file, os.Getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	host := ln.Addr().String()
	if strings.HasPrefix(host, "127.0.0.1:") {
		host = "localhost:" + strings.TrimPrefix(host, "127.0.0.1:")
	}
	log.Info("presenced ready", "url", scheme+"://"+host+"/", "domain", cfg.Domain, "data_dir", cfg.DataDir)
	fmt.Fprintf(stdout, "presenced is serving %s on %s://%s/\n", cfg.Domain, scheme, host)
	fmt.Fprintf(stdout, "add an account with: presenced user add you@%s --data-dir %s\n", cfg.Domain, cfg.DataDir)
	return srv.Serve(ctx, ln)
}
