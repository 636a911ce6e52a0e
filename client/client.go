// Package client is the Go client of presenced: the REST API and live
// sessions over the JSON protocol, on WebSocket or long-polling with the
// same API. The server's tests, its CLI and its load generator use it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one presenced server as one account.
type Client struct {
	BaseURL string // "http://localhost:8080"
	Token   string // bearer token
	HTTP    *http.Client
	// Dial, if set, opens the TCP connections of live sessions over
	// WebSocket instead of a plain net.Dialer: a load generator spreads
	// its connections over several source addresses with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Error is a failed request: an RFC 9457 problem from the REST API, or an
// error frame from a live session.
type Error struct {
	Status  int    // HTTP status; 0 for protocol errors
	Code    string // "invalid", "unavailable", "conflict" …
	Message string
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("presenced: %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("presenced: %s: %s", e.Code, e.Message)
}

// New returns a client for baseURL with a token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 70 * time.Second}}
}

// Login signs in with a password and returns a client holding the new token.
func Login(ctx context.Context, baseURL, address, password string) (*Client, error) {
	c := New(baseURL, "")
	var out struct{ Token string }
	if err := c.Do(ctx, "POST", "/v1/auth/login", map[string]string{"address": address, "password": password, "label": "go-client"}, &out); err != nil {
		return nil, err
	}
	c.Token = out.Token
	return c, nil
}

// Do sends a JSON request (body may be nil) and decodes a JSON answer into
// out (may be nil). Non-2xx answers become *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.DoHeader(ctx, method, path, nil, body, out)
	return err
}

// DoHeader is Do with extra request headers; it returns the response headers.
func (c *Client) DoHeader(ctx context.Context, method, path string, hdr http.Header, body, out any) (http.Header, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if rd != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.Header, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		var p struct{ Code, Detail string }
		json.Unmarshal(data, &p)
		return resp.Header, &Error{Status: resp.StatusCode, Code: p.Code, Message: p.Detail}
	}
	if out != nil && len(data) > 0 {
		if b, ok := out.(*[]byte); ok {
			*b = data
			return resp.Header, nil
		}
		return resp.Header, json.Unmarshal(data, out)
	}
	return resp.Header, nil
}

// Subscription is one relationship, as GET /v1/subscriptions lists it.
type Subscription struct {
	Address      string `json:"address"`
	Subscription string `json:"subscription"`
	PendingOut   bool   `json:"pending_out"`
	PendingIn    bool   `json:"pending_in"`
	PreApproved  bool   `json:"preapproved"`
}

// Subscriptions lists the caller's relationships.
func (c *Client) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var out struct{ Subscriptions []Subscription }
	err := c.Do(ctx, "GET", "/v1/subscriptions", nil, &out)
	return out.Subscriptions, err
}

// SubscriptionAction runs subscribe, approve, deny, unsubscribe or remove.
func (c *Client) SubscriptionAction(ctx context.Context, address, action string) (Subscription, error) {
	var out Subscription
	err := c.Do(ctx, "POST", "/v1/subscriptions/"+url.PathEscape(address)+"/"+action, nil, &out)
	return out, err
}

// Presence returns what the caller may see of the given addresses (of every
// contact that approved it when none are given).
func (c *Client) Presence(ctx context.Context, addresses ...string) ([]Presence, error) {
	var out struct{ Presence []Presence }
	err := c.Do(ctx, "POST", "/v1/presence/query", map[string][]string{"addresses": addresses}, &out)
	return out.Presence, err
}
