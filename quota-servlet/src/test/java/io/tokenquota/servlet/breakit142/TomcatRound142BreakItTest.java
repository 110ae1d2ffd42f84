package io.tokenquota.servlet.breakit142;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound142BreakItTest extends AbstractRound142 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
