import Foundation

/// The points the six default metrics must produce, computed here from raw rows (never by
/// running the shipped SQL again), following SPEC.md's definitions.
public enum Expectations {
    public static let tokenBounds: [Double] = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
    public static let durationBounds: [Double] = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
    public static let quantiles: [Double] = [0.5, 0.9, 0.99]

    /// `gen_ai.provider.name` for the gateway's `ai_org`: the GenAI semantic conventions' well-known
    /// value where the slug differs (SPEC.md), written out here again, not taken from the bridge.
    public static func providerName(_ slug: String) -> String {
        [
            "azure-openai": "azure.ai.openai", "bedrock": "aws.bedrock", "vertex-ai": "gcp.vertex_ai", "google": "gcp.gemini",
            "mistral-ai": "mistral_ai", "x-ai": "x_ai", "perplexity-ai": "perplexity",
        ][slug] ?? slug
    }

    /// What each request URL of `scripts/services/gen_rows.py` must give: `gen_ai.operation.name`,
    /// `server.address`, `server.port`, written out here by hand (never computed by the bridge's
    /// mapping). A URL not listed is a test failure (`nil`).
    public static func requestShape(_ url: String) -> (operation: String, address: String?, port: Int64?)? {
        requestShapes[url].map { (operation: $0.0, address: $0.1, port: $0.2) }
    }

    public static let requestShapes: [String: (String, String?, Int64?)] = [
            "https://api.openai.com/v1/chat/completions": ("chat", "api.openai.com", nil),
            "HTTPS://API.OpenAI.com:443/V1/Chat/Completions/?stream=true#x": ("chat", "api.openai.com", nil),
            "https://api.openai.com/v1/responses": ("chat", "api.openai.com", nil),
            "https://api.openai.com/v1/completions": ("text_completion", "api.openai.com", nil),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke": ("generate_content", "bedrock-runtime.us-east-1.amazonaws.com", nil),
            "https://api.openai.com/v1/embeddings": ("embeddings", "api.openai.com", nil),
            "http://user:pw@gateway.internal:8787/v1/embeddings": ("embeddings", "gateway.internal", 8787),
            "https://api.anthropic.com/v1/messages": ("chat", "api.anthropic.com", nil),
            "https://[2001:DB8::1]:8443/v1/messages": ("chat", "2001:db8::1", 8443),
            "api.anthropic.com/v1/messages": ("chat", nil, nil),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse": ("chat", "bedrock-runtime.us-east-1.amazonaws.com", nil),
            "https://api.mistral.ai/v1/chat/completions": ("chat", "api.mistral.ai", nil),
            "not a url": ("generate_content", nil, nil),
            "": ("generate_content", nil, nil),
            "http://gw.internal:80/v1/chat/completions": ("chat", "gw.internal", nil),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent": ("generate_content", "generativelanguage.googleapis.com", nil),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse": ("generate_content", "generativelanguage.googleapis.com", nil),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:generateContent": ("generate_content", "us-central1-aiplatform.googleapis.com", nil),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse": ("generate_content", "us-central1-aiplatform.googleapis.com", nil),
    ]

    /// The GenAI metrics of each convention set (`OTEL_SEMCONV_STABILITY_OPT_IN`), as SPEC.md and
    /// docs/semconv.md name them.
    public static func genAIMetrics(latest: Bool) -> Set<String> {
        latest ? ["gen_ai.client.inference.duration", "gen_ai.client.operation.duration", "gen_ai.client.inference.usage.input_tokens",
                  "gen_ai.client.inference.usage.output_tokens", "gen_ai.client.inference.operation.input_tokens",
                  "gen_ai.client.inference.operation.output_tokens"]
               : ["gen_ai.client.operation.duration", "gen_ai.client.token.usage"]
    }

    /// One series in one bucket, before temporality.
    private struct Cell {
        var ints: Int64 = 0
        var doubles: Double = 0
        var values: [Double] = []
        var intValues: [Int64] = []
    }

