import EngramCore
import Foundation
import Synchronization

extension BenchmarkScenario {
    /// One store shared by 1, 2, 4 and 8 client threads: top-10 searches only, then a mixed load
    /// of 90% searches and 10% saves; and two searching clients beside one writer saving 100
    /// records a second (what a writer costs readers).
    static let concurrency = BenchmarkScenario(
        id: .concurrency, summary: "1/2/4/8 client threads on one store: search QPS and latency, a 90/10 search/save mix, and readers beside a writer at 100 saves/s",
        charts: [.init(file: "concurrency-qps", title: "Queries per second against client threads", metric: .queriesPerSecond,
                       yLabel: "queries per second (all clients)", xLabel: "client threads", x: { Double($0.step) }),
                 .init(file: "concurrency-p95", title: "Search p95 against client threads", metric: .latency(.query, .p95),
                       yLabel: "µs per query (p95)", xLabel: "client threads", x: { Double($0.step) })],
        steps: { r in
            let n = r.options.concurrencySize ?? 100_000
            let points = Double(2 * clients(r.options).count + 12)
            return r.steps(.concurrency, sizes: [n], weight: { n, _ in
                Double(n) * 5e-5 * r.dimensionScale + points * seconds(r.options)
            }) { n, v in try runConcurrency(r, n: n, variant: v) }
        },
        summarize: { rows, _ in
            // `concurrency.qps.<variant>/<load>/clients=<c>@n`, the search QPS over one client's
            // (`concurrency.search_qps_vs_1_client…`), and what a paced writer costs two readers
            // (`concurrency.reader_qps_cost_of_writer.<variant>@n`, a fraction).
            var out: [SummaryKey: Double] = [:]
            let qps = Metric.queriesPerSecond
            for row in rows where row.metric == qps.name {
                let v = row.variant, n = row.n, c = row.step
                guard let value = median(rows.filter { $0.step == c }, v, n, qps) else { continue }
                out[SummaryKey(.concurrency, "qps", "\(v)/clients=\(c)", n: n)] = value
                if v.hasSuffix("/\(Load.search.rawValue)"), c != 1, let one = median(rows.filter { $0.step == 1 }, v, n, qps), one > 0 {
                    out[SummaryKey(.concurrency, "search_qps_vs_1_client", "\(v)/clients=\(c)", n: n)] = value / one
                }
                if v.hasSuffix("/\(Load.pacedWriter.rawValue)") {
                    let base = String(v.dropLast(Load.pacedWriter.rawValue.count)) + Load.readersAlone.rawValue
                    if let alone = median(rows.filter { $0.step == c }, base, n, qps), alone > 0 {
                        out[SummaryKey(.concurrency, "reader_qps_cost_of_writer", "\(v.dropLast(Load.pacedWriter.rawValue.count + 1))/readers=\(c)", n: n)] = 1 - value / alone
                    }
                }
            }
            for row in rows where row.metric == Metric.visibleInNextSearch.name {
                out[SummaryKey(.concurrency, row.metric, row.variant, n: row.n)] = row.value
                if let p50 = median(rows, row.variant, row.n, .latency(.query, .p50)) { out[SummaryKey(.concurrency, Metric.latency(.query, .p50).name, row.variant, n: row.n)] = p50 }
            }
            return out
        },
        vectorsNeeded: { $0.scenarios.contains(.concurrency) ? ($0.concurrencySize ?? 100_000) : 0 })

    /// What the clients do: only search; search 90% and save 10%; or search beside one writer
    /// saving 100 records a second, and the same readers alone (measured in turn with it).
    enum Load: String {
        case search, mixed = "mixed_90_10", pacedWriter = "paced_writer", readersAlone = "readers_alone"
        /// One searching client on each of two stores over one file; a save in one, searched for in the other.
        case twoStores = "two_stores", visibility = "visibility"
    }

