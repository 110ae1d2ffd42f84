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

    /**
     * Round 394: a Pydantic AI {@code ModelResponse} sent back as {@code message_history} is named by its
     * {@code provider_response_id} and its usage's integer counters together; a request object without its
     * {@code kind}, its {@code parts} or its usage names none.
     */
    @Test
    void aModelResponseSentBackIsNamedByItsIdAndItsCounts() {
        String usage = "{\"input_tokens\":2100,\"output_tokens\":600,\"details\":{\"reasoning_tokens\":0}}";
        String response = "{\"parts\":[{\"content\":\"x\",\"part_kind\":\"text\"}],\"usage\":" + usage
                + ",\"kind\":\"response\",\"provider_response_id\":\"chatcmpl-1\"}";
        Set<String> ids = ids("{\"history\":[{\"parts\":[{\"content\":\"q\",\"part_kind\":\"user-prompt\"}],"
                + "\"kind\":\"request\"}," + response + "]}");
        assertEquals(Set.of(RequestMessageIds.modelResponse("chatcmpl-1",
                java.util.Map.of("output_tokens", 600L, "input_tokens", 2100L, "details.reasoning_tokens", 0L))), ids);
        assertFalse(ids.contains(RequestMessageIds.modelResponse("chatcmpl-1",
                java.util.Map.of("input_tokens", 2100L, "output_tokens", 601L))), "other counts");
        assertTrue(ids("{\"history\":[" + response.replace("\"kind\":\"response\"", "\"kind\":\"request\"") + ","
                + response.replace("\"parts\"", "\"blocks\"") + "," + response.replace("\"usage\":" + usage + ",", "")
                + "]}").isEmpty());
    }

    @Test
    void notJsonOrNoBodySendsNothing() {
        assertTrue(ids("not json").isEmpty());
        assertFalse(RequestMessageIds.sentBy(null).test("x"));
        assertTrue(RequestMessageIds.sentBy("{\"messages\":[{\"role\":\"user\",\"content\":\"c\",\"id\":\"x\"}]}"
                .getBytes(StandardCharsets.UTF_8)).test("x"));
    }
}
