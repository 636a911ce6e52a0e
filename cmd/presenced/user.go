package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

// adminFlags are the flags of the account commands. They read the
// server's data directory and domain as the server does (flag, then
// environment, then the --config file), so that a command works on the
// server's database, never on a new one.
type adminFlags struct {
	file          *string
	passwordStdin *bool // nil for commands that take no password
}

const userUsage = `presenced user add|list|delete|passwd [ADDRESS] [flags]

  user add ADDRESS      create an account (password from a prompt, or --password-stdin)
  user list             list accounts
  user delete ADDRESS   delete an account and everything it owns
  user passwd ADDRESS   change a password (revokes the account's tokens)`

func newAdminFlags(name string, password bool) (*flag.FlagSet, adminFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := adminFlags{file: config.FlagsFor(fs, "data_dir", "store", "domain")}
	if password {
		f.passwordStdin = fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	}
	return fs, f
}

// parseArgs accepts flags before and after the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, synopsis, stdout); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// load reads the configuration the account commands share with the server.
func (f adminFlags) load(fs *flag.FlagSet) (config.Config, error) {
	return config.Load(fs, *f.file, os.Getenv)
}

// openAuth opens the data directory of an existing server: only serve
// creates one, so a mistyped --data-dir or a command run in another folder
// stops with an error instead of working on a new, empty database.
func openAuth(cfg config.Config) (*auth.Auth, store.Store, error) {
	st, err := server.OpenAdminStore(context.Background(), cfg)
	if err != nil {
		return nil, nil, err
	}
	return &auth.Auth{Store: st, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.DefaultParams, 1, 1), TokenTTL: cfg.TokenTTL}, st, nil
}

func readPassword(stdin io.Reader, fromStdin bool, stdout io.Writer) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError("no terminal to ask for a password: use --password-stdin")
	}
	fmt.Fprint(stdout, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprint(stdout, "\nRepeat: ")
	again, err2 := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stdout)
	if err != nil || err2 != nil {
		return "", errors.Join(err, err2)
	}
	if string(pw) != string(again) {
		return "", errors.New("passwords differ")
	}
	return string(pw), nil
}

func userCmd(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: " + userUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, "usage: "+userUsage+"\n\nRun \"presenced user COMMAND -h\" for a command's flags.")
		return nil
	case "add", "passwd", "list", "delete":
	default:
		return usageError(fmt.Sprintf("unknown user command %q\nusage: %s", args[0], userUsage))
	}
	synopsis := "presenced user " + args[0] + " ADDRESS [flags]"
	if args[0] == "list" {
		synopsis = "presenced user list [flags]"
	}
	fs, f := newAdminFlags("user "+args[0], args[0] == "add" || args[0] == "passwd")
	pos, err := parseArgs(fs, args[1:], synopsis, stdout)
	if err != nil {
		return err
	}
	cfg, err := f.load(fs)
	if err != nil {
		return err
	}
	if args[0] == "list" && len(pos) > 0 {
		return usageError("usage: " + synopsis)
	}
	a, st, err := openAuth(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	needAddress := func() (string, error) {
		if len(pos) != 1 {
			return "", usageError("usage: " + synopsis)
		}
		return addr.Bare(addr.Qualify(pos[0], cfg.Domain)) // a bare name: an account of the primary domain
	}
	switch args[0] {
	case "add", "passwd":
		address, err := needAddress()
		if err != nil {
			return err
		}
		if d := addr.DomainOf(address); args[0] == "add" && !slices.Contains(cfg.ServedDomains(), d) {
			return fmt.Errorf("%s: this server serves %s, not %s (the domains come from --domain, PRESENCED_DOMAIN or the --config file, as for presenced serve)",
				address, strings.Join(cfg.ServedDomains(), ", "), d)
		}
		pw, err := readPassword(stdin, *f.passwordStdin, stdout)
		if err != nil {
			return err
		}
		if args[0] == "add" {
			if _, err := a.CreateAccount(ctx, address, pw); err != nil {
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("%s already exists", address)
				}
				return err
			}
			fmt.Fprintf(stdout, "created %s\n", address)
			return nil
		}
		if err := a.SetPassword(ctx, address, pw); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s", address)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "changed the password of %s and revoked its tokens\n", address)
	case "list":
		accts, err := st.ListAccounts(ctx)
		if err != nil {
			return err
		}
		for _, acct := range accts {
			fmt.Fprintf(stdout, "%s\tcreated %s\n", acct.Address, acct.CreatedAt.Format(time.RFC3339))
		}
	case "delete":
		address, err := needAddress()
		if err != nil {
			return err
		}
		if err := st.DeleteAccount(ctx, address); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s", address)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", address)
	}
	return nil
}

func tokenCmd(args []string, stdout io.Writer) error {
	const synopsis = "presenced token issue ADDRESS [--label L] [flags]"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, "usage: "+synopsis+"\n\nRun \"presenced token issue -h\" for its flags.")
		return nil
	}
	if len(args) == 0 || args[0] != "issue" {
		return usageError("usage: " + synopsis)
	}
	fs, f := newAdminFlags("token issue", false)
	label := fs.String("label", "cli", "a name for the token, shown when listing tokens")
	pos, err := parseArgs(fs, args[1:], synopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: " + synopsis)
	}
	cfg, err := f.load(fs)
	if err != nil {
		return err
	}
	a, st, err := openAuth(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	address, err := addr.Bare(addr.Qualify(pos[0], cfg.Domain))
	if err != nil {
		return err
	}
	if _, err := st.GetAccount(context.Background(), address); err != nil {
		return fmt.Errorf("no account %s", address)
	}
	secret, _, err := a.IssueToken(context.Background(), address, *label)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}
