package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class UnlandedChargesTest {
    private final UnlandedCharges charges = new UnlandedCharges();

    private static Reservation hold(String id, String subject, String team) {
        return hold(id, subject, team, YearMonth.of(2031, 3));
    }

    private static Reservation hold(String id, String subject, String team, YearMonth month) {
        Instant now = month.atDay(1).atStartOfDay(java.time.ZoneOffset.UTC).toInstant();
        return new Reservation(id, subject, month, 1_000, ReservationState.HELD, 0, null, 0, null,
                null, now, now.plusSeconds(300), null, team);
    }

    /** A March account with 20,000 allowance, {@code carried} purchased tokens carried in, nothing used. */
    private static QuotaAccount march(long carried) {
        return new QuotaAccount("alice", YearMonth.of(2031, 3), 20_000, 0, carried, 0, 0, null, null);
    }

    /** No earlier month can be read: what is owed to it counts up to what the later month carries. */
    private static final Function<YearMonth, Optional<QuotaAccount>> UNREAD = month -> Optional.empty();

    /** What is owed, weighed against a fresh March account without purchased tokens. */
    private static long owed(UnlandedCharges.Owed owed) {
        return owed.against(march(0), QuotaPolicy.defaults(), UNREAD);
    }

    @Test
    void aRunningCallOwesWhatItsAnswerReportedBeyondItsHoldToItsSubjectAndItsTeam() {
        AtomicLong beyond = new AtomicLong();
        Reservation a = hold("1", "alice", "acme");
        charges.running(a.id(), a, beyond::get);
        assertEquals(0, owed(charges.owedBySubject("alice")));
        beyond.set(18_500);
        assertEquals(18_500, owed(charges.owedBySubject("alice")));
        assertEquals(18_500, owed(charges.owedByTeam("acme")));
        assertEquals(0, owed(charges.owedBySubject("bob")));
        charges.landed(a.id(), a);
        assertEquals(0, owed(charges.owedBySubject("alice")));
        assertEquals(0, owed(charges.owedByTeam("acme")));
    }

    @Test
    void anEarlierMonthsHoldOwesALaterMonthAtMostThePurchasedTokensItCarried() {
        Reservation feb = hold("6", "alice", "acme", YearMonth.of(2031, 2));
        Reservation mar = hold("7", "alice", "acme");
        charges.running(feb.id(), feb, () -> 13_990);
        // round 430: a February hold's overrun is charged to February; March pays only with purchased tokens it carried
        assertEquals(0, owed(charges.owedBySubject("alice")), "nothing purchased in March: nothing of it is March's");
        assertEquals(5_000, charges.owedBySubject("alice").against(march(5_000), QuotaPolicy.defaults(), UNREAD));
        assertEquals(13_990, charges.owedBySubject("alice").against(march(30_000), QuotaPolicy.defaults(), UNREAD));
        assertEquals(0, charges.owedByTeam("acme").against(march(5_000),
                QuotaPolicy.builder().rolloverPurchased(false).build(), UNREAD), "rollover off: the purchased tokens lapsed");
        // round 433: priced on February as stored, the overrun takes what February's own allowance does not pay
        QuotaAccount untouched = new QuotaAccount("alice", feb.month(), 20_000, 5_000, 0, 0, 1_000, null, null);
        assertEquals(0, charges.owedBySubject("alice").against(march(5_000), QuotaPolicy.defaults(),
                month -> Optional.of(untouched)), "February's allowance pays all 14,990: March carries 5,000 intact");
        QuotaAccount spent = new QuotaAccount("alice", feb.month(), 20_000, 5_000, 0, 20_000, 1_000, null, null);
        assertEquals(4_000, charges.owedBySubject("alice").against(march(4_000), QuotaPolicy.defaults(),
                month -> Optional.of(spent)), "February's allowance spent: its overrun takes the 4,000 March carries");
        charges.running(mar.id(), mar, () -> 700);
        assertEquals(700, owed(charges.owedBySubject("alice")), "March's own hold counts whole");
        assertEquals(5_700, charges.owedByTeam("acme").against(march(5_000), QuotaPolicy.defaults(), UNREAD));
        charges.landed(feb.id(), feb);
        charges.landed(mar.id(), mar);
        org.junit.jupiter.api.Assertions.assertFalse(charges.owedBySubject("alice").any());
    }

    @Test
    void aSettlementOwesItsDecidedChargeInsteadOfItsAnswersReading() {
        Reservation a = hold("2", "alice", null);
        charges.running(a.id(), a, () -> 5);
        charges.settlementStarts(a.id(), a, true);
        // round 365: until it decides, a settlement owes what its answer's reading says, as the running call did
        assertEquals(5, owed(charges.owedBySubject("alice")),
                "decided on nothing yet: the answer's reading still counts, once");
        charges.owes(a.id(), a, () -> 700);
        assertEquals(700, owed(charges.owedBySubject("alice")));
        charges.landed(a.id(), a);
        assertEquals(0, owed(charges.owedBySubject("alice")));
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
