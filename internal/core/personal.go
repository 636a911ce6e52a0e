package core

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/presenced/presenced/internal/jsonerr"
	"github.com/presenced/presenced/internal/store"
)

// Personal events are what a user is doing beyond online or not: a topic
// per kind (mood, activity, tune, geoloc, avatar), whose last item is kept
// and delivered to the user's own sessions and to everyone the policy lets
// see the user's presence (FlowPresence: an event says as much about a
// person as presence does). XMPP carries them as PEP (XEP-0163); the
// transports translate the JSON forms below. docs/personal-events.md.

// Topics of personal events.
const (
	TopicMood     = "mood"     // XEP-0107
	TopicActivity = "activity" // XEP-0108
	TopicTune     = "tune"     // XEP-0118
	TopicGeoloc   = "geoloc"   // XEP-0080
	TopicAvatar   = "avatar"   // XEP-0084 metadata
)

// Topics lists every topic, in a fixed order.
var Topics = []string{TopicMood, TopicActivity, TopicTune, TopicGeoloc, TopicAvatar}

// The JSON form of each topic's item. An empty object means the user
// stopped publishing (no mood any more, music stopped).
type (
	MoodItem struct {
		Mood string `json:"mood,omitempty"` // a XEP-0107 value: "happy", "tired" …
		Text string `json:"text,omitempty"`
	}
	ActivityItem struct {
		Category string `json:"category,omitempty"` // a XEP-0108 general category: "working" …
		Specific string `json:"specific,omitempty"` // its specific activity: "coding" …
		Text     string `json:"text,omitempty"`
	}
	TuneItem struct {
		Artist string `json:"artist,omitempty"`
		Length int    `json:"length,omitempty"` // seconds
		Rating int    `json:"rating,omitempty"` // 1 to 10
		Source string `json:"source,omitempty"`
		Title  string `json:"title,omitempty"`
		Track  string `json:"track,omitempty"`
		URI    string `json:"uri,omitempty"`
	}
	GeolocItem struct {
		Lat         *float64 `json:"lat,omitempty"`
		Lon         *float64 `json:"lon,omitempty"`
		Alt         *float64 `json:"alt,omitempty"`
		Accuracy    *float64 `json:"accuracy,omitempty"` // metres
		Country     string   `json:"country,omitempty"`
		CountryCode string   `json:"countrycode,omitempty"`
		Locality    string   `json:"locality,omitempty"`
		Region      string   `json:"region,omitempty"`
		Street      string   `json:"street,omitempty"`
		PostalCode  string   `json:"postalcode,omitempty"`
		Text        string   `json:"text,omitempty"`
		Timestamp   string   `json:"timestamp,omitempty"` // RFC 3339
		URI         string   `json:"uri,omitempty"`
	}
	AvatarItem struct {
		ID     string `json:"id,omitempty"`   // SHA-1 of the image, hex
		Type   string `json:"type,omitempty"` // media type
		Bytes  int    `json:"bytes,omitempty"`
		Width  int    `json:"width,omitempty"`
		Height int    `json:"height,omitempty"`
		URL    string `json:"url,omitempty"`
	}
)

// Limits of personal events.
const (
	MaxPersonalData = 4 << 10
	maxItemID       = 64
)

// PersonalEvent: the user or a contact published (or retracted) the item
// of a topic.
type PersonalEvent struct {
	Item      store.PersonalItem
	Retracted bool
}

func (PersonalEvent) isEvent() {}

type topicSet uint8

func topicBit(topic string) topicSet {
	for i, t := range Topics {
		if t == topic {
			return 1 << i
		}
	}
	return 0
}

func topicsOf(topics []string) (topicSet, error) {
	var set topicSet
	for _, t := range topics {
		b := topicBit(t)
		if b == 0 {
			return 0, Errorf(CodeInvalid, "unknown topic %q", t)
		}
		set |= b
	}
	return set, nil
}

