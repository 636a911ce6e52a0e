// Command presenced is the presence server and its administration tool.
//
//	presenced serve [flags]              run the server (zero configuration works)
//	presenced user add|list|delete|passwd manage accounts
//	presenced token issue ADDRESS         print a bearer token for an account
//	presenced app add|list|show|delete    manage apps (OAuth clients)
//	presenced migrate-store --from DIR --to postgres://…  copy a SQLite store into PostgreSQL
//	presenced bench idle|fanout [flags]   load generators (docs/benchmarks.md)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
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
  app add --name N --redirect-uri URI
                             register an app (an OAuth client): prints its client ID and secret
  app list | show ID         list apps, show one (--json: as JSON)
  app delete ID              delete an app with its users' grants and tokens
  migrate-store --from DATA_DIR --to postgres://…
                             copy a data directory's SQLite database into an empty PostgreSQL one
  bench idle|fanout          load generators; see docs/benchmarks.md
  version, --version         print the version

Run "presenced <command> -h" for a command's flags.`

// run runs the command line args; asking for help is not an error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := dispatch(args, stdin, stdout, stderr); !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
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
	case "app":
		return appCmd(args[1:], stdout)
	case "bench":
		return benchCmd(args[1:], stdout)
	case "migrate-store":
		return migrateStoreCmd(args[1:], stdout)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "presenced", version())
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q\n\n%s", args[0], usage))
}

// version is the module version the binary was built from ("(devel)" for
// a build in the source tree) and, when known, the VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " (" + rev + modified + ")"
	}
	return v + " " + bi.GoVersion
}

// errHelp is returned when help was asked for and printed: exit status 0.
var errHelp = errors.New("help printed")

// parseFlags parses a command's flags. -h and --help print the command's
// usage and flags on stdout and return errHelp; a bad flag is a usage
// error naming the flag, with the hint where to find the others.
func parseFlags(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: %s\n\nflags:\n", synopsis)
		printFlags(stdout, fs)
		return errHelp
	}
	if err != nil {
		return usageError(fmt.Sprintf("%v\nusage: %s (presenced %s -h lists the flags)", err, synopsis, fs.Name()))
	}
	return nil
}

// printFlags lists fs's flags as they are written: --name VALUE, and
// switches bare (--signup), with their defaults.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			kind = ""
			if f.DefValue == "true" {
				line += "=false"
			}
		}
		if kind != "" {
			line += " " + strings.ToUpper(kind)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			help += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, help)
	})
}

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
	if err := parseFlags(fs, args, "presenced serve [flags]", stdout); err != nil {
		return err
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
	ln, err := server.Listen(cfg.HTTPAddr)
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
	storeName := "sqlite"
	if cfg.Store != "" {
		storeName = "postgres"
	}
	domains := strings.Join(cfg.ServedDomains(), ", ")
	log.Info("presenced ready", "url", scheme+"://"+host+"/", "domain", domains, "data_dir", cfg.DataDir, "store", storeName)
	fmt.Fprintf(stdout, "presenced is serving %s on %s://%s/\n", domains, scheme, host)
	if cfg.Store == "" {
		fmt.Fprintf(stdout, "add an account with: presenced user add you@%s --data-dir %s\n", cfg.Domain, cfg.DataDir)
	} else { // the URL holds a password: not printed
		fmt.Fprintf(stdout, "add an account with: presenced user add you@%s --store URL (this server's --store)\n", cfg.Domain)
	}
	return srv.Serve(ctx, ln)
}
