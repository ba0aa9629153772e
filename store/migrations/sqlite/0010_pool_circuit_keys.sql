-- The pool's circuit keys themselves, beside the verifying-key hash each
-- circuit's jobs are proved for: the API node stores them when it records
-- the hashes, and a worker with no keys of its own fetches them from here
-- and checks them against the recorded hash before it proves. Proving keys
-- are public (the setup's secrets are not in them); receipt(20)'s is about
-- 1.3 MB. Rows recorded before this migration have only the hash until a
-- node holding matching keys starts and fills them in.
ALTER TABLE proof_circuit_keys ADD COLUMN circuit_json TEXT;
ALTER TABLE proof_circuit_keys ADD COLUMN proving_key BLOB;
