// Package jsclient embeds the browser SDK so the server can serve it at
// /sdk/presenced.js, with its TypeScript declarations at
// /sdk/presenced.d.ts.
package jsclient

import _ "embed"

// Source is presenced.js, the browser SDK (an ES module).
//
//go:embed presenced.js
var Source []byte

// Types is presenced.d.ts, the SDK's TypeScript declarations.
//
//go:embed presenced.d.ts
var Types []byte
