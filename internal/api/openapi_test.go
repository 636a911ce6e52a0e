package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/metrics"
)

// TestOpenAPICoversEveryRoute keeps openapi.json in step with Routes.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	a := &API{Metrics: metrics.NewRegistry()}
	for _, p := range a.Routes(http.NewServeMux()) {
		method, path, _ := strings.Cut(p, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	for _, p := range []string{"/v1/ws", "/v1/poll", "/healthz", "/readyz", "/openapi.json"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	// /metrics is served on the admin listener only (docs/operations.md),
	// so the public API must not advertise it.
	if _, ok := doc.Paths["/metrics"]; ok {
		t.Error("openapi.json lists /metrics, which the public listener does not serve")
	}
}
