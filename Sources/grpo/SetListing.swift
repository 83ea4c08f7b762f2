// `grpo tasks list` and `grpo rewards list`: the sets found in the search folders, under
// the folder each came from; a set hidden by an earlier one of the same name is said to be,
// and an empty search says where it looked.

import Kernels
import Support

enum SetListing {
    /// `what`: "task sets" or "rule sets"; `describe`: a set's line (an error loading it is shown instead).
    static func show(
        _ found: [FoundSet], in folders: [SetFolder], what: String,
        describe: (FoundSet) throws -> String
    ) {
        guard !found.isEmpty else {
            print("no \(what) found (looked in \(SetFolders.describe(folders)))")
            return
        }
        for folder in folders {
            let here = found.filter { $0.folder == folder }
            guard !here.isEmpty else { continue }
            print("\(what) in \(folder.label):")
            for entry in here {
                if entry.isShadowed {
                    print("  \(entry.name): hidden by the one above of the same name")
                    continue
                }
                do { print("  " + (try describe(entry))) } catch { print("  \(entry.name): \(error)") }
            }
        }
    }
}
