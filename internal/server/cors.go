package server

import (
	"net/http"
	"strings"

	"github.com/rs/cors"
)

// apiCORS lets pages on any origin — apps' pages, with their users' tokens
// — use the routes a bearer token opens: long-polling (the SDK's fallback
// where WebSocket is blocked) and the REST API. Never with credentials: a
// cross-origin request carries no cookie a browser would let it read the
// answer of, and X-CSRF-Token is not an allowed header, so the web page's
// cookie sign-in is of no use from another origin. (/v1/ws needs no CORS:
// its upgrade's Origin is checked instead; the OAuth endpoints have their
// own, internal/oauth.)
var apiCORS = cors.New(cors.Options{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
	AllowedHeaders: []string{"Authorization", "Content-Type", "If-Match", "If-None-Match"},
	ExposedHeaders: []string{"ETag", "Location", "Retry-After"},
	MaxAge:         600,
})

// withAPICORS answers CORS for /v1/ (but /v1/ws) and passes the rest on.
func withAPICORS(next http.Handler) http.Handler {
	api := apiCORS.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/v1/ws" {
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
