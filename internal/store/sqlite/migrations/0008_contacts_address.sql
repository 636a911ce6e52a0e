-- An XMPP roster push reads the cards with one presence address
-- (ContactQuery.Address): without this index, every push read the whole
-- address book.
CREATE INDEX contacts_address ON contacts(owner, address);
