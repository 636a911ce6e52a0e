package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/core"
)

// Sessions resumed on another node (core adopt.go; docs/architecture.md,
// "Cluster"). Each node keeps a record of each of its resumable sessions
// in a key-value bucket of its own (…_resume), keyed by node, account and
// resource, written behind the hub's back like the registry (Record only
// queues). A node asked to resume a session it does not hold looks for
// that session's record under any node and adopts it when:
//
//   - the record's channel is the resuming client's (else: no such session);
//   - the node that wrote it is gone: declared dead here, or it does not
//     answer on the bus at all (a killed node: "no responders"), or it
//     answers that it is shutting down, or that it is a later run of
//     itself (it restarted); a node that does not answer is waited for
//     until declared dead here; a node that answers it holds the session
//     keeps it (the resume is refused as for an unknown session);
//   - a dead node's session is resumed within its grace period after the
//     node was declared dead here;
//   - and this node deletes the record at the revision it read: of two
//     nodes adopting one session at once, one only succeeds.
//
// The adopted session is shown with the presence it had; while the old
// node is not declared dead yet, viewers merge both nodes' parts, in
// which one resource is one session (merge), so they see no change.
// Records of a dead node are deleted ResumeFor after it was declared dead
// (by the purging node), and the bucket's TTL removes what a cluster that
// went entirely leaves behind.

// recordTTL: a record not rewritten for this long is dropped (a backstop
// for records no live node purges).
const recordTTL = 24 * time.Hour

// sessionRec is a SessionRecord in the bucket.
type sessionRec struct {
	Run      string         `json:"r"` // the run of the node that wrote it
	App      string         `json:"a,omitempty"`
	Presence *core.Presence `json:"p,omitempty"`
	GraceMS  uint32         `json:"g,omitempty"`
	Accepts  uint8          `json:"k,omitempty"`
	Topics   uint32         `json:"t,omitempty"`
}

// holdAsk asks a node whether it holds a session; holdReply answers.
type holdAsk struct {
	Account  string `json:"a"`
	Resource string `json:"r"`
}

type holdReply struct {
	Held    bool   `json:"h,omitempty"`
	Closing bool   `json:"c,omitempty"` // shutting down: it resumes nothing
	Run     string `json:"r"`
}

// decodeRecord checks and decodes a record read from the bucket.
func decodeRecord(b []byte) (sessionRec, error) {
	var r sessionRec
	if err := unmarshalBounded(b, &r); err != nil {
		return r, err
	}
	if r.Presence != nil {
		if err := r.Presence.Validate(); err != nil {
			return r, fmt.Errorf("%w: presence: %v", ErrBadMessage, err)
		}
	}
	return r, nil
}

// decodeHold checks and decodes a question whether a session is held.
func decodeHold(b []byte) (holdAsk, error) {
	var a holdAsk
	if err := unmarshalBounded(b, &a); err != nil {
		return a, err
	}
	if a.Account == "" || len(a.Account) > maxAccountLen || a.Resource == "" || len(a.Resource) > 64 {
		return a, fmt.Errorf("%w: hold", ErrBadMessage)
	}
	return a, nil
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// recKey is the key of a session's record written by node.
func recKey(node, account, resource string) string {
	return node + "." + b64(account) + "." + b64(resource)
}

// Record is core.Adopter's: it queues the record's write.
func (n *Node) Record(r core.SessionRecord) {
	k := recKey(n.id, r.Account, r.Resource)
	var rec *sessionRec
	if !r.Ended {
		rec = &sessionRec{Run: n.run, App: r.App, Presence: r.Presence, GraceMS: r.GraceMS, Accepts: r.Accepts, Topics: r.Topics}
	}
	n.recMu.Lock()
	n.recPending[k] = rec
	n.recMu.Unlock()
	select {
	case n.recKick <- struct{}{}:
	default:
	}
}

// recordLoop writes the records queued; failed writes wait for the next
// round (at least every heartbeat).
func (n *Node) recordLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-n.recKick:
		case <-tick.C:
		}
		n.writeRecords()
	}
}

func (n *Node) writeRecords() {
	n.recMu.Lock()
	todo := n.recPending
	n.recPending = map[string]*sessionRec{}
	n.recMu.Unlock()
	for k, rec := range todo {
		var err error
		if rec == nil {
			err = n.kvResume.Delete(k)
		} else {
			var b []byte
			if b, err = json.Marshal(rec); err == nil {
				_, err = n.kvResume.Put(k, b)
			}
		}
		if err != nil {
			n.recMu.Lock()
			if _, newer := n.recPending[k]; !newer {
				n.recPending[k] = rec
			}
			n.recMu.Unlock()
		}
	}
}

// Recorded reports whether the registry has the record of a session of
// this node as it is now: every write queued for it made.
func (n *Node) Recorded(account, resource string) bool {
	k := recKey(n.id, account, resource)
	n.recMu.Lock()
	_, pending := n.recPending[k]
	n.recMu.Unlock()
	if pending || !n.up.Load() {
		return false
	}
	_, err := n.kvResume.Get(k)
	return err == nil
}

