package io.tokenquota.jdbi.breakit375;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 375 (a ledger round): reservation ids as a caller may mistype them, on the in-memory reference, H2
 * and PostgreSQL.
 *
 * <p>The rules: {@code QuotaLedger}: "Every mutating call is idempotent ... {@code commit}/{@code release}
 * on the reservation id"; {@code ErrorCode.RESERVATION_NOT_FOUND}: "No reservation with that id";
 * {@code QuotaLedger.extend}: "{@code RESERVATION_NOT_FOUND} for an unknown id"; and every store answering as
 * the in-memory reference does (docs/semantics.md: "What every QuotaStore ... promises"). A reservation id is
 * a string compared as it is (the in-memory store keys its holds by it; the SQL stores' rows by their
 * {@code id} column): a different string names another reservation, or none.
 */
abstract class AbstractRound375 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    protected String prefix;

    @BeforeEach
    void start() {
        prefix = "r375" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    private static String outcome(Supplier<Object> call) {
        try {
            Object answer = call.get();
            if (answer instanceof Reservation r) {
                return "reservation " + r.state() + " " + r.charged();
            }
            if (answer instanceof java.util.Optional<?> o) {
                return o.isEmpty() ? "empty" : "present";
            }
            return String.valueOf(answer);
        } catch (QuotaException e) {
            return e.code().name();
        } catch (RuntimeException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    /**
     * A user consumes 100 tokens without an idempotency key (the ledger hands it out under an id of the
     * store's choosing), then the id {@code asked.apply(id)} is read, committed with 100, released and
     * extended. Returns the four outcomes and the account's used tokens and event count after them.
     */
    private List<String> callsOnTheIdOfAKeylessConsume(YearMonth month, java.util.function.UnaryOperator<String> asked) {
        QuotaStore store = store(QuotaPolicy.builder().clock(MutableClock.at(month, 10, 12)).build());
        String subject = prefix + "u";
        Reservation consumed = store.consume(subject, 100, null);
        int eventsBefore = store.events(subject, month).size();
        String id = asked.apply(consumed.id());
        List<String> outcomes = new ArrayList<>();
        outcomes.add("reservation: " + outcome(() -> store.reservation(id)));
        outcomes.add("commit: " + outcome(() -> store.commit(id, 100)));
        outcomes.add("release: " + outcome(() -> store.release(id)));
        outcomes.add("extend: " + outcome(() -> store.extend(id, Duration.ofMinutes(5))));
        outcomes.add("used " + store.account(subject).used() + ", events +"
                + (store.events(subject, month).size() - eventsBefore));
        return outcomes;
    }

    /**
     * Finding (H2, PostgreSQL): a key-less consume is handed out under its COMMITTED event's id in decimal
     * ({@code Rows.keylessConsumeId}), say "57"; the id "057" (another string: a caller's zero-padded copy, a
     * log's fixed-width column) is parsed back to the number 57 by {@code Rows.eventIdOfKeylessConsume}
     * ({@code Long.parseLong}), so {@code reservation("057")} answers the consume "57",
     * {@code commit("057", 100)} replays it and {@code release("057")} is a RESERVATION_STATE_CONFLICT; the
     * in-memory reference (and the SQL stores for any other unknown id) answer "no reservation with that
     * id": empty and RESERVATION_NOT_FOUND.
     */
    @Test
    void aZeroPaddedCopyOfAKeylessConsumesIdNamesNoReservation() {
        assertEquals(List.of("reservation: empty", "commit: RESERVATION_NOT_FOUND", "release: RESERVATION_NOT_FOUND",
                        "extend: RESERVATION_NOT_FOUND", "used 100, events +0"),
                callsOnTheIdOfAKeylessConsume(YearMonth.of(2032, 2), id -> "0" + id));
    }

    /** Control: the consume's own id: read back, a commit with its tokens replays it, a release conflicts. */
    @Test
    void theKeylessConsumesOwnIdNamesIt() {
        assertEquals(List.of("reservation: present", "commit: reservation COMMITTED 100",
                        "release: RESERVATION_STATE_CONFLICT", "extend: reservation COMMITTED 100", "used 100, events +0"),
                callsOnTheIdOfAKeylessConsume(YearMonth.of(2032, 3), id -> id));
    }

    /** Control: another unknown id of the same shape (a letter put before it): RESERVATION_NOT_FOUND everywhere. */
    @Test
    void aLetteredCopyOfAKeylessConsumesIdNamesNoReservation() {
        assertEquals(List.of("reservation: empty", "commit: RESERVATION_NOT_FOUND", "release: RESERVATION_NOT_FOUND",
                        "extend: RESERVATION_NOT_FOUND", "used 100, events +0"),
                callsOnTheIdOfAKeylessConsume(YearMonth.of(2032, 4), id -> "x" + id));
    }
}
