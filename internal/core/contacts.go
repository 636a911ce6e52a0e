package core

import (
	"context"
	"errors"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// Address book limits, per contact.
const (
	maxName      = 256
	maxNotes     = 4096
	maxListItems = 16
	maxItem      = 254
	maxCard      = 256 << 10 // the stored vCard lines (vcard.MaxCard)
)

// checkCardText is checkText for what becomes a vCard value: no control
// characters but line feed and tab, which a card can carry (a carriage
// return would break its line and make a card no client can write back).
func checkCardText(field, s string, max int) error {
	if err := checkText(field, s, max); err != nil {
		return err
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return Errorf(CodeInvalid, "%s holds a control character (U+%04X)", field, r)
		}
	}
	return nil
}

// ValidateContact checks and normalizes a contact from a client.
func ValidateContact(c *store.Contact) error {
	if err := checkCardText("name", c.Name, maxName); err != nil {
		return err
	}
	if err := checkCardText("notes", c.Notes, maxNotes); err != nil {
		return err
	}
	if len(c.Card) > maxCard {
		return Errorf(CodeTooLarge, "a card may hold at most %d KiB", maxCard>>10)
	}
	for field, list := range map[string][]string{"emails": c.Emails, "phones": c.Phones, "groups": c.Groups} {
		if len(list) > maxListItems {
			return Errorf(CodeInvalid, "at most %d %s", maxListItems, field)
		}
		for _, v := range list {
			if v == "" {
				return Errorf(CodeInvalid, "%s must not hold empty entries", field)
			}
			if err := checkCardText(field, v, maxItem); err != nil {
				return err
			}
		}
	}
	if c.Address != "" {
		bare, err := addr.Bare(c.Address)
		if err != nil {
			return Errorf(CodeInvalid, "address: %v", err)
		}
		c.Address = bare
	}
	if c.Name == "" && c.Address == "" && len(c.Emails) == 0 && len(c.Phones) == 0 {
		return Errorf(CodeInvalid, "a contact needs a name, an address, an e-mail or a phone")
	}
	return nil
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Errorf(CodeNotFound, "no such contact")
	case errors.Is(err, store.ErrConflict):
		return Errorf(CodeConflict, "the contact changed since you read it")
	case errors.Is(err, store.ErrLimit):
		return Errorf(CodeLimit, "%v", err)
	}
	return err
}

// CreateContacts adds contacts to owner's address book, all or none.
func (h *Hub) CreateContacts(ctx context.Context, owner string, cs []store.Contact) ([]store.Contact, error) {
	now := h.clock.Now()
	for i := range cs {
		if err := ValidateContact(&cs[i]); err != nil {
			return nil, err
		}
		cs[i].ID, cs[i].Owner, cs[i].Updated = randomHex(8), owner, now // the store sets Version
	}
	if err := h.store.CreateContacts(ctx, owner, cs, h.cfg.Limits.ContactsPerAccount); err != nil {
		return nil, storeErr(err)
	}
	for _, c := range cs {
		h.contactChanged(ctx, ContactEvent{Op: "put", Contact: c})
	}
	return cs, nil
}

// CreateContactAt adds one contact under an ID the client chose (a CardDAV
// resource name). An existing contact with that ID fails with CodeExists.
func (h *Hub) CreateContactAt(ctx context.Context, owner, id string, c store.Contact) (store.Contact, error) {
	if err := ValidateContact(&c); err != nil {
		return c, err
	}
	// the store sets the version: never one a card of this name had
	// before, so a client's ETag from a deleted card matches no new one
	c.ID, c.Owner, c.Updated = id, owner, h.clock.Now()
	cs := []store.Contact{c}
	if err := h.store.CreateContacts(ctx, owner, cs, h.cfg.Limits.ContactsPerAccount); err != nil {
		if errors.Is(err, store.ErrExists) {
			return c, Errorf(CodeExists, "a contact named %s exists", id)
		}
		return c, storeErr(err)
	}
	c = cs[0]
	h.contactChanged(ctx, ContactEvent{Op: "put", Contact: c})
	return c, nil
}

// MaxContacts is how many cards a book may hold (0: no bound).
func (h *Hub) MaxContacts() int { return h.cfg.Limits.ContactsPerAccount }

// ContactChanges lists what changed in owner's address book after the
// sync position since (0: every contact) and the position now; a position
// too old to answer fails with store.ErrSyncExpired (a CardDAV client then
// lists the book again).
func (h *Hub) ContactChanges(ctx context.Context, owner string, since int64) ([]store.ContactChange, int64, error) {
	return h.store.ContactChanges(ctx, owner, since)
}

