-- The prover pool: proof jobs that survive restarts and run on workers of
-- any machine sharing this database. A job's private inputs are stored only
-- sealed (an envelope to the pool key, whose private part is held under the
-- KEK); a job made from a stored transaction stores only its reference.
-- Workers claim jobs with a lease that they renew while proving; a job
-- whose lease expired is claimed again until max_attempts, and a result is
-- stored only by the holder of the current lease (lease_token).
ALTER TABLE proof_jobs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE proof_jobs ADD COLUMN deadline BIGINT;
ALTER TABLE proof_jobs ADD COLUMN queued_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE proof_jobs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE proof_jobs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 3;
ALTER TABLE proof_jobs ADD COLUMN worker_id TEXT;
ALTER TABLE proof_jobs ADD COLUMN lease_token TEXT;
ALTER TABLE proof_jobs ADD COLUMN lease_expires_ms BIGINT;
ALTER TABLE proof_jobs ADD COLUMN stage TEXT;
ALTER TABLE proof_jobs ADD COLUMN progress TEXT;
ALTER TABLE proof_jobs ADD COLUMN sealed_input TEXT;
ALTER TABLE proof_jobs ADD COLUMN source TEXT;
ALTER TABLE proof_jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE proof_jobs ADD COLUMN request_sha256 TEXT;
ALTER TABLE proof_jobs ADD COLUMN proving_ms BIGINT;
-- "done" is now "succeeded"; jobs of the in-memory queue were already
-- failed on the start that found them, so none is left queued or running.
UPDATE proof_jobs SET state = 'succeeded' WHERE state = 'done';
UPDATE proof_jobs SET queued_ms = created_at * 1000;
-- NULL keys are distinct, so jobs without a key never collide.
CREATE UNIQUE INDEX proof_jobs_idempotency ON proof_jobs (owner, idempotency_key);
CREATE INDEX proof_jobs_claim ON proof_jobs (state, queued_ms);

-- The verifying key each circuit's jobs are proved for: the first node to
-- start records it, and a worker whose keys differ refuses that circuit.
CREATE TABLE proof_circuit_keys (
    circuit      TEXT PRIMARY KEY,
    vk_sha256    TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    recorded_by  TEXT NOT NULL
);

-- Workers and their heartbeats, for GET /v1/workers.
CREATE TABLE proof_workers (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    backend       TEXT NOT NULL,
    circuits      TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    stopped_at    BIGINT,
    jobs_done     BIGINT NOT NULL DEFAULT 0,
    jobs_failed   BIGINT NOT NULL DEFAULT 0,
    current_job   TEXT
);