    static func clients(_ o: BenchOptions) -> [Int] { o.concurrencyClients ?? [1, 2, 4, 8] }
    static func seconds(_ o: BenchOptions) -> Double { o.quick ? 1 : 3 }

    private static func runConcurrency(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload
        let fresh = Shared(next: n)
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true)
            try variant.settle(store)
            for load in [Load.search, .mixed] {
                for c in clients(r.options) {
                    let result = try drive(store, w, loaded: n, clients: c, seconds: seconds(r.options), fresh: fresh, writeEvery: load == .mixed ? 10 : 0, pacedWriter: false)
                    emit(r, variant, load, n: n, clients: c, result)
                }
            }
            if let another = variant.reopen, store.capabilities.contains(.sharedAccess) {
                try twoStores(r, variant, n: n, store: store, other: try another(dirOf(store, r)), fresh: fresh)
            }
            // Readers alone and beside the paced writer, interleaved three times so both see the
            // same drift; with one reader a core is left for the writer, with two there is none.
            for readers in [1, 2] {
                for rep in 1...3 {
                    for paced in [false, true] {
                        let result = try drive(store, w, loaded: n, clients: readers, seconds: seconds(r.options), fresh: fresh, writeEvery: 0, pacedWriter: paced)
                        emit(r, variant, paced ? .pacedWriter : .readersAlone, n: n, clients: readers, rep: rep, result)
                    }
                }
            }
        }
    }

    /// Two stores on one file, as two processes hold it: one searching client on each (their
    /// QPS together), and how soon a save in one is visible in the other: after each of 200
    /// saves in A returns, B searches for the saved vector at once; the fraction found in that
    /// first search, and that search's latency (it applies A's journal entry first).
    private static func twoStores(_ r: BenchRunner, _ v: BenchVariant, n: Int, store: any MemoryStore, other: any MemoryStore, fresh: Shared) throws {
        defer { try? other.close() }
        let w = r.workload
        let result = try drive([store, other], w, loaded: n, clients: 2, seconds: seconds(r.options), fresh: fresh, writeEvery: 0, pacedWriter: false)
        emit(r, v, .twoStores, n: n, clients: 2, result)
        var found = 0
        var latencies: [Double] = []
        for k in 0..<200 {
            let i = fresh.next.add(1, ordering: .relaxed).newValue
            guard case .outcome(var o) = w.outcome(i, of: i + 1, embedding: false) else { continue }
            o.id = "v\(i)"
            o.embedding = w.query(50_000 + k)
            _ = try store.save([.outcome(o)])
            var hits: [ScoredRecord] = []
            latencies.append(try time { hits = try other.query(MemoryQuery(kind: .outcome, projectId: w.project, topK: 1, vector: w.query(50_000 + k))) })
            if hits.first?.record.id == o.id { found += 1 }
        }
        r.emitLatencies(.concurrency, "\(v.name)/\(Load.visibility.rawValue)", n: n, rep: 1, step: 2, .query, latencies)
        r.emit(.concurrency, "\(v.name)/\(Load.visibility.rawValue)", n: n, rep: 1, step: 2, .visibleInNextSearch, Double(found) / 200)
    }

    /// The directory a store of `withStore` lives in (the runner's scratch child it was made in).
    private static func dirOf(_ store: any MemoryStore, _ r: BenchRunner) -> URL { r.currentStoreDirectory! }

    private static func emit(_ r: BenchRunner, _ v: BenchVariant, _ load: Load, n: Int, clients: Int, rep: Int = 1, _ result: Driven) {
        let name = "\(v.name)/\(load.rawValue)"
        r.emitLatencies(.concurrency, name, n: n, rep: rep, step: clients, .query, result.searches)
        r.emit(.concurrency, name, n: n, rep: rep, step: clients, .queriesPerSecond, Double(result.searches.count) / result.wall)
        if !result.saves.isEmpty {
            r.emitLatencies(.concurrency, name, n: n, rep: rep, step: clients, .save, result.saves)
            r.emit(.concurrency, name, n: n, rep: rep, step: clients, .savesPerSecond, Double(result.saves.count) / result.wall)
        }
    }

    /// What the client threads share: the next new record number, and whether one has failed.
    final class Shared: Sendable {
        let next: Atomic<Int>
        let stopped = Atomic<Bool>(false)
        init(next: Int) { self.next = Atomic(next) }
    }

    struct Driven {
        var searches: [Double] = []
        var saves: [Double] = []
        var wall: Double = 0
    }

    /// Runs `clients` threads for `seconds`: each searches, and every `writeEvery`-th operation
    /// (when > 0) saves a new outcome instead; with `pacedWriter` one more thread saves 100
    /// outcomes a second. Latencies in ns; the first error ends the run and is rethrown.
    private static func drive(_ store: any MemoryStore, _ w: Workload, loaded: Int, clients: Int, seconds: Double, fresh: Shared, writeEvery: Int, pacedWriter: Bool) throws -> Driven {
        try drive([store], w, loaded: loaded, clients: clients, seconds: seconds, fresh: fresh, writeEvery: writeEvery, pacedWriter: pacedWriter)
    }

    /// Client t uses `stores[t % stores.count]`.
    private static func drive(_ stores: [any MemoryStore], _ w: Workload, loaded: Int, clients: Int, seconds: Double, fresh: Shared, writeEvery: Int, pacedWriter: Bool) throws -> Driven {
        let collected = Mutex<(Driven, [String])>((Driven(), []))
        let stop = fresh
        stop.stopped.store(false, ordering: .relaxed)
        let start = now(), deadline = start + UInt64(seconds * 1e9)
        @Sendable func save() throws -> Double {
            let i = fresh.next.add(1, ordering: .relaxed).newValue
            // A new id, with the vector of a loaded record (a vector file has no more rows).
            guard case .outcome(var o) = w.outcome(i, of: i + 1, embedding: false) else { return 0 }
            o.id = "c\(i)"
            o.embedding = w.vector(i % loaded)
            let record = MemoryRecord.outcome(o)
            return try time { _ = try stores[0].save([record]) }
        }
        let group = DispatchGroup()
        for t in 0..<(clients + (pacedWriter ? 1 : 0)) {
            group.enter()
            Thread {
                defer { group.leave() }
                var mine = Driven()
                do {
                    if t == clients {
                        // The paced writer: one save every 10 ms, on a fixed schedule.
                        var next = start
                        while !stop.stopped.load(ordering: .relaxed), now() < deadline {
                            mine.saves.append(try save())
                            next += 10_000_000
                            let wait = Int64(next) - Int64(now())
                            if wait > 0 { usleep(UInt32(wait / 1_000)) }
                        }
                    } else {
                        var j = t * 1_000_003
                        while !stop.stopped.load(ordering: .relaxed), now() < deadline {
                            j += 1
                            if writeEvery > 0, j % writeEvery == 0 {
                                mine.saves.append(try save())
                            } else {
                                let q = MemoryQuery(kind: .outcome, projectId: w.project, topK: 10, vector: w.query(j % 10_000))
                                mine.searches.append(try time { _ = try stores[t % stores.count].query(q) })
                            }
                        }
                    }
                    collected.withLock {
                        $0.0.searches += mine.searches
                        $0.0.saves += mine.saves
                    }
                } catch {
                    stop.stopped.store(true, ordering: .relaxed)
                    collected.withLock { $0.1.append("client \(t): \(error)") }
                }
            }.start()
        }
        group.wait()
        let wall = Double(now() - start) / 1e9
        let (driven, errors) = collected.withLock { $0 }
        if let first = errors.first { throw BenchError("concurrency run failed: \(first)") }
        guard !driven.searches.isEmpty else { throw BenchError("concurrency run made no search in \(seconds) s") }
        var out = driven
        out.wall = wall
        return out
    }
}
