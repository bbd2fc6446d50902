/// An error a test's closure throws on purpose, to see it come back unchanged.
struct TestError: Error, Equatable {
    var label = "boom"
}
