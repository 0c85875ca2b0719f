public import Foundation

/// A cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; lists, ranges,
/// steps, month and weekday names, and the aliases `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight`
/// `@hourly`. As in Vixie cron, when both day fields are restricted a day matching either one matches.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    public let expression: String
    let seconds: CronField
    let minutes: CronField
    let hours: CronField
    let daysOfMonth: CronField
    let months: CronField
    /// 0 is Sunday (7 is read as Sunday too).
    let daysOfWeek: CronField
    let anyDayOfMonth: Bool
    let anyDayOfWeek: Bool

    public var description: String { expression }

    private static let aliases = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = [
        "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10,
        "NOV": 11, "DEC": 12,
    ]
    private static let dayNames = ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]

    /// Parses an expression; the error says which field is wrong and why.
    public init(_ expression: String) throws(CronError) {
        self.expression = expression
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        var text = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.aliases[trimmed.lowercased()] else {
                throw CronError(
                    expression: expression,
                    reason:
                        "\(trimmed) is not supported; use one of \(Self.aliases.keys.sorted().joined(separator: ", "))")
            }
            text = expanded
        }
        var fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 || fields.count == 6 else {
            throw CronError(
                expression: expression,
                reason: "it has \(fields.count) fields; expected 5 (minute hour day month weekday) or 6 (seconds first)"
            )
        }
        if fields.count == 5 { fields.insert("0", at: 0) }
        func field(_ index: Int, _ name: String, _ range: ClosedRange<Int>, names: [String: Int] = [:])
            throws(CronError)
            -> CronField
        {
            do {
                return try Self.parseField(fields[index], range: range, names: names)
            } catch {
                throw CronError(
                    expression: expression, reason: "the \(name) field \"\(fields[index])\" \(error.reason)")
            }
        }
        seconds = try field(0, "seconds", 0...59)
        minutes = try field(1, "minute", 0...59)
        hours = try field(2, "hour", 0...23)
        daysOfMonth = try field(3, "day-of-month", 1...31)
        months = try field(4, "month", 1...12, names: Self.monthNames)
        daysOfWeek = try field(5, "day-of-week", 0...7, names: Self.dayNames).folding(7, into: 0)
        anyDayOfMonth = fields[3].hasPrefix("*") || fields[3] == "?"
        anyDayOfWeek = fields[5].hasPrefix("*") || fields[5] == "?"
    }

    private struct FieldError: Error {
        var reason: String
    }

    private static func parseField(_ text: String, range: ClosedRange<Int>, names: [String: Int]) throws(FieldError)
        -> CronField
    {
        func value(_ token: Substring) throws(FieldError) -> Int {
            if let number = Int(token) {
                guard range.contains(number) else {
                    throw FieldError(reason: "has \(number), outside \(range.lowerBound)-\(range.upperBound)")
                }
                return number
            }
            guard let named = names[token.uppercased()] else {
                throw FieldError(reason: "has \"\(token)\", not a value")
            }
            return named
        }
        var values = CronField()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else {
                    throw FieldError(reason: "has step \"\(pieces[1])\"; a step is a whole number above 0")
                }
                step = parsed
            }
            let base = pieces[0]
            var lower: Int
            var upper: Int
            if base == "*" || base == "?" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                lower = try value(base[..<dash])
                upper = try value(base[base.index(after: dash)...])
                guard lower <= upper else { throw FieldError(reason: "has range \(base) running backwards") }
            } else {
                lower = try value(base)
                upper = pieces.count == 2 ? range.upperBound : lower
            }
            values.insert(stride(from: lower, through: upper, by: step))
        }
        return values
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        let byMonth = daysOfMonth.contains(day)
        let byWeek = daysOfWeek.contains(weekday)
        switch (anyDayOfMonth, anyDayOfWeek) {
        case (true, true): return true
        case (false, true): return byMonth
        case (true, false): return byWeek
        case (false, false): return byMonth || byWeek
        }
    }

    /// The first slot after `date` in `timeZone`, or `nil` when none comes within 8 years (a 30th of February).
    ///
    /// Daylight saving: an entry for specific hours whose time falls in the hour skipped in spring runs once, right
    /// after the skip; in the hour repeated in autumn it runs only the first time. Entries for every hour follow real
    /// time, so they run in both passes of a repeated hour, and not in a skipped one.
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let fixedHours = hours.count < 24
        var instant = Date(timeIntervalSince1970: (date.timeIntervalSince1970 + 1).rounded(.down))
        let limit = date.addingTimeInterval(8 * 366 * 86400)
        while instant < limit {
            let local = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second, .weekday], from: instant)
            let (month, day, hour, minute, second) = (
                local.month!, local.day!, local.hour!, local.minute!, local.second!
            )
            var next: Date
            if !months.contains(month) {
                next = calendar.date(from: DateComponents(year: local.year!, month: month + 1, day: 1))!
            } else if !dayMatches(day: day, weekday: local.weekday! - 1) {
                next = calendar.startOfDay(for: calendar.date(byAdding: .day, value: 1, to: instant)!)
            } else if !hours.contains(hour) {
                next = instant.addingTimeInterval(Double(3600 - minute * 60 - second))
            } else if !minutes.contains(minute) {
                // Straight to the next minute of the field in this hour, or to the next hour.
                let later = minutes.first(after: minute) ?? 60
                next = instant.addingTimeInterval(Double((later - minute) * 60 - second))
            } else if !seconds.contains(second) {
                let later = seconds.first(after: second) ?? 60
                next = instant.addingTimeInterval(Double(later - second))
            } else {
                if fixedHours, isRepeatedWallTime(instant, timeZone) {
                    instant = instant.addingTimeInterval(1)
                    continue
                }
                return instant
            }
            if fixedHours, let gapSlot = slotSkipped(between: instant, and: next, calendar: calendar) {
                return gapSlot
            }
            instant = next
        }
        return nil
    }

    /// Whether the wall-clock time of `instant` already happened an hour or so earlier (autumn's repeated hour).
    private func isRepeatedWallTime(_ instant: Date, _ timeZone: TimeZone) -> Bool {
        let now = timeZone.secondsFromGMT(for: instant)
        let before = timeZone.secondsFromGMT(for: instant.addingTimeInterval(-3600))
        guard before > now else { return false }
        return timeZone.secondsFromGMT(for: instant.addingTimeInterval(Double(now - before))) == before
    }

    /// When the clock jumps forward between two instants (spring), the first instant after the jump if the skipped
    /// wall-clock times held a slot.
    private func slotSkipped(between start: Date, and end: Date, calendar: Calendar) -> Date? {
        let timeZone = calendar.timeZone
        let jump = timeZone.secondsFromGMT(for: end) - timeZone.secondsFromGMT(for: start)
        guard jump > 0 else { return nil }
        let local = calendar.dateComponents([.hour, .minute, .day, .weekday], from: end)
        guard dayMatches(day: local.day!, weekday: local.weekday! - 1),
            months.contains(calendar.component(.month, from: end)), !seconds.isEmpty
        else { return nil }
        let endMinute = local.hour! * 60 + local.minute!
        for skipped in stride(from: endMinute - jump / 60, to: endMinute, by: 1) where skipped >= 0 {
            if hours.contains(skipped / 60) && minutes.contains(skipped % 60) { return end }
        }
        return nil
    }
}

/// A cron expression that cannot be read.
public struct CronError: Error, Sendable, CustomStringConvertible {
    public var expression: String
    public var reason: String

    public var description: String { "\"\(expression)\" is not a cron expression: \(reason)." }
}
