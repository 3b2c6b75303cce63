import Foundation

/// Facts about the machine and the run, for the manifest.
public enum Machine {
    public static func hostname() -> String { ProcessInfo.processInfo.hostName }

    static func gitCommit() -> String { run("git", ["rev-parse", "--short=12", "HEAD"]) ?? "unknown" }

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
