package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.time.Instant;
import java.time.YearMonth;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class UnlandedChargesTest {
    private final UnlandedCharges charges = new UnlandedCharges();

    private static Reservation hold(String id, String subject, String team) {
        Instant now = Instant.parse("2031-03-01T00:00:00Z");
        return new Reservation(id, subject, YearMonth.of(2031, 3), 1_000, ReservationState.HELD, 0, null, 0, null,
                null, now, now.plusSeconds(300), null, team);
    }

    @Test
    void aRunningCallOwesWhatItsAnswerReportedBeyondItsHoldToItsSubjectAndItsTeam() {
        AtomicLong beyond = new AtomicLong();
        Reservation a = hold("1", "alice", "acme");
        charges.running(a.id(), a, beyond::get);
        assertEquals(0, charges.owedBySubject("alice"));
        beyond.set(18_500);
        assertEquals(18_500, charges.owedBySubject("alice"));
        assertEquals(18_500, charges.owedByTeam("acme"));
        assertEquals(0, charges.owedBySubject("bob"));
        charges.landed(a.id(), a);
        assertEquals(0, charges.owedBySubject("alice"));
        assertEquals(0, charges.owedByTeam("acme"));
    }

    @Test
    void aSettlementOwesItsDecidedChargeInsteadOfItsAnswersReading() {
        Reservation a = hold("2", "alice", null);
        charges.running(a.id(), a, () -> 5);
        charges.settlementStarts(a.id(), a, true);
        // round 365: until it decides, a settlement owes what its answer's reading says, as the running call did
        assertEquals(5, charges.owedBySubject("alice"), "decided on nothing yet: the answer's reading still counts, once");
        charges.owes(a.id(), a, () -> 700);
        assertEquals(700, charges.owedBySubject("alice"));
        charges.landed(a.id(), a);
        assertEquals(0, charges.owedBySubject("alice"));
    }

    @Test
    void anAnswerThatIsNotOutOrASettlementBeingRetriedIsNotWaitedFor() {
        Reservation kept = hold("3", "carol", null);
        charges.settlementStarts(kept.id(), kept, false);
        Reservation retried = hold("4", "carol", null);
        charges.settlementStarts(retried.id(), retried, true);
        charges.retrying(retried.id());
        long started = System.nanoTime();
        charges.awaitSettlements("carol");
        assertTrue(System.nanoTime() - started < UnlandedCharges.SETTLEMENT_WAIT.toNanos() / 2,
                "waited for settlements whose answers the client cannot have, or that wait for a retry");
    }

    @Test
    void aReserveWaitsForASettlementWhoseAnswerIsOutUntilItLands() throws Exception {
        Reservation a = hold("5", "dave", null);
        charges.settlementStarts(a.id(), a, true);
        CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> charges.awaitSettlements("dave"));
        org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.TimeoutException.class,
                () -> waiting.get(200, TimeUnit.MILLISECONDS), "did not wait for a settlement whose answer is out");
        charges.landed(a.id(), a);
        waiting.get(UnlandedCharges.SETTLEMENT_WAIT.toMillis() / 2, TimeUnit.MILLISECONDS);
    }
}
