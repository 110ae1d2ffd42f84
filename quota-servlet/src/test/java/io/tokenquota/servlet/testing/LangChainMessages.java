package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * LangChain and LangGraph runs as their servers stream them (LangServe, the LangGraph server's message
 * modes, a route relaying {@code astream()}), for the rounds on how the filter adds up LangChain
 * {@code usage_metadata}; and the self-consistency graph of rounds 78 and 79, whose model calls all
 * carry one message id.
 */
public final class LangChainMessages {
    /** The id a local OpenAI-compatible server gives every answer, so every call's message carries it. */
    public static final String SAME_ID = "chatcmpl-local";
    /** The input each candidate call of the self-consistency graph reports. */
    public static final long CANDIDATE_INPUT = 900;
    /** The output each candidate call reports, one a call in the order the run sends them. */
    private static final long[] CANDIDATE_OUTPUT = {250, 400, 410};

    private LangChainMessages() {
    }

    /**
     * Starts the event stream of one model run: reads the request, counts the subject's model call
     * ({@code x-user-id}) in {@code calls}, and answers {@code text/event-stream} in UTF-8.
     */
    public static PrintWriter openEventStream(HttpServletRequest req, HttpServletResponse resp, ModelCalls calls)
            throws IOException {
        req.getInputStream().readAllBytes();
        calls.count(req.getHeader("x-user-id"));
        resp.setContentType("text/event-stream");
        resp.setCharacterEncoding("UTF-8");
        return resp.getWriter();
    }

    /** What the provider billed the graph's candidate calls, all together: 3,760. */
    public static long candidatesBilled() {
        long billed = 0;
        for (long o : CANDIDATE_OUTPUT) {
            billed += CANDIDATE_INPUT + o;
        }
        return billed;
    }

    /**
     * The LangGraph metadata sent beside each message of candidate call {@code task}: the one node
     * ({@code candidate}), each call its own {@code Send} task ({@code langgraph_checkpoint_ns}).
     */
    public static String candidateMeta(int task) {
        return "{\"langgraph_step\":1,\"langgraph_node\":\"candidate\",\"langgraph_triggers\":[\"branch:to:candidate\"],"
                + "\"langgraph_path\":[\"__pregel_push\"," + task + "],\"langgraph_checkpoint_ns\":\"candidate:"
                + UUID.nameUUIDFromBytes(("task" + task).getBytes(StandardCharsets.UTF_8)) + "\",\"ls_provider\":\"openai\","
                + "\"ls_model_name\":\"local-model\",\"ls_model_type\":\"chat\"}";
    }

    /**
     * A LangGraph server run ({@code stream_mode="messages-tuple"}) of a self-consistency graph: the same
     * prompt sent to the model three times ({@code Send} to one node), the candidates voted on afterwards.
     * The run's metadata event, each candidate call's events as the round writes them (flushed after each
     * call), and the end event.
     */
    public abstract static class SelfConsistencyRun extends HttpServlet {
        private final ModelCalls calls;
        private final String runId;

        protected SelfConsistencyRun(ModelCalls calls, String runId) {
            this.calls = calls;
            this.runId = runId;
        }

        /** Writes the events of candidate call {@code task}, which reports {@code output} tokens out. */
        protected abstract void writeCall(PrintWriter out, int task, long output);

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            PrintWriter out = openEventStream(req, resp, calls);
            out.write("event: metadata\ndata: {\"run_id\":\"" + runId + "\",\"attempt\":1}\n\n");
            for (int task = 0; task < CANDIDATE_OUTPUT.length; task++) {
                writeCall(out, task, CANDIDATE_OUTPUT[task]);
                out.flush();
            }
            out.write("event: end\ndata: null\n\n");
            out.flush();
        }
    }
}
