package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RequestMessageIdsTest {
    private static Set<String> ids(String json) {
        return RequestMessageIds.of(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void messageIdsAreThoseOfObjectsWithATypeOrRoleAndContent() {
        Set<String> ids = ids("{\"input\":{\"messages\":[{\"type\":\"human\",\"content\":\"hi\",\"id\":\"h-1\"},"
                + "{\"content\":\"hello\",\"type\":\"ai\",\"id\":\"run-a-0\",\"usage_metadata\":{\"total_tokens\":9}},"
                + "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}],\"id\":\"m-3\"},"
                + "{\"id\":\"no-content\",\"type\":\"ai\"},{\"id\":\"no-type\",\"content\":\"x\"}]},"
                + "\"config\":{\"id\":\"cfg\"},\"ids\":[\"id\"]}");
        assertEquals(Set.of("h-1", "run-a-0", "m-3"), ids);
    }

    @Test
    void anIdNamedAfterARunTheRequestNamesIsNotTakenAsSentBack() {
        String run = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        Set<String> ids = ids("{\"input\":{\"messages\":[{\"type\":\"ai\",\"content\":\"x\",\"id\":\"run-" + run
                + "-0\"},{\"type\":\"ai\",\"content\":\"y\",\"id\":\"kept\"}]},\"config\":{\"run_id\":\"{"
                + run.replace("-", "").toUpperCase() + "}\"}}");
        assertEquals(Set.of("kept"), ids);
    }

    @Test
    void notJsonOrNoBodySendsNothing() {
        assertTrue(ids("not json").isEmpty());
        assertFalse(RequestMessageIds.sentBy(null).test("x"));
        assertTrue(RequestMessageIds.sentBy("{\"messages\":[{\"role\":\"user\",\"content\":\"c\",\"id\":\"x\"}]}"
                .getBytes(StandardCharsets.UTF_8)).test("x"));
    }
}
