package io.tokenquota.examples.faults;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;

import java.time.YearMonth;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Re-derives an account from its event log and checks that the stored balances agree exactly:
 * "the event log explains every token". Used after every fault, when the service is stopped or
 * quiet. Stateless, thread-safe.
 */
final class LedgerAudit {

    /** What the audit found for one account. */
    record Report(QuotaAccount account, List<LedgerEvent> events, Map<String, Reservation> reservations,
                  int holds, int consumes, int committed, int released, int expired, int rejected,
                  long credited) {

        long count(EventKind kind) {
            return events.stream().filter(e -> e.kind() == kind).count();
        }

        /** Idempotency keys of every hold and consume that was granted (duplicates kept). */
        List<String> grantedKeys() {
            List<String> keys = new ArrayList<>();
            for (Reservation r : reservations.values()) {
                if (r.idempotencyKey() != null) {
                    keys.add(r.idempotencyKey());
                }
            }
            return keys;
        }

        String describe() {
            return account + " holds=" + holds + " consumes=" + consumes + " committed=" + committed
                    + " released=" + released + " expired=" + expired + " rejected=" + rejected
                    + " credited=" + credited;
        }
    }

    private LedgerAudit() {
    }

    static Report explain(QuotaStore store, String subject, YearMonth month) {
        QuotaAccount account = store.account(subject, month)
                .orElseThrow(() -> new AssertionError("no account for " + subject + " " + month));
        List<LedgerEvent> events = store.events(subject, month);
        Map<String, Long> heldById = new LinkedHashMap<>();
        Map<String, LedgerEvent> terminalById = new HashMap<>();
        Map<String, LedgerEvent> lateById = new HashMap<>();
        Map<String, Reservation> reservations = new LinkedHashMap<>();
        long used = 0;
        long credited = 0;
        long debited = 0;
        long lastPlan = -1;
        int consumes = 0;
        int committed = 0;
        int released = 0;
        int expired = 0;
        int rejected = 0;
        for (LedgerEvent e : events) {
            assertEquals(subject, e.subject(), "event of another subject in the log: " + e);
            assertEquals(month, e.month(), "event of another month in the log: " + e);
            switch (e.kind()) {
                case RESERVED -> {
                    assertTrue(e.tokens() > 0, "hold of a non-positive amount: " + e);
                    Long before = heldById.put(e.reservationId(), e.tokens());
                    assertEquals(null, before, "reservation held twice: " + e);
                }
                case COMMITTED, RELEASED, EXPIRED -> {
                    LedgerEvent first = terminalById.put(e.reservationId(), e);
                    assertEquals(null, first, "reservation " + e.reservationId() + " finished twice: " + first + " / " + e);
                    Long held = heldById.get(e.reservationId());
                    if (e.kind() == EventKind.COMMITTED) {
                        used += e.tokens();
                        committed++;
                        if (held == null) {
                            consumes++;
                        }
                    } else {
                        assertTrue(held != null, e.kind() + " of a hold never reserved: " + e);
                        assertEquals(held.longValue(), e.tokens(), e.kind() + " must return the whole hold: " + e);
                        if (e.kind() == EventKind.RELEASED) {
                            released++;
                        } else {
                            expired++;
                        }
                    }
                }
                case LATE_COMMITTED -> {
                    // a commit that arrived after its hold expired (the outage outlived the TTL) charges then
                    assertEquals(EventKind.EXPIRED, terminalById.containsKey(e.reservationId())
                            ? terminalById.get(e.reservationId()).kind() : null, "late commit of a hold that did not expire: " + e);
                    assertEquals(null, lateById.put(e.reservationId(), e), "reservation committed late twice: " + e);
                    used += e.tokens();
                    committed++;
                }
                case REJECTED -> rejected++;
                case CREDITED -> credited += e.tokens();
                case DEBITED -> debited += e.tokens();
                case PLAN_CHANGED -> lastPlan = e.tokens();
                default -> {
                }
            }
        }
        long open = 0;
        for (Map.Entry<String, Long> hold : heldById.entrySet()) {
            if (!terminalById.containsKey(hold.getKey())) {
                open += hold.getValue();
            }
        }
        Set<String> ids = new HashSet<>(heldById.keySet());
        ids.addAll(terminalById.keySet());
        for (String id : ids) {
            Reservation r = store.reservation(id).orElseThrow(() -> new AssertionError("event names a missing reservation " + id));
            reservations.put(id, r);
            LedgerEvent late = lateById.get(id);
            LedgerEvent end = late != null ? late : terminalById.get(id);
            ReservationState expected = end == null ? ReservationState.HELD
                    : late != null ? ReservationState.COMMITTED : ReservationState.valueOf(end.kind().name());
            assertEquals(expected, r.state(), "reservation state disagrees with its events: " + r);
            if (end != null && end.kind().charges()) {
                assertEquals(r.charged(), end.tokens(), "charged amount disagrees with the event: " + r);
            }
            Long held = heldById.get(id);
            if (held != null) {
                assertEquals(held.longValue(), r.held(), "held amount disagrees with the event: " + r);
            }
        }
        assertEquals(used, account.used(), "used must equal the COMMITTED events of " + subject);
        assertEquals(open, account.reserved(), "reserved must equal the open holds of " + subject);
        assertEquals(credited - debited, account.granted(), "granted must equal credits minus debits of " + subject);
        if (lastPlan >= 0) {
            assertEquals(lastPlan, account.allocated(), "allocated must equal the last plan change");
        }
        assertTrue(account.used() >= 0 && account.reserved() >= 0, "negative balance: " + account);
        assertEquals(account.limit(), account.used() + account.reserved() + account.available(), "conservation");
        return new Report(account, events, reservations, heldById.size(), consumes, committed, released, expired,
                rejected, credited - debited);
    }
}
