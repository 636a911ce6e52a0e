-- Expired tokens are deleted (and their sessions ended) every minute:
-- the sweep finds them by expiry instead of scanning every token.
CREATE INDEX tokens_expiry ON tokens(expires_at) WHERE expires_at<>0;
