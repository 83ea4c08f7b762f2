// Advantages on groups small enough to compute by hand.

import XCTest
import Training

final class AdvantagesTests: XCTestCase {
    func testGroupScaleByHand() {
        // Rewards 1, 0, 0, 1: mean 0.5, sample std sqrt(1/3) = 0.57735.
        let a = Advantages.compute([[1, 0, 0, 1]], scale: .group)[0]
        let d = 0.5 / ((1.0 / 3).squareRoot() + 1e-4)
        for (x, y) in zip(a, [d, -d, -d, d]) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        XCTAssertEqual(d, 0.86588, accuracy: 1e-5)
    }

    func testFlatGroupTeachesNothingAndMissingRewardsAreLeftOut() {
        XCTAssertEqual(Advantages.compute([[0.7, 0.7, 0.7]], scale: .group), [[0, 0, 0]])
        // nil is out of the mean and std: [2, nil, 0] has mean 1, std sqrt(2).
        let a = Advantages.compute([[2, nil, 0]], scale: .group)[0]
        XCTAssertEqual(a[0], 1 / (2.0.squareRoot() + 1e-4), accuracy: 1e-12)
        XCTAssertEqual(a[1], 0)
        XCTAssertEqual(a[2], -1 / (2.0.squareRoot() + 1e-4), accuracy: 1e-12)
        XCTAssertEqual(Advantages.compute([[nil, nil]], scale: .group), [[0, 0]])
        XCTAssertEqual(Advantages.compute([[5]], scale: .group), [[0]])
    }

    func testBatchAndNoneScales() {
        // Groups [1, 3] and [0, 0]: means 2 and 0; batch values 1, 3, 0, 0 have mean 1 and
        // sample std sqrt((0 + 4 + 1 + 1) / 3) = sqrt(2).
        let batch = Advantages.compute([[1, 3], [0, 0]], scale: .batch)
        let s = 2.0.squareRoot() + 1e-4
        XCTAssertEqual(batch[0][0], -1 / s, accuracy: 1e-12)
        XCTAssertEqual(batch[0][1], 1 / s, accuracy: 1e-12)
        XCTAssertEqual(batch[1], [0, 0])
        XCTAssertEqual(Advantages.compute([[1, 3], [0, 0]], scale: .none), [[-1, 1], [0, 0]])
    }

    func testSampleStd() {
        XCTAssertEqual(Advantages.sampleStd([2, 4, 4, 4, 5, 5, 7, 9]), (32.0 / 7).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Advantages.sampleStd([3]), 0)
    }
}
