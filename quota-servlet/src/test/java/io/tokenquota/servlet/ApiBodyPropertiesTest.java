package io.tokenquota.servlet;

import static io.tokenquota.servlet.Fixture.API;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Valid admin and payment bodies with up to three random mutations (a value of another type or size,
 * a field removed, duplicated or unknown, the text cut short), over HTTP on Jetty with JDBI on H2.
 * The answer is 200 or a 4xx problem, never a 5xx; a 200 leaves events in the log, and any other
 * answer leaves the balance untouched (at most a pending purchase record).
 */
final class ApiBodyPropertiesTest {
    private static Fixture fx;

    @BeforeContainer
    static void start() {
        fx = new Fixture(ContainerKind.JETTY);
    }

    @AfterContainer
    static void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    private static final String SUBJECT = "@SUBJECT@";

    private static List<String[]> base(String endpoint) {
        List<String[]> fields = new ArrayList<>();
        switch (endpoint) {
            case "add-tokens" -> {
                fields.add(new String[] {"user_id", "\"" + SUBJECT + "\""});
                fields.add(new String[] {"token_amount", "500"});
                fields.add(new String[] {"purchase_type", "\"bonus\""});
                fields.add(new String[] {"reason", "\"goodwill\""});
                fields.add(new String[] {"idempotency_key", "\"k-" + SUBJECT + "\""});
            }
            case "plan" -> fields.add(new String[] {"monthly_allocation", "20000"});
            default -> {
                fields.add(new String[] {"transaction_id", "\"tx-" + SUBJECT + "\""});
                fields.add(new String[] {"user_id", "\"" + SUBJECT + "\""});
                fields.add(new String[] {"token_amount", "500"});
                fields.add(new String[] {"amount", "10.00"});
                fields.add(new String[] {"currency", "\"USD\""});
                fields.add(new String[] {"payment_method", "\"card\""});
                fields.add(new String[] {"status", "\"completed\""});
            }
        }
        return fields;
    }

    /** One change to a valid body: 0 replace a value, 1 remove, 2 duplicate, 3 add unknown, 4 cut the text. */
    record Mutation(int kind, int field, String value) {
    }

    record Case(String endpoint, List<Mutation> mutations) {
        String body(String subject) {
            List<String[]> fields = base(endpoint);
            boolean cut = false;
            for (Mutation m : mutations) {
                if (fields.isEmpty() && m.kind() != 3) {
                    continue;
                }
                int i = fields.isEmpty() ? 0 : m.field() % fields.size();
                switch (m.kind()) {
                    case 0 -> fields.set(i, new String[] {fields.get(i)[0], m.value()});
                    case 1 -> fields.remove(i);
                    case 2 -> fields.add(new String[] {fields.get(i)[0], m.value()});
                    case 3 -> fields.add(new String[] {"unexpected_field", m.value()});
                    default -> cut = true;
                }
            }
            StringBuilder sb = new StringBuilder("{");
            for (String[] f : fields) {
                sb.append(sb.length() > 1 ? "," : "").append('"').append(f[0]).append("\":").append(f[1]);
            }
            String json = sb.append('}').toString().replace(SUBJECT, subject);
            return cut ? json.substring(0, json.length() / 2) : json;
        }
    }

    private static Arbitrary<String> value() {
        return Arbitraries.oneOf(
                Arbitraries.longs().between(-5, 200_000_000).map(Object::toString),
                Arbitraries.longs().map(Object::toString),
                Arbitraries.of("9223372036854775808", "-9223372036854775809", "1e400", "1.5", "0", "-0", "1E2", "12.345",
                        "123456789012345678901234567890", "null", "true", "false", "{}", "[]", "[1]", "{\"a\":1}",
                        "\"\"", "\" \"", "\"bonus\"", "\"purchase\"", "\"refund\"", "\"gift\"", "\"completed\"", "\"failed\"",
                        "\"pending\"", "\"refunded\"", "\"KRW\"", "\"GBP\"", "\"12.50\"", "\"5000\"", "\"\\u0000\"",
                        "\"x'; DROP TABLE tq_account;--\"", "\"" + "r".repeat(600) + "\""),
                Arbitraries.strings().ofMaxLength(12).map(s -> "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""));
    }

    @Provide
    Arbitrary<Case> cases() {
        Arbitrary<Mutation> mutation = Combinators.combine(
                Arbitraries.integers().between(0, 4), Arbitraries.integers().between(0, 9), value()).as(Mutation::new);
        return Combinators.combine(Arbitraries.of("add-tokens", "plan", "payment-callback"),
                mutation.list().ofMaxSize(3)).as(Case::new);
    }

    @Property(tries = 150)
    void aRefusedBodyNeverChangesTheBalance(@ForAll("cases") Case c) {
        String subject = Fixture.newSubject();
        String body = c.body(subject);
        byte[] raw = body.getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> r = switch (c.endpoint()) {
            case "add-tokens" -> TestHttp.post(fx.container.uri(API + "/add-tokens"), raw,
                    "Content-Type", "application/json", "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
            case "plan" -> TestHttp.put(fx.container.uri(API + "/users/" + subject + "/plan"), body,
                    "Content-Type", "application/json", "Authorization", "Bearer " + Fixture.ADMIN_TOKEN);
            default -> TestHttp.post(fx.container.uri(API + "/payment-callback"), raw,
                    "Content-Type", "application/json", "X-Signature", TestHttp.signature(Fixture.PAYMENT_SECRET, raw));
        };
        Statistics.label("answer").collect(c.endpoint(), r.statusCode());
        assertTrue(r.statusCode() == 200 || (r.statusCode() >= 400 && r.statusCode() < 500), r.statusCode() + " " + r.body());
        List<LedgerEvent> events = fx.events(subject);
        if (r.statusCode() == 200) {
            // a mutated user_id may name another subject: look where the response says it went
            Map<String, Object> json = JsonTree.object(r.body());
            Object quota = json.containsKey("user_quota") ? json.get("user_quota") : json;
            String credited = (String) ((Map<?, ?>) quota).get("user_id");
            assertFalse(fx.events(credited).isEmpty(), "an accepted request is logged: " + body);
        } else {
            Map<String, Object> problem = JsonTree.object(r.body());
            assertTrue(((String) problem.get("type")).startsWith("https://tokenquota.io/problems/"));
            assertTrue(events.stream().allMatch(e -> e.kind() == EventKind.PURCHASE_RECORDED),
                    "a refused request changes no balance: " + body + " -> " + events);
        }
    }
}
