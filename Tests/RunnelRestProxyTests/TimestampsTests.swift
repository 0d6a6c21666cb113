import Foundation
import Testing

@testable import RunnelRestProxy

@Suite struct TimestampsTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_612_552_482_000, "2021-02-05T19:14:42.000Z"),
        (1_678_370_843_592, "2023-03-09T14:07:23.592Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
    ])
    func formatsUTCWithMilliseconds(_ milliseconds: Int64, _ text: String) {
        #expect(Timestamps.format(milliseconds) == text)
        #expect(Timestamps.parse(text) == milliseconds)
    }

    @Test func agreesWithFoundationAndNeverTraps() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        // From 1600 (Foundation switches to the Julian calendar before 1582; ISO 8601 stays Gregorian) to 9999.
        for _ in 0..<1_000 {
            let milliseconds = Int64.random(in: -11_676_096_000_000...253_402_300_799_999, using: &generator)
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            #expect(Timestamps.format(milliseconds) == formatter.string(from: date), "\(milliseconds)")
        }
        // Timestamps any Kafka producer may set, however odd, format without trapping.
        for extreme in [Int64.min, Int64.min + 1, Int64.max] { _ = Timestamps.format(extreme) }
        #expect(Timestamps.parse("2021-02-05T20:14:42+01:00") == 1_612_552_482_000)
        #expect(Timestamps.parse("yesterday") == nil)
    }
}