// allTopics is what a session takes unless it says otherwise.
var allTopics = topicSet(1)<<len(Topics) - 1

// CanonicalItem checks data against the topic's JSON form and returns it
// re-encoded, unknown fields refused.
func CanonicalItem(topic string, data json.RawMessage) (json.RawMessage, error) {
	var v any
	switch topic {
	case TopicMood:
		v = &MoodItem{}
	case TopicActivity:
		v = &ActivityItem{}
	case TopicTune:
		v = &TuneItem{}
	case TopicGeoloc:
		v = &GeolocItem{}
	case TopicAvatar:
		v = &AvatarItem{}
	default:
		return nil, Errorf(CodeInvalid, "unknown topic %q", topic)
	}
	if len(data) > MaxPersonalData {
		return nil, Errorf(CodeInvalid, "data larger than %d bytes", MaxPersonalData)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return nil, Errorf(CodeInvalid, "%s: %s", topic, jsonerr.Describe(err))
	}
	var names []string // values that XMPP writes as element names
	switch v := v.(type) {
	case *MoodItem:
		if v.Mood != "" && !slices.Contains(Moods, v.Mood) {
			return nil, Errorf(CodeInvalid, "mood: %q is not a XEP-0107 mood (happy, sad, tired, …: docs/personal-events.md)", clipName(v.Mood))
		}
	case *TuneItem:
		if v.Rating != 0 && (v.Rating < 1 || v.Rating > 10) {
			return nil, Errorf(CodeInvalid, "tune: rating must be from 1 to 10")
		}
		if v.Length < 0 {
			return nil, Errorf(CodeInvalid, "tune: length must not be negative")
		}
	case *ActivityItem:
		names = []string{v.Category, v.Specific}
		if v.Category == "" && v.Specific != "" {
			return nil, Errorf(CodeInvalid, "activity: specific needs a category")
		}
	}
	for _, n := range names {
		if !isValueName(n) {
			return nil, Errorf(CodeInvalid, "%s: %q is not a value name (a to z and _, at most 32)", topic, n)
		}
	}
	out, _ := json.Marshal(v)
	return out, nil
}

// Moods are the mood values of XEP-0107 (User Mood) § 3, version 1.2.1.
var Moods = []string{
	"afraid", "amazed", "amorous", "angry", "annoyed", "anxious", "aroused", "ashamed", "bored", "brave",
	"calm", "cautious", "cold", "confident", "confused", "contemplative", "contented", "cranky", "crazy",
	"creative", "curious", "dejected", "depressed", "disappointed", "disgusted", "dismayed", "distracted",
	"embarrassed", "envious", "excited", "flirtatious", "frustrated", "grateful", "grieving", "grumpy",
	"guilty", "happy", "hopeful", "hot", "humbled", "humiliated", "hungry", "hurt", "impressed", "in_awe",
	"in_love", "indignant", "interested", "intoxicated", "invincible", "jealous", "lonely", "lost", "lucky",
	"mean", "moody", "nervous", "neutral", "offended", "outraged", "playful", "proud", "relaxed",
	"relieved", "remorseful", "restless", "sad", "sarcastic", "satisfied", "serious", "shocked", "shy",
	"sick", "sleepy", "spontaneous", "stressed", "strong", "surprised", "thankful", "thirsty", "tired",
	"undefined", "weak", "worried",
}

