package io.tokenquota.examples;

import io.tokenquota.testkit.MutableClock;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;

/**
 * A deterministic month of demo traffic over real HTTP: four users chatting on days 1..{@code lastDay},
 * one of them on a small plan who hits 429s, purchases in two currencies and a bonus. The clock moves
 * day by day so the daily chart has a shape. Used by the browser test and for the README screenshot.
 */
final class DemoTraffic {
    static final List<String> USERS = List.of("minji", "alice", "jun", "bob");
    static final String SMALL_PLAN_USER = "bob";

    private DemoTraffic() {
    }

    /** Plays the traffic; returns how many requests were blocked with 429. */
    static int play(DemoClient client, MutableClock clock, YearMonth month, int lastDay) throws Exception {
        clock.set(month.atDay(1).atTime(8, 0).toInstant(ZoneOffset.UTC));
        expect(200, client.setPlan(SMALL_PLAN_USER, 1_500));
        int blocked = 0;
        for (int day = 1; day <= lastDay; day++) {
            for (int u = 0; u < USERS.size(); u++) {
                String user = USERS.get(u);
                clock.set(month.atDay(day).atTime(9 + u * 2, 15).toInstant(ZoneOffset.UTC));
                int requests = 1 + (day * (u + 3) + u) % (u == 0 ? 6 : 4);
                for (int i = 0; i < requests; i++) {
                    clock.advance(Duration.ofMinutes(7));
                    String prompt = ("Day " + day + ", request " + i + " from " + user + ": summarise the meeting notes. ")
                            .repeat(2 + (day + i + u) % 9);
                    HttpResponse<String> r = client.chat(user, prompt, 60 + 40 * ((day + i) % 4));
                    if (r.statusCode() == 429) {
                        blocked++;
                    } else {
                        expect(200, r);
                    }
                    // the charge lands just after the response; let it land before the clock moves on,
                    // or the hold would expire first and the call would go uncharged
                    client.settledQuota(user);
                }
            }
            if (day == 3) {
                expect(200, client.paymentCallback(DemoClient.PAYMENT_SECRET, "alice", "pay-alice-" + month, 20_000,
                        "19.99", "USD", "completed"));
            }
            if (day == 6) {
                expect(200, client.paymentCallback(DemoClient.PAYMENT_SECRET, "jun", "pay-jun-" + month, 5_000,
                        "4900.00", "KRW", "completed"));
            }
            if (day == 9) {
                expect(200, client.addTokens(DemoClient.ADMIN_TOKEN, SMALL_PLAN_USER, 500, "bonus-bob-" + month));
            }
        }
        return blocked;
    }

    private static void expect(int status, HttpResponse<String> r) {
        if (r.statusCode() != status) {
            throw new AssertionError("expected " + status + " but got " + r.statusCode() + ": " + r.body());
        }
    }
}
