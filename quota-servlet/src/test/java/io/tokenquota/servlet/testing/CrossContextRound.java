package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterRegistration;
import jakarta.servlet.ServletContainerInitializer;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRegistration;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * The rig of the rounds that run web applications side by side in one server with cross-context dispatch switched
 * on (Tomcat: {@code crossContext=true} on the contexts; Jetty 12.1: {@code setCrossContextDispatchSupported(true)}),
 * so a servlet of one reaches another's servlets through {@code getServletContext().getContext(path)}. Each context is
 * set up as a host sets one up, by a {@link ServletContainerInitializer}: its own quota filter (when it has one) on
 * {@code /*} with the README's dispatcher types (REQUEST, FORWARD, INCLUDE, ASYNC), async support on everywhere. The
 * model is an OpenAI chat completion with 1,200 prompt and 300 completion tokens, so every call reaching it owes 1,500.
 */
public abstract class CrossContextRound extends H2FilterRound {
    public static final long PROMPT = 1_200;
    public static final long COMPLETION = 300;
    public static final long USAGE = PROMPT + COMPLETION;
    public static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    protected final ModelCalls calls = new ModelCalls();
    private final String round;

    /** {@code round} tells this round's subjects, model answers and Tomcat directories from other rounds'. */
    protected CrossContextRound(String round) {
        this.round = round;
    }

    protected String subject() {
        return "u" + round + "-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // the base's own container is not used: a multi-context server of its own per test
        return Deployment.create().servlet("status", new ContextApp.Status(), "/status");
    }

    protected HttpServlet model() {
        return new ContextApp.Model(calls, "chatcmpl-" + round, PROMPT, COMPLETION);
    }

    /** How a servlet of one context hands the request to a path (a servlet name for NAMED_FORWARD) of another. */
    public enum Hand { FORWARD, INCLUDE, ASYNC, NAMED_FORWARD }

    /** A servlet that hands every request to {@code path} of the context at {@code other}. */
    public static final class CrossHop extends HttpServlet {
        private final String other;
        private final String path;
        private final Hand hand;

        public CrossHop(String other, String path, Hand hand) {
            this.other = other;
            this.path = path;
            this.hand = hand;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
            ServletContext own = req.getServletContext();
            ServletContext target = own.getContext(other);
            // a container without cross-context access answers null, or (for another path) its own context
            if (target == null || (target == own && !other.equals(own.getContextPath()))) {
                throw new ServletException("no cross-context access to " + other);
            }
            switch (hand) {
                case FORWARD -> target.getRequestDispatcher(path).forward(req, resp);
                case NAMED_FORWARD -> target.getNamedDispatcher(path).forward(req, resp);
                case INCLUDE -> {
                    resp.setContentType("application/json");
                    target.getRequestDispatcher(path).include(req, resp);
                }
                case ASYNC -> req.startAsync().dispatch(target, path);
            }
        }
    }

    /** A context's start-up: its filter (or none) on /*, and its servlets by path. */
    public static ServletContainerInitializer application(Filter quota, Map<String, HttpServlet> servlets) {
        return (classes, context) -> {
            if (quota != null) {
                FilterRegistration.Dynamic f = context.addFilter("quota", quota);
                f.setAsyncSupported(true);
                f.addMappingForUrlPatterns(EnumSet.of(DispatcherType.REQUEST, DispatcherType.FORWARD,
                        DispatcherType.INCLUDE, DispatcherType.ASYNC), true, "/*");
            }
            for (Map.Entry<String, HttpServlet> s : servlets.entrySet()) {
                // the servlet's name is its path without the slashes, for dispatches by name
                ServletRegistration.Dynamic r = context.addServlet(name(s.getKey()), s.getValue());
                r.setAsyncSupported(true);
                r.addMapping(s.getKey());
            }
            if (quota instanceof QuotaFilter q) {
                q.registerByServletName(context);
            }
        };
    }

    /** The name {@link #application} gives the servlet at {@code path} ("/ai/chat/completions": "ai-chat-completions"). */
    public static String name(String path) {
        return path.substring(1).replace('/', '-');
    }

    /** Servlets by path, in order: {@code path, servlet, path, servlet, ...}. */
    public static Map<String, HttpServlet> servlets(Object... pathAndServlet) {
        Map<String, HttpServlet> m = new LinkedHashMap<>();
        for (int i = 0; i < pathAndServlet.length; i += 2) {
            m.put((String) pathAndServlet[i], (HttpServlet) pathAndServlet[i + 1]);
        }
        return m;
    }

    /** A started server of several contexts on a free loopback port. */
    public interface Host extends AutoCloseable {
        int port();

        default URI uri(String path) {
            return URI.create("http://127.0.0.1:" + port() + path);
        }

        @Override
        void close() throws Exception;
    }

    /** Starts this round's container with {@code contexts} (by context path), cross-context dispatch on. */
    protected Host host(Map<String, ServletContainerInitializer> contexts) throws Exception {
        return kind() == ContainerKind.JETTY ? jetty(contexts) : tomcat(contexts);
    }

    /** Two contexts, {@code /a} and {@code /b}, each with its filter (or none) and servlets. */
    protected Host two(Filter aFilter, Map<String, HttpServlet> a, Filter bFilter, Map<String, HttpServlet> b)
            throws Exception {
        Map<String, ServletContainerInitializer> m = new LinkedHashMap<>();
        m.put("/a", application(aFilter, a));
        m.put("/b", application(bFilter, b));
        return host(m);
    }

    private static Host jetty(Map<String, ServletContainerInitializer> contexts) throws Exception {
        org.eclipse.jetty.server.Server server = new org.eclipse.jetty.server.Server();
        org.eclipse.jetty.server.ServerConnector connector = new org.eclipse.jetty.server.ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        org.eclipse.jetty.server.handler.ContextHandlerCollection all =
                new org.eclipse.jetty.server.handler.ContextHandlerCollection();
        contexts.forEach((path, starter) -> {
            org.eclipse.jetty.ee10.servlet.ServletContextHandler h =
                    new org.eclipse.jetty.ee10.servlet.ServletContextHandler(path);
            // Jetty 12's cross-context switch (off by default): getContext(path) answers the other context
            h.setCrossContextDispatchSupported(true);
            h.addServletContainerInitializer(starter);
            all.addHandler(h);
        });
        server.setHandler(all);
        server.start();
        int port = connector.getLocalPort();
        return new Host() {
            @Override
            public int port() {
                return port;
            }

            @Override
            public void close() throws Exception {
                server.stop();
            }
        };
    }

    private Host tomcat(Map<String, ServletContainerInitializer> contexts) throws Exception {
        Path base = Files.createTempDirectory("tq-tomcat" + round);
        org.apache.catalina.startup.Tomcat tomcat = new org.apache.catalina.startup.Tomcat();
        tomcat.setBaseDir(base.toString());
        tomcat.setPort(0);
        tomcat.getConnector().setProperty("address", "127.0.0.1");
        contexts.forEach((path, starter) -> {
            org.apache.catalina.Context c = tomcat.addContext(path, base.toString());
            // <Context crossContext="true">: getContext(path) answers the other context
            c.setCrossContext(true);
            c.addServletContainerInitializer(starter, null);
        });
        tomcat.start();
        int port = tomcat.getConnector().getLocalPort();
        return new Host() {
            @Override
            public int port() {
                return port;
            }

            @Override
            public void close() throws Exception {
                tomcat.stop();
                tomcat.destroy();
            }
        };
    }

    /** Sends the chat request to {@code path}; the model must run once and the subject be charged 1,500. */
    protected void assertChargedItsUsage(Host host, String path, String story) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(host.uri(path), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once: " + r.body());
        QuotaAccount a = settled(s);
        assertEquals(USAGE, a.used(), kind() + ": " + story + ": charged " + a.used() + ", should be " + USAGE
                + " (model calls " + calls.of(s) + ", answer " + r.body() + "): " + ledger(s));
    }
}