// Adopt is core.Adopter's.
func (n *Node) Adopt(ctx context.Context, account, resource, app string) (core.SessionRecord, bool) {
	if !n.up.Load() || account == "" || len(account) > maxAccountLen {
		return core.SessionRecord{}, false
	}
	// long enough for a silent holder to be declared dead (gone)
	ctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout+n.cfg.DeadAfter)
	defer cancel()
	// bounded: every resume of a session unknown here (a bogus one
	// included) reads the bucket; beyond maxAdopting at once, they wait
	select {
	case n.adopting <- struct{}{}:
	case <-ctx.Done():
		return core.SessionRecord{}, false
	}
	entries := n.recordsOf(ctx, "*."+b64(account)+"."+b64(resource), nats.IgnoreDeletes())
	<-n.adopting
	var claim []nats.KeyValueEntry
	var rec sessionRec
	for _, e := range entries {
		node, _, _ := strings.Cut(e.Key(), ".")
		r, err := decodeRecord(e.Value())
		if checkNodeID(node) != nil || err != nil || r.App != app {
			continue
		}
		if !n.gone(ctx, node, account, resource, r) {
			return core.SessionRecord{}, false // a node holds it: it is not taken from it
		}
		if len(claim) == 0 {
			rec = r
		}
		claim = append(claim, e)
	}
	// the claim: of two nodes adopting it, one only deletes it at these revisions
	for _, e := range claim {
		if err := n.kvResume.Delete(e.Key(), nats.LastRevision(e.Revision())); err != nil {
			return core.SessionRecord{}, false
		}
	}
	if len(claim) == 0 {
		return core.SessionRecord{}, false
	}
	n.metrics.Adopted.Add(1)
	n.cfg.Log.Info("cluster: session adopted", "from", claim[0].Key(), "account", account, "resource", resource)
	return core.SessionRecord{Account: account, Resource: resource, App: rec.App, Presence: rec.Presence,
		GraceMS: rec.GraceMS, Accepts: rec.Accepts, Topics: rec.Topics}, true
}

// maxAdopting bounds the look-ups of Adopt running at once.
const maxAdopting = 64

// maxRecords bounds the records one look-up reads: one per node at most.
const maxRecords = 64

// recordsOf reads the current records whose keys match filter (the
// first maxRecords for a session's, all of a node's for a purge).
func (n *Node) recordsOf(ctx context.Context, filter string, opts ...nats.WatchOpt) []nats.KeyValueEntry {
	w, err := n.kvResume.Watch(filter, append(opts, nats.Context(ctx))...)
	if err != nil {
		return nil
	}
	defer w.Stop()
	var out []nats.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return out
			}
			if len(out) < maxRecords || strings.HasSuffix(filter, ">") {
				out = append(out, e)
			}
		case <-ctx.Done():
			return out
		}
	}
}

// gone reports whether node no longer holds the session of rec, which it
// wrote, nor can take it again.
func (n *Node) gone(ctx context.Context, node, account, resource string, rec sessionRec) bool {
	grace := n.cfg.Grace
	if rec.GraceMS > 0 {
		grace = time.Duration(rec.GraceMS) * time.Millisecond
	}
	if node == n.id { // this node's: of an earlier run, or ended here
		return rec.Run != n.run && time.Since(n.started) < n.cfg.DeadAfter+grace
	}
	n.mu.RLock()
	dead, died := n.dead[node], n.diedAt[node]
	n.mu.RUnlock()
	if dead {
		return time.Since(died) < grace
	}
	b, _ := json.Marshal(holdAsk{Account: account, Resource: resource})
	rctx, cancel := context.WithTimeout(ctx, n.cfg.DeadAfter/2)
	msg, err := n.nc.RequestWithContext(rctx, n.subject(node, "hold"), b)
	cancel()
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return true // off the bus: killed
	case err != nil: // silent (a machine gone without closing its sockets) or slow
		return n.awaitDead(ctx, node)
	}
	var r holdReply
	if len(msg.Data) > MaxMessageBytes || json.Unmarshal(msg.Data, &r) != nil {
		return false
	}
	return r.Closing || r.Run != rec.Run
}

// awaitDead waits until node is declared dead here, or ctx is done.
func (n *Node) awaitDead(ctx context.Context, node string) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n.mu.RLock()
		dead := n.dead[node]
		n.mu.RUnlock()
		if dead {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// onHold answers whether this node holds a session.
func (n *Node) onHold(msg *nats.Msg) {
	a, err := decodeHold(msg.Data)
	if err != nil || msg.Reply == "" {
		n.metrics.BadIn.Add(1)
		return
	}
	r := holdReply{Run: n.run, Closing: !n.up.Load()}
	if !r.Closing {
		r.Held, r.Closing = n.hub.Holding(a.Account, a.Resource)
	}
	b, _ := json.Marshal(r)
	msg.Respond(b)
}

// purgeRecords deletes the records of a node declared dead, once none of
// its sessions may be adopted any more, if this node is the purger then
// and that node did not come back.
func (n *Node) purgeRecords(node string) {
	if !n.up.Load() {
		return
	}
	n.mu.RLock()
	purger, dead := true, n.dead[node]
	for other := range n.seen {
		if !n.dead[other] && other < n.id {
			purger = false
		}
	}
	n.mu.RUnlock()
	if !dead || !purger {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*n.cfg.SendTimeout)
	defer cancel()
	for _, e := range n.recordsOf(ctx, node+".>", nats.IgnoreDeletes(), nats.MetaOnly()) {
		n.kvResume.Delete(e.Key(), nats.LastRevision(e.Revision()))
	}
}

// purgeEarlierRuns deletes the records this node's earlier runs left
// (it was restarted with the same ID), once their clients had the time
// to resume them.
func (n *Node) purgeEarlierRuns() {
	if !n.up.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*n.cfg.SendTimeout)
	defer cancel()
	for _, e := range n.recordsOf(ctx, n.id+".>", nats.IgnoreDeletes()) {
		if r, err := decodeRecord(e.Value()); err != nil || r.Run != n.run {
			n.kvResume.Delete(e.Key(), nats.LastRevision(e.Revision()))
		}
	}
}

// newRun names one run of a node: a node restarted with the same ID
// tells its records from the last run's by it.
func newRun() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
