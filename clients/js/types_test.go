package jsclient

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleBlock is a ```js block of the README.
var exampleBlock = regexp.MustCompile("(?s)```js\n(.*?)```")

// exported is a value the declarations export.
var exported = regexp.MustCompile(`(?m)^export declare (?:const|class|function) (\w+)`)

// TestDeclarations type-checks presenced.d.ts (strict, with the DOM's own
// declarations) and every example of the README against it, so the
// declarations and the documented calls cannot drift apart. Each example
// runs in its own async function, importing everything the declarations
// export, with the names an example takes from its surroundings declared. The service
// worker's example is not about the SDK and runs in another global scope:
// it is left out.
//
// Switched on by PRESENCED_TEST_TYPESCRIPT, the path of test/types, where
// .ci/run installs the pinned TypeScript.
func TestDeclarations(t *testing.T) {
	dir := os.Getenv("PRESENCED_TEST_TYPESCRIPT")
	if dir == "" {
		t.Skip("set PRESENCED_TEST_TYPESCRIPT to test/types with its node_modules installed (.ci/run does) to type-check the SDK's declarations")
	}
	tsc, err := filepath.Abs(filepath.Join(dir, "node_modules", "typescript", "bin", "tsc"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("presenced.js", Source)
	write("presenced.d.ts", Types)
	write("tsconfig.json", []byte(`{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022", "module": "es2022",
  "moduleResolution": "bundler", "lib": ["es2022", "dom", "dom.iterable"], "skipLibCheck": false}, "include": ["*.ts"]}`))
	var names []string
	for _, m := range exported.FindAllStringSubmatch(string(Types), -1) {
		names = append(names, m[1])
	}
	n := 0
	for _, m := range exampleBlock.FindAllStringSubmatch(string(readme), -1) {
		block := m[1]
		if strings.Contains(block, "self.addEventListener") {
			continue // the service worker's
		}
		n++
		var body strings.Builder
		for _, line := range strings.Split(block, "\n") {
			if !strings.HasPrefix(line, "import ") {
				body.WriteString("  " + line + "\n")
			}
		}
		write(fmt.Sprintf("example%d.ts", n), []byte(fmt.Sprintf(`import { %s } from "./presenced.js";
declare const token: string, p: Presenced, button: HTMLButtonElement;
declare function show(...what: unknown[]): void;
export async function example%d() {
%s}
`, strings.Join(names, ", "), n, body.String())))
	}
	if n < 5 {
		t.Fatalf("found %d examples in the README", n)
	}
	cmd := exec.Command("node", tsc, "-p", work)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out.String())
	}
	t.Logf("presenced.d.ts and %d README examples type-check", n)
}
