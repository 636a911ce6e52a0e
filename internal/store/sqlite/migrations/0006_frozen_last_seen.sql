-- What a blocked or hidden-from viewer is shown as the owner's last-seen
-- (ms since the epoch, 0 for nothing): the moment it stopped seeing the
-- owner, as a plain sign-out then would have shown it, frozen while the
-- entry holds. Entries from before this migration show nothing, as before.
ALTER TABLE blocks ADD COLUMN shown INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hidden ADD COLUMN shown INTEGER NOT NULL DEFAULT 0;
