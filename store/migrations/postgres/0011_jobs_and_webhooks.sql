-- Why a job ended without a proof, as a code a program can act on (the
-- message beside it, `error`, is for people), and a state of its own for
-- jobs the queue gave up on after losing the worker of every attempt
-- (`dead`), which an admin may send back to the queue (`retries` counts
-- how often). Failed and dead jobs keep their sealed input for that.
ALTER TABLE proof_jobs ADD COLUMN error_code TEXT;
ALTER TABLE proof_jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
UPDATE proof_jobs SET error_code = 'deadline' WHERE state = 'expired';
UPDATE proof_jobs SET error_code = 'cancelled' WHERE state = 'cancelled';
UPDATE proof_jobs SET state = 'dead', error_code = 'lease_lost_too_often'
    WHERE state = 'failed' AND error LIKE 'the worker proving it was lost%';
UPDATE proof_jobs SET error_code = 'unknown' WHERE state = 'failed';
-- Listing, newest first, for everyone (admins) and for one owner.
CREATE INDEX proof_jobs_listing ON proof_jobs (created_at, id);
CREATE INDEX proof_jobs_owner_listing ON proof_jobs (owner, created_at, id);

-- Webhooks are delivered concurrently with a limit per destination
-- (`host:port`), so deliverers claim only rows of destinations that have
-- room; the destination is known when the job is submitted.
ALTER TABLE proof_jobs ADD COLUMN webhook_destination TEXT;
ALTER TABLE proof_webhooks ADD COLUMN destination TEXT;
