package io.tokenquota.servlet.breakit169;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound169BreakItTest extends AbstractRound169 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
