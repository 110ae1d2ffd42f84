package io.tokenquota.servlet.breakit12;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.breakit4.Breakit4ModelServlet;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Round 12: the documented setup (filter on "/*" for REQUEST+FORWARD, async on, protect("/ai/")) with
 * an ordinary unprotected page servlet that reaches the protected model endpoint by an include or an
 * async dispatch instead of a forward. The forward variant is charged (round 4); these are not.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractDispatchRound12 {
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(10_000_000).build();
    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;

    abstract ContainerKind kind();

    public static class IncludePage extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getRequestDispatcher("/ai/v1/chat/json").include(req, resp);
        }
    }

    public static class AsyncDispatchPage extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) {
            AsyncContext ctx = req.startAsync();
            ctx.dispatch("/ai/v1/chat/json");
        }
    }

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Breakit4ModelServlet(), "/ai/*")
                .servlet("include", new IncludePage(), "/page-include")
                .servlet("async", new AsyncDispatchPage(), "/page-async"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":500,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";

    long call(String path) throws Exception {
        String s = "u12-" + UUID.randomUUID().toString().substring(0, 12);
        HttpResponse<String> r = TestHttp.post(container.uri(path), CHAT.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("usage"), "the model answered: " + r.body());
        Thread.sleep(300);
        return store.account(s).used() + store.account(s).reserved();
    }

    @Test
    void controlDirectCallIsCharged() throws Exception {
        assertTrue(call("/ai/v1/chat/json") > 0);
    }

    @Test
    void includeFromAnUnprotectedPageIsCharged() throws Exception {
        long charged = call("/page-include");
        assertTrue(charged > 0, "model answered with usage through an include, charged " + charged);
    }

    @Test
    void asyncDispatchFromAnUnprotectedPageIsCharged() throws Exception {
        long charged = call("/page-async");
        assertTrue(charged > 0, "model answered with usage through an async dispatch, charged " + charged);
    }
}
