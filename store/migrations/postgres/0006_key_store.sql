-- The key store's tables (zkr-keys). They were created at run time before
-- this migration, so every statement is IF NOT EXISTS: a database that
-- already has them upgrades without change.
--
-- zkr_keys: one row per key version. Public keys in clear; private keys
-- (custodial, escrow, signing) only as KEK wraps, with the KEK's id.
CREATE TABLE IF NOT EXISTS zkr_keys (
    key_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    custody TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    wrapped_private BYTEA,
    kek_id TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    PRIMARY KEY (key_id, version)
);

-- zkr_dek_wraps: the authoritative wrapped DEKs of every active record, one
-- row per (tx_id, recipient key id, key version). Rotation adds rows here;
-- record ciphertexts are never touched.
CREATE TABLE IF NOT EXISTS zkr_dek_wraps (
    tx_id BYTEA NOT NULL,
    key_id TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    enc BYTEA NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tx_id, key_id, key_version)
);

CREATE INDEX IF NOT EXISTS zkr_dek_wraps_by_key
    ON zkr_dek_wraps (key_id, key_version, tx_id);

-- zkr_rotations: persisted progress of each rotation, so that an
-- interrupted rotation resumes where it stopped.
CREATE TABLE IF NOT EXISTS zkr_rotations (
    key_id TEXT NOT NULL,
    to_version BIGINT NOT NULL,
    cursor_tx BYTEA,
    rewrapped BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (key_id, to_version)
);
