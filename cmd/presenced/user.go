package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

// adminFlags are the flags of the account commands.
type adminFlags struct {
	dataDir       *string
	passwordStdin *bool
}

func newAdminFlags(name string) (*flag.FlagSet, adminFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	def := os.Getenv("PRESENCED_DATA_DIR")
	if def == "" {
		def = "presenced-data"
	}
	return fs, adminFlags{
		dataDir:       fs.String("data-dir", def, "the server's data directory (env PRESENCED_DATA_DIR)"),
		passwordStdin: fs.Bool("password-stdin", false, "read the password from the first line of standard input"),
	}
}

// parseArgs accepts flags before and after the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(err.Error())
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func openAuth(dataDir string) (*auth.Auth, store.Store, error) {
	st, err := server.OpenStore(context.Background(), dataDir)
	if err != nil {
		return nil, nil, err
	}
	return &auth.Auth{Store: st, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.DefaultParams, 1, 1), TokenTTL: 30 * 24 * time.Hour}, st, nil
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
		return usageError("usage: presenced user add|list|delete|passwd [ADDRESS] [--data-dir DIR] [--password-stdin]")
	}
	fs, f := newAdminFlags("user " + args[0])
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	a, st, err := openAuth(*f.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	needAddress := func() (string, error) {
		if len(pos) != 1 {
			return "", usageError(fmt.Sprintf("usage: presenced user %s ADDRESS", args[0]))
		}
		return addr.Bare(pos[0])
	}
	switch args[0] {
	case "add", "passwd":
		address, err := needAddress()
		if err != nil {
			return err
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
	default:
		return usageError(fmt.Sprintf("unknown user command %q", args[0]))
	}
	return nil
}

func tokenCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "issue" {
		return usageError("usage: presenced token issue ADDRESS [--label L] [--data-dir DIR]")
	}
	fs, f := newAdminFlags("token issue")
	label := fs.String("label", "cli", "a name for the token, shown when listing tokens")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: presenced token issue ADDRESS")
	}
	a, st, err := openAuth(*f.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	address, err := addr.Bare(pos[0])
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
