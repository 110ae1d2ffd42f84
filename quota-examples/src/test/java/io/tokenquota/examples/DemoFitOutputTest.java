package io.tokenquota.examples;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The demo with {@code QUOTA_FIT_OUTPUT=true} and {@code QUOTA_FIT_MIN_OUTPUT=16}: a user with 300
 * tokens left who asks for 5,000 gets an answer written within what is left, and the header says
 * how much it could be; a prompt too long for what is left still gets 429.
 */
class DemoFitOutputTest {
    private static DemoApp app;
    private static DemoClient client;

    @BeforeAll
    static void start() throws Exception {
        app = DemoApp.start(DemoConfig.fromEnv(Map.of(
                        "PORT", "0",
                        "QUOTA_JDBC_URL", "jdbc:h2:mem:fit-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1",
                        "QUOTA_ADMIN_TOKEN", DemoClient.ADMIN_TOKEN,
                        "QUOTA_PAYMENT_SECRET", DemoClient.PAYMENT_SECRET,
                        "QUOTA_DEFAULT_ALLOCATION", "300",
                        "QUOTA_FIT_OUTPUT", "true")));
        client = new DemoClient(app.baseUri());
    }

    @AfterAll
    static void stop() throws Exception {
        if (app != null) {
            app.close();
        }
    }

    @Test
    void aBudgetTooLargeForTheBalanceIsLoweredAndTheAnswerStaysWithinIt() throws Exception {
        String user = "fit-" + UUID.randomUUID().toString().substring(0, 8);
        HttpResponse<String> r = client.chat(user, "Tell me a long story about the sea.", 5_000);
        assertEquals(200, r.statusCode(), r.body());
        long capped = Long.parseLong(r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElseThrow());
        assertTrue(capped >= DemoConfig.DEFAULT_FIT_MIN_OUTPUT && capped < 300, "capped at " + capped);
        Map<String, Object> answer = TestJson.object(r.body());
        // the mock model writes no more than the max_tokens it received: the lowered one
        assertTrue(longAt(answer, "usage", "completion_tokens") <= capped, r.body());
        // one completion: the budget is all the prompt leaves, so the hold takes the whole balance
        assertEquals("0", r.headers().firstValue("X-Quota-Remaining").orElseThrow());

        Map<String, Object> q = client.settledQuota(user);
        assertEquals(longAt(answer, "usage", "total_tokens"), longAt(q, "used_tokens"));
        assertTrue(longAt(q, "remaining_tokens") >= 0);
    }

    @Test
    void aPromptThatDoesNotFitWithTheMinimumIsStillRefused() throws Exception {
        String user = "fit-" + UUID.randomUUID().toString().substring(0, 8);
        HttpResponse<String> r = client.chat(user, "word ".repeat(400), 5_000);
        assertEquals(429, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).isEmpty());
    }
}
