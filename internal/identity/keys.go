package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// minRefresh is the least time between two fetches of an issuer's keys:
// a token naming a key the cache does not hold makes presenced fetch the
// set again (the issuer rotated), but a stream of tokens with made-up key
// IDs must not turn presenced into a flood of requests to the issuer.
const minRefresh = 10 * time.Second

// maxDocument bounds what is read of a discovery document or key set.
const maxDocument = 1 << 20

// remoteKeys is an issuer's published key set (oidc.KeySet), fetched from
// the jwks_uri of its discovery document, cached, and fetched again when a
// token names a key it does not hold. It only finds the key: the signature
// is go-jose's to check, with the algorithm the caller's parse allowed.
type remoteKeys struct {
	url    string
	client *http.Client
	every  time.Duration // the least time between two fetches

	mu      sync.Mutex // held across a fetch: concurrent misses wait for one
	keys    []jose.JSONWebKey
	fetched time.Time
}

func (k *remoteKeys) VerifySignature(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	kid, alg := oidc.GetKeyIDAndAlg(jws)
	k.mu.Lock()
	key, err := oidc.FindMatchingKey(kid, oidc.KeyUseSignature, alg, k.keys...)
	if err != nil && time.Since(k.fetched) >= k.every {
		if ferr := k.fetch(ctx); ferr != nil {
			k.mu.Unlock()
			return nil, ferr
		}
		key, err = oidc.FindMatchingKey(kid, oidc.KeyUseSignature, alg, k.keys...)
	}
	k.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("the issuer publishes no %s key with ID %q", alg, kid)
	}
	return jws.Verify(&key)
}

// fetch replaces the cached keys; the caller holds mu.
func (k *remoteKeys) fetch(ctx context.Context) error {
	k.fetched = time.Now()
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, k.client, k.url, &set); err != nil {
		return fmt.Errorf("the issuer's keys: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, key := range set.Keys {
		if key.Valid() && key.IsPublic() {
			keys = append(keys, key)
		}
	}
	k.keys = keys
	return nil
}

// getJSON reads a JSON document of at most maxDocument bytes.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return err
	}
	if len(b) > maxDocument {
		return errors.New("GET " + url + ": the document is too large")
	}
	return json.Unmarshal(b, v)
}
