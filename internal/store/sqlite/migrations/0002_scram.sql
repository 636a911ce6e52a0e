-- SCRAM credentials (RFC 5802) beside the argon2id hash: a JSON array of
-- {mechanism, salt, iterations, stored_key, server_key}, set with the password.
ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '[]';
