// A run never writes over an earlier one: its output folder (holding anything),
// its metrics file, or a run of the same name in its trace database is refused
// before anything is written, unless the user asks to overwrite (everything of
// the earlier run is removed first) or to resume. A checkpoint's pruning lives
// here too: it is the other thing that removes a run's files.

import Foundation
import Traces

public struct RunFolderError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

public enum RunFolder {
    /// How to get past a refusal, for the messages.
    static func hint(_ command: String) -> String {
        "give --overwrite_output_dir to replace it, --resume_from_checkpoint to continue it, "
            + "or another --output_dir / --run_name (grpo \(command))"
    }

    /// Refuses when `folder` holds anything or any of `files` exists; with `overwrite`, removes them.
    public static func claim(folder: String, files: [String] = [], overwrite: Bool, command: String) throws {
        let fm = FileManager.default
        let held = (try? fm.contentsOfDirectory(atPath: folder)) ?? []
        let existing = files.filter { fm.fileExists(atPath: $0) }
        if !overwrite {
            if !held.isEmpty {
                let shown = held.sorted().prefix(4).joined(separator: ", ") + (held.count > 4 ? ", ..." : "")
                throw RunFolderError(description: "\(folder) already holds an earlier run (\(shown)): \(hint(command))")
            }
            if let file = existing.first {
                throw RunFolderError(description: "\(file) already exists, from an earlier run: \(hint(command))")
            }
            return
        }
        if !held.isEmpty { try fm.removeItem(atPath: folder) }
        for file in existing { try fm.removeItem(atPath: file) }
    }

    /// Refuses a trace database that already holds a run named `runName`; with `overwrite`, removes
    /// the database when every run in it has that name, and refuses when it holds others too.
    public static func claimTraces(db: String, runName: String, overwrite: Bool, command: String) throws {
        let fm = FileManager.default
        let size = (try? fm.attributesOfItem(atPath: db))?[.size] as? Int ?? 0
        guard size > 0 else { return }
        let names = try TraceReader(path: db).runNames()
        guard names.contains(runName) else { return }
        guard overwrite else {
            throw RunFolderError(description: "\(db) already holds a run named \"\(runName)\": \(hint(command))")
        }
        guard names.allSatisfy({ $0 == runName }) else {
            throw RunFolderError(
                description: "\(db) holds other runs beside \"\(runName)\", which "
                    + "--overwrite_output_dir would remove too: give another --db or --run_name")
        }
        for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: db + suffix) {
            try fm.removeItem(atPath: db + suffix)
        }
    }

    /// Removes all but the newest `limit` checkpoint-<step> folders of `dir`, newest by step number.
    public static func pruneCheckpoints(in dir: URL, keeping limit: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let steps = names.compactMap { n -> Int? in
            n.hasPrefix("checkpoint-") ? Int(n.dropFirst("checkpoint-".count)) : nil
        }.sorted()
        for s in steps.dropLast(limit) {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("checkpoint-\(s)"))
        }
    }
}