// Contact returns one of owner's contacts.
func (h *Hub) Contact(ctx context.Context, owner, id string) (store.Contact, error) {
	c, err := h.store.GetContact(ctx, owner, id)
	return c, storeErr(err)
}

// Contacts lists owner's contacts matching q.
func (h *Hub) Contacts(ctx context.Context, owner string, q store.ContactQuery) ([]store.Contact, error) {
	return h.store.ListContacts(ctx, owner, q)
}

// UpdateContact replaces a contact if its version is still ifVersion (0:
// unconditionally) and returns it with its new version.
func (h *Hub) UpdateContact(ctx context.Context, c store.Contact, ifVersion int64) (store.Contact, error) {
	if err := ValidateContact(&c); err != nil {
		return c, err
	}
	c.Updated = h.clock.Now()
	keepCard := c.Card == ""
	old, err := h.pinned(ctx, c.Owner, c.ID, ifVersion, func(old store.Contact) (err error) {
		if keepCard {
			// a write of fields alone (REST, XMPP roster) keeps the card's
			// other properties; package vcard merges the new fields in
			c.Card = old.Card
		}
		c.Version, err = h.store.UpdateContact(ctx, c, old.Version)
		return err
	})
	if err != nil {
		return c, err
	}
	ev := ContactEvent{Op: "put", Contact: c}
	if old.Address != c.Address {
		ev.PrevAddress = old.Address // the roster item the card left changes too
	}
	h.contactChanged(ctx, ev)
	return c, nil
}

// maxEditAttempts bounds how often EditContact reads again after losing a
// race to another write of the same contact.
const maxEditAttempts = 8

// EditContact changes some fields of a contact as it is stored now: edit
// gets the stored contact and sets the fields it changes (assigning new
// slices, not changing the old ones in place). The write is conditional on
// the version read, so a write from elsewhere (a CardDAV or REST PUT)
// landing in between is not overwritten: the contact is read and edited
// again, up to maxEditAttempts times, then the edit fails with
// CodeConflict. It returns the contact written.
func (h *Hub) EditContact(ctx context.Context, owner, id string, edit func(c *store.Contact)) (store.Contact, error) {
	for attempt := 1; ; attempt++ {
		c, err := h.store.GetContact(ctx, owner, id)
		if err != nil {
			return c, storeErr(err)
		}
		v := c.Version
		edit(&c)
		c.ID, c.Owner = id, owner
		c, err = h.UpdateContact(ctx, c, v)
		if CodeOf(err) != CodeConflict || attempt == maxEditAttempts || ctx.Err() != nil {
			return c, err
		}
	}
}

// DeleteContact removes a contact if its version is still ifVersion (0: any).
func (h *Hub) DeleteContact(ctx context.Context, owner, id string, ifVersion int64) error {
	old, err := h.pinned(ctx, owner, id, ifVersion, func(old store.Contact) error {
		// as many deletions kept for sync as a book may hold cards
		return h.store.DeleteContact(ctx, owner, id, old.Version, h.cfg.Limits.ContactsPerAccount)
	})
	if err != nil {
		return err
	}
	// the event keeps the address, so an XMPP roster can push the change
	h.contactChanged(ctx, ContactEvent{Op: "delete", Contact: store.Contact{ID: id, Owner: owner, Address: old.Address}})
	return nil
}

// pinned runs write on a contact as it is now, conditional on the version
// it read, and returns what the write replaced: so the event can say which
// address the card had (an XMPP roster item is the card with an address,
// and a card that moves or goes changes the item it leaves). ifVersion 0
// means any version: a write that lost a race reads again.
func (h *Hub) pinned(ctx context.Context, owner, id string, ifVersion int64, write func(old store.Contact) error) (store.Contact, error) {
	for {
		old, err := h.store.GetContact(ctx, owner, id)
		if err != nil {
			return old, storeErr(err)
		}
		if ifVersion != 0 && ifVersion != old.Version {
			return old, storeErr(store.ErrConflict)
		}
		err = write(old)
		if errors.Is(err, store.ErrConflict) && ifVersion == 0 && ctx.Err() == nil {
			continue
		}
		return old, storeErr(err)
	}
}

// contactChanged keeps the owner's other devices in sync, and what its
// grants of a group expose to apps (appgrants.go).
func (h *Hub) contactChanged(ctx context.Context, ev ContactEvent) {
	owner := ev.Contact.Owner
	unlock := h.lock(owner)
	u := h.live(owner)
	if u != nil {
		h.deliver(delivery{ev: ev, subject: u, flow: FlowPresence, to: self(owner)})
	}
	unlock()
	if u != nil && u.grantsGroup() {
		if err := h.grantsChanged(ctx, owner); err != nil {
			h.log.Warn("grants: reading a group's members", "account", owner, "err", err)
		}
	}
}
