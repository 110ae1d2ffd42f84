package io.tokenquota.servlet.audio;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyAudioUploadTest extends AbstractAudioUploadTest {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
