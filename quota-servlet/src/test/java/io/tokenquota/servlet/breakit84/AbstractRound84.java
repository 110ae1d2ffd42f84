package io.tokenquota.servlet.breakit84;

import static io.tokenquota.servlet.testing.ModelTokens.modelTokens;
import static io.tokenquota.servlet.testing.ModelTokens.words;
import static io.tokenquota.servlet.testing.ModelTokens.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.TokenUsage;
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
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 84 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the newest settlement rules for pages and their includes (a protected not-found page whose included
 * fragment calls the model, a page whose own model call goes uncharged once a fragment reports its
 * figure, a JSP-style page that writes its layout under 200 and then answers 404 without any model
 * call), LangServe answers whose messages sit one level deeper than the reader looks (a {@code /batch} of
 * {@code RunnablePassthrough.assign} chains, a LangGraph graph's state), RFC 7464 JSON text sequences,
 * and a settlement retried after a commit whose outcome the store could not confirm.
 *
 * <p>Each mock model records the tokens it read and wrote per subject ({@link ModelTokens}), so a test
 * compares that with what the ledger charged.
 */
abstract class AbstractRound84 extends H2FilterRound {

    static String subject() {
        return "u84-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter ambiguous = QuotaFilter.builder(new AmbiguousLedger()).protect("/amb/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("amb-quota", ambiguous, "/amb/*")
                .servlet("docs", new DocsPage(), "/ai/docs/*")
                .servlet("suggest", new Suggest(), "/ai/suggest")
                .servlet("brief", new BriefPage(), "/ai/brief")
                .servlet("tags", new Tags(), "/ai/tags")
                .servlet("chatfragment", new ChatFragment(), "/ai/chat-fragment")
                .servlet("dashboard", new Dashboard(), "/ai/dashboard")
                .servlet("article", new ArticlePage(), "/ai/article/*")
                .servlet("langserve", new LangServe(), "/ai/langserve/*")
                .servlet("jsonseq", new JsonSeqRelay(), "/ai/seq/*")
                .servlet("ambchat", new Chat(), "/amb/v1/chat/completions");
    }

    // ------------------------------------------------------------------ endpoints: pages and includes

    /**
     * A protected documentation site whose pages call the model: a page that does not exist answers 404
     * and includes the model's suggestions of what the reader may have meant ({@code /ai/suggest}).
     */
    public static class DocsPage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            boolean missing = req.getPathInfo() != null && req.getPathInfo().startsWith("/missing");
            resp.setStatus(missing ? 404 : 200);
            resp.setContentType("text/html;charset=utf-8");
            write(resp, "<html><body><h1>" + (missing ? "Page not found" : "Getting started")
                    + "</h1><p>You may be looking for:</p>");
            req.getRequestDispatcher("/ai/suggest").include(req, resp);
            write(resp, "</body></html>");
        }
    }

    /** The model's suggestions (it read 600 tokens of the site's index and wrote 400), as HTML, no usage. */
    public static class Suggest extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelTokens(req, 1_000);
            write(resp, "<ul><li>Quotas and holds</li><li>Settlement rules</li><li>" + words(390) + "</li></ul>");
        }
    }

    /**
     * A protected briefing page: it asks the model for the briefing itself ({@code max_tokens} of the
     * request: the model writes that many tokens into the page, as HTML, no usage), then includes the
     * tag fragment ({@code /ai/tags}), which reports its own small call's usage as the README advises.
     */
    public static class BriefPage extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"max_tokens\":(\\d+)").matcher(body);
            long budget = m.find() ? Long.parseLong(m.group(1)) : 1_000;
            modelTokens(req, budget);
            resp.setContentType("text/html;charset=utf-8");
            write(resp, "<html><body><article>" + words(budget) + "</article>");
            req.getRequestDispatcher("/ai/tags").include(req, resp);
            write(resp, "</body></html>");
        }
    }

    /** Tags for the page: a small model call whose usage (150) is reported through the request attribute. */
    public static class Tags extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelTokens(req, 150);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 150L);
            write(resp, "<p class=\"tags\">quotas, billing</p>");
        }
    }

    /**
     * A chat fragment that relays the model's answer as HTML without reporting anything (a plain relay):
     * the model writes 3,000 tokens.
     */
    public static class ChatFragment extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelTokens(req, 3_000);
            write(resp, "<section class=\"assistant\">" + words(3_000) + "</section>");
        }
    }

    /** A protected dashboard page: the tags fragment (reports 150) and the assistant's fragment (reports nothing). */
    public static class Dashboard extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html;charset=utf-8");
            write(resp, "<html><body><h1>Your dashboard</h1>");
            req.getRequestDispatcher("/ai/tags").include(req, resp);
            req.getRequestDispatcher("/ai/chat-fragment").include(req, resp);
            write(resp, "</body></html>");
        }
    }

    /**
     * A page written as a JSP is: the template's layout (doctype, head, navigation) goes into the buffer
     * as it is met, then the scriptlet looks the article up and, for one that does not exist, sets 404
     * ({@code response.setStatus(404)}, as the JSP idiom does) and writes a "not found" message. An
     * article that exists is summarised by the model; one that does not never reaches it, and the page
     * says so through {@code QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE} (0), unless asked {@code ?unreported}.
     */
    public static class ArticlePage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/html;charset=utf-8");
            write(resp, "<!DOCTYPE html>\n<html><head><title>Articles</title><link rel=\"stylesheet\" href=\"/site.css\">"
                    + "</head><body><nav><a href=\"/\">Home</a> | <a href=\"/articles\">Articles</a></nav>\n");
            boolean exists = req.getPathInfo() != null && req.getPathInfo().startsWith("/exists");
            if (!exists) {
                resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
                if (req.getParameter("unreported") == null) {
                    // the documented escape: this page called no model
                    req.setAttribute(io.tokenquota.servlet.QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
                }
                write(resp, "<h1>No such article</h1></body></html>");
                return;
            }
            modelTokens(req, 1_000);
            write(resp, "<h1>Summary</h1><p>" + words(800) + "</p></body></html>");
        }
    }

    // ------------------------------------------------------------------ endpoints: LangServe, JSON text sequences

    /** LangChain's serialised {@code AIMessage}, as LangServe writes it, with its usage. */
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

    /**
     * A LangServe app ({@code add_routes}). {@code /rag/batch}: the RAG chain
     * {@code RunnablePassthrough.assign(answer=prompt | model)} batched: each output is the input dict with
     * the model's message under {@code answer} (each call reads 2,000 tokens of retrieved context and
     * writes 1,000). {@code /agent/invoke}: a LangGraph graph served by {@code add_routes}, whose output
     * is its state {@code {"messages": [...]}}: the user's message and the model's answer (2,500 in,
     * 2,500 out).
     */
    public static class LangServe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(req.getInputStream());
            String path = req.getPathInfo();
            resp.setContentType("application/json");
            String answer;
            if ("/rag/batch".equals(path)) {
                StringBuilder outputs = new StringBuilder();
                StringBuilder runs = new StringBuilder();
                int i = 0;
                for (com.fasterxml.jackson.databind.JsonNode input : body.path("inputs")) {
                    String question = input.path("question").asText();
                    outputs.append(i == 0 ? "" : ",").append("{\"question\":\"").append(question).append("\",\"answer\":")
                            .append(aiMessage("An answer about " + question, 2_000, 1_000)).append('}');
                    runs.append(i == 0 ? "" : ",").append('"').append(UUID.randomUUID()).append('"');
                    modelTokens(req, 3_000);
                    i++;
                }
                answer = "{\"output\":[" + outputs + "],\"metadata\":{\"run_ids\":[" + runs + "]}}";
            } else if ("/agent/invoke".equals(path)) {
                String question = body.path("input").path("messages").path(0).path("content").asText();
                modelTokens(req, 5_000);
                answer = "{\"output\":{\"messages\":[" + humanMessage(question) + ","
                        + aiMessage("Here is the plan you asked for.", 2_500, 2_500) + "]},\"metadata\":{\"run_id\":\""
                        + UUID.randomUUID() + "\",\"feedback_tokens\":[]}}";
            } else if ("/thread/invoke".equals(path)) {
                // the client resends its thread: the earlier turn, whose answer (9,000) an earlier call
                // was charged, then the new question; the graph's state echoes it and adds this turn's
                // answer (500) under a fresh id
                StringBuilder state = new StringBuilder();
                for (com.fasterxml.jackson.databind.JsonNode message : body.path("input").path("messages")) {
                    state.append(message).append(',');
                }
                modelTokens(req, 500);
                answer = "{\"output\":{\"messages\":[" + state + aiMessage("Add a day trip to Sintra.", 400, 100)
                        + "]},\"metadata\":{\"run_id\":\"" + UUID.randomUUID() + "\",\"feedback_tokens\":[]}}";
            } else {
                resp.sendError(404);
                return;
            }
            write(resp, answer);
        }
    }

    /**
     * A relay that streams an OpenAI chat completion to its clients as an RFC 7464 JSON text sequence
     * ({@code application/json-seq}: each chunk a record, RS before it, LF after it), the upstream asked
     * for {@code stream_options.include_usage}: the last record carries the usage (40 in, 6,000 out).
     */
    public static class JsonSeqRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelTokens(req, 6_040);
            resp.setContentType("application/json-seq");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"chatcmpl-seq\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
            for (int i = 0; i < 60; i++) {
                out.write(("\u001E" + head + words(100) + "\"},\"finish_reason\":null}],\"usage\":null}\n")
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            out.write(("\u001E{\"id\":\"chatcmpl-seq\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],"
                    + "\"usage\":null}\n").getBytes(StandardCharsets.UTF_8));
            out.write(("\u001E{\"id\":\"chatcmpl-seq\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":6000,"
                    + "\"total_tokens\":6040}}\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ a store whose commit outcome is unknown

    /** What the chat endpoint's model reports for one call. */
    static final long CHAT_USAGE = 12_000;

    /** An OpenAI chat endpoint: every call answers with 12,000 tokens of usage. */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelTokens(req, CHAT_USAGE);
            resp.setContentType("application/json");
            write(resp, "{\"id\":\"chatcmpl-" + UUID.randomUUID() + "\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Done.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":10000,"
                    + "\"total_tokens\":12000}}");
        }
    }

    /** Subjects whose first commit lands in the database but whose acknowledgement is lost. */
    static final Set<String> LOST_ACKS = ConcurrentHashMap.newKeySet();

    /**
     * The round's store behind a connection that drops after the database committed and before the
     * driver read the answer (a proxy's idle reset, a failover at the wrong moment): the driver reports
     * the connection lost, the transaction is durable.
     */
    final class AmbiguousLedger implements QuotaLedger {
        private void lostAck(String id) {
            String s = store.reservation(id).map(Reservation::subject).orElse("");
            if (LOST_ACKS.remove(s)) {
                throw new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                        "commit: An I/O error occurred while sending to the backend: Connection reset");
            }
        }

        @Override public Reservation extend(String id, Duration ttl) { return store.extend(id, ttl); }
        @Override public Reserved reserve(HoldRequest request) { return store.reserve(request); }
        @Override public Reservation commit(String id, long actual) {
            Reservation r = store.commit(id, actual);
            lostAck(id);
            return r;
        }
        @Override public Reservation commit(String id, long actual, TokenUsage usage) {
            Reservation r = store.commit(id, actual, usage);
            lostAck(id);
            return r;
        }
        @Override public Reservation release(String id) {
            Reservation r = store.release(id);
            lostAck(id);
            return r;
        }
        @Override public Reservation consume(HoldRequest request) { return store.consume(request); }
        @Override public int expireStale() { return store.expireStale(); }
        @Override public Optional<Reservation> reservation(String id) { return store.reservation(id); }
        @Override public QuotaAccount account(String subject) { return store.account(subject); }
        @Override public Optional<QuotaAccount> account(String subject, YearMonth month) { return store.account(subject, month); }
        @Override public List<QuotaAccount> history(String subject, int months) { return store.history(subject, months); }
        @Override public QuotaAccount setPlan(String subject, long allocation) { return store.setPlan(subject, allocation); }
        @Override public void setTeam(String subject, String teamId) { store.setTeam(subject, teamId); }
        @Override public Optional<String> team(String subject) { return store.team(subject); }
        @Override public QuotaPolicy policy() { return store.policy(); }
    }

    // ------------------------------------------------------------------ helpers

    private void chargedAtLeastTheModel(String what, HttpResponse<String> r, int status, String s) {
        assertEquals(status, r.statusCode(), kind() + ": " + what + ": " + r.body());
        long model = modelTokens(s);
        long used = settled(s).used();
        assertTrue(model > 0, kind() + ": " + what + ": the model was called");
        assertTrue(used >= model, kind() + ": " + what + ": the model read and wrote " + model
                + " tokens, the ledger charged " + used + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 1. a protected 404 page including the model's suggestions

    /**
     * The documentation pages are under the protected prefix themselves (the site's pages call the model),
     * so the suggestions fragment included into a page runs inside the page's held dispatch and takes no
     * hold of its own ({@code QuotaFilter.nested}). A page that does not exist sets 404 and includes the
     * model's suggestions (1,000 tokens, no usage, no figure). docs/servlet.md: "one that set none is
     * judged as a 2xx whatever the page's status (a not-found page that includes the model's
     * suggestions)" — but that is judged only for an include with its own hold; here the page's 404 and
     * its content under 404 (not "answering": {@code QuotaResponse.write} feeds {@code AnswerStart} only
     * under a 2xx) make {@code Settlement.decide} release the hold (rule 4): the suggestions are free.
     */
    @Test
    void suggestionsIncludedIntoAProtectedNotFoundPageAreCharged() {
        String control = subject();
        HttpResponse<String> found = TestHttp.get(container.uri("/ai/docs/getting-started"), "x-user-id", control);
        assertEquals(200, found.statusCode(), found.body());
        long controlUsed = settled(control).used();

        String s = subject();
        HttpResponse<String> missing = TestHttp.get(container.uri("/ai/docs/missing-page"), "x-user-id", s);
        assertEquals(404, missing.statusCode(), missing.body());
        assertTrue(missing.body().contains("Settlement rules"), missing.body());
        long used = settled(s).used();
        assertTrue(used > 0, kind() + ": the model wrote the suggestions (" + modelTokens(s) + " tokens) into the"
                + " protected 404 page; charged " + used + ", the same page found (200) " + controlUsed + " "
                + ledger(s));
    }

    // ------------------------------------------------------------------ 2. the page's own model call beside a reporting fragment

    /**
     * A protected page calls the model for its briefing (max_tokens 3,000, all written, no usage in the
     * HTML) and includes the tags fragment, which reports its own call's 150 tokens through
     * {@code ACTUAL_TOKENS_ATTRIBUTE} as the README advises. Without the fragment the page is charged its
     * estimate (rule 7, about 3,000). With it, {@code Settlement.settle} makes the nested sum the call's
     * "usage" ({@code usage = usage == null ? nested : ...}), so rule 2 charges 150: the page's own 3,000
     * token model call is free.
     */
    @Test
    void aPagesOwnModelCallIsStillChargedWhenItsFragmentReportsItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/brief"), s,
                "{\"topic\":\"Quarterly results of the widget division\",\"max_tokens\":3000}");
        chargedAtLeastTheModel("a briefing page (max_tokens 3,000, no usage) including a tags fragment reporting 150",
                r, 200, s);
    }

    // ------------------------------------------------------------------ 3. a fragment that reports and one that does not

    /**
     * A protected dashboard includes the tags fragment (reports 150) and an assistant fragment that relays
     * the model's 3,000-token answer as HTML and reports nothing. Each alone would be charged (150; the
     * estimate); together the nested 150 stands in for the usage of the whole page: charged 150 for
     * 3,150 tokens of model calls.
     */
    @Test
    void anUnreportedFragmentIsNotFreedByAReportingOne() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/dashboard"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used > 150, kind() + ": the dashboard's fragments called the model for " + modelTokens(s)
                + " tokens (150 reported, 3,000 not); charged " + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 4. a JSP-style 404 after the layout

    /**
     * A JSP page writes its layout (doctype, head, navigation) into the response buffer, then its
     * scriptlet finds no such article and sets 404 with {@code response.setStatus(404)}; no model is
     * called. The layout was written under the default 200, so the page was answering when the 404 came
     * (rule 4): the filter cannot tell a layout from a model's suggestions written inline before the same
     * 404 (round 85), so it charges the estimate unless the page says it called no model. This page does,
     * through {@code QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE} (0, the documented escape): nothing is charged.
     */
    @Test
    void aJspStyleNotFoundAfterTheLayoutIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/article/no-such-article"), "x-user-id", s);
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("<nav>") && r.body().contains("No such article"), r.body());
        assertEquals(0, modelTokens(s), "no model was called");
        long used = settled(s).used();
        assertEquals(0, used, kind() + ": a 404 page (layout, then \"No such article\") that reported 0 for itself"
                + " was charged " + used + " " + ledger(s));
    }

    /**
     * The same page without the report: its 404 came after content written under 200, which the filter
     * cannot tell from a model's answer, so the estimate is charged (where unsure, the filter charges).
     */
    @Test
    void aJspStyleNotFoundAfterTheLayoutThatReportsNothingIsChargedTheEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/article/no-such-article?unreported"), "x-user-id", s);
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("No such article"), r.body());
        long used = settled(s).used();
        assertTrue(used > 0, kind() + ": a 404 after the layout, unreported, is charged the estimate; charged "
                + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 5. LangServe /batch of an assign chain

    /**
     * {@code RunnablePassthrough.assign(answer=prompt | model)} (the RAG chain of LangChain's tutorials)
     * served by LangServe and called with {@code RemoteRunnable.batch}: {@code {"output": [{"question": …,
     * "answer": message}, …]}}, three calls of 3,000 tokens. {@code JsonDocumentScanner.messageCandidate}
     * looks at depth 2 and 3 only (the output, its elements or values); these messages sit at depth 4: no
     * usage found, charged the estimate.
     */
    @Test
    void langServeBatchOfAnAssignChainIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/langserve/rag/batch"), s,
                "{\"inputs\":[{\"question\":\"What is our refund policy?\"},{\"question\":\"How long does shipping"
                        + " take?\"},{\"question\":\"Do you ship to Canada?\"}],\"config\":{},\"kwargs\":{}}");
        chargedAtLeastTheModel("LangServe /batch of three assign-chain calls reporting 3,000 each", r, 200, s);
    }

    // ------------------------------------------------------------------ 6. a LangGraph graph's state through LangServe

    /**
     * A LangGraph graph served by {@code add_routes} answers its state: {@code {"output": {"messages":
     * [human, ai]}}}. The model's message (2,500 in, 2,500 out, usage_metadata) sits in a list inside the
     * output map, one level below what {@code messageCandidate} reads: no usage, charged the estimate
     * (the short question and the 1,000 default).
     */
    @Test
    void langGraphStateThroughLangServeIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/langserve/agent/invoke"), s,
                "{\"input\":{\"messages\":[{\"type\":\"human\",\"content\":\"Plan a three-day trip to Lisbon.\"}]},"
                        + "\"config\":{},\"kwargs\":{}}");
        chargedAtLeastTheModel("a LangGraph state with an AI message reporting 5,000", r, 200, s);
    }

    /**
     * The same graph, the client resending its thread: the state echoes the earlier turn's AI message
     * (9,000, charged by the call that made it, sent back with its id) before the new human message and
     * this call's answer (500, a fresh id). An AI message whose id the request carried is history:
     * charged 500.
     */
    @Test
    void langGraphStateEchoingAnEarlierAnswerIsChargedOnlyTheNewOne() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/langserve/thread/invoke"), s,
                "{\"input\":{\"messages\":[" + humanMessage("Plan a three-day trip to Lisbon.") + ","
                        + aiMessage("Day one: Alfama.", 6_000, 3_000) + ","
                        + "{\"type\":\"human\",\"content\":\"Make it four days.\"}]},"
                        + "\"config\":{},\"kwargs\":{}}");
        assertEquals(200, r.statusCode(), kind() + ": " + r.body());
        assertEquals(500, settled(s).used(), kind() + ": the state's earlier answer is not this call's (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 7. an application/json-seq stream

    /**
     * An OpenAI stream relayed as an RFC 7464 JSON text sequence, the usage in the last record (6,040).
     * Charged exactly that.
     */
    @Test
    void aJsonTextSequenceIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/seq/v1/chat/completions"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}],"
                        + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertEquals(6_040, used, kind() + ": a json-seq stream reporting 6,040 was charged " + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ 8. a commit that landed although the driver said it did not

    /**
     * The settlement's commit reaches the database and is durable, but the connection drops before the
     * driver reads the answer: {@code STORE_UNAVAILABLE}. {@code Settlement.withRetries} retries it
     * (0.1 s later, or before the user's next reserve). The call must be charged once, 12,000, and the
     * user's next call must see it: with 8,000 left of 20,000, a second 12,000-token call is refused or
     * charged, never the allowance spent twice over for the first.
     */
    @Test
    void aCommitWhoseAcknowledgementWasLostIsChargedOnce() {
        String s = subject();
        LOST_ACKS.add(s);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/amb/v1/chat/completions"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":100}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertEquals(CHAT_USAGE, used, kind() + ": one call reporting " + CHAT_USAGE + " whose commit's"
                + " acknowledgement was lost was charged " + used + " " + ledger(s));
        HttpResponse<String> again = TestHttp.postJson(container.uri("/amb/v1/chat/completions"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":100}");
        long after = settled(s).used();
        assertEquals(again.statusCode() == 200 ? 2 * CHAT_USAGE : CHAT_USAGE, after, kind() + ": second call "
                + again.statusCode() + ", charged in all " + after + " " + ledger(s));
    }
}
