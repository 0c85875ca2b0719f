public import Postgres

extension Configuration {
    /// The options of a connection made for `purpose`, which `pg_stat_activity` shows as the `application_name`
    /// `pgdaemon/NODE/PURPOSE`: a module's name (and `MODULE/claim-N` for extra claim connections), `supervisor`, `cli`, `db`.
    public func connectionOptions(purpose: String) -> ConnectionOptions {
        ConnectionOptions(database, applicationName: "pgdaemon/\(node)/\(purpose)")
    }
}
