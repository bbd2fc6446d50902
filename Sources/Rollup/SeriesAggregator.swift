import Checkpoints
import CurlHTTP
import Foundation
import OTLP
import PipelineConfig
import Synchronization
import UTCTime

/// Where the aggregator finds the stored cumulative state: the checkpoint store in a pass, a
/// dictionary in tests. Only the series a pass touches are loaded.
package protocol SeriesStateSource {
    /// Stored series per metric name, the overflow series not counted.
    func counts() throws -> [String: Int]
    /// The stored state of those of `ids` the metric has.
    func load(metric: String, ids: [String]) throws -> [SeriesState]
    /// Every stored id of the metric (at most its cardinality limit).
    func ids(metric: String) throws -> Set<String>
    /// Every stored series of the pipeline, in one read; `nil` when the source only loads on
    /// demand.
    func all() throws -> [SeriesState]?
}

extension SeriesStateSource {
    package func all() throws -> [SeriesState]? { nil }
}

/// Turns one series' observation in one bucket into an OTLP data point under the configured
/// temporality, keeps the cumulative state that must be committed with the batch, and decides
/// which series a metric keeps under its cardinality limit.
///
/// - `cumulative`: Sum values, Histogram counts/sum and Summary count/sum are running totals since
///   the series' first bucket, whose start is the point's `start_time_unix_nano` for ever (it is
///   persisted, so restarts do not reset it). Min, max and quantiles are the bucket's own. A
///   series restarts (a new start time, the bucket's values as its totals) when it returns after
///   being idle longer than `series_expiry`, or when a running total would no longer fit (an
///   Int64, a finite double): a backend sees a counter reset, never a wrong value.
/// - `delta`: the bucket alone; the start time is the bucket start.
///
/// Cardinality (the OpenTelemetry SDK's rule): a metric keeps at most `limit - 1` series with
/// their own attributes; others go to one series with `otel.metric.overflow=true`. Cumulative: a
/// stored series always keeps its place; a new one gets a place while the metric has fewer than
/// `limit - 1` stored series. Delta: the first `limit - 1` series of each bucket, in result order.
///
/// Every point's `time_unix_nano` is the bucket end.
///
/// One code path: series come from the pass's ``SeriesTable`` by index (a ``BucketReader`` admits
/// them with ``admit(_:metric:bucketStart:admittedInBucket:)``), and a bucket's points are made by
/// ``points(of:metrics:step:)``. The aggregator's per-series facts (cumulative state, looked up,
/// admitted, changed) are its own, in arrays by series index; a series it keeps facts on is pinned
/// in the table, so its index stays its own for the pass.
package final class SeriesAggregator: SeriesAdmission {
    package let pipeline: String
    package let temporality: AggregationTemporality
    package let expiry: Int64
    private let source: any SeriesStateSource
    /// The pass's series.
    package let table: SeriesTable

    /// What the aggregator knows of each series, by series index.
    private var own: [Own] = []

    /// The aggregator's facts on one series.
    private struct Own {
        /// Its running totals (loaded from the store or started in this pass), when `hasState`.
        var totals = Totals()
        var hasState = false
        /// ``SeriesTable/birth(_:)`` of the series when it was looked up in the store (0: not yet).
        var lookedUp = 0
        /// Given a place under its metric's cardinality limit (cumulative), before it has state.
        var admitted = false
        /// The change generation in which it was last changed (``takeChanges()``).
        var changedIn = -1
    }

    /// A series' running totals: the aggregator's own form of its cumulative state, with no text
    /// in it (a ``SeriesState`` is read from the store into one, and made of one when the changes
    /// are taken).
    private struct Totals {
        var start: Int64 = 0
        var lastEnd: Int64 = 0
        var intTotal: Int64?
        var doubleTotal: Double?
        var count: Int64?
        var sum: Double?
        var bucketCounts: [Int64]?
        /// Its next commit inserts its row (with the attributes' JSON) rather than updating it.
        var inserts = false

        init() {}

        var snapshot: SeriesTotals {
            SeriesTotals(start: start, lastEnd: lastEnd, intTotal: intTotal, doubleTotal: doubleTotal, count: count, sum: sum,
                         bucketCounts: bucketCounts)
        }

        /// A stored state: its commits update its row.
        init(stored state: SeriesState) {
            start = state.startTime.unixNanoseconds
            lastEnd = state.lastBucketEnd.unixNanoseconds
            intTotal = state.intTotal
            doubleTotal = state.doubleTotal
            count = state.count
            sum = state.sum
            bucketCounts = state.bucketCounts
            inserts = false
        }
    }
    /// Stored series per metric, plus those admitted since.
    private var counts: [String: Int]?
    /// Every stored id of a metric at its limit: lookups no longer need the store.
    private var allIDs: [String: Set<String>] = [:]
    /// Every stored series, read at once when the pipeline has at most ``preloadLimit``: then no
    /// series is looked up on its own (a first pass over 1,000 series made 1,000 queries).
    private var preloaded: [SeriesState.Identity: SeriesState]?
    package static let preloadLimit = 100_000

    /// Whether aggregating needs the state source no more: delta, or every stored series read.
    package var readsWithoutStore: Bool { temporality != .cumulative || preloaded != nil }
    /// The store's names of the series with state: the changes' ``SeriesChange/series`` indices name them.
    package let directory = SeriesDirectory()
    /// Series changed since the last `takeChanges()`.
    private var changed: [Int] = []
    private var generation = 0
    /// Series restarted because a total overflowed (for the log).
    private(set) var restartedOnOverflow = 0

    package init(pipeline: String, temporality: AggregationTemporality, expirySeconds: Int64, source: any SeriesStateSource, table: SeriesTable) {
        self.pipeline = pipeline
        self.temporality = temporality
        self.expiry = expirySeconds * 1_000_000_000
        self.source = source
        self.table = table
    }

    /// The per-series arrays as long as the table.
    @inline(__always)
    private func reach(_ s: Int) {
        if s >= own.count { own += repeatElement(Own(), count: table.count - own.count) }
    }

    /// The identity of a series: its attributes in a canonical order with their types. Every key
    /// and value is length-prefixed, so no attribute text can imitate a separator.
    package static func seriesKey(_ attributes: [Attribute]) -> String {
        var key = ""
        for a in attributes.sorted(by: { $0.key < $1.key }) {
            let (type, text): (String, String) = switch a.value {
            case .string(let s): ("s", s)
            case .int(let i): ("i", String(i))
            case .double(let d): ("d", String(d))
            case .bool(let b): ("b", String(b))
            }
            key += "\(a.key.utf8.count):\(a.key)=\(type)\(text.utf8.count):\(text);"
        }
        return key
    }

    /// Attributes as a JSON object, for operators reading `series_state`: string values escaped
    /// and shortened (a `jsonb` cannot hold a NUL, and the row need not hold 10 kB of a tenant's
    /// text: the series' identity is its id).
    package static func attributesJSON(_ attributes: [Attribute]) -> String {
        var object: [String: String] = [:]  // key → the value's JSON; a later attribute wins
        for a in attributes {
            let key = LogSafe.text(a.key, limit: 128)
            switch a.value {
            case .string(let s): object[key] = jsonString(LogSafe.text(s, limit: 256))
            case .int(let i): object[key] = String(i)
            case .double(let d): object[key] = d.isFinite ? "\(d)" : jsonString(String(d))
            case .bool(let b): object[key] = b ? "true" : "false"
            }
        }
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (k, member) in object.sorted(by: { $0.key < $1.key }).enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            appendJSONString(member.key, to: &out)
            out.append(UInt8(ascii: ":"))
            out += member.value.utf8
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped.
    private static func jsonString(_ text: String) -> String {
        var out: [UInt8] = []
        appendJSONString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `text` as a JSON string, read through its UTF-8 buffer.
    private static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        var text = text
        out.append(0x22)
        text.withUTF8 { bytes in
            out.reserveCapacity(out.count + bytes.count + 1)
            for byte in bytes {
                switch byte {
                case 0x22, 0x5C: out.append(0x5C); out.append(byte)
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                case 0..<0x20:
                    out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
                default: out.append(byte)
                }
            }
        }
        out.append(0x22)
    }

    // MARK: - cardinality

    package func admit(_ s: Int, metric: ResultBinding.BoundMetric, bucketStart: Int64, admittedInBucket: Int) throws(BridgeError) -> Bool {
        reach(s)
        // Cumulative, and stored or admitted before (a bucket read again only to compare, or
        // too old to send, admits without emitting: the series has no state yet).
        if own[s].hasState || own[s].admitted { return true }
        let room = metric.cardinalityLimit - 1
        guard temporality == .cumulative, !metric.isGauge else { return admittedInBucket < room }
        if try isStored(s, room: room) { return true }
        let name = table.metricName(s)
        var count = try storedCounts()[name, default: 0]
        guard count < room else { return false }
        count += 1
        counts?[name] = count
        own[s].admitted = true
        table.pin(s)
        return true
    }

    private func storedCounts() throws(BridgeError) -> [String: Int] {
        if let counts { return counts }
        do {
            let loaded = try source.counts()
            counts = loaded
            if loaded.values.reduce(0, +) <= Self.preloadLimit, let all = try source.all() {
                preloaded = Dictionary(all.map { ($0.identity, $0) }, uniquingKeysWith: { a, _ in a })
            }
            return loaded
        } catch {
            throw BridgeError(.checkpoint, "cannot read the series state: \(error)", pipeline: pipeline, underlying: error)
        }
    }

    /// Whether the series is stored, loading its state if it is (once per series and pass).
    private func isStored(_ s: Int, room: Int) throws(BridgeError) -> Bool {
        if own[s].hasState { return true }
        let birth = table.birth(s)
        if own[s].lookedUp == birth { return false }
        let ref = table.identity(s)
        let metric = ref.metric, seriesID = ref.seriesID
        do {
            let counts = try storedCounts()
            if let preloaded {
                own[s].lookedUp = birth
                guard let state = preloaded[ref] else { return false }
                setState(s, Totals(stored: state))
                return true
            }
            if counts[metric, default: 0] >= room {
                // At the limit, every new series would be looked up in vain: know them all.
                if allIDs[metric] == nil { allIDs[metric] = try source.ids(metric: metric) }
                guard allIDs[metric]!.contains(seriesID) else {
                    own[s].lookedUp = birth
                    return false
                }
            }
            if let state = try source.load(metric: metric, ids: [seriesID]).first {
                setState(s, Totals(stored: state))
                own[s].lookedUp = birth
                return true
            }
        } catch let error as BridgeError {
            throw error
        } catch {
            throw BridgeError(.checkpoint, "cannot read the series state: \(error)", pipeline: pipeline, underlying: error)
        }
        own[s].lookedUp = birth
        return false
    }

    /// Gives the series its state (never taken away again): pinned in the table.
    private func setState(_ s: Int, _ totals: Totals) {
        if !own[s].hasState { table.pin(s) }
        // Named for the store once, and with the attributes' JSON once a state inserts its row (a
        // stored series only updates it, until it restarts after its expiry).
        if !own[s].hasState || totals.inserts {
            directory.register(s, identity: table.identity(s), attributesJSON: totals.inserts ? table.attributesJSON(s) : "")
        }
        own[s].totals = totals
        own[s].hasState = true
    }

    // MARK: - points

    /// What the series exports for `observation` in the bucket starting at `bucketStart`: its
    /// start time and value (the bucket's own, or the running totals), the state updated.
    private func emission(_ s: Int, isGauge: Bool, bucketStart: Int64, bucketEnd: Int64, observation: Observation) throws(BridgeError) -> Emission {
        guard temporality == .cumulative, !isGauge else { return Emission(start: UInt64(bucketStart), value: observation) }
        reach(s)
        if !own[s].hasState { _ = try isStored(s, room: Int.max) }
        // The running totals are changed where they are, in one access: a state is made only when taken.
        switch Self.continuing(&own[s], observation: observation, bucketStart: bucketStart, bucketEnd: bucketEnd, expiry: expiry,
                               restartBefore: restartBefore, generation: generation) {
        case .emitted(let emission, let firstChange):
            if firstChange { changed.append(s) }
            return emission
        case .before(let lastEnd):
            // Adding a bucket the running total already holds would count it twice.
            throw BridgeError(.result, "\(table.metricName(s)) {\(LogSafe.text(table.key[s], limit: 200))}: bucket \(UTCInstant(unixNanoseconds: bucketStart).iso8601) is before the end of the last bucket already in its cumulative total (\(UTCInstant(unixNanoseconds: lastEnd).iso8601)); rewind the pipeline to restart its series",
                              pipeline: pipeline)
        case .restart(let overflow):
            if overflow { restartedOnOverflow += 1 }  // a running total no longer fits: restart
        }
        // No state yet, idle past expiry, or a total that no longer fits: (re)start the series
        // from this bucket (its next commit inserts the row anew).
        var fresh = Totals()
        fresh.start = bucketStart
        fresh.lastEnd = bucketEnd
        fresh.inserts = true
        guard let value = Self.accumulate(observation, into: &fresh) else {
            throw BridgeError(.result, "\(table.metricName(s)): a value of bucket \(UTCInstant(unixNanoseconds: bucketStart).iso8601) does not fit a 64-bit total", pipeline: pipeline)
        }
        setState(s, fresh)
        noteChanged(s)
        return Emission(start: UInt64(bucketStart), value: value)
    }

    /// What continuing a series' running totals gave.
    private enum Continuation {
        /// The point (and whether it is the series' first change since the last ``takeChanges()``).
        case emitted(Emission, firstChange: Bool)
        /// The bucket starts before the end of the last one in the totals.
        case before(lastEnd: Int64)
        /// No state, idle past expiry or after a gap, or (`overflow`) a total that would not fit.
        case restart(overflow: Bool)
    }

    /// Continues the series' running totals with `observation` when they go on.
    @inline(__always)
    private static func continuing(_ own: inout Own, observation: Observation, bucketStart: Int64, bucketEnd: Int64, expiry: Int64,
                                   restartBefore: Int64, generation: Int) -> Continuation {
        guard own.hasState else { return .restart(overflow: false) }
        let lastEnd = own.totals.lastEnd
        if bucketStart < lastEnd { return .before(lastEnd: lastEnd) }
        // Else idle past series_expiry, or after a gap: restart.
        guard bucketStart - lastEnd <= expiry, lastEnd >= restartBefore else { return .restart(overflow: false) }
        guard let value = accumulate(observation, into: &own.totals) else { return .restart(overflow: true) }
        own.totals.lastEnd = bucketEnd
        let first = own.changedIn != generation
        own.changedIn = generation
        return .emitted(Emission(start: UInt64(own.totals.start), value: value), firstChange: first)
    }

    private func noteChanged(_ s: Int) {
        if own[s].changedIn != generation {
            own[s].changedIn = generation
            changed.append(s)
        }
    }

    /// Adds `observation` to the running totals and returns the value the point exports: the
    /// observation with its counts and sums replaced by the totals (min, max and quantiles stay
    /// the bucket's own). `nil`, with `totals` unchanged, when a total would overflow or stop
    /// being finite, or a histogram's bucket count changed (new bounds).
    private static func accumulate(_ observation: Observation, into totals: inout Totals) -> Observation? {
        switch observation {
        case .int(let v):
            let (total, o) = (totals.intTotal ?? 0).addingReportingOverflow(v)
            if o { return nil }
            totals.intTotal = total
            return .int(total)
        case .double(let v):
            let total = (totals.doubleTotal ?? 0) + v
            guard total.isFinite else { return nil }
            totals.doubleTotal = total
            return .double(total)
        case .histogram(let count, let sum, let min, let max, let buckets):
            if let b = totals.bucketCounts, b.count != buckets.count { return nil }  // the bounds changed: restart
            for i in buckets.indices {
                guard adding(buckets[i], to: totals.bucketCounts?[i] ?? 0) != nil else { return nil }
            }
            guard let (c, s) = addingCountAndSum(count, sum, to: totals) else { return nil }
            if totals.bucketCounts == nil { totals.bucketCounts = Array(repeating: 0, count: buckets.count) }
            var out = [UInt64](repeating: 0, count: buckets.count)
            for i in buckets.indices {
                totals.bucketCounts![i] += Int64(buckets[i])  // checked above
                out[i] = UInt64(totals.bucketCounts![i])
            }
            totals.count = c
            totals.sum = s
            return .histogram(count: UInt64(c), sum: s, min: min, max: max, buckets: out)
        case .summary(let count, let sum, let quantiles):
            guard let (c, s) = addingCountAndSum(count, sum, to: totals) else { return nil }
            totals.count = c
            totals.sum = s
            return .summary(count: UInt64(c), sum: s, quantiles: quantiles)
        }
    }

    /// `total + value`, or `nil` when it does not fit an Int64 (a bigint in the store).
    private static func adding(_ value: UInt64, to total: Int64) -> Int64? {
        guard let v = Int64(exactly: value) else { return nil }
        let (sum, overflow) = total.addingReportingOverflow(v)
        return overflow ? nil : sum
    }

    /// A histogram's or summary's running count and sum with these added, or `nil` when either
    /// would no longer fit.
    private static func addingCountAndSum(_ count: UInt64, _ sum: Double, to state: Totals) -> (Int64, Double)? {
        guard let c = adding(count, to: state.count ?? 0) else { return nil }
        let s = (state.sum ?? 0) + sum
        guard s.isFinite else { return nil }
        return (c, s)
    }

    /// The points of a bucket read from the result, in metric order (the state updated). Values
    /// carried (``carry(_:)``) go into this bucket's points: added to the series' own value, or
    /// as a point of their own for a series with no rows in the bucket.
    package func points(of bucket: ResultBucket, metrics: [MetricMapping], step: Int64) throws(BridgeError) -> [EmittedPoint] {
        let end = bucket.start + step
        let gauges = metrics.map { if case .gauge = $0.kind { true } else { false } }
        var points: [EmittedPoint] = []
        points.reserveCapacity(bucket.observations.count + carries.count)
        var carried = [Bool](repeating: false, count: carries.count)
        let metricOf = table.metric
        for k in bucket.observations.indices {
            // Fields read in place: a whole copy of the observation costs a value-witness call.
            let s = bucket.observations[k].series
            let m = metricOf[s]
            let e: Emission
            if !carries.isEmpty, let i = carryIndex[s] {
                guard let sum = LateFold.adding(carries[i].value, to: bucket.observations[k].observation) else {
                    throw BridgeError(.result, "\(table.metricName(s)) {\(LogSafe.text(table.key[s], limit: 200))}: the late rows carried into bucket \(UTCInstant(unixNanoseconds: bucket.start).iso8601) do not fit its value",
                                      pipeline: pipeline)
                }
                carried[i] = true
                e = try emission(s, isGauge: gauges[m], bucketStart: bucket.start, bucketEnd: end, observation: sum)
            } else {
                e = try emission(s, isGauge: gauges[m], bucketStart: bucket.start, bucketEnd: end, observation: bucket.observations[k].observation)
            }
            points.append(EmittedPoint(series: s, metric: m, start: e.start, value: e.value, exemplar: bucket.observations[k].exemplar))
        }
        for (i, c) in carries.enumerated() where !carried[i] {
            let m = table.metric[c.series]
            let e = try emission(c.series, isGauge: gauges[m], bucketStart: bucket.start, bucketEnd: end, observation: c.value)
            points.append(EmittedPoint(series: c.series, metric: m, start: e.start, value: e.value, exemplar: c.exemplar))
        }
        carries = []
        carryIndex = [:]
        return BucketPoints.inMetricOrder(points)
    }

    // MARK: - carry

    /// Values that go into their series' next point (late rows folded), by series index.
    private var carries: [Carry] = []
    private var carryIndex: [Int: Int] = [:]

    /// Whether values wait to go into the next bucket's points.
    package var hasCarry: Bool { !carries.isEmpty }

    /// Series whose last bucket ended before this restart at their next point (`too_old: drop`:
    /// after a gap, cumulative series start again at the first point sent).
    private var restartBefore: Int64 = .min

    /// Cumulative series whose last point ended before `time` start again at their next point.
    package func restartSeries(before time: Int64) {
        restartBefore = time
    }

    /// Forgets what was carried.
    package func dropCarry() {
        carries = []
        carryIndex = [:]
    }

    /// Adds `items` to what the next bucket's points carry (cumulative: into the running totals
    /// from that point on; delta: into that bucket's point).
    package func carry(_ items: [Carry]) throws(BridgeError) {
        for item in items {
            let key = item.series
            table.pin(key)  // carried until the next bucket's points: its index must stay its own
            if let i = carryIndex[key] {
                guard let sum = LateFold.adding(item.value, to: carries[i].value) else {
                    throw BridgeError(.result, "\(table.metricName(key)): the late rows carried do not fit a 64-bit total", pipeline: pipeline)
                }
                carries[i].value = sum
                carries[i].exemplar = BucketObservation.larger(carries[i].exemplar, item.exemplar)
            } else {
                carryIndex[key] = carries.count
                carries.append(item)
            }
        }
    }

    /// The series states changed since the last call, to commit with the batch, each with its
    /// index (a series with state is pinned: its index is its own for the whole pass).
    package func takeChanges() -> [SeriesChange] {
        defer {
            changed.removeAll(keepingCapacity: true)
            generation += 1
        }
        var changes: [SeriesChange] = []
        changes.reserveCapacity(changed.count)
        for s in changed where own[s].hasState {
            let inserts = own[s].totals.inserts
            own[s].totals.inserts = false  // its first commit inserts the row; later ones update it
            changes.append(SeriesChange(series: s, totals: own[s].totals.snapshot, inserts: inserts))
        }
        return changes
    }
}

/// A cumulative series' running totals after a bucket: plain values (no text), so that a change
/// is cheap to keep and to drop; a ``SeriesState`` is made of the latest one per batch.
package struct SeriesTotals: Sendable, Equatable {
    package var start: Int64
    package var lastEnd: Int64
    package var intTotal: Int64?
    package var doubleTotal: Double?
    package var count: Int64?
    package var sum: Double?
    package var bucketCounts: [Int64]?
}

/// A cumulative series' totals after a bucket, with the series' index in the pass's ``SeriesTable``:
/// plain values, copied and dropped without reference counting (a pass takes one per series and
/// bucket). The pass's ``SeriesDirectory`` names the series for the store when a batch's states
/// are made.
package struct SeriesChange: Sendable, Equatable {
    package var series: Int
    package var totals: SeriesTotals
    /// The change (re)starts the series: the commit inserts its row, with the attributes' JSON.
    package var inserts: Bool

    package init(series: Int, totals: SeriesTotals, inserts: Bool) {
        self.series = series
        self.totals = totals
        self.inserts = inserts
    }
}

/// What the checkpoint store calls each series of a pass that has cumulative state: its identity
/// and the attributes' JSON its row is inserted with, by series index (a series with state keeps
/// its index for the whole pass). Filled by the aggregator as series get state; read once per
/// batch, when the batch's ``SeriesState``s are made of its latest changes.
package final class SeriesDirectory: Sendable, Equatable {
    private struct Names {
        /// By series index; `nil`: not named (no state).
        var identities: [SeriesState.Identity?] = []
        var attributesJSON: [String] = []
    }

    private let names = Mutex(Names())

    package init() {}

    /// Names series `s` (again: the same series keeps its index, and its names never change).
    package func register(_ s: Int, identity: SeriesState.Identity, attributesJSON: String) {
        names.withLock { names in
            if names.identities.count <= s {
                names.identities += repeatElement(nil, count: s + 1 - names.identities.count)
                names.attributesJSON += repeatElement("", count: s + 1 - names.attributesJSON.count)
            }
            names.identities[s] = identity
            names.attributesJSON[s] = attributesJSON
        }
    }

    /// The states the store commits for `changes` (each of a registered series).
    package func states(of changes: [SeriesChange]) -> [SeriesState] {
        names.withLock { names in
            changes.map { change in
                // Each name read where it is: the identity is the state's own reference, the JSON only for an insert.
                guard change.series < names.identities.count, let identity = names.identities[change.series] else {
                    preconditionFailure("series \(change.series) changed but has no name in the directory")
                }
                let t = change.totals
                return SeriesState(identity: identity, attributesJSON: change.inserts ? names.attributesJSON[change.series] : "",
                                   startTime: UTCInstant(unixNanoseconds: t.start), lastBucketEnd: UTCInstant(unixNanoseconds: t.lastEnd),
                                   intTotal: t.intTotal, doubleTotal: t.doubleTotal, count: t.count, sum: t.sum, bucketCounts: t.bucketCounts)
            }
        }
    }

    package static func == (a: SeriesDirectory, b: SeriesDirectory) -> Bool { a === b }
}

/// What a series exports for one bucket: the point's start time and value.
package struct Emission: Equatable {
    package var start: UInt64
    package var value: Observation
}

extension MetricMapping {
    /// A histogram's explicit bounds (empty for other kinds).
    package var histogramBounds: [Double] {
        if case .histogram(let histogram) = kind { return histogram.bounds }
        return []
    }

    /// A summary's quantile levels (empty for other kinds).
    package var summaryQuantiles: [Double] {
        if case .summary(let summary) = kind { return summary.quantiles }
        return []
    }
}
