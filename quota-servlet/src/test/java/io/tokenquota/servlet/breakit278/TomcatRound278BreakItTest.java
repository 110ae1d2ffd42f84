package io.tokenquota.servlet.breakit278;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound278BreakItTest extends AbstractRound278 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
