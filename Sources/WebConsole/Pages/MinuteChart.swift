/// A small bar chart of the last hour, a bar per minute: done stacked under failed. Drawn as inline SVG from
/// numbers alone (nothing from the database's text reaches it), so the page needs no script and no image requests.
struct MinuteChart: Sendable {
    var done: [Int]
    var failed: [Int]

    static let width = 240
    static let height = 40

    var svg: String {
        let peak = max(1, zip(done, failed).map { $0 + $1 }.max() ?? 1)
        let barWidth = Double(Self.width) / Double(max(done.count, 1))
        var bars = ""
        for (minute, (doneCount, failedCount)) in zip(done, failed).enumerated() where doneCount + failedCount > 0 {
            let x = Double(minute) * barWidth
            let doneHeight = Double(doneCount) / Double(peak) * Double(Self.height)
            let failedHeight = Double(failedCount) / Double(peak) * Double(Self.height)
            bars += bar(x: x, y: Double(Self.height) - doneHeight, width: barWidth, height: doneHeight, kind: "done")
            bars += bar(
                x: x, y: Double(Self.height) - doneHeight - failedHeight, width: barWidth, height: failedHeight,
                kind: "failed")
        }
        let total = done.reduce(0, +)
        let failures = failed.reduce(0, +)
        return """
            <svg class="chart" viewBox="0 0 \(Self.width) \(Self.height)" width="\(Self.width)" height="\(Self.height)" \
            role="img" aria-label="last hour: \(total) done, \(failures) failed, peak \(peak) a minute">\
            <title>last hour: \(total) done, \(failures) failed; peak \(peak) a minute</title>\
            <rect class="frame" x="0" y="0" width="\(Self.width)" height="\(Self.height)"/>\(bars)</svg>
            """
    }

    private func bar(x: Double, y: Double, width: Double, height: Double, kind: String) -> String {
        guard height > 0 else { return "" }
        func number(_ value: Double) -> String { String(Double(Int(value * 10)) / 10) }
        return
            "<rect class=\"\(kind)\" x=\"\(number(x))\" y=\"\(number(y))\" width=\"\(number(max(width - 0.5, 0.5)))\" "
            + "height=\"\(number(max(height, 0.5)))\"/>"
    }
}
