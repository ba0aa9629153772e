-- Confidential transactions: the sealed record (the wrapped DEKs live in the
-- key store's zkr_dek_wraps) and the public commitment and attestation.
CREATE TABLE confidential_txs (
    id              TEXT PRIMARY KEY,
    receipt_hash    TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    ciphertext      TEXT NOT NULL,
    client_key      TEXT NOT NULL,
    miner_key       TEXT NOT NULL,
    escrow_key      TEXT NOT NULL,
    signing_key     TEXT NOT NULL,
    signing_version INTEGER NOT NULL,
    signature       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL
);
