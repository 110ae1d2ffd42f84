package io.tokenquota.servlet.breakit140;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 140: an agent endpoint that runs more than one model call per request and reports each call's
 * tokens through the {@code X-Quota-Actual-Tokens} response header as HTTP lets a header carry several
 * values: one {@code addIntHeader} per call (a per-call listener), or one header holding the list
 * ({@code 9000, 6000}, as a relay copying an upstream's joined header writes it). The answer itself is
 * plain text without usage, so the reported figures are the only record of the calls.
 */
abstract class AbstractRound140 extends H2FilterRound {
    private static final String HEADER = "X-Quota-Actual-Tokens";
    private static final String QUESTION = "{\"model\":\"gpt-4o\",\"max_tokens\":200,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan my trip and book it.\"}]}";

    /** Model calls the endpoints made (a planning call and an acting call per agent request). */
    private final AtomicInteger modelCalls = new AtomicInteger();

    /** Two model calls of 9,000 and 6,000 tokens, each reported by a listener with addIntHeader. */
    private final class AddedPerCall extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelCalls.incrementAndGet();
            resp.addIntHeader(HEADER, 9_000);
            modelCalls.incrementAndGet();
            resp.addIntHeader(HEADER, 6_000);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("Your trip is booked.");
        }
    }

    /** The same two calls reported as one header holding both values, the list form of the same field. */
    private final class JoinedList extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelCalls.incrementAndGet();
            modelCalls.incrementAndGet();
            resp.setHeader(HEADER, "9000, 6000");
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("Your trip is booked.");
        }
    }

    /** Control: the endpoint adds the two calls up itself and reports one figure. */
    private final class SummedOnce extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelCalls.incrementAndGet();
            modelCalls.incrementAndGet();
            resp.setIntHeader(HEADER, 15_000);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("Your trip is booked.");
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("agent-added", new AddedPerCall(), "/ai/agent/added")
                .servlet("agent-joined", new JoinedList(), "/ai/agent/joined")
                .servlet("agent-summed", new SummedOnce(), "/ai/agent/summed")
                .onStartup(filter::registerByServletName);
    }

    private void chargedForBothCalls(String path) {
        String subject = "u140-" + UUID.randomUUID().toString().substring(0, 8);
        int before = modelCalls.get();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), subject, QUESTION);
        int calls = modelCalls.get() - before;
        QuotaAccount a = settled(subject);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls);
        assertEquals(15_000, a.used(), "two model calls reported as 9,000 and 6,000 tokens: " + ledger(subject));
    }

    /**
     * Attack: the endpoint's model calls report their tokens one by one, each adding a value of the
     * header (9,000, then 6,000). Both values reach the filter; the request must cost 15,000.
     */
    @Test
    void eachCallAddedToTheHeaderIsPaid() {
        chargedForBothCalls("/ai/agent/added");
    }

    /**
     * Attack: the same two calls reported in the header's list form, {@code 9000, 6000}. The filter
     * must charge the 15,000 the calls cost, not the small estimate of the question.
     */
    @Test
    void headerListOfCallsIsPaid() {
        chargedForBothCalls("/ai/agent/joined");
    }

    /** Control: the endpoint sums the calls and sets one figure, 15,000. */
    @Test
    void summedFigureIsPaid() {
        chargedForBothCalls("/ai/agent/summed");
    }
}
