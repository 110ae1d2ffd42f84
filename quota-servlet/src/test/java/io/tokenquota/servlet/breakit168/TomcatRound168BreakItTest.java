package io.tokenquota.servlet.breakit168;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound168BreakItTest extends AbstractRound168 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
