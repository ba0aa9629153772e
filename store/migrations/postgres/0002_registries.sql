-- Registry members (identity commitments, decimal) in insertion order.
CREATE TABLE registry_members (
    registry    TEXT NOT NULL,
    idx         BIGINT NOT NULL,
    member      TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    added_by    TEXT NOT NULL,
    PRIMARY KEY (registry, idx),
    UNIQUE (registry, member)
);

-- Every root a registry has had; version n is the root after n members.
CREATE TABLE registry_roots (
    registry    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    root        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (registry, version)
);
