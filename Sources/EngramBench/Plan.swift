import EngramCore
import Foundation

/// What a capacity plan is for: the user's scale, shape, load, SLO and prices.
public struct PlanTarget: Sendable, Codable {
    /// Outcome records (with embeddings) the store will hold.
    public var records: Int
    public var dimension: Int
    /// Projects they are spread over; searches run in one of them.
    public var projects = 1
    /// The fraction of a project a filtered search's agent filter matches.
    public var filterFraction = 0.25
    /// Searches and saves per second the store must sustain.
    public var searchRate: Double?
    public var writeRate: Double?
    /// Search p95 the store must keep, in ms.
    public var sloP95Ms: Double?
    public var diskPricePerGBMonth: Double?
    public var machinePricePerHour: Double?
    /// Azure Cosmos DB provisioned throughput: $ per 100 RU/s per hour.
    public var cosmosPricePer100RUsHour: Double?
    /// Seconds of calibration (the ladder stops before it would exceed them).
    public var budgetSeconds = 120.0

    public init(records: Int, dimension: Int) {
        self.records = records
        self.dimension = dimension
    }
}

/// What a plan measures at each calibration point, with its model and the reason for it.
public enum PlanMetric: String, CaseIterable, Sendable, Codable {
    case diskBytes = "disk_bytes"
    case heapBytes = "heap_allocated_bytes"
    case heapLiveBytes = "heap_live_bytes"
    case rssBytes = "rss_bytes"
    case indexBytes = "index_bytes"
    case openMs = "open_ms"
    case searchP50Us = "search_p50_us"
    case searchP95Us = "search_p95_us"
    case filteredP50Us = "filtered_search_p50_us"
    case saveRecordsPerSecond = "batch_save_records_per_s"
    case deleteP50Us = "delete_p50_us"
    case pruneUsPerRow = "prune_us_per_row"
    case ruPerSearch = "request_units_per_search"
    case ruPerGet = "request_units_per_get"
    case ruPerSavedRecord = "request_units_per_saved_record"

    /// Bytes grow by a fixed amount per record; a search costs a fixed amount plus one per
    /// vector it scans, and an open one per vector it reads: linear. Other times are fitted as
    /// a·n^b, which covers a constant path (b ≈ 0), a log-like one (small b) and more.
    public var form: PlanModel.Form { isBytes || isScan ? .linear : .power }
    var isScan: Bool { [.searchP50Us, .searchP95Us, .filteredP50Us, .openMs].contains(self) }
    public var isBytes: Bool { [.diskBytes, .heapBytes, .heapLiveBytes, .rssBytes, .indexBytes].contains(self) }

    public var reason: String {
        switch self {
        case .diskBytes, .heapBytes, .rssBytes, .indexBytes: "each record adds its row, its vector and its index entries: a + b·n"
        case .heapLiveBytes: "the heap without SQLite's bounded page caches and without the room the index arrays' doubling leaves (both make allocated bytes bend or step with n): a + b·n"
        case .openMs: "the SQLite store reads every vector into its indexes at open: a + b·n"
        case .searchP50Us, .searchP95Us, .filteredP50Us: "an exact search costs a fixed amount plus one per vector of the project (or of the filter's matches) it scans: a + b·n, whose least squares weigh the largest sizes, where the scan has left the CPU caches (an index's slower growth gives a small b, so the projection errs high)"
        case .saveRecordsPerSecond: "a batch save's cost per record hardly depends on n: a·n^b, b near 0"
        case .deleteP50Us: "a delete is O(d) in the index plus a B-tree step: a·n^b, b near 0"
        case .pruneUsPerRow: "an indexed prune costs per pruned row: a·n^b, b near 0"
        case .ruPerSearch, .ruPerGet, .ruPerSavedRecord: "request units per operation, as the service charges them"
        }
    }
}

/// One calibration measurement at `n` records.
public struct PlanPoint: Sendable, Codable {
    public var n: Int
    public var values: [String: Double]
    public var seconds: Double
}

/// A metric's projection at the target.
public struct PlanProjection: Sendable, Codable {
    public var metric: PlanMetric
    public var fit: PlanModel.Fit
    public var value: Double
    public var low: Double
    public var high: Double
    /// The target over the largest calibrated n.
    public var extrapolation: Double
    /// With `--validate`: the value measured at the target, and the projection's error.
    public var measured: Double?
    public var error: Double?
}

