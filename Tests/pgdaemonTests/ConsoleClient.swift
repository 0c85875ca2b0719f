import Foundation

/// A browser's part in a console test, without the browser: requests with the session cookie it was given, forms
/// sent as a browser sends them, and the form token read off the last page.
final class ConsoleClient {
    struct Reply {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: String

        func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        /// The form token in the page, as its forms carry it.
        var csrf: String? {
            guard let range = body.range(of: #"name="csrf" value=""#) else { return nil }
            return String(body[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    let port: UInt16
    /// The session cookie, `name=value`, once a login set it.
    var cookie: String?

    init(port: UInt16) {
        self.port = port
    }

    func get(_ path: String) throws -> Reply {
        try send("GET", path, body: nil)
    }

    /// A form POST; the cookie goes with it unless `withCookie` is false.
    func post(_ path: String, _ form: [String: String], withCookie: Bool = true) throws -> Reply {
        let body = form.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }.joined(separator: "&")
        return try send("POST", path, body: body, withCookie: withCookie)
    }

    /// Logs in; the reply is the login's (303 on success).
    @discardableResult
    func logIn(_ base: String, user: String, password: String) throws -> Reply {
        try post("\(base)/login", ["user": user, "password": password])
    }

    private func send(_ method: String, _ path: String, body: String?, withCookie: Bool = true) throws -> Reply {
        let client = try RawClient(port: port)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if withCookie, let cookie { request += "Cookie: \(cookie)\r\n" }
        if let body {
            request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            request += body
        } else {
            request += "\r\n"
        }
        client.send(request)
        let text = client.readToEnd().text
        let parts = text.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let reply = Reply(status: status, headers: headers, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
        if let setCookie = reply.header("Set-Cookie"), let pair = setCookie.split(separator: ";").first {
            // An empty value is the server's "forget it" (a logout).
            let value = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first
            cookie = (value ?? "").isEmpty ? nil : String(pair)
        }
        return reply
    }
}
