-- Proof jobs of the in-process queue. The witness is never stored: it lives
-- in memory only until the job runs, so a job that was queued or running
-- when the service stopped is marked failed on the next start.
CREATE TABLE proof_jobs (
    id             TEXT PRIMARY KEY,
    circuit        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    owner          TEXT NOT NULL,
    tx_id          TEXT,
    state          TEXT NOT NULL,
    backend        TEXT,
    error          TEXT,
    proof          TEXT,
    public_signals TEXT,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER
);
CREATE INDEX proof_jobs_owner ON proof_jobs (owner);
CREATE INDEX proof_jobs_state ON proof_jobs (state);
