package io.tokenquota.examples;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Team budgets through the demo's own wiring (H2 store, filter, quota API, mock model): an admin gives
 * a team a plan and puts a user in it; the user's quota shows the team and what it has left; the
 * team's quota shows what its member spent; once the team cannot cover a request the filter refuses
 * it with 429 naming the team, although the user's own account could; after leaving the team the
 * same request is served.
 */
class DemoTeamsTest {
    private static final String API = "/api/v1/user-quota";
    private static DemoApp app;
    private static DemoClient client;

    @BeforeAll
    static void start() throws Exception {
        app = DemoApp.start(DemoConfig.fromEnv(Map.of(
                        "PORT", "0",
                        "QUOTA_JDBC_URL", "jdbc:h2:mem:teams-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1",
                        "QUOTA_ADMIN_TOKEN", DemoClient.ADMIN_TOKEN,
                        "QUOTA_PAYMENT_SECRET", DemoClient.PAYMENT_SECRET,
                        "QUOTA_DEFAULT_ALLOCATION", "100000")));
        client = new DemoClient(app.baseUri());
    }

    @AfterAll
    static void stop() throws Exception {
        if (app != null) {
            app.close();
        }
    }

    @Test
    void aMemberSpendsTheTeamsBudgetAndIsRefusedByTheTeamUntilItLeaves() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String team = "acme-" + suffix;
        String user = "alice-" + suffix;

        HttpResponse<String> plan = put(API + "/teams/" + team + "/plan", "{\"monthly_allocation\":400}");
        assertEquals(200, plan.statusCode(), plan.body());
        Map<String, Object> planned = TestJson.object(plan.body());
        assertEquals(team, planned.get("team_id"));
        assertEquals(400, longAt(planned, "allocated_quota"));

        HttpResponse<String> join = put(API + "/users/" + user + "/team", "{\"team_id\":\"" + team + "\"}");
        assertEquals(200, join.statusCode(), join.body());
        assertEquals(Map.of("user_id", user, "team_id", team), TestJson.object(join.body()));

        Map<String, Object> before = client.quota(user);
        assertEquals(team, before.get("team_id"));
        assertEquals(400, longAt(before, "team_remaining_tokens"));
        assertEquals(100_000, longAt(before, "remaining_tokens"));

        HttpResponse<String> served = client.chat(user, "Say hello.", 50);
        assertEquals(200, served.statusCode(), served.body());
        long spent = longAt(TestJson.object(served.body()), "usage", "total_tokens");
        assertTrue(spent > 0 && spent < 400, "spent " + spent);
        Map<String, Object> after = client.settledQuota(user);
        assertEquals(spent, longAt(after, "used_tokens"));
        assertEquals(400 - spent, longAt(after, "team_remaining_tokens"));

        // the team's own account, as an admin reads it: charged what its member was charged
        HttpResponse<String> teamQuota = client.adminGet(API + "/admin/teams/" + team + "/quota", DemoClient.ADMIN_TOKEN);
        assertEquals(200, teamQuota.statusCode(), teamQuota.body());
        Map<String, Object> teamAccount = TestJson.object(teamQuota.body());
        assertEquals(team, teamAccount.get("team_id"));
        assertEquals(spent, longAt(teamAccount, "used_tokens"));
        assertEquals(400 - spent, longAt(teamAccount, "remaining_tokens"));
        assertEquals(0, longAt(teamAccount, "reserved_tokens"));

        // far more than the team has left, far less than the user has: the team refuses, and says so
        HttpResponse<String> refused = client.chat(user, "Tell me a long story about the sea.", 2_000);
        assertEquals(429, refused.statusCode(), refused.body());
        Map<String, Object> problem = TestJson.object(refused.body());
        assertEquals("team", problem.get("scope"));
        assertEquals(team, problem.get("team_id"));
        assertEquals(400, longAt(problem, "limit"));
        assertEquals(400 - spent, longAt(problem, "available"));
        Map<String, Object> unchanged = client.quota(user);
        assertEquals(spent, longAt(unchanged, "used_tokens"));
        assertEquals(0, longAt(unchanged, "reserved_tokens"));

        HttpResponse<String> leave = put(API + "/users/" + user + "/team", "{\"team_id\":null}");
        assertEquals(200, leave.statusCode(), leave.body());
        Map<String, Object> left = TestJson.object(leave.body());
        assertTrue(left.containsKey("team_id"), leave.body());
        assertNull(left.get("team_id"));
        Map<String, Object> alone = client.quota(user);
        assertFalse(alone.containsKey("team_id"), alone.toString());
        assertFalse(alone.containsKey("team_remaining_tokens"), alone.toString());

        HttpResponse<String> again = client.chat(user, "Tell me a long story about the sea.", 2_000);
        assertEquals(200, again.statusCode(), again.body());
        long charged = longAt(TestJson.object(again.body()), "usage", "total_tokens");
        assertEquals(spent + charged, longAt(client.settledQuota(user), "used_tokens"));
        // the team is no longer charged for the user's calls
        Map<String, Object> teamAfter = TestJson.object(
                client.adminGet(API + "/admin/teams/" + team + "/quota", DemoClient.ADMIN_TOKEN).body());
        assertEquals(spent, longAt(teamAfter, "used_tokens"));
    }

    private static HttpResponse<String> put(String path, String json) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(app.baseUri().resolve(path))
                .header("authorization", "Bearer " + DemoClient.ADMIN_TOKEN)
                .header("content-type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(json)));
    }
}
