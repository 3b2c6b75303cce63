import EngramCore
/// Writers for conformance results: a CSV table and JUnit XML (which CI systems read).
public enum ConformanceReport {
    /// Columns: `scenario, backend, status, duration_ms, reason, description, check` (`check`,
    /// the troubleshooting note, only for a failure).
    public static func csv(_ results: [ScenarioResult]) -> String {
        var out = "scenario,backend,status,duration_ms,reason,description,check\n"
        for r in results {
            out += CSV.row([r.id, r.backend, r.status.rawValue, String(format3(r.durationMs)), r.reason, r.description, r.status == .failed ? r.check : ""]) + "\n"
        }
        return out
    }

    /// One `<testsuite>` named after the backend, one `<testcase>` per scenario.
    public static func junitXML(_ results: [ScenarioResult], backend: String) -> String {
        let failures = results.filter { $0.status == .failed }.count
        let skipped = results.filter { $0.status == .skipped }.count
        let seconds = results.reduce(0) { $0 + $1.durationMs } / 1000
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuite name=\"conformance-\(xml(backend))\" tests=\"\(results.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(format3(seconds))\">\n"
        for r in results {
            out += "  <testcase classname=\"conformance.\(xml(backend))\" name=\"\(xml(r.id))\" time=\"\(format3(r.durationMs / 1000))\""
            switch r.status {
            case .passed: out += "/>\n"
            case .failed:
                let note = r.check.isEmpty ? "" : "What to check: " + xml(r.check)
                out += ">\n    <failure message=\"\(xml(r.reason))\">\(note)</failure>\n  </testcase>\n"
            case .skipped: out += ">\n    <skipped message=\"\(xml(r.reason))\"/>\n  </testcase>\n"
            }
        }
        return out + "</testsuite>\n"
    }

    static func xml(_ s: String) -> String { XML.escape(s) }

    static func format3(_ x: Double) -> String {
        let scaled = (x * 1000).rounded() / 1000
        return "\(scaled)"
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
