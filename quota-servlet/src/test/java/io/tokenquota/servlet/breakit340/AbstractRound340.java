package io.tokenquota.servlet.breakit340;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 340 of issue 11 (item 11 and the money path over HTTP): payment events delivered out of order, and
 * the admin endpoints behind a pluggable {@link AdminAuthorizer} that is not a bearer token.
 */
abstract class AbstractRound340 extends QuotaApiRound {
    /** Where the admin console's own copy of the quota API is mounted (its admins signed in by session). */
    static final String CONSOLE_API = "/console-api";
    /** The admin console's sign-in. */
    static final String LOGIN = "/console/login";
    static final String CONSOLE_PASSWORD = "console-admin-password-340";
    /** The console's own session cookie (Jetty's test context has no servlet session manager). */
    static final String SESSION_COOKIE = "console_session";
    /** Sessions the console issued to signed-in administrators. */
    static final java.util.Set<String> ADMIN_SESSIONS = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static String subject() {
        return "u340-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter)
                .servlet("console-login", new ConsoleLogin(), LOGIN)
                .servlet("console-quota-api", consoleApi(), CONSOLE_API + "/*");
    }

    /**
     * The quota API as an application with an admin console mounts it: the admin endpoints allowed to a
     * signed-in administrator's session, the {@link AdminAuthorizer} the javadoc invites ("Decides whether a
     * request may use the admin endpoints"; implementations of one's own are the point of the interface). The
     * session is the console's own cookie, as an {@code HttpSession}'s JSESSIONID would be (Jakarta Servlet 6.0,
     * section 7.1.1, "Cookies": the container's session cookie works the same way; Jetty's test context has no
     * session manager, so the console keeps its sessions itself).
     */
    QuotaApiServlet consoleApi() {
        AdminAuthorizer signedInAdmin = request -> {
            jakarta.servlet.http.Cookie[] cookies = request.getCookies();
            if (cookies == null) {
                return false;
            }
            for (jakarta.servlet.http.Cookie c : cookies) {
                if (SESSION_COOKIE.equals(c.getName()) && ADMIN_SESSIONS.contains(c.getValue())) {
                    return true;
                }
            }
            return false;
        };
        return QuotaApiServlet.builder(store)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .adminAuthorizer(signedInAdmin)
                .build();
    }

