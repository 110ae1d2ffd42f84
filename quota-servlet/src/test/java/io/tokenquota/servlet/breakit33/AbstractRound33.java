package io.tokenquota.servlet.breakit33;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.Reservation;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 33 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the settlement of a hold whose ledger call fails.
 */
abstract class AbstractRound33 extends H2FilterRound {

    /** Subjects whose next commit fails once, as a ledger blip (a connection timeout, a failover) does. */
    static final Set<String> FAIL_NEXT_COMMIT = ConcurrentHashMap.newKeySet();

    /** The store, except that a commit of an armed subject's hold fails once with STORE_UNAVAILABLE. */
    final class BlippingLedger extends FailingLedger {
        BlippingLedger() {
            super(store);
        }

        @Override
        protected void beforeCommit(String reservationId) {
            Optional<Reservation> r = store.reservation(reservationId);
            if (r.isPresent() && FAIL_NEXT_COMMIT.remove(r.get().subject())) {
                throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection is not available, request timed out");
            }
        }
    }

    /** An OpenAI-compatible chat relay: the upstream answered with 4,000 prompt + 1,000 completion tokens. */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write(RelayedAnswers.completionJson("Paris.", 4_000, 1_000));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter blipping = QuotaFilter.builder(new BlippingLedger()).protect("/blip/")
                .holdTtl(Duration.ofSeconds(1))
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        QuotaFilter team = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-team-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-team", team, "/ai/*")
                .filter("quota-blip", blipping, "/blip/*")
                .servlet("chat", new Chat(), "/ai/chat/*", "/blip/chat/*");
    }

    static String subject() {
        return "u33-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.postJson(container.uri(path), subject, body);
    }

    // ------------------------------------------------------------------ 1. a commit that fails once

    /**
     * {@code POST /blip/chat/completions} (a plain chat call) while the ledger has a blip on the
     * commit: the model answered 5,000 tokens with {@code usage}, the client has them, and the filter's
     * one commit fails with {@code STORE_UNAVAILABLE}. The filter logs "could not settle", counts it,
     * and never tries again; the hold then expires and its tokens are returned: the call is free. A
     * reserve that hits the same blip is refused (fail-closed), so the ledger's outage only ever
     * gives calls away.
     */
    @Test
    void aCommitThatFailsOnceLeavesTheCallFree() throws InterruptedException {
        String s = subject();
        FAIL_NEXT_COMMIT.add(s);
        HttpResponse<String> r = post("/blip/chat/completions", s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s), "one model call was made");
        // the hold outlives nothing: bounded wait until the store has no open hold of the subject
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (store.account(s).reserved() != 0 && System.nanoTime() < deadline) {
            store.expireStale();
            TimeUnit.MILLISECONDS.sleep(50);
        }
        QuotaAccount a = store.account(s);
        assertEquals(0, a.reserved(), "the hold is finished one way or another");
        assertEquals(5_000, a.used(), "the model reported 5,000 tokens and the client received them; the ledger"
                + " charged " + a.used() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. two filters on one request

    /**
     * A per-user filter and a per-team filter (its own {@code QuotaFilter} instance, subject from
     * {@code x-team-id}) both in front of {@code /ai/}: {@code POST /ai/chat/completions} with
     * {@code x-user-id: u} and {@code x-team-id: t}. The second filter sees the first one's
     * request attribute (its name is the class's, not the instance's) and lets the call through
     * without a hold: the team's quota never sees its 5,000-token call.
     */
    @Test
    void aSecondQuotaFilterOnTheRequestChargesItsOwnSubject() {
        String s = subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat/completions"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}",
                "x-team-id", team);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s), "one model call was made");
        assertEquals(5_000, settled(s).used(), "the user filter charged the usage: " + ledger(s));
        QuotaAccount t = settled(team);
        assertEquals(5_000, t.used(), "the team filter's subject was charged " + t.used() + ": " + ledger(team));
    }
}
