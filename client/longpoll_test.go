package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// heldPolls answers a long-polling session's hello at once, and holds
// every later poll until the request is cancelled and then until release
// is closed: a poll the server answered just as the client gave it up.
type heldPolls struct {
	release chan struct{}
}

func (h *heldPolls) RoundTrip(req *http.Request) (*http.Response, error) {
	var body struct {
		Session string `json:"session"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Session == "" { // the hello
		answer := `{"session":"s1","frames":[{"type":"welcome","id":"hello","session":"s1","address":"alice@x/s1"}]}`
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(answer)), Request: req}, nil
	}
	<-req.Context().Done()
	<-h.release
	return nil, req.Context().Err()
}

// Drop returns only once the poll loop has stopped: the caller may then
// point the Client elsewhere (a load balancer's choice, before a resume)
// with nothing left reading it. Before, Drop only cancelled the loop,
// which could still be polling (TestResumeOnAnotherNodeOverLongPoll's
// data race on BaseURL). synctest.Wait sees every goroutine blocked:
// Drop must then still be waiting for the loop held in its poll.
func TestDropWaitsForThePollLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		polls := &heldPolls{release: make(chan struct{})}
		c := &Client{BaseURL: "http://node-a.invalid", Token: "t", HTTP: &http.Client{Transport: polls}}
		s, err := c.ConnectPoll(context.Background(), ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the loop's first poll is in flight
		dropped := make(chan struct{})
		go func() {
			s.Drop()
			close(dropped)
		}()
		synctest.Wait()
		select {
		case <-dropped:
			t.Error("Drop returned while the poll loop was still in a poll")
		default:
		}
		close(polls.release)
		<-dropped
		c.BaseURL = "http://node-b.invalid" // under -race: nothing reads it any more
	})
}
