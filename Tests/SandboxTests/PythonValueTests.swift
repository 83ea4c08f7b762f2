// The wire form of values and the type-strict comparison, on hand cases (no
// sandbox needed): what the runner reports is parsed, never trusted to be
// well-formed, and compared as the tests mean it.

import XCTest
import Sandbox

final class PythonValueTests: XCTestCase {
    func parse(_ s: String) throws -> PythonValue { try PythonValue.parse(Array(s.utf8)) }

    func testTheWireFormParsesEveryCoreType() throws {
        XCTAssertEqual(try parse("N"), .none)
        XCTAssertEqual(try parse("T"), .bool(true))
        XCTAssertEqual(try parse("i-1f;"), .int("-1f"))
        XCTAssertEqual(try parse("i000;"), .int("0"), "leading zeros are normalised")
        XCTAssertEqual(try parse("i-0;"), .int("0"))
        XCTAssertEqual(try parse("f2.5;"), .float(2.5))
        XCTAssertEqual(try parse("f-inf;"), .float(-.infinity))
        XCTAssertEqual(try parse("c1.0,-2.0;"), .complex(1, -2))
        XCTAssertEqual(try parse("s636166c3a9;"), .str(Array("café".utf8)))
        XCTAssertEqual(try parse("b00ff;"), .bytes([0, 255]))
        XCTAssertEqual(try parse("l2:i1;t1:N"), .list([.int("1"), .tuple([.none])]))
        XCTAssertEqual(try parse("d1:s61;S0:"), .dict([.init(key: .str([97]), value: .set([]))]))
        XCTAssertEqual(try parse("?41;"), .unsupported("A"))
    }

    func testMalformedInputIsRefusedNotTrusted() {
        for bad in [
            "", "x", "i;", "i12", "ig;", "f1e;", "fnan1;", "s6;", "sZZ;", "l3:N", "l99999999999:", "l-1:",
            "d1:N", "NN", "T ", "f" + String(repeating: "1", count: 50) + ";",
        ] {
            XCTAssertThrowsError(try parse(bad), bad) { XCTAssertTrue($0 is PythonValue.FormatError, "\(bad): \($0)") }
        }
        // Nesting is bounded (the encoder marks deeper values unsupported).
        let deep = String(repeating: "l1:", count: 100) + "N"
        XCTAssertThrowsError(try parse(deep)) { XCTAssertTrue("\($0)".contains("nested too deeply"), "\($0)") }
        XCTAssertNoThrow(try parse(String(repeating: "l1:", count: 60) + "N"))
    }

    func testEqualityIsTypeStrict() throws {
        func eq(_ a: String, _ b: String) throws -> Bool { try parse(a).strictlyEquals(parse(b)) }
        XCTAssertFalse(try eq("T", "i1;"), "True is not 1")
        XCTAssertFalse(try eq("t1:i1;", "l1:i1;"), "a tuple is not a list")
        XCTAssertFalse(try eq("?496e74;", "?496e74;"), "values of other types equal nothing, themselves included")
        XCTAssertFalse(try eq("fnan;", "fnan;"))
        XCTAssertTrue(try eq("i2;", "f2.0;"), "ints and floats compare by value")
        XCTAssertTrue(try eq("f-0.0;", "i0;"))
        XCTAssertFalse(try eq("i2;", "f2.5;"))
        // 2**70 exactly, and 1e30, which is not 10**30.
        XCTAssertTrue(try eq("i400000000000000000;", "f1.1805916207174113e+21;"))
        XCTAssertFalse(try eq("ic9f2c9cd04674edea40000000;", "f1e+30;"))
        XCTAssertTrue(try eq("ic9f2c9cd04674edea40000000;", "ic9f2c9cd04674edea40000000;"))
        XCTAssertTrue(try eq("d2:i1;s61;i2;s62;", "d2:i2;s62;f1.0;s61;"), "dict order and an int-valued float key")
        XCTAssertFalse(try eq("d1:Ts61;", "d1:i1;s61;"), "True and 1 are different keys")
        XCTAssertFalse(try eq("d2:i1;Ni1;N", "d1:i1;N"), "a duplicated key is not a dict of two")
        XCTAssertTrue(try eq("S2:z2:i1;i2;i3;", "S2:i3;z2:i2;i1;"), "sets of frozensets, in any order")
        XCTAssertFalse(try eq("S1:i1;", "z1:i1;"), "a set is not a frozenset")
        XCTAssertTrue(try eq("c1.0,0.0;", "c1.0,0.0;"))
        XCTAssertFalse(try eq("c1.0,0.0;", "i1;"))
    }

    func testTruthAsPythonHasIt() throws {
        for (wire, truth) in [
            ("N", false), ("F", false), ("T", true), ("i0;", false), ("i-1;", true), ("f0.0;", false),
            ("s;", false), ("s61;", true), ("l0:", false), ("l1:N", true), ("d0:", false),
            ("?41;", false),
        ] {
            XCTAssertEqual(try parse(wire).isTruthy, truth, wire)
        }
    }
}
