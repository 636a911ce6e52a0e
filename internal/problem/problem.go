// Package problem writes errors as RFC 9457 problem details
// (application/problem+json), the one error shape of presenced's HTTP API.
package problem

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// Details is an RFC 9457 problem object. Code repeats the protocol's error
// code so HTTP and WebSocket clients handle errors alike.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

var status = map[core.Code]int{
	core.CodeInvalid:      http.StatusBadRequest,
	core.CodeNotFound:     http.StatusNotFound,
	core.CodeConflict:     http.StatusPreconditionFailed,
	core.CodeExists:       http.StatusConflict,
	core.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	core.CodeLimit:        http.StatusUnprocessableEntity,
	core.CodeUnavailable:  http.StatusNotFound,
	core.CodeNotAccepted:  http.StatusConflict,
	core.CodeRateLimited:  http.StatusTooManyRequests,
	core.CodeUnauthorized: http.StatusUnauthorized,
	core.CodeForbidden:    http.StatusForbidden,
	core.CodeBusy:         http.StatusServiceUnavailable,
	core.CodeSessionGone:  http.StatusGone,
	core.CodeInternal:     http.StatusInternalServerError,
}

// Write sends a problem with the given code and detail. 429 and 503 carry
// Retry-After: 1 unless the caller set it to the real wait.
func Write(w http.ResponseWriter, code core.Code, detail string) {
	st, ok := status[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	WriteStatus(w, st, code, detail)
}

// WriteStatus sends a problem with an explicit HTTP status, for the
// answers that have no code of their own (405).
func WriteStatus(w http.ResponseWriter, st int, code core.Code, detail string) {
	if st == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="presenced"`)
	}
	if (st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(Details{Type: "https://presenced.dev/problems/" + string(code), Title: http.StatusText(st), Status: st, Detail: detail, Code: string(code)})
}

// RetryAfter sets the Retry-After header to d in whole seconds, rounded
// up, and at least 1.
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(s, 10))
}

// Error writes err: a *core.Error as itself, the sign-in errors of package
// auth and invalid addresses with their codes, an unreachable store
// (store.ErrUnavailable) as 503 busy, anything else as an internal
// error (whose details belong in the caller's log). It reports whether err
// was an internal error.
func Error(w http.ResponseWriter, err error) (internal bool) {
	var ce *core.Error
	switch {
	case errors.As(err, &ce):
		Write(w, ce.Code, ce.Message)
	case errors.Is(err, auth.ErrInvalidCredentials):
		Write(w, core.CodeUnauthorized, err.Error())
	case errors.Is(err, auth.ErrBusy):
		Write(w, core.CodeBusy, err.Error())
	case errors.Is(err, auth.ErrThrottled):
		var te *auth.ThrottledError
		if errors.As(err, &te) {
			RetryAfter(w, te.Wait)
		}
		Write(w, core.CodeRateLimited, err.Error())
	case errors.Is(err, auth.ErrWeakPassword), errors.Is(err, addr.ErrInvalid):
		Write(w, core.CodeInvalid, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		// the database cannot be reached: worth a retry, and worth a log line
		Write(w, core.CodeBusy, "the store is unavailable; try again")
		return true
	default:
		Write(w, core.CodeInternal, "internal error")
		return true
	}
	return false
}
