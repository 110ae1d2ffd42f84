package io.tokenquota.servlet.testing;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The servlets of the small application the rounds that run one filter in several servlet contexts deploy in
 * each: a chat model, a legacy route that forwards to it by name (as Spring's {@code ServletForwardingController}
 * does), and a status page that runs no model.
 */
public final class ContextApp {
    private ContextApp() {
    }

    /** The chat model: an OpenAI chat completion with usage {@code prompt + completion}, counted under {@code x-user-id}. */
    public static final class Model extends HttpServlet {
        private final ModelCalls calls;
        private final String id;
        private final long prompt;
        private final long completion;

        public Model(ModelCalls calls, String id, long prompt, long completion) {
            this.calls = calls;
            this.id = id;
            this.prompt = prompt;
            this.completion = completion;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion(id, "gpt-4o-2024-08-06",
                    "Day one: Alfama. Day two: Belem.", prompt, completion).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A legacy route kept as an alias of a servlet by forwarding to it by name. */
    public static final class NamedForward extends HttpServlet {
        private final String target;

        public NamedForward(String target) {
            this.target = target;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getServletContext().getNamedDispatcher(target).forward(req, resp);
        }
    }

    /** A status page: no model. */
    public static final class Status extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            resp.getWriter().write("ok");
        }
    }
}
