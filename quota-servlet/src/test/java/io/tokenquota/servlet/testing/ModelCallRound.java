package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * An {@link H2FilterRound} whose mock endpoints count the model calls they make in {@link #calls}, and
 * the checks such a round makes of a request: what reached the model against what was charged.
 */
public abstract class ModelCallRound extends H2FilterRound {
    /** Rates that charge every model one unit a token, for a round whose figures are the tokens themselves. */
    protected static final ModelWeights ONE_UNIT_A_TOKEN = ModelWeights.builder()
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    /** The model calls this round's endpoints made, by subject. */
    protected final ModelCalls calls;

    protected ModelCallRound() {
        this(new ModelCalls());
    }

    /**
     * For a round whose endpoints count in a counter they reach statically (Spring builds its
     * controllers, and static servlets outlive the test instance): {@code calls} is that counter.
     */
    protected ModelCallRound(ModelCalls calls) {
        this.calls = calls;
    }

    /** A deployment of {@code filter} on the protected prefix {@code /ai/*}, for the round to add its own to. */
    protected static Deployment filteredAi(io.tokenquota.servlet.QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/ai/*");
    }

    /**
     * A deployment of {@code filter} on every path, registered at startup for the round's servlets by name
     * too ({@code registerByServletName}: a dispatch by name is held as well), for the round to add its
     * servlets to.
     */
    protected static Deployment filteredByServletName(io.tokenquota.servlet.QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").onStartup(filter::registerByServletName);
    }

    /** A new subject: {@code prefix} and 12 random characters. */
    protected static String subject(String prefix) {
        return prefix + UUID.randomUUID().toString().substring(0, 12);
    }

    /** A new subject of this round: {@link #subjectPrefix()} and 12 random characters. */
    protected String subject() {
        return subject(subjectPrefix());
    }

    /** What this round's subjects start with: "u", the round's number (its package is breakitNN), "-". */
    protected String subjectPrefix() {
        String pkg = getClass().getPackageName();
        return "u" + pkg.substring(pkg.lastIndexOf("breakit") + "breakit".length()) + "-";
    }

    /** A {@link CountingModel} that counts its calls in this round's {@link #calls}. */
    protected abstract class CountedModel extends CountingModel {
        protected CountedModel() {
            super(calls);
        }
    }

    /**
     * A chat POST ({@link CountingModel#chat}) to {@code path} as {@code s}, for the model to answer with
     * {@code prompt} + {@code completion} tokens ({@code x-prompt}, {@code x-completion}) the way
     * {@code variant} says ({@code x-variant}; one starting "stream" asks a stream), then {@code more} headers.
     */
    protected HttpRequest usageRequest(String path, String s, long maxTokens, long prompt, long completion,
                                       String variant, String... more) {
        return CountingModel.request(container.uri(path), s, maxTokens, prompt, completion, variant, more);
    }

    /**
     * What a failure names: the container, the status, label and body of {@code r} (its first 400
     * characters, line breaks shown), the model calls of {@code s}, its charge and its ledger.
     */
    protected String figures(String s, HttpResponse<String> r, QuotaAccount a) {
        String body = r == null ? "-" : r.body().replace("\n", "\\n").replace("\r", "\\r");
        if (body.length() > 400) {
            body = body.substring(0, 400) + "...";
        }
        return kind() + ": status " + (r == null ? "-" : r.statusCode() + ", Content-Type "
                + r.headers().firstValue("Content-Type").orElse("-")) + ", model calls " + calls.of(s) + ", used "
                + a.used() + " of " + a.limit() + ", answer " + body + " (" + ledger(s) + ")";
    }

    /**
     * {@code r} was answered {@code status} after {@code modelCalls} model calls of {@code s}: the settled
     * account. A failure names the {@link #figures}.
     */
    protected QuotaAccount assertAnswered(String s, HttpResponse<String> r, int status, int modelCalls) {
        QuotaAccount a = settled(s);
        assertEquals(status, r.statusCode(), figures(s, r, a));
        assertEquals(modelCalls, calls.of(s), figures(s, r, a));
        return a;
    }

    /**
     * As {@link #assertAnswered}, and {@code s} is charged {@code used}; a failure of that names
     * {@code what} (when not empty), then the {@link #figures}.
     */
    protected void assertCharged(String s, HttpResponse<String> r, int status, int modelCalls, long used,
                                 String what) {
        QuotaAccount a = assertAnswered(s, r, status, modelCalls);
        assertEquals(used, a.used(), (what.isEmpty() ? "" : what + ": ") + figures(s, r, a));
    }

    /** The request {@code r} was answered 200 after one model call, and {@code s} is charged {@code usage}. */
    protected void assertServedOnceAndCharged(String s, HttpResponse<String> r, long usage) {
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(usage, settled(s).used());
    }

    /**
     * The client of {@code s} read {@code seen} (answered 200) of a streamed answer of {@code written}
     * tokens by the provider's count, made of {@code word}s, from one model call, then hung up before the
     * usage: it must be charged at least {@code written}. A failure names {@code what} and the words read.
     */
    protected void assertPaidForWhatItRead(String s, String seen, String word, long written, String what) {
        QuotaAccount a = settled(s);
        assertTrue(seen.startsWith("HTTP/1.1 200"), seen.lines().findFirst().orElse(""));
        int words = seen.split(word, -1).length - 1;
        assertEquals(1, calls.of(s), "one model call");
        assertTrue(a.used() >= written, kind() + ": " + what + ": the client read " + words + " words of the model's"
                + " answer (" + String.format(java.util.Locale.ROOT, "%,d", written) + " tokens by the provider's count), then hung up before"
                + " the usage, and was charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /**
     * A relay copied one JSON chat completion to {@code s}'s client, which went before its end: the one model call is
     * charged the usage that document ends with, {@code prompt} + {@code completion} tokens, and nothing is held. A
     * failure names {@code what}, the relay's own account of its writing ({@code writeEnds} of {@code s}) and the
     * ledger.
     */
    protected void assertRelayChargedItsUsage(String s, long prompt, long completion,
                                              java.util.Map<String, String> writeEnds, String what)
            throws InterruptedException {
        long call = prompt + completion;
        QuotaAccount a = chargedAtLeast(s, call);
        org.junit.jupiter.api.Assertions.assertAll(
                () -> assertEquals(1, calls.of(s), kind() + ": " + what + ": model calls"),
                () -> assertEquals(call, a.used(), kind() + ": " + what + ": the provider billed " + prompt + " + "
                        + completion + " = " + call + " (the usage the one JSON document the relay wrote ends with), "
                        + "charged " + a.used() + " of " + a.limit() + "; the relay's write " + writeEnds.get(s) + ": "
                        + ledger(s)),
                () -> assertEquals(0, a.reserved(), ledger(s)));
    }

    /** {@code body} posted as JSON by {@code s} to {@code path} {@code times} times, one after the other: the statuses. */
    protected java.util.List<Integer> postTimes(int times, String path, String s, String body) {
        java.util.List<Integer> statuses = new java.util.ArrayList<>();
        for (int i = 0; i < times; i++) {
            statuses.add(TestHttp.postJson(container.uri(path), s, body).statusCode());
        }
        return statuses;
    }

    /**
     * {@code s} makes {@code times} calls ({@code call}) one after the other on the round's allowance: each
     * one answered 200 is charged at least {@code perCall}, so none is served past the allowance. A failure
     * names {@code what}: what each call served is worth.
     */
    protected void assertServedCallsCharged(String s, int times, Supplier<HttpResponse<String>> call, long perCall,
                                            String what) {
        int served = 0;
        for (int i = 0; i < times; i++) {
            if (call.get().statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        assertTrue(used >= served * perCall, kind() + ": " + served + " of " + times + " calls served (each " + what
                + "), charged " + used + " on a " + ALLOWANCE + " allowance: " + ledger(s));
    }

    /**
     * {@code s} is charged no more than the allowance for its calls ({@code what}, answered {@code statuses}):
     * it was not served past it. A failure names the model calls and the ledger.
     */
    protected void assertWithinAllowance(String s, String what, java.util.List<Integer> statuses) {
        QuotaAccount a = settled(s);
        assertTrue(a.used() <= ALLOWANCE, kind() + ": " + what + " answered " + statuses + ", " + calls.of(s)
                + " model calls, charged " + a.used() + " on a " + ALLOWANCE + " allowance; " + ledger(s));
    }

    /**
     * Every model call {@code s} made (however many, none included) is charged {@code perCall}: once
     * settled, the subject has used the calls times {@code perCall}. Fails with {@code what}, the status of
     * {@code r}, the calls and the charge, then {@code ": "} and the body.
     */
    protected void assertEachCallCharged(String s, long perCall, String what, HttpResponse<String> r) {
        assertEachCallCharged(s, perCall, what, r, () -> ": " + r.body());
    }

    /** As {@link #assertEachCallCharged(String, long, String, HttpResponse)}, the failure ending in {@code detail}. */
    protected void assertEachCallCharged(String s, long perCall, String what, HttpResponse<String> r,
                                         Supplier<String> detail) {
        assertEachCallChargedAfter(s, 0, perCall, what, r, detail);
    }

    /**
     * As {@link #assertEachCallCharged(String, long, String, HttpResponse, Supplier)} for a subject that had
     * used {@code before} (its earlier calls) when it made them: it has used {@code before} and the calls.
     */
    protected void assertEachCallChargedAfter(String s, long before, long perCall, String what,
                                              HttpResponse<String> r, Supplier<String> detail) {
        int served = calls.of(s);
        long used = settled(s).used();
        assertEquals(before + served * perCall, used, what + " status " + r.statusCode() + ", model calls " + served
                + ", used " + used + (before == 0 ? "" : " (" + before + " before them)") + detail.get());
    }

    /**
     * The next call {@code next} of {@code s}, sent while its first call owed {@code owed} tokens: refused
     * with 429 once that charge has landed. Fails with the container, {@code what}, then the status, the
     * model calls and the ledger. The subject's account.
     */
    protected QuotaAccount assertNextCallRefused(String s, long owed, String what, HttpResponse<String> next)
            throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, owed);
        assertEquals(429, next.statusCode(), kind() + what + " answered " + next.statusCode() + "; model calls "
                + calls.of(s) + ", ledger used " + a.used() + " of " + a.limit() + " " + ledger(s));
        return a;
    }

    /**
     * As {@link #assertNextCallRefused}, and the model was called once, for the first call only: the next
     * call did not reach it.
     */
    protected void assertNextCallRefusedUnserved(String s, long owed, String what, HttpResponse<String> next)
            throws InterruptedException {
        QuotaAccount a = assertNextCallRefused(s, owed, what, next);
        assertEquals(1, calls.of(s), kind() + what + ": model calls " + calls.of(s) + ", used " + a.used());
    }

    /**
     * {@code s} spends the whole allowance on {@code allowed} calls charged {@code perCall} each (4 x 5,000 =
     * 20,000), is refused the next one with 429, then sends {@code attack}: it must call no model (the calls
     * stay those the allowance paid for).
     */
    protected void assertNoModelCallPastTheAllowance(String s, long perCall, Supplier<HttpResponse<String>> allowed,
                                                     String what, Supplier<HttpResponse<String>> attack) {
        int paid = (int) (ALLOWANCE / perCall);
        for (int i = 0; i < paid; i++) {
            assertEquals(200, allowed.get().statusCode());
        }
        assertEquals(paid * perCall, settled(s).used());
        assertEquals(429, allowed.get().statusCode());
        HttpResponse<String> r = attack.get();
        long used = settled(s).used();
        assertEquals(paid, calls.of(s), what + " past the allowance: status " + r.statusCode() + ", model calls "
                + calls.of(s) + ", used " + used + "/" + ALLOWANCE + ": " + r.body());
    }
}