// clipName keeps an echoed value short.
func clipName(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// isValueName: empty, or lower-case letters and underscores, as the values
// of XEP-0107 and XEP-0108 are.
func isValueName(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// Publish sets the session's account's item on a topic and delivers it. An
// empty itemID gets one made up.
func (s *Session) Publish(ctx context.Context, topic, itemID string, data json.RawMessage) (store.PersonalItem, error) {
	if err := s.may(ScopeEventsPublish); err != nil {
		return store.PersonalItem{}, err
	}
	canon, err := CanonicalItem(topic, data)
	if err != nil {
		return store.PersonalItem{}, err
	}
	if itemID == "" {
		itemID = randomHex(8)
	}
	if err := checkText("item", itemID, maxItemID); err != nil {
		return store.PersonalItem{}, err
	}
	h := s.hub
	it := store.PersonalItem{Account: s.Account, Topic: topic, ItemID: itemID, Data: string(canon), Published: h.clock.Now().UTC().Truncate(time.Millisecond)}
	return it, h.publish(ctx, s, PersonalEvent{Item: it})
}

// Retract removes the session's account's item on a topic; those who got
// it are told.
func (s *Session) Retract(ctx context.Context, topic string) error {
	if err := s.may(ScopeEventsPublish); err != nil {
		return err
	}
	if topicBit(topic) == 0 {
		return Errorf(CodeInvalid, "unknown topic %q", topic)
	}
	return s.hub.publish(ctx, s, PersonalEvent{Item: store.PersonalItem{Account: s.Account, Topic: topic}, Retracted: true})
}

// publish stores ev and fans it out. One account's events are stored and
// delivered in one order (its publish stripe; other accounts' fan-outs do
// not wait for it). An item published while invisible is stored without a
// time: its viewers get it when the user shows up again, stamped then
// (restampHidden), so it tells nothing about the invisible time.
func (h *Hub) publish(ctx context.Context, s *Session, ev PersonalEvent) error {
	mu := &h.publishMu[hash(s.Account)%publishStripes]
	mu.Lock()
	defer mu.Unlock()
	var err error
	if ev.Retracted { // the event names the item that goes
		items, err := h.store.PersonalItemsOf(ctx, []string{s.Account})
		if err != nil {
			return err
		}
		found := false
		for _, it := range items {
			if it.Topic == ev.Item.Topic {
				ev.Item, found = it, true
			}
		}
		if !found {
			return nil // nothing to retract
		}
		err = h.store.DeletePersonalItem(ctx, s.Account, ev.Item.Topic)
	} else {
		stored := ev.Item
		if h.invisibleNow(s) {
			stored.Published = time.Time{}
		}
		err = h.store.PutPersonalItem(ctx, stored, len(Topics))
	}
	if err != nil {
		return err
	}
	defer h.lock(s.Account)()
	if s.ended.Load() {
		return errSessionGone
	}
	h.fanItemLocked(s.user, ev)
	return nil
}

// invisibleNow reads whether s's account is invisible.
func (h *Hub) invisibleNow(s *Session) bool {
	defer h.lock(s.Account)()
	return s.user.invisible
}

// fanItemLocked delivers a personal event to the subject's own sessions and
// to every viewer the policy allows, each session taking the topic.
func (h *Hub) fanItemLocked(u *user, ev PersonalEvent) {
	want := Want{Topic: ev.Item.Topic}
	to := []Target{{Account: u.address, Want: want}}
	for _, v := range u.viewers.all() {
		to = append(to, Target{Account: v, Want: want})
	}
	h.deliver(delivery{ev: ev, subject: u, flow: FlowEvent, to: to})
}

// restampHidden stamps the items actor published while invisible with the
// time it shows up again; the caller (SetInvisible) then shows them.
func (h *Hub) restampHidden(ctx context.Context, actor string) error {
	items, err := h.store.PersonalItemsOf(ctx, []string{actor})
	if err != nil {
		return err
	}
	now := h.clock.Now().UTC().Truncate(time.Millisecond)
	for _, it := range items {
		if it.Published.IsZero() {
			it.Published = now
			if err := h.store.PutPersonalItem(ctx, it, len(Topics)); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetInterests says which topics the session takes (XMPP learns it from
// entity capabilities); the last items of newly added topics, its own and
// those of everyone it may see, follow at once (XEP-0163 § 4.3).
//
// The session takes the topics before the store is read: an item stored
// after the read is then fanned out to it by its publish, and one stored
// before is in the read (one published around the swap may come twice).
// The other order lost an item published between the read and the swap:
// its fan-out found the topic not taken yet.
func (s *Session) SetInterests(ctx context.Context, topics []string) error {
	set, err := topicsOf(topics)
	if err != nil {
		return err
	}
	old := s.topics.Swap(uint32(set))
	added := set &^ topicSet(old)
	if added == 0 {
		return nil
	}
	h := s.hub
	facts, err := h.store.ApprovedBy(ctx, s.Account)
	var items []store.PersonalItem
	if err == nil {
		items, err = h.store.PersonalItemsOf(ctx, subjectsOf(s.Account, facts))
	}
	if err != nil {
		// not taken after all, so that asking again reads them again
		s.topics.CompareAndSwap(uint32(set), old)
		return err
	}
	for _, it := range items {
		if added&topicBit(it.Topic) == 0 {
			continue
		}
		unlock := h.lock(it.Account)
		if s.ended.Load() {
			unlock()
			return errSessionGone
		}
		h.itemToLocked(s, it, facts)
		unlock()
	}
	return nil
}

// itemToLocked delivers one stored item to session s, if its viewer may see
// it: through the live subject when it has sessions, else by the facts the
// store gave. The caller holds the item's account's lock.
func (h *Hub) itemToLocked(s *Session, it store.PersonalItem, facts []store.SubjectFacts) {
	su := h.subjectLocked(it.Account, s.Account, facts)
	if su == nil || it.Published.IsZero() && it.Account != s.Account {
		return
	}
	h.deliver(delivery{ev: PersonalEvent{Item: it}, subject: su, flow: FlowEvent, to: []Target{s.target()}})
}

// subjectLocked is the live user of subject, or one standing for it from
// viewer's stored facts; nil when it did not approve viewer.
func (h *Hub) subjectLocked(subject, viewer string, facts []store.SubjectFacts) *user {
	if su := h.live(subject); su != nil {
		return su
	}
	for _, sf := range facts {
		if sf.Subject == subject {
			return storedUser(sf, viewer)
		}
	}
	return nil
}

func subjectsOf(self string, facts []store.SubjectFacts) []string {
	out := make([]string, 1, len(facts)+1)
	out[0] = self
	for _, f := range facts {
		out = append(out, f.Subject)
	}
	return out
}

// visibleItemsLocked keeps the items viewer may see: its own, and those of
// subjects the policy lets it see (live ones by their state, others by the
// stored facts); an item stored without a time was published while
// invisible and is not shown yet. The caller holds the subjects' locks.
func (h *Hub) visibleItemsLocked(viewer string, facts []store.SubjectFacts, items []store.PersonalItem, ch Channel) []store.PersonalItem {
	var out []store.PersonalItem
	for _, it := range items {
		ok := it.Account == viewer
		if !ok && !it.Published.IsZero() {
			if su := h.subjectLocked(it.Account, viewer, facts); su != nil {
				ok = Allow(h.factsLocked(su, viewer, ch), FlowEvent)
			}
		}
		if ok {
			out = append(out, it)
		}
	}
	return out
}

// PersonalItems returns subject's items that viewer may see (all its own);
// a subject it may not see answers like one with no items.
func (h *Hub) PersonalItems(ctx context.Context, viewer, subject string) ([]store.PersonalItem, error) {
	var facts []store.SubjectFacts
	if subject != viewer {
		all, err := h.store.ApprovedBy(ctx, viewer)
		if err != nil {
			return nil, err
		}
		for _, f := range all {
			if f.Subject == subject {
				facts = append(facts, f)
			}
		}
		if len(facts) == 0 {
			return nil, nil
		}
	}
	items, err := h.store.PersonalItemsOf(ctx, []string{subject})
	if err != nil {
		return nil, err
	}
	defer h.lock(subject)()
	return h.visibleItemsLocked(viewer, facts, items, Channel{}), nil
}
