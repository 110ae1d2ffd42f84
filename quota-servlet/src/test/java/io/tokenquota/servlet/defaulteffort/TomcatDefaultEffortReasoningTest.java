package io.tokenquota.servlet.defaulteffort;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatDefaultEffortReasoningTest extends AbstractDefaultEffortReasoning {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
