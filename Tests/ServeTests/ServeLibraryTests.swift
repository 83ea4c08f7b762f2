// The reward service's parts without HTTP: the bounded queue refuses instead of
// piling up, the token check, request sentences, label resolution and scoring
// against the rules called directly.

import Foundation
import RewardRules
import XCTest

import Serve

final class ServeLibraryTests: XCTestCase {
    func testAFullQueueRefusesAtOnceAndAcceptsAgainWhenFree() async throws {
        let queue = WorkQueue(capacity: 2, workers: 1)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let far = Date().addingTimeInterval(30)
        // The blocking job first, and running, before the second is submitted: tasks start in no
        // fixed order, and a second job run first would leave the depth at 1 for good.
        let first = Task {
            await queue.submit(deadline: far) { () -> Int in
                started.signal()
                release.wait()
                return 1
            }
        }
        let running = Date().addingTimeInterval(20)
        var ran = false
        while !ran && Date() < running {
            ran = started.wait(timeout: .now()) == .success
            if !ran { await Task.yield() }
        }
        XCTAssertTrue(ran, "the first job never ran")
        let second = Task { await queue.submit(deadline: far) { 2 } }
        // Bounded: a queue that never reports both jobs fails the test instead of hanging the suite.
        let enqueued = Date().addingTimeInterval(20)
        while queue.depth < 2 && Date() < enqueued { await Task.yield() }
        guard queue.depth == 2 else {
            release.signal()
            return XCTFail("the two jobs never showed in the queue's depth (\(queue.depth))")
        }
        let start = Date()
        let third = await queue.submit(deadline: far) { 3 }
        XCTAssertEqual(third, .failure(.full))
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.5, "a full queue must answer at once")
        release.signal()
        let (a, b) = (await first.value, await second.value)
        XCTAssertEqual(a, .success(1))
        XCTAssertEqual(b, .success(2))
        let again = await queue.submit(deadline: far) { 4 }
        XCTAssertEqual(again, .success(4))
        queue.drainAndClose()
        let closed = await queue.submit(deadline: far) { 5 }
        XCTAssertEqual(closed, .failure(.closed))
    }

    func testARequestPastItsDeadlineIsAnsweredWithoutWaitingForTheWork() async throws {
        let queue = WorkQueue(capacity: 4, workers: 1)
        let release = DispatchSemaphore(value: 0)
        let start = Date()
        let r = await queue.submit(deadline: Date().addingTimeInterval(0.3)) { () -> Int in
            release.wait()
            return 1
        }
        XCTAssertEqual(r, .failure(.deadlinePassed))
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        release.signal()
        queue.drainAndClose()
    }

    func testTheTokenMatchesOnlyItself() {
        let token = BearerToken("correct horse battery staple")
        XCTAssertTrue(token.matches("correct horse battery staple"))
        for wrong in ["", "correct horse battery stapl", "correct horse battery staplf", "x"] {
            XCTAssertFalse(token.matches(wrong), wrong)
        }
        XCTAssertEqual(BearerToken.presented(authorization: "Bearer abc", query: "q"), "abc")
        XCTAssertEqual(BearerToken.presented(authorization: nil, query: "q"), "q")
        XCTAssertNil(BearerToken.presented(authorization: "Basic abc", query: nil))
    }

    func testOnlyLoopbackMayGoWithoutAToken() throws {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] {
            XCTAssertTrue(ServeConfiguration.isLoopback(host), host)
        }
        for host in ["0.0.0.0", "10.0.0.1", "127.0.0.1.example.com", "::"] {
            XCTAssertFalse(ServeConfiguration.isLoopback(host), host)
        }
        var c = ServeConfiguration()
        c.host = "0.0.0.0"
        XCTAssertThrowsError(try c.validate()) { XCTAssertEqual($0 as? ServeError, .tokenRequired(host: "0.0.0.0")) }
        c.token = String(repeating: "k", count: 16)
        XCTAssertNoThrow(try c.validate())
    }

    func testMalformedBodiesBecomeSentences() {
        func message(_ body: String) -> String {
            do {
                _ = try RequestDecoding.decode(OpenRLHFRequest.self, from: Data(body.utf8))
                return "decoded"
            } catch { return (error as? BadRequest)?.message ?? "\(error)" }
        }
        XCTAssertEqual(message("{"), "the body is not valid JSON")
        XCTAssertEqual(message("{\"prompts\": []}"), "field \"query\" is missing")
        XCTAssertEqual(message("{\"query\": [1]}"), "field \"query[0]\": expected a string")
        XCTAssertEqual(message(""), "the request has no body: expected a JSON object")
    }

    func testTheResponseIsWhatFollowsThePrompt() {
        XCTAssertEqual(OpenRLHFRequest.completion(query: "Q: 2+2? A: 4", prompt: "Q: 2+2?"), " A: 4")
        XCTAssertEqual(OpenRLHFRequest.completion(query: "<s>Q: 2+2? A: 4", prompt: "Q: 2+2?"), " A: 4")
        XCTAssertEqual(OpenRLHFRequest.completion(query: "A: 4", prompt: "other"), "A: 4")
        XCTAssertEqual(OpenRLHFRequest.completion(query: "A: 4", prompt: nil), "A: 4")
    }

    func testGetRewardScoresLikeTheRuleSetCalledDirectly() throws {
        let rules = try RuleSet.parse(
            """
            name: t
            rules:
              - {name: format, kind: regex, weight: 0.2, pattern: '<answer>.*</answer>'}
              - {name: answer, kind: math, requires: format}
            """, file: "t.yaml")
        let service = try RewardService(rules: rules, tasks: nil, configuration: ServeConfiguration())
        defer { try? service.shutDown() }
        let request = OpenRLHFRequest(
            query: ["P1 <answer>4</answer>", "P2 <answer>5</answer>", "P3 4", "P4 <answer>1/2</answer>"],
            prompts: ["P1", "P2", "P3", "P4"],
            labels: [.text("4"), .text("4"), .text("4"), .text("{\"answer\": \"0.5\"}")])
        let batch = try service.batch(request)
        XCTAssertEqual(batch.completions[0], " <answer>4</answer>")
        let response = OpenRLHFResponse(rules: rules, scored: service.score(batch))
        XCTAssertEqual(response.rewards, [1.2, 0.2, 0, 1.2].map { $0 }, accuracy: 1e-12)
        XCTAssertEqual(response.extraLogs["answer"], [1, 0, 0, 1])
        XCTAssertThrowsError(
            try service.batch(OpenRLHFRequest(query: ["a", "b"], prompts: nil, labels: [.text("1")]))
        ) {
            XCTAssertEqual(
                ($0 as? BadRequest)?.message,
                "\"query\" has 2 items but \"labels\" has 1: they must have the same length")
        }
    }
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line)
{
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
