import Testing
import UTCTime

@Suite("HTTP-date (IMF-fixdate)")
struct HTTPDateTests {
    @Test("parses RFC 9110's example and the ends of 4-digit years")
    func parses() {
        #expect(HTTPDate.unixSeconds(imfFixdate: "Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.unixSeconds(imfFixdate: "Thu, 29 Feb 2024 12:00:00 GMT") == 1_709_208_000)
        #expect(HTTPDate.unixSeconds(imfFixdate: "Fri, 31 Dec 9999 23:59:59 GMT") == 253_402_300_799)
        #expect(HTTPDate.unixSeconds(imfFixdate: "Mon, 01 Jan 0001 00:00:00 GMT") == -62_135_596_800)
    }

    @Test("refuses what is not an IMF-fixdate", arguments: [
        "", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 8:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
    ])
    func refuses(text: String) {
        #expect(HTTPDate.unixSeconds(imfFixdate: text) == nil)
    }
}

@Suite("Durations in seconds")
struct DurationSecondsTests {
    @Test("to Double seconds and milliseconds")
    func toDouble() {
        #expect(Duration.milliseconds(1500).inSeconds == 1.5)
        #expect(Duration.milliseconds(1500).inMilliseconds == 1500)
        #expect(Duration.seconds(-2).inSeconds == -2)
        #expect(Duration.seconds(5).secondsDescription == "5")
        #expect(Duration.milliseconds(250).secondsDescription == "0.25")
    }

    @Test("from Double seconds, checked")
    func fromDouble() {
        #expect(Duration(seconds: 0.0011, roundingMilliseconds: .up) == .milliseconds(2))
        #expect(Duration(seconds: 0.0019, roundingMilliseconds: .towardZero) == .milliseconds(1))
        #expect(Duration(seconds: 1.5) == .milliseconds(1500))
        #expect(Duration(seconds: .nan) == nil)
        #expect(Duration(seconds: .infinity) == nil)
        #expect(Duration(seconds: 1e20) == nil)
        #expect(Duration(seconds: 9e12) == .milliseconds(9_000_000_000_000_000))
    }

    @Test("whole seconds and milliseconds, clamped, never trapping")
    func whole() {
        #expect(Duration.zero.wholeSeconds(clampedTo: 1...10) == 1)
        #expect(Duration.milliseconds(1500).wholeSeconds(clampedTo: 1...10) == 2)
        #expect(Duration.seconds(-5).wholeSeconds(clampedTo: 1...10) == 1)
        #expect(Duration.seconds(Int64.max).wholeSeconds(clampedTo: 1...1_000_000_000) == 1_000_000_000)
        #expect((Duration.seconds(Int64.max) + .milliseconds(1)).wholeSeconds(clampedTo: 1...Int64.max) == Int64.max)
        #expect(Duration.milliseconds(1500).wholeMilliseconds(roundingUp: true, clampedTo: 0...Int64.max) == 1500)
        #expect(Duration.microseconds(1).wholeMilliseconds(roundingUp: true, clampedTo: 0...Int64.max) == 1)
        #expect(Duration.microseconds(1).wholeMilliseconds(roundingUp: false, clampedTo: 1...Int64.max) == 1)
        #expect(Duration.microseconds(2500).wholeMilliseconds(roundingUp: false, clampedTo: 0...Int64.max) == 2)
        #expect(Duration.seconds(Int64.max).wholeMilliseconds(roundingUp: true, clampedTo: 0...Int64(Int32.max)) == Int64(Int32.max))
        #expect(Duration.milliseconds(-500).wholeMilliseconds(roundingUp: true, clampedTo: 0...10) == 0)
    }
}
