-- Webhooks of proof jobs, through an outbox: a job may name a URL to be
-- told when it ends. The row of its delivery is written in the same
-- transaction that ends the job, so no end is lost to a crash or restart;
-- deliverers (in any API node or worker) claim due rows with a lease,
-- POST the signed notice and retry with backoff until delivered or dead.
ALTER TABLE proof_jobs ADD COLUMN webhook_url TEXT;

CREATE TABLE proof_webhooks (
    job_id            TEXT PRIMARY KEY,
    url               TEXT NOT NULL,
    -- pending, delivered or dead (every attempt failed)
    state             TEXT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms   BIGINT NOT NULL,
    lease_token       TEXT,
    lease_expires_ms  BIGINT,
    last_error        TEXT,
    created_ms        BIGINT NOT NULL,
    delivered_at      BIGINT
);
CREATE INDEX proof_webhooks_due ON proof_webhooks (state, next_attempt_ms);
