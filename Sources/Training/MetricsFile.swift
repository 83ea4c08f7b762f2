import Foundation
import Support
import Traces

/// `<run>.metrics.jsonl`: a JSON line a step. On resume, the lines after the checkpoint's
/// step are dropped first, so the file holds each step once.
public final class MetricsFile {
    let handle: FileHandle
    public init(url: URL, afterStep: Int) throws {
        let old = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let kept = old.split(separator: "\n").filter { line in
            guard let data = line.data(using: .utf8),
                let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let step = obj["step"] as? Int
            else { return false }
            return step <= afterStep
        }
        try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: url)
        handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
    }
    public func append(step: Int, metrics: StepMetrics) throws {
        try handle.write(contentsOf: Data("{\"step\":\(step),\"metrics\":\(metrics.json)}\n".utf8))
    }
}
