package io.tokenquota.servlet.breakit85;

import static io.tokenquota.servlet.testing.ModelTokens.modelTokens;
import static io.tokenquota.servlet.testing.ModelTokens.words;
import static io.tokenquota.servlet.testing.ModelTokens.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Round 85 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the newest settlement rules for pages (a 3xx or 4xx after answering is charged the estimate, a page
 * that calls no model reports 0 for itself; a nested include's figure stands for what it wrote; a page's
 * own charge plus its includes' figures), LangServe usage read anywhere in {@code output}, an AI message
 * the request sent back being history (a LangGraph reflection graph), and payment callbacks for a new
 * purchase granted in one step when a provider delivers one several times at once.
 *
 * <p>Each mock model records the tokens it read and wrote per subject ({@link ModelTokens}), so a test
 * compares that with what the ledger charged.
 */
abstract class AbstractRound85 extends H2FilterRound {
    static final byte[] PAYMENT_SECRET = "round-85-payment-webhook-secret-0123".getBytes(StandardCharsets.UTF_8);

    static String subject() {
        return "u85-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("wiki", new WikiPage(), "/ai/wiki/*")
                .servlet("news", new NewsPage(), "/ai/news/*")
                .servlet("nav", new Nav(), "/ai/nav")
                .servlet("chat-v1", new ChatV1(), "/ai/v1/chat")
                .servlet("chat-v2", new ChatV2Shim(), "/ai/v2/chat")
                .servlet("langserve", new LangServe(), "/ai/langserve/*")
                .servlet("quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .paymentSecret(PAYMENT_SECRET)
                        .build(), "/quota-api/*");
    }

    // ------------------------------------------------------------------ endpoints: pages

    /**
     * A wiki written as JSP pages are: the layout goes into the buffer under 200, then the scriptlet looks
     * the page up. A missing page sets 404 ({@code response.setStatus(404)}, the JSP idiom) and, inline,
     * asks the model which pages the reader may have meant (it reads 600 tokens of the index, writes 400,
     * as HTML, no usage).
     */
    public static class WikiPage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/html;charset=utf-8");
            write(resp, "<!DOCTYPE html>\n<html><head><title>Wiki</title></head><body><nav><a href=\"/\">Home</a></nav>\n");
            resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
            modelTokens(req, 1_000);
            write(resp, "<h1>No such page</h1><p>Did you mean:</p><ul><li>Quotas</li><li>" + words(390)
                    + "</li></ul></body></html>");
        }
    }

    /**
     * A news site's story page (a JSP whose layout includes the protected navigation fragment,
     * {@code <jsp:include page="/ai/nav"/>}, which reports through the attribute that it called no model).
     * A story that does not exist is a 404 "No such story": no model is called, and the page says so
     * through the attribute (0), unless asked {@code ?unreported}.
     */
    public static class NewsPage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html;charset=utf-8");
            write(resp, "<!DOCTYPE html>\n<html><head><title>News</title></head><body>");
            req.getRequestDispatcher("/ai/nav").include(req, resp);
            resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
            if (req.getParameter("unreported") == null) {
                // the documented escape: the page itself called no model
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            }
            write(resp, "<h1>No such story</h1></body></html>");
        }
    }

    /** The navigation bar: static links, no model; says so through the attribute (0), as documented. */
    public static class Nav extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            write(resp, "<nav><a href=\"/\">Home</a> | <a href=\"/world\">World</a> | <a href=\"/tech\">Tech</a></nav>");
        }
    }

    /** The v1 chat endpoint: an OpenAI completion with usage (4,000), also reported through the attribute. */
    public static class ChatV1 extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelTokens(req, 4_000);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 4_000L);
            resp.setContentType("application/json");
            write(resp, "{\"id\":\"chatcmpl-" + UUID.randomUUID() + "\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Done.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":3000,"
                    + "\"total_tokens\":4000}}");
        }
    }

    /**
     * v2 of the chat API, a shim over v1: it sets its own headers (an included servlet cannot) and includes
     * the v1 endpoint, whose answer is v2's.
     */
    public static class ChatV2Shim extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("application/json");
            resp.setHeader("Deprecation", "false");
            resp.setHeader("X-Api-Version", "2");
            req.getRequestDispatcher("/ai/v1/chat").include(req, resp);
        }
    }

    // ------------------------------------------------------------------ endpoints: LangServe

    static String aiMessage(String content, long in, long out) {
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":{\"finish_reason\":"
                + "\"stop\",\"model_name\":\"gpt-4o-2024-08-06\"},\"type\":\"ai\",\"name\":null,\"id\":\"run-"
                + UUID.randomUUID() + "-0\",\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],"
                + "\"usage_metadata\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + ",\"total_tokens\":"
                + (in + out) + "}}";
    }

    static String humanMessage(String content) {
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"human\","
                + "\"name\":null,\"id\":\"" + UUID.randomUUID() + "\",\"example\":false}";
    }

    /** What the reflection graph's three drafts report in their usage_metadata (800+1,200, 2,600+1,200, 4,400+1,200). */
    static final long REFLECTION_DRAFTS = 11_400;

    /**
     * A LangServe app. {@code /reflect/invoke}: LangGraph's reflection graph (the tutorial's
     * generate/reflect loop) served by {@code add_routes}: the generate node's answers are AI messages with
     * usage; the reflect node calls the model for a critique and returns it as
     * {@code HumanMessage(content=res.content)} (so the generator reads it as feedback): the state is
     * [request, draft 1, critique 1, draft 2, critique 2, draft 3]. Drafts: 11,400 tokens with usage;
     * critiques: 2 x 2,600, their usage dropped by the node.
     */
    public static class LangServe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getPathInfo();
            resp.setContentType("application/json");
            String answer;
            if ("/reflect/invoke".equals(path)) {
                modelTokens(req, REFLECTION_DRAFTS + 2 * 2_600);
                answer = "{\"output\":{\"messages\":[" + humanMessage("Write an essay on the quota model.") + ","
                        + aiMessage("Draft one. " + words(50), 800, 1_200) + ","
                        + humanMessage("Critique: too short, add examples. " + words(50)) + ","
                        + aiMessage("Draft two. " + words(50), 2_600, 1_200) + ","
                        + humanMessage("Critique: tighten the conclusion. " + words(50)) + ","
                        + aiMessage("Draft three. " + words(50), 4_400, 1_200)
                        + "]},\"metadata\":{\"run_id\":\"" + UUID.randomUUID() + "\",\"feedback_tokens\":[]}}";
            } else {
                resp.sendError(404);
                return;
            }
            write(resp, answer);
        }
    }

    // ------------------------------------------------------------------ 1. a JSP-style 404 with the model's suggestions inline

    /**
     * The wiki's missing page writes its layout under 200, sets 404 and writes the model's suggestions
     * (1,000 tokens, no usage). The page was answering when the 404 came, and the filter cannot tell a
     * layout from a model's suggestions written inline: rule 4 charges the estimate.
     */
    @Test
    void aJspNotFoundPageWithTheModelsSuggestionsInlineIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/wiki/Quota_modle"), "x-user-id", s);
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("Did you mean"), r.body());
        long used = settled(s).used();
        assertTrue(used > 0, kind() + ": the model wrote the suggestions (" + modelTokens(s) + " tokens) into the"
                + " protected 404 page; charged " + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. a 404 page whose layout includes a fragment reporting 0

    /**
     * A missing story: the layout includes the protected navigation fragment (which reports 0 through the
     * attribute: no model), then the page sets 404 "No such story" and reports 0 for itself (the
     * documented escape for a page that calls no model): nothing is charged.
     */
    @Test
    void aNotFoundPageWhoseLayoutIncludesANavigationFragmentIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/news/2026/no-such-story"), "x-user-id", s);
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("No such story"), r.body());
        long used = settled(s).used();
        assertEquals(0, modelTokens(s), "no model is called");
        assertEquals(0, used, kind() + ": a 404 page that called no model (it and its navigation fragment reported"
                + " 0) was charged " + used + " " + ledger(s));
    }

    /**
     * The same page without its own report: it was answering (its layout, the fragment's content under
     * the fragment's own 200) when the 404 came, which the filter cannot tell from a model's suggestions
     * written inline: the estimate is charged (the fragment's 0 adds nothing and frees nothing).
     */
    @Test
    void aNotFoundPageThatReportsNothingForItselfIsChargedTheEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/news/2026/no-such-story?unreported"), "x-user-id", s);
        assertEquals(404, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used > 0, kind() + ": a 404 after answering, unreported, is charged the estimate; charged " + used
                + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 4. a shim including the endpoint that reports its figure

    /**
     * v2 of the chat API includes v1, which answers with usage 4,000 and reports 4,000 through the
     * attribute. One model call of 4,000: the include's figure stands for everything it wrote, so the
     * usage read from its bytes is not the page's again; the page is charged that figure once.
     */
    @Test
    void aShimIncludingAReportingEndpointIsChargedItsOneCall() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v2/chat"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the report.\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":4000"), r.body());
        long used = settled(s).used();
        assertEquals(4_000, used, kind() + ": one model call of 4,000 (its answer's usage and its reported figure"
                + " both say 4,000) was charged " + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 5. LangGraph reflection

    /**
     * The reflection graph's state: [request, draft 1, critique 1, draft 2, critique 2, draft 3], the
     * critiques being human messages the graph itself wrote (none of them in the request). Every draft
     * has a fresh id the request did not carry, so all three count: 11,400 at least.
     */
    @Test
    void aReflectionGraphIsChargedEveryDraftItWrote() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/langserve/reflect/invoke"), s,
                "{\"input\":{\"messages\":[{\"type\":\"human\",\"content\":\"Write an essay on the quota model.\"}]},"
                        + "\"config\":{},\"kwargs\":{}}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= REFLECTION_DRAFTS, kind() + ": the graph's three drafts report " + REFLECTION_DRAFTS
                + " tokens of usage (the model ran " + modelTokens(s) + " tokens with the critiques); charged "
                + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 7. a completed callback delivered several times at once

    HttpResponse<String> callback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri("/quota-api/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    /**
     * A provider delivers the same "completed" webhook of a new purchase (5,000 tokens) six times at once
     * (its retry after a slow acknowledgement, several delivery workers). It is credited once.
     */
    @Test
    void aCompletedCallbackDeliveredSeveralTimesAtOnceIsCreditedOnce() throws Exception {
        String s = subject();
        store.account(s);
        String tx = "tx-" + UUID.randomUUID();
        String json = "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + s + "\",\"token_amount\":5000,"
                + "\"amount\":\"3300.00\",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"completed\"}";
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            sent.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return callback(json);
            }));
        }
        go.countDown();
        List<Integer> statuses = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : sent) {
            statuses.add(f.get().statusCode());
        }
        assertTrue(statuses.contains(200), kind() + ": " + statuses);
        assertEquals(ALLOWANCE + 5_000, store.account(s).limit(), kind() + ": six deliveries of one 5,000-token"
                + " purchase (answers " + statuses + ") credited " + (store.account(s).limit() - ALLOWANCE) + " " + ledger(s));
    }
}
