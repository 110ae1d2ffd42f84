package io.tokenquota.servlet.defaulteffort;

import io.tokenquota.servlet.testing.ContainerKind;

class JettyDefaultEffortReasoningTest extends AbstractDefaultEffortReasoning {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }
}