/// Calibrates one backend on a ladder of sizes and projects every metric to the target.
public struct Planner {
    public let backend: String
    let variant: BenchVariant
    public let target: PlanTarget
    let workload: Workload
    let scratch: URL

    /// Plans the backend's default configuration, or one of its search variants by name
    /// (PostgreSQL's `exact` or `hnsw`: the default switches between them at 20,000 matches).
    public init(backend: BenchBackend, variant name: String? = nil, target: PlanTarget, scratch: URL) throws {
        let v: BenchVariant
        if let name {
            let options = backend.variants(.search, target.dimension).filter { !$0.name.hasSuffix(VariantName.rawSQLSuffix) }
            guard let found = options.first(where: { $0.name == name }) else {
                throw EngramError.invalid("variant", "\(backend.name) has no variant '\(name)'; it has: \(options.map(\.name).joined(separator: ", "))")
            }
            v = found
        } else {
            guard let found = backend.variants(.batch, target.dimension).first(where: { $0.name == backend.engramVariant(.batch) }) else {
                throw EngramError.invalid("backend", "\(backend.name) has no default configuration to plan with")
            }
            v = found
        }
        self.backend = backend.name + (name.map { "-" + $0 } ?? "")
        embedded = backend.inProcess
        variant = v
        self.target = target
        workload = Workload(dimension: target.dimension, seed: 42, vectors: .clustered)
        self.scratch = scratch
    }

    /// A point's value that is not projected: the bytes the store's bounded caches may hold.
    public static let cacheBoundKey = "cache_bound_bytes"

    /// Whether the store lives in this process (its memory is this process's heap), or is a
    /// server or service (its working set is the server's: its relations, cached).
    public let embedded: Bool

    /// Agents per project, so one agent's filter matches `filterFraction` of it.
    var agents: Int { max(1, Int((1 / target.filterFraction).rounded())) }

