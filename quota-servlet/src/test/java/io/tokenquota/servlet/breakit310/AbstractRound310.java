package io.tokenquota.servlet.breakit310;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Round 310 of issue 11: one {@link QuotaFilter} instance used by two servlet contexts. A host that
 * embeds its container builds the filter once and adds that instance to each context it serves
 * (Jetty's {@code ServletContextHandler.addFilter(new FilterHolder(filter), ...)}, the servlet API's
 * {@code ServletContext.addFilter(String, Filter)} on Tomcat): the container calls {@code init} once per
 * context. Here each context runs in an embedded server of its own, in one JVM, on one store.
 *
 * <p>Each application context has a chat model servlet named {@code chat} at
 * {@code /ai/chat/completions}, answering an OpenAI chat completion with {@code usage} (1,200 prompt +
 * 300 completion tokens: the Chat Completions API reference's object, {@code usage.prompt_tokens},
 * {@code completion_tokens}, {@code total_tokens}), and a legacy route {@code /legacy/chat} that forwards
 * to it by name ({@code ServletContext.getNamedDispatcher("chat").forward}: what Spring's
 * {@code ServletForwardingController} does). docs/servlet.md: "A forward or include by servlet name ...
 * Call {@code filter.registerByServletName(servletContext)} while the context starts ... Without the
 * call, the filter maps itself at startup ({@code init}) by the names of the protected servlets".
 *
 * <p>The filter keeps what it learnt of the servlets in fields of the instance
 * ({@code viewedServlets} by {@code registerByServletName}, {@code protectedServlets} by {@code init}),
 * not per context: the second context's call or init changes what the first context's dispatches see.
 */
abstract class AbstractRound310 extends H2FilterRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 300;
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    final ModelCalls calls = new ModelCalls();

    /** The filter instance the two application contexts of the first host share (registerByServletName in both). */
    QuotaFilter shared;
    /** The second context of that host: the same application deployed again (a second tenant, a /v2 copy). */
    EmbeddedContainer second;

    /** The second host's filter instance: no registerByServletName; an application context and a status context. */
    QuotaFilter plain;
    EmbeddedContainer plainApp;
    EmbeddedContainer plainStatus;

    static String subject() {
        return "u310-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        shared = filterFor("/ai/").build();
        return app(shared, true);
    }

    /** The application: the model servlet and its legacy alias, the filter on every path as the README maps it. */
    Deployment app(QuotaFilter quota, boolean registerByName) {
        Deployment d = Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("chat", new ContextApp.Model(calls, "chatcmpl-310", PROMPT, COMPLETION), "/ai/chat/completions")
                .servlet("legacy-chat", new ContextApp.NamedForward("chat"), "/legacy/chat");
        return registerByName ? d.onStartup(quota::registerByServletName) : d;
    }

    @BeforeAll
    void startOtherContexts() {
        // the shared instance's second application context, started after the first (H2FilterRound#start)
        second = kind().start(app(shared, true));
        // the other host: its application context, then a status context the same filter instance guards
        // too (mapped on every path, as the README maps it), with no servlet under the protected prefix
        plain = filterFor("/ai/").build();
        plainApp = kind().start(app(plain, false));
        plainStatus = kind().start(Deployment.create()
                .filter("quota", plain, "/*")
                .servlet("status", new ContextApp.Status(), "/status"));
    }

    @AfterAll
    void stopOtherContexts() {
        for (EmbeddedContainer c : new EmbeddedContainer[] {second, plainApp, plainStatus}) {
            if (c != null) c.close();
        }
    }

    /**
     * Sends the chat request to {@code path} of {@code where}; the model runs once and the subject is charged
     * its usage, 1,500. The answer is synchronous, so its charge has landed when the client has its end
     * (docs/servlet.md, "A synchronous answer ends only once its charge has landed").
     */
    void assertChargedItsUsage(EmbeddedContainer where, String path, String story) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(where.uri(path), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        QuotaAccount a = settled(s);
        assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + story + " (model calls " + calls.of(s) + "): "
                + ledger(s));
    }

    /** Control: the first context's direct call is charged its usage, 1,500. */
    @Test
    void controlTheFirstContextsDirectCallIsChargedItsUsage() {
        assertChargedItsUsage(container, "/ai/chat/completions", "a direct call in the first context");
    }

    /** Control: the first context's call by name (its own registerByServletName views) is charged 1,500. */
    @Test
    void controlTheFirstContextsCallByNameIsChargedItsUsage() {
        assertChargedItsUsage(container, "/legacy/chat", "a call by name in the first context");
    }

    /** Control: the second context's direct call is charged 1,500. */
    @Test
    void controlTheSecondContextsDirectCallIsChargedItsUsage() {
        assertChargedItsUsage(second, "/ai/chat/completions", "a direct call in the second context");
    }

    /**
     * The second context, whose host called {@code registerByServletName} on it as the README says: the
     * filter skips its servlet {@code chat} because the first context's {@code chat} already has a view
     * ({@code viewedServlets} holds names, not contexts), and its {@code init} then removes {@code chat}
     * from the names it maps itself by. A forward by name to the model in the second context meets no
     * quota filter: the model answers 1,500 tokens of usage and nothing is charged.
     */
    @Test
    void aCallByNameInTheSecondContextIsChargedItsUsage() {
        assertChargedItsUsage(second, "/legacy/chat", "a call by name in the second context");
    }

    /**
     * The other host, without {@code registerByServletName}: {@code init} on the application context maps
     * the filter by the name {@code chat} and notes the protected servlets; {@code init} on the status
     * context (no protected servlet) replaces that note with none. A forward by name in the application
     * context reaches the filter through the mapping, finds no protected servlet noted, is taken for the
     * caller's path {@code /legacy/chat} and passes: 1,500 tokens free.
     */
    @Test
    void aCallByNameInAContextInitialisedBeforeAnotherIsChargedItsUsage() {
        assertChargedItsUsage(plainApp, "/legacy/chat", "a call by name in the application context, the status"
                + " context initialised after it");
    }

    /** Control: that application context's direct call is charged 1,500. */
    @Test
    void controlThePlainApplicationsDirectCallIsChargedItsUsage() {
        assertChargedItsUsage(plainApp, "/ai/chat/completions", "a direct call in the plain application context");
    }
}
