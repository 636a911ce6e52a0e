package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/appreg"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

const appUsage = `presenced app add|list|show|delete [ID] [flags]

  app add --name NAME --redirect-uri URI …   register an app (an OAuth client); prints its client ID and secret
  app list                                   list apps
  app show ID                                show an app
  app delete ID                              delete an app with its users' grants and tokens`

// defaultAppScopes are the scopes of an app registered without --scope:
// every known one.
func defaultAppScopes() []string { return slices.Clone(store.KnownScopes) }

// listFlag is a repeatable flag; each value may hold several items
// separated by spaces (as OAuth writes scopes) when split is set.
type listFlag struct {
	items []string
	split bool
}

func (l *listFlag) String() string { return strings.Join(l.items, " ") }

func (l *listFlag) Set(v string) error {
	if !l.split {
		l.items = append(l.items, v)
		return nil
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		l.items = append(l.items, f)
	}
	return nil
}

// appJSON is an app as --json prints it. The secret appears once: in the
// output of app add, for a confidential app.
type appJSON = appreg.App

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func appCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: " + appUsage)
	}
	synopsis := map[string]string{
		"add":    "presenced app add --name NAME --redirect-uri URI [--redirect-uri URI …] [--scope S …] [--public] [--logo URL] [--description TEXT] [--owner ADDRESS] [--json] [flags]",
		"list":   "presenced app list [--json] [flags]",
		"show":   "presenced app show ID [--json] [flags]",
		"delete": "presenced app delete ID [flags]",
	}[args[0]]
	switch {
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		fmt.Fprintln(stdout, "usage: "+appUsage+"\n\nRun \"presenced app COMMAND -h\" for a command's flags.")
		return nil
	case synopsis == "":
		return usageError(fmt.Sprintf("unknown app command %q\nusage: %s", args[0], appUsage))
	}
	fs, f := newAdminFlags("app "+args[0], false)
	var asJSON *bool
	if args[0] != "delete" {
		asJSON = fs.Bool("json", false, "print JSON")
	}
	var name, logo, description, owner, roomKey *string
	var public *bool
	uris, scopes := &listFlag{}, &listFlag{split: true}
	if args[0] == "add" {
		name = fs.String("name", "", "the app's `NAME`, shown on the consent page (required)")
		fs.Var(uris, "redirect-uri", "a `URI` the app receives its users back at: https, or http on 127.0.0.1, [::1] or localhost; repeat for more (one at least)")
		fs.Var(scopes, "scope", "a `SCOPE` the app may ask for; repeat for more (default: "+strings.Join(defaultAppScopes(), " ")+")")
		public = fs.Bool("public", false, "a public client (a browser or mobile app, which cannot keep a secret): no secret, PKCE only")
		logo = fs.String("logo", "", "an https `URL` of the app's logo, shown on the consent page")
		description = fs.String("description", "", "a short `TEXT` about the app, shown on the consent page")
		owner = fs.String("owner", "", "the `ADDRESS` of the account that owns the app (default: none, the operator's)")
		roomKey = fs.String("room-key", "", "a `FILE` holding the public JSON Web Key the app signs room tokens with: the app then authorizes who joins its rooms (docs/rooms.md)")
	}
	pos, err := parseArgs(fs, args[1:], synopsis, stdout)
	if err != nil {
		return err
	}
	wantPos := 0
	if args[0] == "show" || args[0] == "delete" {
		wantPos = 1
	}
	if len(pos) != wantPos {
		return usageError("usage: " + synopsis)
	}
	var a store.App
	var secret string
	if args[0] == "add" { // checked before the data directory is opened
		r := appreg.Registration{Name: *name, RedirectURIs: uris.items, Scopes: scopes.items, Public: *public, Logo: *logo, Description: *description}
		if *roomKey != "" {
			if r.RoomKey, err = os.ReadFile(*roomKey); err != nil {
				return usageError(fmt.Sprintf("--room-key: %v", err))
			}
		}
		if a, secret, err = newApp(r, *owner); err != nil {
			return err
		}
	}
	cfg, err := f.load(fs)
	if err != nil {
		return err
	}
	st, err := server.OpenAdminStore(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch args[0] {
	case "add":
		if err := st.CreateApp(ctx, a); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no account %s to own the app", a.Owner)
		} else if errors.Is(err, store.ErrLimit) {
			return fmt.Errorf("%s owns %d apps, the limit", a.Owner, store.MaxAppsPerOwner)
		} else if err != nil {
			return err
		}
		if *asJSON {
			j := appreg.View(a)
			j.Secret = secret
			return printJSON(stdout, j)
		}
		fmt.Fprintf(stdout, "registered %s\nclient_id:     %s\n", a.Name, a.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(the secret is shown only this once: only its hash is kept)\n", secret)
		} else {
			fmt.Fprintln(stdout, "public client: no secret, it signs in with PKCE")
		}
	case "list":
		apps, err := st.ListApps(ctx, "")
		if err != nil {
			return err
		}
		if *asJSON {
			out := []appJSON{}
			for _, a := range apps {
				out = append(out, appreg.View(a))
			}
			return printJSON(stdout, out)
		}
		for _, a := range apps {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", a.ID, a.Name, clientKind(a), ownerOf(a))
		}
	case "show":
		a, err := st.GetApp(ctx, pos[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no app %s", pos[0])
		} else if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, appreg.View(a))
		}
		fmt.Fprintf(stdout, "id:            %s\nname:          %s\nclient:        %s\nowner:         %s\n", a.ID, a.Name, clientKind(a), ownerOf(a))
		for _, u := range a.RedirectURIs {
			fmt.Fprintf(stdout, "redirect_uri:  %s\n", u)
		}
		fmt.Fprintf(stdout, "scopes:        %s\n", strings.Join(a.Scopes, " "))
		if a.Logo != "" {
			fmt.Fprintf(stdout, "logo:          %s\n", a.Logo)
		}
		if a.Description != "" {
			fmt.Fprintf(stdout, "description:   %s\n", a.Description)
		}
		if a.RoomKey != nil {
			fmt.Fprintf(stdout, "room_key:      %s\n", a.RoomKey)
		}
		fmt.Fprintf(stdout, "created:       %s\n", a.CreatedAt.Format(time.RFC3339))
	case "delete":
		if err := st.DeleteApp(ctx, pos[0]); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no app %s", pos[0])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted app %s, its users' grants and its tokens\n", pos[0])
	}
	return nil
}

// newApp makes the app that app add registers (appreg.New): its secret,
// for a confidential app, is returned to be shown once.
func newApp(r appreg.Registration, owner string) (store.App, string, error) {
	if len(r.Scopes) == 0 {
		r.Scopes = defaultAppScopes()
	}
	if owner != "" {
		bare, err := addr.Bare(owner)
		if err != nil {
			return store.App{}, "", usageError(fmt.Sprintf("--owner: %v", err))
		}
		owner = bare
	}
	a, secret, err := appreg.New(r, owner, time.Now())
	var invalid *core.Error
	if errors.As(err, &invalid) {
		return a, "", usageError(invalid.Message)
	}
	return a, secret, err
}

func clientKind(a store.App) string {
	if a.Public {
		return "public"
	}
	return "confidential"
}

func ownerOf(a store.App) string {
	if a.Owner == "" {
		return "(operator)"
	}
	return a.Owner
}

var _ flag.Value = (*listFlag)(nil)