    /// Measures a fresh store of `n` outcomes: load (batch save rate), memory and disk, search
    /// (unfiltered and agent-filtered, in project p0), deletes, a prune, and the open time.
    public func measure(n: Int) throws -> PlanPoint {
        let started = now()
        let dir = scratch.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = workload, projects = target.projects, agentCount = agents
        func record(_ i: Int) -> MemoryRecord {
            guard case .outcome(var o) = w.outcome(i, of: n, embedding: true) else { preconditionFailure("outcomes") }
            o.projectId = "p\(i % projects)"
            o.agent = "a\((i / projects) % agentCount)"
            return .outcome(o)
        }
        var values: [String: Double] = [:]
        // This process's memory says something only when the store lives in it.
        let heapBefore = embedded ? Jemalloc.counters()?.allocated : nil, rssBefore = embedded ? Machine.currentRSSBytes() : nil
        let store: any MemoryStore = try variant.make(dir)
        var closed = false
        defer { if !closed { try? store.close() } }
        let charges = store as? any RequestChargeReporting
        func charged(_ body: () throws -> Void) rethrows -> Double? {
            let before = charges?.requestCharge.total
            try body()
            guard let before, let after = charges?.requestCharge.total else { return nil }
            return after - before
        }
        var loadNs = 0.0
        let saveRU = try charged {
            for start in stride(from: 0, to: n, by: 1_000) {
                let batch = (start..<min(n, start + 1_000)).map(record)
                loadNs += try time { _ = try store.save(batch) }
            }
        }
        values[PlanMetric.saveRecordsPerSecond.rawValue] = Double(n) / (loadNs / 1e9)
        if let saveRU { values[PlanMetric.ruPerSavedRecord.rawValue] = saveRU / Double(n) }
        try variant.settle(store)
        if let before = heapBefore, let after = Jemalloc.counters()?.allocated { values[PlanMetric.heapBytes.rawValue] = Double(Int(after) - Int(before)) }
        // Without the bounded page caches, which stop growing once the data outgrows them
        // (they are added back as a constant in the verdict).
        if let caches = store as? any CacheReleasing {
            try caches.releaseCaches()
            values[Self.cacheBoundKey] = Double(caches.cacheBoundBytes)
        }
        let liveHeap = heapBefore.flatMap { before in Jemalloc.counters().map { Double(Int($0.allocated) - Int(before)) } }
        if let before = rssBefore, let after = Machine.currentRSSBytes() { values[PlanMetric.rssBytes.rawValue] = Double(after - before) }
        if let m = store as? any IndexMemoryReporting {
            values[PlanMetric.indexBytes.rawValue] = Double(try m.vectorIndexMemoryBytes())
            if let liveHeap { values[PlanMetric.heapLiveBytes.rawValue] = liveHeap - Double(try m.vectorIndexSlackBytes()) }
        }
        if let d = store as? any DiskUsageReporting { values[PlanMetric.diskBytes.rawValue] = Double(try d.diskBytes()) }

        let queries = 100
        var latencies: [Double] = []
        for j in 0..<5 { _ = try store.query(MemoryQuery(kind: .outcome, projectId: "p0", topK: 10, vector: w.query(j))) }
        let ru = try charged {
            for j in 0..<queries { latencies.append(try time { _ = try store.query(MemoryQuery(kind: .outcome, projectId: "p0", topK: 10, vector: w.query(j))) }) }
        }
        values[PlanMetric.searchP50Us.rawValue] = Stats.quantile(latencies, 0.5) / 1e3
        values[PlanMetric.searchP95Us.rawValue] = Stats.quantile(latencies, 0.95) / 1e3
        if let ru { values[PlanMetric.ruPerSearch.rawValue] = ru / Double(queries) }
        latencies = []
        for j in 0..<queries {
            let q = MemoryQuery(kind: .outcome, projectId: "p0", agents: ["a0"], topK: 10, vector: w.query(1_000 + j))
            latencies.append(try time { _ = try store.query(q) })
        }
        values[PlanMetric.filteredP50Us.rawValue] = Stats.quantile(latencies, 0.5) / 1e3
        let ids = w.permutation(n, salt: 0x91A).filter { $0 % projects == 0 }.prefix(50)
        let getRU = try charged { for i in ids { _ = try store.get(RecordKey(.outcome, scope: "p0", id: "o\(i)")) } }
        if let getRU, !ids.isEmpty { values[PlanMetric.ruPerGet.rawValue] = getRU / Double(ids.count) }
        latencies = try ids.map { i in try time { _ = try store.delete(RecordKey(.outcome, scope: "p0", id: "o\(i)")) } }
        if !latencies.isEmpty { values[PlanMetric.deleteP50Us.rawValue] = Stats.quantile(latencies, 0.5) / 1e3 }
        // The oldest 1% of every project (timestamps are t0 + a permutation of 0..<n µs).
        var pruned = 0
        let pruneNs = try time { pruned = try store.deleteOutcomes(projectId: "p0", olderThan: w.t0.adding(microseconds: Int64(max(1, n / 100))), agent: nil) }
        if pruned > 0 { values[PlanMetric.pruneUsPerRow.rawValue] = pruneNs / 1e3 / Double(pruned) }
        if let reopen = variant.reopen {
            try store.close()
            closed = true
            var again: (any MemoryStore)?
            values[PlanMetric.openMs.rawValue] = try time { again = try reopen(dir) } / 1e6
            try again?.close()
        }
        return PlanPoint(n: n, values: values, seconds: Double(now() - started) / 1e9)
    }

    /// A geometric ladder down from `cap` (cap, cap/3, cap/9, … while at least 1,000), run
    /// upwards, stopping before the next point's predicted time (the last point's, scaled as
    /// n^1.1) would exceed the budget; at least three points, so each model has an error.
    public func calibrate(cap: Int, progress: (PlanPoint) -> Void = { _ in }) throws -> [PlanPoint] {
        let sizes = Self.ladder(cap: cap)
        var points: [PlanPoint] = []
        var spent = 0.0
        for n in sizes {
            if let last = points.last, points.count >= 3 {
                let predicted = last.seconds * pow(Double(n) / Double(last.n), 1.1)
                if spent + predicted > target.budgetSeconds { break }
            }
            let p = try measure(n: n)
            points.append(p)
            progress(p)
            spent += p.seconds
        }
        return points
    }

    /// cap, cap/3, cap/9, … while at least 1,000 — and at least three sizes (down to 10
    /// records), so every model has an error — smallest first.
    public static func ladder(cap: Int) -> [Int] {
        var sizes = [cap]
        while sizes.last! / 3 >= 1_000 || (sizes.count < 3 && sizes.last! / 3 >= 10) { sizes.append(sizes.last! / 3) }
        return sizes.reversed()
    }

