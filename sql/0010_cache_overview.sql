-- Cache cleanup by age and the DBA's view of the cache (DESIGN §6).

-- A type over its size limit loses its oldest entries first (by last write).
CREATE INDEX cache_entry_age_idx ON cache_entry (type, created_at);

CREATE VIEW cache_overview AS
SELECT type,
       count(*)::bigint                                                  AS entries,
       coalesce(sum(octet_length(value)), 0)::bigint                     AS bytes,
       count(*) FILTER (WHERE expires_at <= clock_timestamp())::bigint   AS expired,
       min(created_at)                                                   AS oldest,
       max(created_at)                                                   AS newest
FROM cache_entry
GROUP BY type;

COMMENT ON VIEW cache_overview IS
    'pgdaemon: entries, value bytes and not yet removed expired entries per cache type; never the values.';

-- The view runs with its owner's rights: readers see sizes without reading the values.
GRANT SELECT ON cache_overview TO pgdaemon_readonly;