    /** The console's sign-in form target: a right password marks the session an administrator's. */
    static final class ConsoleLogin extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!CONSOLE_PASSWORD.equals(req.getParameter("password"))) {
                resp.sendError(403);
                return;
            }
            String session = UUID.randomUUID().toString().replace("-", "");
            ADMIN_SESSIONS.add(session);
            // as a container writes JSESSIONID: HttpOnly, no SameSite attribute
            resp.setHeader("Set-Cookie", SESSION_COOKIE + "=" + session + "; Path=/; HttpOnly");
            resp.setStatus(204);
        }
    }

    /** An administrator signs in to the console: the session cookie ({@code name=value}) the browser keeps. */
    String signIn() {
        HttpResponse<String> r = TestHttp.post(container.uri(LOGIN), "password=" + CONSOLE_PASSWORD,
                "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(204, r.statusCode(), r.body());
        String set = r.headers().firstValue("Set-Cookie").orElseThrow(() -> new AssertionError("no session cookie"));
        return set.substring(0, set.indexOf(';') < 0 ? set.length() : set.indexOf(';'));
    }

    // ---------------------------------------------------------------- refunds delivered before their completion

    /**
     * A buyer pays 5,000 tokens and is refunded at once; the provider's "succeeded" delivery fails (the host
     * was restarting) and is retried later, so the refund arrives first. Stripe says so itself: "Stripe doesn't
     * guarantee the delivery of events in the order that they're generated" (docs.stripe.com/webhooks, "Event
     * ordering"), and retries a failed delivery "for up to three days with an exponential back off". Events as
     * the host maps {@code charge.refunded} and {@code payment_intent.succeeded} (round 295's shape, {@link
     * #payment}).
     *
     * <p>Case a: nothing recorded yet: the refund answers 404 purchase-not-found and records nothing; the
     * completion then credits 5,000 tokens whose money already went back, spendable until (if ever) the
     * refund's retry arrives, and what is spent by then stays unrecovered. Case b: the purchase was recorded
     * pending ({@code payment_intent.processing}); the refund answers 409 and records nothing; the completion
     * credits 5,000 the same way. servlet.md: "A replay that is no longer possible ({@code completed} after
     * {@code refunded}) → 409 purchase-state-conflict": the completion of a purchase whose refund the API was
     * told of must credit nothing (the refund event names the user and the tokens, as a {@code failed} event
     * for an unknown purchase is recorded).
     */
    @Test
    void aRefundDeliveredBeforeItsCompletionLeavesTheRefundedTokensToSpend() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> refund = payment(tx, s, 5_000, "refunded");
        HttpResponse<String> done = payment(tx, s, 5_000, "completed");
        QuotaAccount a = store.account(s);

        String p = subject();
        String ptx = paymentId();
        HttpResponse<String> pending = payment(ptx, p, 5_000, "pending");
        HttpResponse<String> pRefund = payment(ptx, p, 5_000, "refunded");
        HttpResponse<String> pDone = payment(ptx, p, 5_000, "completed");
        QuotaAccount b = store.account(p);

        assertAll(
                () -> assertTrue(refund.statusCode() < 500, "a: refund first: " + refund.body()),
                problem(done, 409, "purchase-state-conflict", "a: completed after refunded (refund delivered first: "
                        + refund.statusCode() + ")"),
                () -> assertEquals(0, a.granted(), "a: refunded purchase credited: " + a),
                () -> assertEquals(ALLOWANCE, a.available(), "a: refunded purchase credited: " + a),
                () -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertTrue(pRefund.statusCode() < 500, "b: refund of the pending purchase: " + pRefund.body()),
                problem(pDone, 409, "purchase-state-conflict", "b: completed after refunded (refund of the pending"
                        + " record: " + pRefund.statusCode() + ")"),
                () -> assertEquals(0, b.granted(), "b: refunded purchase credited: " + b),
                () -> assertEquals(ALLOWANCE, b.available(), "b: refunded purchase credited: " + b));
    }

    /** Control: the same purchase's events in order (completed, refunded, then the completion again): 0 credited. */
    @Test
    void controlTheSameEventsInOrderCreditNothing() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> done = payment(tx, s, 5_000, "completed");
        HttpResponse<String> refund = payment(tx, s, 5_000, "refunded");
        HttpResponse<String> again = payment(tx, s, 5_000, "completed");
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, done.statusCode(), done.body()),
                () -> assertEquals(200, refund.statusCode(), refund.body()),
                problem(again, 409, "purchase-state-conflict", "completed after refunded"),
                () -> assertEquals(0, a.granted(), a.toString()),
                () -> assertEquals(ALLOWANCE, a.available(), a.toString()));
    }

    // ---------------------------------------------------------------- a cross-site form under an admin's session

    /**
     * An administrator is signed in to the console (session cookie) and, in another tab, opens a page of
     * Mallory's. The page auto-submits {@code <form method="post" enctype="text/plain"
     * action="https://app/console-api/add-tokens">} with one field named
     * {@code {"user_id":"mallory…","token_amount":1000000,"reason":"} and valued {@code "}}: the HTML
     * standard's text/plain form encoding writes "name=value" and CRLF (html.spec.whatwg.org,
     * form-control-infrastructure, "text/plain encoding algorithm"), so the body is one JSON object, and a
     * form post with {@code text/plain} is a "simple" request no CORS preflight guards (fetch.spec.whatwg.org,
     * "CORS-safelisted request-header": {@code content-type} text/plain). The browser attaches the session
     * cookie (Firefox and Safari send a cookie without a SameSite attribute on cross-site POSTs; neither Tomcat
     * nor Jetty sets one on JSESSIONID by default, nor does this console on its own) and the {@code Origin} and {@code Sec-Fetch-Site} headers.
     *
     * <p>The API reads the body whatever its media type ("JSON in snake_case"): Mallory, who paid nothing, is
     * credited 1,000,000 tokens. Right: the admin endpoints take only a JSON media type (a cross-site page
     * cannot send {@code application/json} without a preflight this API never answers), or refuse a
     * cross-site {@code Origin}; a 4xx, nothing granted.
     */
    @Test
    void aCrossSiteTextPlainFormGrantsTokensUnderAnAdminsSession() {
        String cookie = signIn();
        String mallory = "mallory-" + subject();
        byte[] form = ("{\"user_id\":" + q(mallory) + ",\"token_amount\":1000000,\"reason\":\"" + "=" + "\"}\r\n")
                .getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> r = TestHttp.post(container.uri(CONSOLE_API + "/add-tokens"), form,
                "Content-Type", "text/plain", "Origin", "https://mallory.example", "Sec-Fetch-Site", "cross-site",
                "Sec-Fetch-Mode", "navigate", "Cookie", cookie);
        QuotaAccount a = store.account(mallory);
        assertAll(() -> assertTrue(r.statusCode() >= 400 && r.statusCode() < 500,
                        "a cross-site text/plain form was served: " + r.statusCode() + " " + r.body()),
                () -> assertEquals(0, a.granted(), "granted to one who paid nothing: " + a),
                () -> assertEquals(ALLOWANCE, a.available(), "granted to one who paid nothing: " + a));
    }

    /**
     * Control: the console's own page calls the same endpoint with {@code fetch} and
     * {@code Content-Type: application/json} from its own origin, under the same session: 5,000 granted.
     */
    @Test
    void controlTheConsolesOwnJsonCallGrants() {
        String cookie = signIn();
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri(CONSOLE_API + "/add-tokens"),
                "{\"user_id\":" + q(s) + ",\"token_amount\":5000,\"reason\":\"goodwill\"}",
                "Content-Type", "application/json", "Origin", "http://127.0.0.1:" + container.port(),
                "Sec-Fetch-Site", "same-origin", "Cookie", cookie);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(5_000, a.granted(), a.toString()),
                () -> assertEquals(ALLOWANCE + 5_000, a.available(), a.toString()));
    }

    /** Control: the same cross-site form without the administrator's session: 401, nothing granted. */
    @Test
    void controlTheCrossSiteFormWithoutASessionIsRefused() {
        String mallory = "mallory-" + subject();
        byte[] form = ("{\"user_id\":" + q(mallory) + ",\"token_amount\":1000000,\"reason\":\"=\"}\r\n")
                .getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> r = TestHttp.post(container.uri(CONSOLE_API + "/add-tokens"), form,
                "Content-Type", "text/plain", "Origin", "https://mallory.example");
        QuotaAccount a = store.account(mallory);
        assertAll(problem(r, 401, "unauthenticated", "no session"),
                () -> assertEquals(0, a.granted(), a.toString()));
    }
}