    /// Expected points for rows with `created_at` in `[from, until)`, `step` in seconds; the GenAI
    /// metrics of v1.41.1, or of semantic-conventions-genai when `latest`.
    public static func points(rows: [GatewayRow], from: Int64, until: Int64, stepSeconds: Int64 = 60, cumulative: Bool,
                              latest: Bool = false) -> [ReceivedPoint] {
        let step = stepSeconds * 1_000_000_000
        // metric -> series key -> bucket -> cell, plus attributes per series key.
        var cells: [String: [String: [Int64: Cell]]] = [:]
        var attributesOf: [String: [String: String]] = [:]
        func add(_ metric: String, _ attrs: [String: String?], bucket: Int64, _ update: (inout Cell) -> Void) {
            let a = attrs.compactMapValues { v -> String? in (v?.isEmpty ?? true) ? nil : v }
            let key = a.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            attributesOf[key] = a
            update(&cells[metric, default: [:]][key, default: [:]][bucket, default: Cell()])
        }
        for r in rows where r.createdAt >= from && r.createdAt < until {
            let bucket = r.createdAt - ((r.createdAt % step) + step) % step
            let pm: [String: String?] = ["gen_ai.provider.name": providerName(r.provider), "gen_ai.request.model": r.model]
            add("portkey.requests", pm.merging(["portkey.workspace": r.workspace, "http.response.status_code": "int:\(r.status)",
                                                "portkey.cache_status": r.cacheStatus]) { $1 }, bucket: bucket) { $0.ints += 1 }
            // An unknown URL gives an attribute no metric can have, so the comparison fails.
            let shape = requestShape(r.requestURL) ?? (operation: "unlisted URL \(r.requestURL)", address: nil, port: nil)
            let genAI = pm.merging(["gen_ai.operation.name": shape.operation, "server.address": shape.address,
                                    "server.port": shape.port.map { "int:\($0)" }]) { $1 }
            for (type, tokens) in [("input", r.inputTokens), ("output", r.outputTokens)] {
                add("portkey.tokens", pm.merging(["gen_ai.token.type": type]) { $1 }, bucket: bucket) { $0.ints += tokens }
                if latest {
                    add("gen_ai.client.inference.usage.\(type)_tokens", genAI.merging(["gen_ai.token.modality": "unknown"]) { $1 }, bucket: bucket) { $0.ints += tokens }
                    add("gen_ai.client.inference.operation.\(type)_tokens", genAI.merging(["error.type": r.status >= 400 ? String(r.status) : nil]) { $1 },
                        bucket: bucket) { $0.intValues.append(tokens) }
                } else {
                    add("gen_ai.client.token.usage", genAI.merging(["gen_ai.token.type": type]) { $1 }, bucket: bucket) { $0.intValues.append(tokens) }
                }
            }
            add("portkey.cost", pm.merging(["portkey.workspace": r.workspace, "portkey.currency": r.currency]) { $1 }, bucket: bucket) {
                $0.doubles += r.costCents
            }
            let errorType: String? = r.status >= 400 ? String(r.status) : nil
            let inference = ["chat", "text_completion", "generate_content"].contains(shape.operation)
            add(latest && inference ? "gen_ai.client.inference.duration" : "gen_ai.client.operation.duration",
                genAI.merging(["error.type": errorType]) { $1 }, bucket: bucket) { $0.intValues.append(r.responseTimeMs) }
            add("portkey.request.latency", pm.merging(["error.type": errorType]) { $1 }, bucket: bucket) { $0.intValues.append(r.responseTimeMs) }
        }

        var out: [ReceivedPoint] = []
        for (metric, series) in cells {
            for (key, buckets) in series {
                let attrs = attributesOf[key]!
                var firstStart: Int64?
                var runInt: Int64 = 0, runDouble = 0.0, runCount: Int64 = 0, runSum = 0.0
                var runBuckets: [Int64] = []
                for bucket in buckets.keys.sorted() {
                    let cell = buckets[bucket]!
                    if firstStart == nil { firstStart = bucket }
                    let start = cumulative ? firstStart! : bucket
                    let temporality = cumulative ? 2 : 1
                    let value: ReceivedPoint.Value
                    var kind = "sum"
                    switch metric {
                    case "portkey.requests", "portkey.tokens", "gen_ai.client.inference.usage.input_tokens", "gen_ai.client.inference.usage.output_tokens":
                        runInt = cumulative ? runInt + cell.ints : cell.ints
                        value = .int(runInt)
                    case "portkey.cost":
                        let v = cell.doubles / 100
                        runDouble = cumulative ? runDouble + v : v
                        value = .double(runDouble)
                    case "gen_ai.client.token.usage", "gen_ai.client.operation.duration", "gen_ai.client.inference.duration",
                         "gen_ai.client.inference.operation.input_tokens", "gen_ai.client.inference.operation.output_tokens":
                        kind = "histogram"
                        let isDuration = metric.hasSuffix(".duration")
                        let bounds = isDuration ? durationBounds : tokenBounds
                        let xs = cell.intValues.map { isDuration ? Double($0) / 1000 : Double($0) }
                        var counts = Array(repeating: Int64(0), count: bounds.count + 1)
                        for x in xs { counts[bounds.firstIndex { x <= $0 } ?? bounds.count] += 1 }
                        let sum = isDuration ? Double(cell.intValues.reduce(0, +)) / 1000 : Double(cell.intValues.reduce(0, +))
                        if cumulative {
                            runCount += Int64(xs.count); runSum += sum
                            runBuckets = runBuckets.isEmpty ? counts : zip(runBuckets, counts).map { $0 + $1 }
                        } else {
                            runCount = Int64(xs.count); runSum = sum; runBuckets = counts
                        }
                        value = .histogram(count: runCount, sum: runSum, min: xs.min(), max: xs.max(), buckets: runBuckets, bounds: bounds)
                    default:  // portkey.request.latency
                        kind = "summary"
                        let sorted = cell.intValues.sorted().map { Double($0) / 1000 }
                        var q: [Double: Double] = [:]
                        for level in quantiles {
                            q[level] = sorted[min(Int((level * Double(sorted.count)).rounded(.down)), sorted.count - 1)]
                        }
                        let sum = Double(cell.intValues.reduce(0, +)) / 1000
                        if cumulative { runCount += Int64(sorted.count); runSum += sum } else { runCount = Int64(sorted.count); runSum = sum }
                        value = .summary(count: runCount, sum: runSum, quantiles: q)
                    }
                    out.append(ReceivedPoint(metric: metric, unit: "", kind: kind, temporality: kind == "summary" ? 0 : temporality,
                                             attributes: attrs, start: start, time: bucket + step, value: value, request: 0))
                }
            }
        }
        return out
    }

