package io.tokenquota.servlet.audio;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatAudioUploadTest extends AbstractAudioUploadTest {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
