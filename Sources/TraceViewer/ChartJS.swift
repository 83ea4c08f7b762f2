// Chart.js, which draws the viewer's charts, comes from Debian's
// libjs-chart.js (3.9, in the Makefile's DEB_PACKAGES) and is read from its
// files when the viewer starts, not copied into this repository: the system's
// copy gets the system's updates, and the page still needs no network. A
// missing file stops `grpo traces serve` with what to install.

import Foundation

enum ChartJS {
    /// Where Debian's packages put the minified UMD build (libjs-chart.js; node-chart.js).
    static let searchPaths = [
        "/usr/share/javascript/chart.js/chart.min.js", "/usr/share/nodejs/chart.js/dist/chart.min.js",
    ]

    static func load(_ path: String?) throws -> Data {
        for candidate in path.map({ [$0] }) ?? searchPaths {
            if let data = FileManager.default.contents(atPath: candidate) { return data }
        }
        throw ViewerError.noChartJS(path.map { [$0] } ?? searchPaths)
    }
}
