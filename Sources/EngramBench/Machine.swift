import Dispatch
import Foundation

/// Facts about the machine and the run, for the manifest.
public enum Machine {
    public static func hostname() -> String { ProcessInfo.processInfo.hostName }

    public static func gitCommit() -> String { run("git", ["rev-parse", "--short=12", "HEAD"]) ?? "unknown" }

    static func toolVersions() -> [String: String] {
        var v: [String: String] = [:]
        if let swift = run("swift", ["--version"])?.split(separator: "\n").first { v["swift"] = String(swift) }
        return v
    }

    public static func describe() -> [String: String] {
        var m: [String: String] = ["cores": String(ProcessInfo.processInfo.activeProcessorCount),
                                   "memory_bytes": String(ProcessInfo.processInfo.physicalMemory),
                                   "os": ProcessInfo.processInfo.operatingSystemVersionString]
        if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpu.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let name = line.split(separator: ":", maxSplits: 1).last {
            m["cpu"] = name.trimmingCharacters(in: .whitespaces)
        }
        if let peak = peakRSSBytes() { m["peak_rss_bytes"] = String(peak) }
        return m
    }

    /// The process's resident set size now (`/proc/self/statm`).
    public static func currentRSSBytes() -> Int? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The process's peak resident set size (VmHWM).
    static func peakRSSBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "")
        else { return nil }
        return kb * 1024
    }

    /// Bytes per second of a plain large copy (256 MiB, best of 5): the machine's memory
    /// bandwidth as one thread sees it, measured in the same run as the searches.
    static func copyBandwidth() -> Double {
        let size = 256 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, size)
        memset(dst, 0, size)
        var best = Double.infinity
        for _ in 0..<5 { best = min(best, time { memcpy(dst, src, size) }) }
        return Double(size) / (best / 1e9)
    }

    private static func run(_ tool: String, _ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// How busy the machine was while something ran: the load average at its start and end, and
/// the CPU time that other processes took (from /proc), so a reader can tell a noisy run from
/// a slow build.
public struct MachineLoad: Codable, Sendable, CustomStringConvertible {
    public var loadAverageStart: Double
    public var loadAverageEnd: Double
    /// CPU seconds every other process took during the interval (all CPU time the kernel
    /// counted as busy, less this process's and its waited-for children's). A server the
    /// backend runs on (PostgreSQL) is another process too.
    public var otherCPUSeconds: Double
    public var wallSeconds: Double
    public var cores: Int

    /// The share of the machine's CPU capacity that other processes took.
    public var otherCPUShare: Double { wallSeconds > 0 ? otherCPUSeconds / (wallSeconds * Double(max(1, cores))) : 0 }
    /// Busy: other processes took at least a quarter of the CPU (a quiet machine: a few percent).
    public var busy: Bool { otherCPUShare >= Self.busyShare }
    public static let busyShare = 0.25

    public var description: String {
        String(format: "load average %.2f → %.2f, other processes took %.0f%% of %d cores (%.1f CPU-s in %.1f s)%@",
               loadAverageStart, loadAverageEnd, otherCPUShare * 100, cores, otherCPUSeconds, wallSeconds, busy ? ": busy" : "")
    }

    /// Starts measuring; `finish` returns the load since.
    public struct Sampler: Sendable {
        let load: Double
        let busyTicks: Double
        let ownTicks: Double
        let started: UInt64

        public init() {
            load = MachineLoad.loadAverage()
            busyTicks = MachineLoad.machineBusyTicks()
            ownTicks = MachineLoad.ownTicks()
            started = DispatchTime.now().uptimeNanoseconds
        }

        public func finish() -> MachineLoad {
            let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
            let others = max(0, (MachineLoad.machineBusyTicks() - busyTicks) - (MachineLoad.ownTicks() - ownTicks)) / hz
            return MachineLoad(loadAverageStart: load, loadAverageEnd: MachineLoad.loadAverage(), otherCPUSeconds: others,
                               wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                               cores: MachineLoad.cpuCount())
        }
    }

    /// CPUs the kernel counts in `/proc/stat` (the busy ticks are summed over all of them,
    /// which a container's CPU limit does not shrink).
    static func cpuCount() -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return ProcessInfo.processInfo.activeProcessorCount }
        let n = stat.split(separator: "\n").filter { $0.hasPrefix("cpu") && !$0.hasPrefix("cpu ") }.count
        return n > 0 ? n : ProcessInfo.processInfo.activeProcessorCount
    }

    static func loadAverage() -> Double {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)).flatMap { $0.split(separator: " ").first.flatMap { Double($0) } } ?? 0
    }

    /// Busy ticks of the whole machine: user, nice, system, irq, softirq, steal (`/proc/stat`).
    static func machineBusyTicks() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return 0 }
        let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard f.count >= 8 else { return 0 }
        return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
    }

    /// This process's ticks and its waited-for children's (`/proc/self/stat`, fields 14–17).
    static func ownTicks() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, so utime (14) is at offset 11.
        guard f.count > 14 else { return 0 }
        return f[11...14].compactMap { Double($0) }.reduce(0, +)
    }
}
