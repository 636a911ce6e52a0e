package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// TestCardDAVVdirsyncer syncs alice's book both ways with a local folder
// using vdirsyncer (Debian's package), makes both sides change one card
// (a conflict vdirsyncer must report, then resolve), and reads the synced
// folder with khard. .ci/run installs both and sets
// PRESENCED_TEST_VDIRSYNCER=1.
func TestCardDAVVdirsyncer(t *testing.T) {
	if os.Getenv("PRESENCED_TEST_VDIRSYNCER") == "" {
		t.Skip("set PRESENCED_TEST_VDIRSYNCER=1 with vdirsyncer and khard installed (Debian: apt-get install vdirsyncer khard) to run")
	}
	ts := startServer(t, nil)
	ts.user(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // nothing timed
	defer cancel()
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	must(t, os.MkdirAll(local, 0o700))
	config := func(resolution string) string {
		p := filepath.Join(dir, "vdirsyncer.conf")
		must(t, os.WriteFile(p, []byte(fmt.Sprintf(`[general]
status_path = "%s/status/"

[pair contacts]
a = "local"
b = "remote"
collections = null
conflict_resolution = %s

[storage local]
type = "filesystem"
path = "%s/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "%s/dav/addressbooks/alice@localhost/contacts/"
username = "alice@localhost"
password = "password-alice"
`, dir, resolution, local, ts.URL)), 0o600))
		return p
	}
	run := func(cfg string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "vdirsyncer", append([]string{"-c", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cfg := config("null")

	// the server has Carol (REST), the folder has Dave (a vCard 3.0 file)
	cs, err := ts.Hub.CreateContacts(ctx, "alice@localhost", []store.Contact{{Name: "Carol Example", Emails: []string{"carol@example.com"}}})
	must(t, err)
	carol := cs[0]
	dave := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dave-1\r\nN:Example;Dave;;;\r\nFN:Dave Example\r\nEMAIL;TYPE=HOME:dave@example.com\r\nX-SHOE-SIZE:44\r\nEND:VCARD\r\n"
	must(t, os.WriteFile(filepath.Join(local, "dave-1.vcf"), []byte(dave), 0o600))
	if out, err := run(cfg, "discover"); err != nil {
		t.Fatalf("discover: %v\n%s", err, out)
	}
	if out, err := run(cfg, "sync"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	book, err := ts.Hub.Contacts(ctx, "alice@localhost", store.ContactQuery{Text: "dave"})
	must(t, err)
	if len(book) != 1 || !strings.Contains(book[0].Card, "X-SHOE-SIZE:44") {
		t.Fatalf("the server's Dave: %+v", book)
	}
	files, _ := filepath.Glob(filepath.Join(local, "*.vcf"))
	if len(files) != 2 {
		t.Fatalf("local folder: %v", files)
	}

	// a local edit reaches the server
	daveFile := filepath.Join(local, "dave-1.vcf")
	must(t, os.WriteFile(daveFile, []byte(strings.Replace(dave, "X-SHOE-SIZE:44", "X-SHOE-SIZE:45", 1)), 0o600))
	if out, err := run(cfg, "sync"); err != nil {
		t.Fatalf("sync of a local edit: %v\n%s", err, out)
	}
	got, err := ts.Hub.Contact(ctx, "alice@localhost", book[0].ID)
	must(t, err)
	if !strings.Contains(got.Card, "X-SHOE-SIZE:45") {
		t.Fatalf("local edit not on the server: %q", got.Card)
	}

	// both sides change Carol: vdirsyncer sees the conflict …
	carol.Name = "Carol on the server"
	_, err = ts.Hub.UpdateContact(ctx, carol, 0)
	must(t, err)
	var carolFile string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Carol Example") {
			carolFile = f
			must(t, os.WriteFile(f, []byte(strings.Replace(string(b), "FN:Carol Example", "FN:Carol locally", 1)), 0o600))
		}
	}
	if carolFile == "" {
		t.Fatal("Carol not synced to the folder")
	}
	out, err := run(cfg, "sync")
	if err == nil || !strings.Contains(strings.ToLower(out), "conflict") {
		t.Fatalf("a conflict should stop the sync: %v\n%s", err, out)
	}
	// … and resolved with the local side winning, the server takes it
	if out, err := run(config(`"a wins"`), "sync"); err != nil {
		t.Fatalf("sync with a wins: %v\n%s", err, out)
	}
	got, err = ts.Hub.Contact(ctx, "alice@localhost", carol.ID)
	must(t, err)
	if got.Name != "Carol locally" {
		t.Fatalf("after resolution the server has %q", got.Name)
	}

	// khard reads the synced folder
	khardCfg := filepath.Join(dir, "khard.conf")
	must(t, os.WriteFile(khardCfg, []byte(fmt.Sprintf("[addressbooks]\n[[contacts]]\npath = %s/\n[general]\ndefault_action = list\neditor = /bin/true\nmerge_editor = /bin/true\n", local)), 0o600))
	cmd := exec.CommandContext(ctx, "khard", "-c", khardCfg, "list")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	kout, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(kout), "Carol locally") || !strings.Contains(string(kout), "Dave Example") {
		t.Fatalf("khard list: %v\n%s", err, kout)
	}
}
