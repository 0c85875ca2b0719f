import DaemonKit
import Foundation
import TestSupport

/// Headless Chromium driven through chromedriver's WebDriver protocol (W3C), as a user's browser: it loads the
/// console's pages with their stylesheet and security headers, fills and submits forms, keeps the cookie, and takes
/// screenshots. Debian's `chromium` and `chromium-driver` provide both programs.
final class WebDriver {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let driver: ChildProcess
    private let port: UInt16
    private var session = ""

    /// Whether both programs are installed.
    static var isAvailable: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromedriver"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init() async throws {
        port = freePort()
        driver = try ChildProcess(
            executable: "/usr/bin/chromedriver", arguments: ["--port=\(port)"], stdout: .null, stderr: .null)
        try await waitUntil("chromedriver answers") {
            (try? self.call("GET", "/status"))?["ready"] as? Bool == true
        }
        // As root Chromium runs only without its sandbox; the browser is the test's, on loopback pages only.
        let created = try call(
            "POST", "/session",
            [
                "capabilities": [
                    "alwaysMatch": [
                        "browserName": "chrome",
                        "goog:chromeOptions": [
                            "binary": "/usr/bin/chromium",
                            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860"],
                        ],
                    ]
                ]
            ])
        guard let id = created["sessionId"] as? String else { throw Failure(description: "no session: \(created)") }
        session = id
    }

    func close() {
        _ = try? call("DELETE", "/session/\(session)")
        kill(driver.pid, SIGTERM)
    }

    func open(_ url: String) throws {
        _ = try call("POST", "/session/\(session)/url", ["url": url])
    }

    var title: String { get throws { try call("GET", "/session/\(session)/title")["value"] as? String ?? "" } }
    var url: String { get throws { try call("GET", "/session/\(session)/url")["value"] as? String ?? "" } }

    /// Runs `script` in the page and returns its value (WebDriver's scripts run whatever the page's CSP says).
    func evaluate(_ script: String) throws -> Any? {
        try call("POST", "/session/\(session)/execute/sync", ["script": script, "args": []])["value"]
    }

    /// Types `text` into the field `selector` finds.
    func type(_ text: String, into selector: String) throws {
        let element = try find(selector)
        _ = try call("POST", "/session/\(session)/element/\(element)/value", ["text": text])
    }

    /// Clicks what `selector` finds; a navigation it starts may still be under way when this returns.
    func click(_ selector: String) throws {
        let element = try find(selector)
        _ = try call("POST", "/session/\(session)/element/\(element)/click", [:])
    }

    /// Clicks a form's button and waits for the page the action leads to, which says what it did; that sentence.
    func submit(_ selector: String) async throws -> String {
        try click(selector)
        var message: String?
        try await waitUntil("the page after \(selector) shows its message") {
            message =
                try? evaluate("const m = document.querySelector('.message'); return m ? m.textContent : null")
                as? String
            return message != nil
        }
        return message ?? ""
    }

    /// The page as PNG.
    func screenshot() throws -> Data {
        guard let text = try call("GET", "/session/\(session)/screenshot")["value"] as? String,
            let data = Data(base64Encoded: text)
        else { throw Failure(description: "no screenshot") }
        return data
    }

    private func find(_ selector: String) throws -> String {
        let found = try call(
            "POST", "/session/\(session)/element", ["using": "css selector", "value": selector])
        guard let element = (found["value"] as? [String: Any])?.values.first as? String else {
            throw Failure(description: "nothing matches \(selector): \(found)")
        }
        return element
    }

    /// One WebDriver command; its JSON answer, or its error as a thrown failure.
    @discardableResult
    private func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let client = try RawClient(port: port)
        client.send(
            "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n\r\n")
        client.send(Array(payload))
        guard let text = client.readResponse(), let start = text.range(of: "\r\n\r\n") else {
            throw Failure(description: "no answer to \(path)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(text[start.upperBound...].utf8)) as? [String: Any] ?? [:]
        if let value = json["value"] as? [String: Any], let error = value["error"] as? String {
            throw Failure(description: "\(method) \(path): \(error): \(value["message"] ?? "")")
        }
        // W3C answers put everything under "value"; /status and /session carry what they report there too.
        if path == "/status" { return json["value"] as? [String: Any] ?? [:] }
        if path == "/session", let value = json["value"] as? [String: Any] { return value }
        return json
    }
}
