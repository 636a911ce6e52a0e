package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// handle is account's pairwise identifier for app: what the app knows the
// account by (its ID tokens' sub, and the contacts it is shown). Stable for
// the pair, different for every app, and no app can tell from two handles
// of its own, or join with another app's, who is behind them: an HMAC
// under a key derived from the server secret, 130 bits.
func (p *Provider) handle(app, account string) string {
	key := derive(p.Secret, "pairwise handles")
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(app))
	m.Write([]byte{0})
	m.Write([]byte(account))
	return "h" + strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:26])
}
