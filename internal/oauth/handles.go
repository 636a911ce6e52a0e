package oauth

import "github.com/presenced/presenced/internal/core"

// handle is account's pairwise identifier for app: its ID tokens' sub,
// the same handle the core shows the app for its own user (core.Handles),
// so an app recognises its user among the handles it is shown.
func (p *Provider) handle(app, account string) string {
	return core.NewHandles(p.Secret).Of(app, account, account)
}
