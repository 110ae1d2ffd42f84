package io.tokenquota.servlet.breakit77;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 77 of issue 11: LangChain usage counted per message ({@code UsageSniffer.addUp}) past its
 * 1,024-message limit: a map-reduce chain streamed as {@code astream_events}, whose model runs each
 * send their usage as a streamed delta and again as the run's {@code on_chat_model_end} total.
 */
abstract class AbstractRound77 extends H2FilterRound {
    static final String CHAT_BODY = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarize the attached corpus.\"}],\"max_tokens\":1000}";
    /** Model runs of the map step (each a short summary of one document chunk), then one reduce run. */
    static final int MAP_RUNS = 1_100;
    static final long IN = 4;
    static final long OUT = 1;

    static String subject() {
        return "u77-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("lc", new MapReduceEvents(), "/ai/lc/*");
    }

    static String usage(long in, long out) {
        return "\"usage_metadata\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + ",\"total_tokens\":"
                + (in + out) + "}";
    }

    /**
     * LangServe's {@code /stream_events} of a map-reduce summarization chain with a model that streams
     * its usage ({@code stream_usage=True}): each model run sends a chunk with its usage delta, then its
     * {@code on_chat_model_end} whose output carries the same usage as the run's total.
     */
    public static class MapReduceEvents extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            PrintWriter out = resp.getWriter();
            for (int i = 0; i < MAP_RUNS; i++) {
                String run = UUID.nameUUIDFromBytes(("run" + i).getBytes()).toString();
                out.write("event: data\ndata: {\"event\":\"on_chat_model_start\",\"run_id\":\"" + run
                        + "\",\"name\":\"ChatOpenAI\",\"data\":{}}\n\n");
                out.write("event: data\ndata: {\"event\":\"on_chat_model_stream\",\"run_id\":\"" + run
                        + "\",\"name\":\"ChatOpenAI\",\"data\":{\"chunk\":{\"type\":\"AIMessageChunk\",\"id\":\"run-"
                        + run + "\",\"content\":\"ok\"," + usage(IN, OUT) + "}}}\n\n");
                out.write("event: data\ndata: {\"event\":\"on_chat_model_end\",\"run_id\":\"" + run
                        + "\",\"name\":\"ChatOpenAI\",\"data\":{\"output\":{\"type\":\"ai\",\"id\":\"run-" + run
                        + "\",\"content\":\"ok\"," + usage(IN, OUT) + "}}}\n\n");
            }
            out.write("event: end\n\n");
            out.flush();
        }
    }

    /**
     * 1,100 model runs of 5 tokens each: 5,500 billed. The first 1,024 runs count the larger of their
     * delta and their total (5 each); the sniffer keeps no more messages, and for each later run both
     * its delta and its total are added into the unnamed parts (UsageSniffer.addUp, "any report of a
     * message past the limit"): 76 runs charged twice. Expected 5,500; a run's usage is known exactly
     * (the provider's own report), so charging it twice bills what no model did.
     */
    @Test
    void runsPastTheMessageLimitAreNotChargedTwice() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/lc/mapreduce"), s, CHAT_BODY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(MAP_RUNS * (IN + OUT), settled(s).used(), kind() + ": " + ledger(s));
    }
}
