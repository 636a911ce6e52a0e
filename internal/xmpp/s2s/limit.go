package s2s

// Per-domain rate limit of inbound stanzas (docs/federation.md,
// "Security"). Each authenticated remote domain has one token bucket for
// all its streams. A stanza over it is not taken: a message or an iq
// request is answered resource-constraint (RFC 6120 § 8.3.3.18, type wait:
// the sender may retry later), presence and answers (results, errors)
// are dropped without a word (§ 8.3.1: no error answers an error). A domain
// that keeps sending over its budget (ratelimit.StrikeLimit refusals more
// than it was allowed) has the stream ended with policy-violation (§
// 4.9.3.12). Prosody and ejabberd shape s2s traffic by pausing their reads
// instead; a pause here would also hold back the other domains multiplexed
// on the stream and its dialback answers, so refusals are told.

import (
	"time"

	"github.com/presenced/presenced/internal/ratelimit"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// maxRates bounds the buckets kept; past it, those unused long enough to
// be full again are forgotten (a fresh bucket is full too).
const maxRates = 1024

type domainRate struct {
	bucket *ratelimit.Bucket
	used   time.Time
}

// spend takes one stanza from domain's budget.
func (s *Server) spend(domain string) (ok, abusive bool) {
	now := time.Now()
	s.ratesMu.Lock()
	r := s.rates[domain]
	if r == nil {
		if len(s.rates) >= maxRates {
			s.forgetRatesLocked(now)
		}
		r = &domainRate{bucket: ratelimit.New(s.cfg.Rate, s.cfg.Burst)}
		s.rates[domain] = r
	}
	r.used = now
	s.ratesMu.Unlock()
	return r.bucket.Take(now)
}

// forgetRatesLocked drops the buckets that refilled since their last use.
func (s *Server) forgetRatesLocked(now time.Time) {
	full := time.Duration(float64(s.cfg.Burst)/s.cfg.Rate*float64(time.Second)) + time.Second
	for d, r := range s.rates {
		if now.Sub(r.used) > full {
			delete(s.rates, d)
		}
	}
}

// errFlood ends the stream of a domain that keeps sending over its budget.
var errFlood = &xmlstream.StreamError{Condition: "policy-violation", Text: "too many stanzas from this domain"}

// overBudget answers a stanza that domain's budget did not cover.
func (s *Server) overBudget(el *xmlstream.Element, from, to string) {
	typ := el.AttrValue("type")
	switch {
	case el.Name.Local == "message" && typ != "error",
		el.Name.Local == "iq" && (typ == "get" || typ == "set"):
		s.stanzaError(el, from, to, "wait", "resource-constraint")
	}
}
