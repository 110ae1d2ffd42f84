package io.tokenquota.servlet.breakit22;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound22BreakItTest extends AbstractRound22 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
