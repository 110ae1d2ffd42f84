package io.tokenquota.servlet.breakit232;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.StoreOutageRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 232 of issue 11: the month turns while a call's commit is being tried again.
 *
 * <p>An agent call (async event stream, max_tokens 4,000: 4,006 held) starts at 23:58 on the last day of
 * June and reports 9,000 tokens of usage. Its commit cannot land (the ledger the filter writes through
 * refuses commits and extensions: a failover), so it is tried again in the background while the clock
 * passes midnight. The call must be charged its 9,000 tokens (to June, the hold's month), whether the
 * store comes back within the hold's TTL, after it (the hold expired by another instance's sweep), or
 * after the user's first July call.
 */
abstract class AbstractRound232 extends StoreOutageRound {
    static final String SHORT = "{\"model\":\"gpt-4o\",\"max_tokens\":100,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hi.\"}]}";

    AbstractRound232() {
        super(Instant.parse("2031-06-30T23:58:00Z"));
    }

    static String subject() {
        return "u232-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected String chatAnswer(String s) {
        return ChatCompletions.completion("chatcmpl-2-" + s, "gpt-4o", "Short.", 20, 80);
    }

    /** The month the test's call is held in: each test starts at 23:58 on the last day of a later month. */
    YearMonth held;

    /** The agent call, held at 23:58 on the last day of the month after the clock's. */
    @Override
    protected void agentCallWhoseCommitCannotLand(String s) throws InterruptedException {
        YearMonth now = YearMonth.from(clock.instant().atZone(java.time.ZoneOffset.UTC));
        held = now.plusMonths(1);
        clock.set(held.atEndOfMonth().atTime(23, 58).toInstant(java.time.ZoneOffset.UTC));
        super.agentCallWhoseCommitCannotLand(s);
    }

    /** June's account once the retried commit had time to land (bounded). */
    QuotaAccount heldMonth(String s) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        QuotaAccount a;
        do {
            a = clocked.store().account(s, held).orElseThrow();
            if (a.used() >= PROMPT + COMPLETION && a.reserved() == 0) {
                return a;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        return a;
    }

    /** The store is back just after midnight, within the hold's TTL. */
    @Test
    void aCommitRetriedAcrossMidnightIsChargedToJune() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(3));
        down.remove(s);
        QuotaAccount a = heldMonth(s);
        assertEquals(PROMPT + COMPLETION, a.used(), "June: " + a + " " + events(s, held));
    }

    /** Past midnight and past the hold's TTL; another instance sweeps; the user's July call comes first. */
    @Test
    void aCommitRetriedPastItsTtlAndASweepInJulyIsChargedToJune() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(7));
        clocked.store().expireStale();
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tb/v1/chat"), s, SHORT));
        assertEquals(200, r.statusCode(), r.body());
        down.remove(s);
        QuotaAccount a = heldMonth(s);
        assertEquals(PROMPT + COMPLETION, a.used(), "June: " + a + " " + events(s, held)
                + " July: " + events(s, held.plusMonths(1)));
    }
}
