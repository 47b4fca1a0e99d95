import Foundation
import Testing

@testable import ComputingPlane

/// The agent API's review long-poll: each poll ends at its own bound while the review stays open, and every poll
/// gets the outcome once it is settled.
@Suite struct PendingReviewTests {
    static let approved = ReviewDesk.Outcome(approved: true, decisions: [], summary: "approved", list: nil)

    /// Nothing settles this review: a poll that waited for the review instead of its bound would never end, and
    /// the time limit would fail the test (not a wall-clock bound: a loaded machine wakes timers late).
    @Test(.timeLimit(.minutes(2))) func aPollOnAnOpenReviewEndsAtItsBound() async {
        let review = PendingReview()
        let answer = await review.outcome(waitingAtMost: .milliseconds(200))
        #expect(answer == nil, "an open review answers 'pending'")
        // Settled later: the next poll answers at once, and the earlier poll left no waiter to resume.
        review.settle(Self.approved)
        let settled = await review.outcome(waitingAtMost: .seconds(3600))
        #expect(settled??.approved == true)
    }

    @Test func pollsWaitingWhenTheReviewSettlesGetItsOutcome() async {
        let review = PendingReview()
        async let first = review.outcome(waitingAtMost: .seconds(3600))
        async let second = review.outcome(waitingAtMost: .seconds(3600))
        try? await Task.sleep(for: .milliseconds(100))
        review.settle(Self.approved)
        let answers = await [first, second]
        #expect(answers.allSatisfy { $0??.summary == "approved" })
    }

    @Test func aJobThatEndsFirstSettlesTheReviewAsEnded() async {
        let review = PendingReview()
        review.settle(nil)
        let answer = await review.outcome(waitingAtMost: .seconds(3600))
        // .some(nil): ended, not pending.
        #expect(answer != nil)
        #expect(answer! == nil)
        // A second settlement changes nothing.
        review.settle(Self.approved)
        #expect(await review.outcome(waitingAtMost: .seconds(1))! == nil)
    }
}
