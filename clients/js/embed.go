// Package jsclient embeds the browser SDK so the server can serve it at
// /sdk/presenced.js.
package jsclient

import _ "embed"

// Source is presenced.js, the browser SDK (an ES module).
//
//go:embed presenced.js
var Source []byte
