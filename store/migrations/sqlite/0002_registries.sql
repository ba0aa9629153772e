-- Registry members (identity commitments, decimal) in insertion order.
CREATE TABLE registry_members (
    registry    TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    member      TEXT NOT NULL,
    added_at    INTEGER NOT NULL,
    added_by    TEXT NOT NULL,
    PRIMARY KEY (registry, idx),
    UNIQUE (registry, member)
);

-- Every root a registry has had; version n is the root after n members.
CREATE TABLE registry_roots (
    registry    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    root        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (registry, version)
);
