import CLibPQ
public import Foundation
import Synchronization

/// One PostgreSQL session, owned by an actor whose jobs run on a thread of its own.
///
/// Every libpq call for the session happens on that thread, so blocking waits (a slow query, an advisory lock held by
/// another node, a LISTEN with nothing to hear) never occupy Swift's cooperative threads. A connection runs one
/// statement at a time: give each concurrent task its own connection. Waiting for a notification is not a statement:
/// it holds neither the session nor its thread (`nextNotification`), so one connection can listen and work.
///
/// ```swift
/// let connection = try await Connection.connect(ConnectionOptions(url, applicationName: "pgdaemon/node-a/db"))
/// let rows = try await connection.query("SELECT id, name FROM app_user WHERE age < \(limit)")
/// for row in rows {
///     print(try row.decode(Int64.self, "id"), try row.decode(String?.self, "name") ?? "-")
/// }
/// ```
///
/// Cancelling the task that awaits a statement asks the server to cancel it (`PQcancel`); the statement then fails
/// with SQLSTATE 57014.
public actor Connection {
    /// How this connection was opened, for messages (`options.redacted` shows it without a password).
    public nonisolated let options: ConnectionOptions
    nonisolated let executor: ConnectionExecutor
    nonisolated let canceller = QueryCanceller()
    nonisolated let waker: Waker
    /// The thread a notification wait sleeps on, started by the first wait.
    private nonisolated let waitingThreadSlot = Mutex<ConnectionExecutor?>(nil)
    /// Whether the session listens on a channel: statements then hand the notifications they bring to `heard`.
    var isListening = false
    /// Notifications read and not yet taken by `nextNotification`, oldest first, each once: a repeat of one still
    /// here is dropped, as the server drops one repeated within a transaction. A busy worker takes a notification only
    /// when it runs out of tasks, while every enqueue's commit sends one, so a list of every repeat grew by some 40
    /// bytes an enqueue for as long as the worker stayed busy; this holds one per sender and payload.
    var heard: [PostgresNotification] = []
    private nonisolated let serverPID = Atomic<Int32>(0)
    private var session: Session?
    var isClosed = false
    /// The statements prepared on this session, by text and parameter types, with their names.
    private var preparedStatements: [String: String] = [:]
    private var statementsPrepared = 0
    /// Makes this connection's statement names its own: a transaction pooler may run the next statement on a server
    /// session where another client prepared a statement under the same plain name.
    private let statementPrefix = "pgdaemon_\(String(UInt64.random(in: .min ... .max), radix: 36))_"
    /// False once the server forgot a statement prepared a moment before: a transaction pooler switches server
    /// sessions under this connection, so preparing is pointless and statements run unprepared.
    private var canPrepare = true

    /// The `PGconn` pointer. Sendable only so that `deinit`, which runs when no job can be using it, may finish it.
    private struct Session: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// The libpq connection while the session is open.
    var handle: OpaquePointer? { session?.pointer }

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    /// The connection's thread as a task executor: a task that prefers it (`withTaskExecutorPreference`) runs its
    /// own code on that thread too, so its statements start and return without waking another thread.
    public nonisolated var taskExecutor: any TaskExecutor { executor }

    private init(options: ConnectionOptions) throws {
        self.options = options
        self.waker = try Waker()
        self.executor = ConnectionExecutor(name: "postgres \(options.applicationName ?? "connection")")
    }

    /// Opens a session; throws `connectionFailed` with libpq's reason, never showing a password.
    public static func connect(_ options: ConnectionOptions) async throws -> Connection {
        let connection = try Connection(options: options)
        try await connection.open()
        return connection
    }

    deinit {
        if let session { PQfinish(session.pointer) }
        canceller.detach()
        executor.shutdown()
        waitingThreadSlot.withLock { $0?.shutdown() }
    }

    /// The thread that notification waits sleep on, so that they hold neither this connection's thread nor one of the
    /// cooperative pool's.
    nonisolated var waitingThread: ConnectionExecutor {
        waitingThreadSlot.withLock { slot in
            if let thread = slot { return thread }
            let thread = ConnectionExecutor(name: "postgres \(options.applicationName ?? "connection") wait")
            slot = thread
            return thread
        }
    }

    private func open() throws {
        let parameters = try options.parameters()
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer { (keywords + values).forEach { free($0) } }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        let connection = PQconnectdbParams(keywordPointers, valuePointers, 0)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let reason = connection.map { String(cString: PQerrorMessage($0)).oneLine } ?? "out of memory"
            if let connection { PQfinish(connection) }
            throw PostgresError(
                .connectionFailed,
                message: options.redact("Cannot connect to PostgreSQL: \(reason)"))
        }
        if !options.acceptsStandby, let refusal = Self.readOnlyRefusal(connection) {
            PQfinish(connection)
            throw PostgresError(.connectionFailed, message: options.redact(refusal))
        }
        adopt(connection)
        try useISODates(connection)
        try keepServerSideAlive(connection, ConnectionOptions.serverKeepaliveScript(parameters))
    }

    /// Why a server that takes no writes is refused, from the settings it reports at the start of every session
    /// (PostgreSQL 14 and later; a pooler may pass neither, and then the first write says it). libpq's own check,
    /// `target_session_attrs=read-write`, asks with a query where they are not reported, which behind a transaction
    /// pooler waits for a server session of its own; a connection string may still set it to pick the primary
    /// among several hosts.
    private static func readOnlyRefusal(_ connection: OpaquePointer) -> String? {
        func reported(_ name: String) -> Bool {
            PQparameterStatus(connection, name).map { String(cString: $0) } == "on"
        }
        let server =
            "\(PQhost(connection).map { String(cString: $0) } ?? "?"):\(PQport(connection).map { String(cString: $0) } ?? "?")"
        if reported("in_hot_standby") {
            return
                "Cannot use PostgreSQL at \(server): it is a standby, which takes no writes; pgdaemon needs the primary"
                + " (with several hosts in the connection string, target_session_attrs=read-write picks it)."
        }
        if reported("default_transaction_read_only") {
            return "Cannot use PostgreSQL at \(server): its default_transaction_read_only is on, and pgdaemon writes."
        }
        return nil
    }

    /// Over TCP, the server watches the session with the client's keepalives and gives up on data left unacknowledged
    /// for the client's `tcp_user_timeout`. With the server's defaults, a client machine that vanished from the network
    /// would keep its session for two hours, and with it its advisory locks (a node's name, a singleton) and any row
    /// locks of a transaction it had open. A Unix socket has no network to lose.
    private func keepServerSideAlive(_ connection: OpaquePointer, _ script: String) throws {
        guard let host = PQhost(connection).map({ String(cString: $0) }), !host.hasPrefix("/"), !script.isEmpty
        else { return }
        _ = try consume(PQexec(connection, script), query: "SET tcp_keepalives_idle")
    }

    /// Timestamps are parsed in the ISO output style, the server default. A server or role configured otherwise
    /// gets `SET DateStyle` for this session. It is not sent as a startup option, because connection poolers such as
    /// PgBouncer refuse startup options, but they do carry DateStyle across the server connections they switch
    /// between.
    private func useISODates(_ connection: OpaquePointer) throws {
        let style = PQparameterStatus(connection, "DateStyle").map { String(cString: $0) } ?? ""
        guard !style.hasPrefix("ISO") else { return }
        _ = try consume(PQexec(connection, "SET DateStyle = 'ISO, YMD'"), query: "SET DateStyle")
    }

    private func adopt(_ connection: OpaquePointer) {
        // libpq prints server NOTICEs to stderr by default; they are informational and would interleave with
        // command output, so they are dropped.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        canceller.attach(to: connection)
        serverPID.store(PQbackendPID(connection), ordering: .relaxed)
        session = Session(pointer: connection)
        preparedStatements = [:]
    }

    /// The open libpq handle, or an error saying why there is none.
    func openHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(.closed, message: "The database connection is closed.")
        }
        return handle
    }

    /// Closes the session; later calls throw `closed`. Session advisory locks and LISTENs end with it.
    public func close() {
        canceller.detach()
        if let handle { PQfinish(handle) }
        session = nil
        serverPID.store(0, ordering: .relaxed)
        isClosed = true
        waker.wake()
    }

    /// The server process serving this session, as `pg_stat_activity.pid` and `pg_locks.pid` show it; 0 once
    /// closed. Readable while a statement runs, because it does not wait for the connection's thread.
    public nonisolated var backendPID: Int32 {
        serverPID.load(ordering: .relaxed)
    }

    /// Whether the session is inside a transaction block (open or failed).
    public var isInTransaction: Bool {
        guard let handle else { return false }
        return PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    /// Runs one statement and returns its rows. Values interpolated into `sql` are bound, never spliced.
    ///
    /// `prepared` keeps the statement prepared on the session, so the server parses and plans its text once rather
    /// than at every call: for statements of fixed text that run often (a cache read, a queue claim). The saving is
    /// about a quarter of a primary-key lookup's time.
    @discardableResult
    public func query(_ sql: SQL, prepared: Bool = false) async throws -> PostgresRows {
        try Task.checkCancellation()
        // Each public method wraps its libpq call here, inline: a shared generic helper taking the call as a closure
        // was tried, and ran the call on the cooperative pool instead of this connection's thread, where a few
        // blocking waits stalled every task of the process.
        return try await withTaskCancellationHandler {
            try run(sql, prepared: prepared && canPrepare)
        } onCancel: { [canceller] in
            canceller.cancel()
        }
    }

    /// Runs a statement that selects one `bytea` column and returns the first row's value, or nil when there is no
    /// row or the value is NULL. The value travels in binary: half the bytes of its text form, and no hex to decode.
    /// `prepared` as for `query`.
    public func queryBytes(_ sql: SQL, prepared: Bool = false) async throws -> Data? {
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try runForBytes(sql, prepared: prepared && canPrepare)
        } onCancel: { [canceller] in
            canceller.cancel()
        }
    }

    /// Runs one statement and returns how many rows it inserted, updated or deleted; `prepared` as for `query`.
    @discardableResult
    public func execute(_ sql: SQL, prepared: Bool = false) async throws -> Int {
        try await query(sql, prepared: prepared).affectedRows
    }

    /// Runs one statement as `execute` does, unless a transaction is open on the session: then nil, and nothing ran.
    /// For a task that shares the session with another's transactions (a lease renewed beside the module's work),
    /// whose statement would otherwise join that transaction and share its fate.
    public func executeOutsideTransaction(_ sql: SQL) async throws -> Int? {
        guard !isInTransaction else { return nil }
        return try await execute(sql)
    }

    /// Runs trusted SQL text that may hold several statements (a migration file), with no parameters.
    public func runScript(_ script: String) async throws {
        try Task.checkCancellation()
        let handle = try openHandle()
        try await withTaskCancellationHandler {
            defer { if isListening { collectNotifications(handle) } }
            _ = try consume(PQexec(handle, script), query: nil)
        } onCancel: { [canceller] in
            canceller.cancel()
        }
    }

    /// Whether the server answers on this session now. A broken session answers false and stays broken until
    /// `reconnect()`.
    public func ping() -> Bool {
        guard let handle, let result = PQexec(handle, "") else { return false }
        defer { PQclear(result) }
        return PQresultStatus(result) == PGRES_EMPTY_QUERY
    }

    /// Replaces a broken session with a new one to the same server. Session state (LISTENs, advisory locks, settings)
    /// is not carried over.
    public func reconnect() throws {
        guard !isClosed else { throw PostgresError(.closed, message: "The database connection is closed.") }
        canceller.detach()
        if let handle { PQfinish(handle) }
        session = nil
        isListening = false
        heard = []
        waker.wake()
        try open()
    }

    /// Runs a statement on the connection's thread: binds parameters, waits for the result, copies it out.
    func run(_ sql: SQL, prepared: Bool = false) throws -> PostgresRows {
        try send(sql, prepared: prepared, resultFormat: 0) { try consume($0, query: sql.text) }
    }

    /// Runs a statement on the connection's thread and returns its first row's bytea, received in binary.
    func runForBytes(_ sql: SQL, prepared: Bool = false) throws -> Data? {
        try send(sql, prepared: prepared, resultFormat: 1) { result in
            guard let result, PQresultStatus(result) == PGRES_TUPLES_OK else {
                _ = try consume(result, query: sql.text)
                return nil
            }
            defer { PQclear(result) }
            guard PQnfields(result) == 1, PQftype(result, 0) == PostgresType.bytea.oid else {
                throw PostgresError(
                    .decoding, message: "The statement must return one bytea column to be read as bytes.",
                    query: sql.text)
            }
            guard PQntuples(result) > 0, PQgetisnull(result, 0, 0) == 0 else { return nil }
            return Data(bytes: PQgetvalue(result, 0, 0), count: Int(PQgetlength(result, 0, 0)))
        }
    }

    /// Binds `sql`'s values, sends it (prepared or not) asking for results in `resultFormat` (0 text, 1 binary), and
    /// hands the result to `read`, which frees it.
    private func send<Result>(
        _ sql: SQL, prepared: Bool, resultFormat: Int32, _ read: (OpaquePointer?) throws -> Result
    ) throws -> Result {
        let handle = try openHandle()
        defer { if isListening { collectNotifications(handle) } }
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        defer { buffers.forEach { $0?.deallocate() } }
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var types: [Oid] = []
        for bind in sql.binds {
            switch bind {
            case .null:
                buffers.append(nil)
                lengths.append(0)
                formats.append(0)
                types.append(0)
            case .text(let text):
                guard !text.utf8.contains(0) else {
                    throw PostgresError(
                        .misuse, message: "A text value contains a NUL character, which PostgreSQL cannot store.",
                        query: sql.text)
                }
                buffers.append(Self.copy(Array(text.utf8) + [0]))
                lengths.append(0)
                formats.append(0)
                types.append(0)
            case .bytes(let data):
                buffers.append(Self.copy(Array(data)))
                lengths.append(Int32(data.count))
                formats.append(1)
                types.append(PostgresType.bytea.oid)
            }
        }
        let values = buffers.map { UnsafePointer($0) }
        guard prepared else {
            return try read(
                PQexecParams(handle, sql.text, Int32(values.count), types, values, lengths, formats, resultFormat))
        }
        let key = sql.text + "\u{0}" + types.map(String.init).joined(separator: ",")
        for attempt in 1...2 {
            do {
                let name = try preparedName(key, sql.text, types, handle)
                return try read(
                    PQexecPrepared(handle, name, Int32(values.count), values, lengths, formats, resultFormat))
            } catch let error as PostgresError where error.sqlState == "26000" {
                // The server does not know the statement: it was deallocated, or a pooler moved this connection to
                // another server session. Prepare it again once; if it is gone again, stop preparing.
                preparedStatements[key] = nil
                if attempt == 2 { canPrepare = false }
            }
        }
        return try send(sql, prepared: false, resultFormat: resultFormat, read)
    }

    /// The name of the session's prepared statement for `key`, preparing it first when there is none.
    private func preparedName(_ key: String, _ text: String, _ types: [Oid], _ handle: OpaquePointer) throws -> String {
        if let name = preparedStatements[key] { return name }
        statementsPrepared += 1
        let name = statementPrefix + String(statementsPrepared)
        _ = try consume(PQprepare(handle, name, text, Int32(types.count), types), query: text)
        preparedStatements[key] = name
        return name
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress!, byteCount: source.count)
        }
        return buffer
    }

    /// Turns a libpq result into rows or an error, and frees it.
    func consume(_ result: OpaquePointer?, query: String?) throws -> PostgresRows {
        guard let result else { throw connectionError(query: query) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return Self.rows(of: result)
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PostgresRows(columns: PostgresColumns(names: [], types: []), values: [], affectedRows: affected)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw serverError(result, query: query)
        default:
            throw PostgresError(
                .misuse, message: "The statement started a COPY or pipeline, which this connection does not support.",
                query: query)
        }
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        let columns = PostgresColumns(
            names: (0..<columnCount).map { String(cString: PQfname(result, $0)) },
            types: (0..<columnCount).map { PostgresType(oid: PQftype(result, $0)) })
        var values: [[String?]] = []
        values.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            values.append(
                (0..<columnCount).map { column in
                    guard PQgetisnull(result, row, column) == 0 else { return nil }
                    let length = Int(PQgetlength(result, row, column))
                    return PQgetvalue(result, row, column).withMemoryRebound(to: UInt8.self, capacity: length) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                    }
                })
        }
        return PostgresRows(columns: columns, values: values, affectedRows: Int(rowCount))
    }

    private func serverError(_ result: OpaquePointer, query: String?) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        guard let message = field("M") else { return connectionError(query: query) }
        return PostgresError(
            .server, message: message, sqlState: field("C"), detail: field("D"), hint: field("H"), query: query)
    }

    /// The error for a failure without a server message: the session broke, or libpq could not send.
    func connectionError(query: String?) -> PostgresError {
        let reason = handle.map { String(cString: PQerrorMessage($0)).oneLine } ?? ""
        let broken = handle.map { PQstatus($0) == CONNECTION_BAD } ?? true
        return PostgresError(
            broken ? .connectionLost : .server,
            message: options.redact(
                "The database connection failed\(reason.isEmpty ? "." : ": \(reason)")"), query: query)
    }
}
