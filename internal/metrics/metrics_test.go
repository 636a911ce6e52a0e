package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("presenced_things_total", "Things.", "kind", `a"b`)
	c.Inc()
	c.Inc()
	r.GaugeFunc("presenced_level", "Level.", func() float64 { return 7 })
	h := r.Histogram("presenced_latency_seconds", "Latency.", []float64{0.1, 1}, "route", "x")
	h.Observe(0.05)
	h.Observe(0.5)
	h.Observe(5)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, nil)
	body := rec.Body.String()
	for _, want := range []string{
		"# TYPE presenced_things_total counter\n",
		`presenced_things_total{kind="a\"b"} 2` + "\n",
		"presenced_level 7\n",
		`presenced_latency_seconds_bucket{route="x",le="0.1"} 1` + "\n",
		`presenced_latency_seconds_bucket{route="x",le="1"} 2` + "\n",
		`presenced_latency_seconds_bucket{route="x",le="+Inf"} 3` + "\n",
		`presenced_latency_seconds_count{route="x"} 3` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in\n%s", want, body)
		}
	}
}
