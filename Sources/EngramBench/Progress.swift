import Foundation

/// A progress bar with an estimate of the time left, on stderr. Work is weighted so that
/// the estimate holds when steps differ in size; on a terminal the bar redraws in place,
/// otherwise each step gets one line (CI logs).
final class Progress {
    private let total: Double
    private var done: Double = 0
    private let start = now()
    private let isTerminal = isatty(2) == 1
    private var label = ""

    init(totalWeight: Double) { total = max(totalWeight, 1) }

    func begin(_ label: String) {
        self.label = label
        draw(final: false)
    }

    func end(weight: Double) {
        done += weight
        draw(final: false)
    }

    func finish() {
        done = total
        draw(final: true)
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(final: Bool) {
        let fraction = min(done / total, 1)
        let elapsed = Double(now() - start) / 1e9
        let eta = fraction > 0.01 ? elapsed / fraction * (1 - fraction) : .nan
        let width = 28
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let text = "[\(bar)] \(Int(fraction * 100))%  elapsed \(Self.clock(elapsed))  left ~\(eta.isNaN ? "?" : Self.clock(eta))  \(final ? "done" : label)"
        let line = isTerminal ? "\r\u{1B}[K" + text : text + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
