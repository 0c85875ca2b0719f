import Postgres
import Testing

@Suite("Statements built by interpolation")
struct SQLTests {
    @Test func valuesBecomePlaceholdersAndFragmentsAreRenumbered() {
        let condition: SQL = "a = \(1) AND b = \("x")"
        let statement: SQL = "SELECT \(3.5) WHERE \(condition) AND c = \(true) AND d = '$9'"
        #expect(statement.text == "SELECT $1 WHERE a = $2 AND b = $3 AND c = $4 AND d = '$9'")
        #expect(statement.binds == [.text("3.5"), .text("1"), .text("x"), .text("true")])
    }

    @Test func renumberingKeepsEverythingButPlaceholders() {
        let binds = (1...12).map { PostgresBind.text(String($0)) }
        let fragment = SQL(unsafeSQL: "é = $12 AND $$x$$ = '€$' AND f($1)$ AND '$12345678901234567890'", binds: binds)
        let statement: SQL = "SELECT \(0) \(fragment) -- ü"
        #expect(statement.text == "SELECT $1 é = $13 AND $$x$$ = '€$' AND f($2)$ AND '$12345678901234567890' -- ü")
        #expect(statement.binds.count == 13)
    }

    @Test func identifiersAreQuoted() {
        let statement: SQL = "LISTEN \(identifier: "we\"ird; DROP")"
        #expect(statement.text == "LISTEN \"we\"\"ird; DROP\"")
        #expect(statement.binds.isEmpty)
    }
}
