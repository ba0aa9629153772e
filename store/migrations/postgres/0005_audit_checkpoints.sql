-- Signed checkpoints of the audit chain: an Ed25519 signature, by a key held
-- under the KEK, over b"zkr/audit/v1" || seq || entry_hash || ts.
CREATE TABLE audit_checkpoints (
    seq          BIGINT PRIMARY KEY,
    entry_hash   TEXT NOT NULL,
    ts           BIGINT NOT NULL,
    key_id       TEXT NOT NULL,
    key_version  BIGINT NOT NULL,
    public_key   TEXT NOT NULL,
    signature    TEXT NOT NULL
);

-- The audit chain and its checkpoints are append-only.
CREATE FUNCTION zkr_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION zkr_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION zkr_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION zkr_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION zkr_refuse_change();
