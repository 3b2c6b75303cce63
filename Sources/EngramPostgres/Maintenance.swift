import Dispatch
import Synchronization

/// The store's own upkeep of dead rows. PostgreSQL keeps the old version of a deleted or
/// updated row until VACUUM, and the exact search path reads them: over the `agent-retention`
/// runbook search p50 grew from 1.1 to 53 ms while the live count stayed flat, because
/// autovacuum waits for 20% of a table (plus 50 rows) and looks once a minute.
///
/// The store counts the rows its own deletes, prunes and updates leave dead, per table (rows a
/// replacing save leaves are not counted: autovacuum, set to 5% at creation, covers them). When
/// they reach `share` of the table's rows (and at least `minimum`), a background queue runs
/// `VACUUM (SKIP_LOCKED, ANALYZE)` on that table: one at a time, never on the caller's path, on
/// a connection of its own (not one of the pool's), bounded by the store's statement timeout.
/// A table another session holds (an index build, a drop, another vacuum) is skipped until the
/// next share. Closing skips vacuums not yet started and waits for the one under way.
/// Failures are counted, not thrown: the write that left the rows has committed.
final class Maintenance: Sendable {
    /// Dead rows, as a share of the table's rows, that start a vacuum.
    let share: Double
    /// Dead rows below this never start one (small tables are cheap to read anyway).
    let minimum: Int

    private struct Table {
        var dead = 0
        /// `pg_class.reltuples` when last looked at (nil: not yet).
        var live: Double?
        var queued = false
    }
    private let tables = Mutex<[String: Table]>([:])
    private let queue = DispatchQueue(label: "engram.postgres.maintenance")
    private let pool: ConnectionPool
    /// Vacuums run, and vacuums that failed (a closed store, a lock timeout).
    let vacuums = Atomic<Int>(0), failures = Atomic<Int>(0)
    private let closing = Atomic<Bool>(false)

    init(pool: ConnectionPool, share: Double, minimum: Int) {
        self.pool = pool
        self.share = share
        self.minimum = minimum
    }

    /// Records `dead` rows left in `table` (its qualified name) by a committed write.
    func note(_ dead: Int, in table: String) {
        guard dead > 0, share > 0 else { return }
        let start = tables.withLock { t -> Bool in
            var entry = t[table, default: Table()]
            entry.dead += dead
            let due = !entry.queued && Double(entry.dead) >= max(Double(minimum), share * (entry.live ?? 0))
            if due { entry.queued = true }
            t[table] = entry
            return due
        }
        if start { queue.async { self.run(table) } }
    }

    /// Looks at the table's size; vacuums it when the dead rows are still due.
    private func run(_ table: String) {
        defer { tables.withLock { $0[table]?.queued = false } }
        guard !closing.load(ordering: .acquiring) else { return }
        do {
            let c = try pool.connect()
            let live = try c.run("SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)", [.text(table)]).value(0, 0)?.float8 ?? 0
            let dead = tables.withLock { t -> Int? in
                let d = t[table]?.dead ?? 0
                t[table]?.live = live
                return Double(d) >= max(Double(minimum), share * live) ? d : nil
            }
            guard let dead else { return }
            try c.simple("VACUUM (SKIP_LOCKED, ANALYZE) \(table)")
            tables.withLock { $0[table]?.dead -= dead }
            vacuums.add(1, ordering: .relaxed)
        } catch {
            failures.add(1, ordering: .relaxed)
        }
    }

    var counts: (run: Int, failed: Int) { (vacuums.load(ordering: .relaxed), failures.load(ordering: .relaxed)) }

    /// Waits for the vacuums queued so far (before a drop or an index build, and in tests).
    func drain() { queue.sync {} }

    /// Skips the vacuums not yet started and waits for the one under way.
    func close() {
        closing.store(true, ordering: .releasing)
        drain()
    }
}