    /// Every metric's fit over the points and its projection at `n`.
    public static func project(_ points: [PlanPoint], to n: Int) -> [PlanProjection] {
        let largest = Double(points.map(\.n).max() ?? 1)
        return PlanMetric.allCases.compactMap { m in
            let xy = points.sorted { $0.n < $1.n }.compactMap { p in p.values[m.rawValue].map { (n: Double(p.n), y: $0) } }
            guard let fit = PlanModel.fit(m.form, xy) else { return nil }
            let (lo, hi) = fit.interval(Double(n))
            return PlanProjection(metric: m, fit: fit, value: fit.predict(Double(n)), low: lo, high: hi, extrapolation: Double(n) / largest)
        }
    }
}

/// The machine a plan is judged against.
public struct PlanMachine: Sendable, Codable {
    public var memoryBytes: Double
    public var diskFreeBytes: Double
    public var cores: Int

    public static func this(dataDirectory: String) -> PlanMachine {
        var fs = statvfs()
        let free = statvfs(dataDirectory, &fs) == 0 ? Double(fs.f_bavail) * Double(fs.f_frsize) : .nan
        return PlanMachine(memoryBytes: Double(ProcessInfo.processInfo.physicalMemory), diskFreeBytes: free, cores: ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// The answer: does the target fit, what runs out first and where, would the SLO hold, what
/// it costs.
public struct PlanVerdict: Sendable, Codable {
    public struct Limit: Sendable, Codable {
        public var resource: String
        /// Whether it holds at the target (judged from the projection there).
        public var holds: Bool
        /// The record count at which it runs out (nil: the model never reaches the limit).
        public var records: Double?
        public var detail: String
    }
    public var fits: Bool
    public var limits: [Limit]
    public var firstLimit: String?
    public var memoryMetric: String
    public var sloHolds: Bool?
    public var monthlyCost: [String: Double]
    public var warnings: [String]

    /// Every limit holds when the upper end of its projection's interval (the lower end of a
    /// rate's) is within it; "runs out at" solves the point fit, an estimate beside it.
    /// Memory is judged by jemalloc's allocated bytes without the index arrays' growth room
    /// (what the store keeps live; the room is up to one more copy of the vectors, warned
    /// about), else by RSS growth; up to 80% of RAM, leaving the rest to the OS and cache.
    /// For a server the client's heap says nothing: its working set is its relations (table
    /// and indexes), which must stay cached to keep the measured latencies.
    public static func judge(_ projections: [PlanProjection], target: PlanTarget, machine: PlanMachine, embedded: Bool, cacheBytes: Double = 0) -> PlanVerdict {
        func p(_ m: PlanMetric) -> PlanProjection? { projections.first { $0.metric == m } }
        let n = Double(target.records)
        var limits: [Limit] = []
        var warnings: [String] = []
        let memory = embedded ? p(.heapLiveBytes) ?? p(.heapBytes) ?? p(.rssBytes) : p(.diskBytes)
        let memoryName = (memory?.metric.rawValue ?? "none") + (embedded ? (memory?.metric == .heapLiveBytes && cacheBytes > 0 ? String(format: " plus %.0f MiB of page caches", cacheBytes / 1_048_576) : "") : " (the server's relations, cached)")
        // The bounded caches come off the budget first: they fill whatever the size.
        let usable = 0.8 * machine.memoryBytes - (memory?.metric == .heapLiveBytes ? cacheBytes : 0)
        if let memory {
            let budget = usable
            limits.append(Limit(resource: "memory", holds: memory.high <= budget, records: memory.fit.solve(budget),
                                detail: String(format: "%.2f GiB projected (interval up to %.2f) of %.2f GiB usable", memory.value / 1_073_741_824, memory.high / 1_073_741_824, budget / 1_073_741_824)))
        }
        if let disk = p(.diskBytes), machine.diskFreeBytes.isFinite {
            limits.append(Limit(resource: "disk", holds: disk.high <= machine.diskFreeBytes, records: disk.fit.solve(machine.diskFreeBytes),
                                detail: String(format: "%.2f GiB projected (up to %.2f) of %.2f GiB free", disk.value / 1_073_741_824, disk.high / 1_073_741_824, machine.diskFreeBytes / 1_073_741_824)))
        }
        var sloHolds: Bool?
        if let slo = target.sloP95Ms, let p95 = p(.searchP95Us) {
            // The interval's upper end must keep the SLO: a plan that holds only on average does not.
            sloHolds = p95.high / 1e3 <= slo
            limits.append(Limit(resource: "search p95 SLO", holds: sloHolds!, records: p95.fit.solve(slo * 1e3),
                                detail: String(format: "p95 %.3g ms projected (interval %.3g–%.3g) against %.3g ms", p95.value / 1e3, p95.low / 1e3, p95.high / 1e3, slo)))
        }
        if let rate = target.searchRate, let p50 = p(.searchP50Us) {
            // Searches use one core each: the cores' capacity at the projected median latency.
            let capacity = Double(machine.cores) * 1e6 / p50.value
            limits.append(Limit(resource: "search rate", holds: Double(machine.cores) * 1e6 / p50.high >= rate, records: p50.fit.solve(Double(machine.cores) * 1e6 / rate),
                                detail: String(format: "%.4g searches/s possible on %d cores at p50 %.3g ms, %.4g wanted", capacity, machine.cores, p50.value / 1e3, rate)))
        }
        if let rate = target.writeRate, let saves = p(.saveRecordsPerSecond) {
            // Saves in batches of 1,000 on one writer (SQLite and PostgreSQL serialise writes).
            limits.append(Limit(resource: "write rate", holds: saves.low >= rate, records: nil,
                                detail: String(format: "%.4g records/s in batches (interval from %.4g), %.4g wanted", saves.value, saves.low, rate)))
        }
        // The first to run out: among the limits that fail at the target, the one the point fit
        // says runs out soonest (or fails already); else the soonest of the rest.
        let failing = limits.filter { !$0.holds }
        let first = (failing.isEmpty ? limits : failing).min { ($0.records ?? .infinity) < ($1.records ?? .infinity) }
        let fits = limits.allSatisfy(\.holds)
        for pr in projections where pr.extrapolation > 100 {
            warnings.append(String(format: "%@ is projected %.0f× beyond the largest calibrated size: give a larger --budget", pr.metric.rawValue, pr.extrapolation))
        }
        let growthRoom = n * Double(target.dimension * 4 + 8)
        if embedded, let memory, memory.high <= usable, memory.high + growthRoom > usable {
            warnings.append(String(format: "the index arrays grow by doubling: while they do, up to %.2f GiB more (one more copy of the vectors) may be allocated, beyond the usable RAM", growthRoom / 1_073_741_824))
        }
        if let memory, memory.high > usable {
            warnings.append("the vectors would not fit in RAM: an exact scan would read them from disk, far slower than these models assume")
        }
        var cost: [String: Double] = [:]
        if let price = target.diskPricePerGBMonth, let disk = p(.diskBytes) { cost["disk"] = disk.value / 1e9 * price }
        if let price = target.machinePricePerHour { cost["machine"] = price * 730 }
        if let price = target.cosmosPricePer100RUsHour, let search = p(.ruPerSearch) {
            // Provisioned throughput for the search and write rates (400 RU/s is the minimum).
            let rus = (target.searchRate ?? 0) * search.value + (target.writeRate ?? 0) * (p(.ruPerSavedRecord)?.value ?? 0)
            cost["cosmos_throughput"] = max(400, rus) / 100 * price * 730
        }
        return PlanVerdict(fits: fits, limits: limits, firstLimit: first.map { l in l.records.map { $0 > 0 ? String(format: "%@ at about %.3g records", l.resource, $0) : "\(l.resource), already at the smallest size" } ?? "\(l.resource) (at the target)" },
                           memoryMetric: memoryName, sloHolds: sloHolds, monthlyCost: cost, warnings: warnings)
    }
}

/// jemalloc's heap counters, when jemalloc is this process's allocator (`engram plan` runs its
/// calibration under `LD_PRELOAD=libjemalloc.so.2`): `stats.allocated` (bytes in live
/// allocations), `stats.active` and `stats.resident`, read with `mallctl` after an `epoch`
/// refresh.
public enum Jemalloc {
    typealias Mallctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int) -> Int32
    static let mallctl: Mallctl? = dlsym(nil, "mallctl").map { unsafeBitCast($0, to: Mallctl.self) }

    public static var available: Bool { mallctl != nil }

    public struct Counters: Sendable { public var allocated, active, resident: UInt }

    public static func counters() -> Counters? {
        guard let mallctl else { return nil }
        // Writing any value to "epoch" refreshes the statistics.
        var epoch: UInt64 = 1
        _ = mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size)
        func read(_ name: String) -> UInt? {
            var value: UInt = 0
            var size = MemoryLayout<UInt>.size
            return mallctl(name, &value, &size, nil, 0) == 0 ? value : nil
        }
        guard let a = read("stats.allocated"), let ac = read("stats.active"), let r = read("stats.resident") else { return nil }
        return Counters(allocated: a, active: ac, resident: r)
    }
}
