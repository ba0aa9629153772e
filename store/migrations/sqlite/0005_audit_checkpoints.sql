-- Signed checkpoints of the audit chain: an Ed25519 signature, by a key held
-- under the KEK, over b"zkr/audit/v1" || seq || entry_hash || ts.
CREATE TABLE audit_checkpoints (
    seq          INTEGER PRIMARY KEY,
    entry_hash   TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    key_version  INTEGER NOT NULL,
    public_key   TEXT NOT NULL,
    signature    TEXT NOT NULL
);

-- The audit chain and its checkpoints are append-only.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
