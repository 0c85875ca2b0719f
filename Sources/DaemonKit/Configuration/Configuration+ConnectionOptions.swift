public import Postgres

extension Configuration {
    /// The options of a connection made for `purpose`, which `pg_stat_activity` shows as the `application_name`
    /// `pgdaemon/NODE/PURPOSE`: a module's name, `MODULE/listen`, `supervisor`, `cli`, `http`.
    public func connectionOptions(purpose: String) -> ConnectionOptions {
        ConnectionOptions(database, applicationName: "pgdaemon/\(node)/\(purpose)")
    }
}
