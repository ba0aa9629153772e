-- One row that readiness rewrites (at most once a second): a committed
-- write proves the database can still take writes, which a rolled-back
-- probe does not (on SQLite it never reaches the disk).
CREATE TABLE readiness_heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    beat_at BIGINT NOT NULL
);
