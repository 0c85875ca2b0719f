-- The backend-only cache (DESIGN §6). UNLOGGED: no WAL, so writes are cheap; after a database crash the table is
-- empty, which a cache may be. A value is never served past expires_at.

CREATE UNLOGGED TABLE cache_entry (
    type       text NOT NULL CHECK (type <> ''),
    key        text NOT NULL CHECK (key <> ''),
    value      bytea NOT NULL,
    expires_at timestamptz,           -- NULL: no expiry
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (type, key)
);

COMMENT ON TABLE cache_entry IS 'pgdaemon: the shared cache; rows past expires_at are dead and removed by CacheCleanup.';

CREATE INDEX cache_entry_expires_idx ON cache_entry (expires_at) WHERE expires_at IS NOT NULL;
