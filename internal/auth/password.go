package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. The defaults follow the OWASP
// password storage recommendation (19 MiB, 2 passes, 1 lane).
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultParams are used for new hashes.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// ErrBusy means the hashing pool is saturated; the caller should retry later.
var ErrBusy = errors.New("too many sign-ins in progress, retry shortly")

// Hasher computes argon2id hashes in a bounded pool. argon2id is memory-hard
// by design, so unbounded concurrency would let a flood of sign-ins exhaust
// memory and starve presence traffic: at most `workers` hashes run at once
// and at most `queue` more wait; beyond that callers get ErrBusy at once.
type Hasher struct {
	params  Params
	running chan struct{}
	waiting chan struct{}
}

// NewHasher returns a pool running at most workers hashes with queue waiters.
func NewHasher(p Params, workers, queue int) *Hasher {
	return &Hasher{params: p, running: make(chan struct{}, workers), waiting: make(chan struct{}, workers+queue)}
}

func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.waiting <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	select {
	case h.running <- struct{}{}:
		return func() { <-h.running; <-h.waiting }, nil
	case <-ctx.Done():
		<-h.waiting
		return nil, ctx.Err()
	}
}

// Hash returns a PHC-format argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	salt := make([]byte, 16)
	rand.Read(salt)
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64(salt), b64(key)), nil
}

// Verify reports whether password matches the PHC hash. An empty hash is
// verified against a dummy so that unknown accounts take as long as known ones.
func (h *Hasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	p, salt, want, err := parsePHC(hash)
	if err != nil { // no (usable) hash: spend the same time, then refuse
		argon2.IDKey([]byte(password), make([]byte, 16), h.params.Time, h.params.MemoryKiB, h.params.Threads, 32)
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var v int
	if _, err = fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err = fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, err
	}
	if p.MemoryKiB > 1<<20 || p.Time > 16 || p.Threads == 0 { // refuse hashes that would cost a DoS to check
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return p, nil, nil, err
	}
	key, err = base64.RawStdEncoding.DecodeString(parts[5])
	return p, salt, key, err
}
