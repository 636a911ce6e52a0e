-- Grants that expire are swept when they do (store.DeleteExpiredGrants):
-- found by this index, which holds only those with an expiry.
CREATE INDEX grants_expiry ON grants(expires_at) WHERE expires_at<>0;
