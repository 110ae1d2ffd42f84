package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** What the endpoint sees of the client's content negotiation. */
final class EndpointRequestTest {

    @Test
    void charsetsNoEncoderHasAreDroppedFromAcceptAndAcceptCharset() {
        assertEquals("application/json", EndpointRequest.encodable("text/plain;charset=ISO-2022-CN, application/json"));
        assertEquals("", EndpointRequest.encodable("text/plain; charset=\"ISO-2022-CN\""));
        assertEquals("", EndpointRequest.encodable("text/plain;charset=no-such-charset"));
        assertEquals("", EndpointRequest.encodable("text/plain;charset=bad name!"));
        assertEquals("text/plain;charset=UTF-16, */*;q=0.1", EndpointRequest.encodable("text/plain;charset=UTF-16, */*;q=0.1"));
        assertEquals("utf-8, *;q=0.5", EndpointRequest.encodable("ISO-2022-CN;q=1, utf-8, *;q=0.5"));
        assertEquals("application/json;q=0.9", EndpointRequest.encodable("application/json;q=0.9"));
    }
}
