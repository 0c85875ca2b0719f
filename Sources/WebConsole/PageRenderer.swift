import Hummingbird
import Mustache

/// The console's pages: the templates compiled into the binary (`Templates/`, by the EmbedFiles plugin), each a
/// child of `layout.mustache`, rendered with the values a page read. Mustache escapes every `{{value}}` for HTML, so
/// text from the database (a task named `<script>`) shows as text; only `{{{…}}}` is left as it is, and the console
/// uses it for the charts it draws itself from numbers.
struct PageRenderer: Sendable {
    private let library: MustacheLibrary
    /// The base path without its trailing slash ("" at the root), for links.
    let base: String
    let node: String
    /// The console's stylesheet (`Templates/stylesheet.mustache`, which has no tags).
    let stylesheet: String

    init(base: String, node: String) throws {
        var library = MustacheLibrary()
        for file in embeddedTemplates {
            try library.register(file.text, named: String(file.name.dropLast(".mustache".count)))
        }
        self.library = library
        self.base = base
        self.node = node
        stylesheet = embeddedTemplates.first { $0.name == "stylesheet.mustache" }?.text ?? ""
    }

    /// What every page shows around its own part: the signed-in user, the links, the form token.
    struct Chrome: Sendable {
        /// The base path without its trailing slash ("" at the root), for links.
        var base: String
        var signedIn: Bool
        var user: String
        var role: String
        var isAdmin: Bool
        var csrf: String
        var node: String
        var title: String
        var message: String?
    }

    /// The page named `template` with `page`'s values, for `identity` (nil on the login page), as an HTML response.
    func render(
        _ template: String, title: String, identity: ConsoleIdentity?, message: String? = nil, page: Any,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let chrome = Chrome(
            base: base, signedIn: identity != nil, user: identity?.user ?? "", role: identity?.role.rawValue ?? "",
            isAdmin: identity?.role == .admin, csrf: identity?.csrf ?? "", node: node, title: title, message: message)
        let html = library.render(["console": chrome, "page": page], withTemplate: template) ?? ""
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
