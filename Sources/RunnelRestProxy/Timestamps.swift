import Foundation
import RunnelRecords

/// ISO-8601 timestamps as the v3 API writes them (`2023-03-09T14:07:23.592Z`), and as clients send them.
enum Timestamps {
    /// Milliseconds since the epoch, from an ISO-8601 date-time with or without fractional seconds and offset.
    static func parse(_ text: String) -> Int64? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        guard let date = withFraction.date(from: text) ?? plain.date(from: text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// UTC, with milliseconds. Times outside years 0001–9999 (which four-digit years cannot write) are clamped.
    static func format(_ milliseconds: Int64) -> String {
        let milliseconds = min(max(milliseconds, -62_135_596_800_000), 253_402_300_799_999)
        // Floor division, without the overflow `milliseconds - 86_399_999` would have near Int64.min.
        var days = milliseconds / 86_400_000
        if milliseconds % 86_400_000 < 0 { days -= 1 }
        let inDay = milliseconds - days * 86_400_000
        let date = CivilDate(daysSinceEpoch: days)
        let (year, month, day) = (date.year, date.month, date.day)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(inDay / 3_600_000, 2)):"
            + "\(pad(inDay / 60_000 % 60, 2)):\(pad(inDay / 1000 % 60, 2)).\(pad(inDay % 1000, 3))Z"
    }
}