    /// Compares received points with expected ones: every expected point exactly once, nothing
    /// else, values equal (floating sums within 1e-9 relative).
    public static func check(received: [ReceivedPoint], expected: [ReceivedPoint]) -> [String] {
        var problems: [String] = []
        var byKey: [String: [ReceivedPoint]] = [:]
        for p in received { byKey["\(p.metric)|\(p.seriesKey)|\(p.time)", default: []].append(p) }
        for e in expected {
            let key = "\(e.metric)|\(e.seriesKey)|\(e.time)"
            guard let got = byKey.removeValue(forKey: key) else { problems.append("missing: \(e)"); continue }
            if got.count > 1 { problems.append("received \(got.count) times: \(e)") }
            let g = got[0]
            if g.start != e.start { problems.append("start \(g.start) != \(e.start): \(e)") }
            if g.kind != e.kind || g.temporality != e.temporality { problems.append("kind/temporality \(g.kind)/\(g.temporality) != \(e.kind)/\(e.temporality): \(e)") }
            if !close(g.value, e.value) { problems.append("value \(g.value) != \(e.value): \(e)") }
        }
        for (_, extra) in byKey { problems.append("unexpected: \(extra[0])") }
        return problems
    }

    public static func close(_ a: ReceivedPoint.Value, _ b: ReceivedPoint.Value) -> Bool {
        func near(_ x: Double, _ y: Double) -> Bool { abs(x - y) <= 1e-9 * max(1, abs(x), abs(y)) }
        switch (a, b) {
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return near(x, y)
        case let (.histogram(c1, s1, mn1, mx1, b1, bd1), .histogram(c2, s2, mn2, mx2, b2, bd2)):
            return c1 == c2 && near(s1, s2) && mn1 == mn2 && mx1 == mx2 && b1 == b2 && bd1 == bd2
        case let (.summary(c1, s1, q1), .summary(c2, s2, q2)):
            return c1 == c2 && near(s1, s2) && q1 == q2
        default: return false
        }
    }

    /// Each series' total over everything it delivered, by `metric|seriesKey`: a Sum's value, a
    /// histogram's or summary's count and sum. Delta: the sum of all its points; cumulative: its
    /// last point (the latest `time`).
    public static func totals(_ points: [ReceivedPoint], cumulative: Bool) -> [String: Total] {
        var out: [String: Total] = [:]
        var latest: [String: Int64] = [:]
        for p in points {
            let key = "\(p.metric)|\(p.seriesKey)"
            let t = Total(p.value)
            if cumulative {
                if p.time >= latest[key, default: .min] {
                    latest[key] = p.time
                    out[key] = t
                }
            } else {
                out[key, default: Total()].add(t)
            }
        }
        return out
    }

    /// A series' total: a count (a Sum's value, a histogram's or summary's count) and a sum.
    public struct Total: Equatable, CustomStringConvertible {
        public var count: Double = 0
        public var sum: Double = 0
        public var buckets: [Int64] = []

        public init() {}

        init(_ value: ReceivedPoint.Value) {
            switch value {
            case .int(let v): count = Double(v)
            case .double(let v): sum = v
            case .histogram(let c, let s, _, _, let b, _): (count, sum, buckets) = (Double(c), s, b)
            case .summary(let c, let s, _): (count, sum) = (Double(c), s)
            }
        }

        mutating func add(_ other: Total) {
            count += other.count
            sum += other.sum
            buckets = buckets.isEmpty ? other.buckets : zip(buckets, other.buckets).map { $0 + $1 }
        }

        /// Equal counts and bucket counts; sums within 1e-9 relative.
        public func matches(_ other: Total) -> Bool {
            count == other.count && buckets == other.buckets && abs(sum - other.sum) <= 1e-9 * max(1, abs(sum), abs(other.sum))
        }

        public var description: String { "count \(count) sum \(sum)\(buckets.isEmpty ? "" : " buckets \(buckets)")" }
    }

    /// Received totals compared with expected ones: every series in both, equal.
    public static func checkTotals(received: [String: Total], expected: [String: Total]) -> [String] {
        var problems: [String] = []
        for (key, e) in expected.sorted(by: { $0.key < $1.key }) {
            guard let g = received[key] else { problems.append("missing: \(key) \(e)"); continue }
            if !g.matches(e) { problems.append("\(key): received \(g), the table says \(e)") }
        }
        for key in received.keys where expected[key] == nil { problems.append("unexpected: \(key) \(received[key]!)") }
        return problems
    }
}
