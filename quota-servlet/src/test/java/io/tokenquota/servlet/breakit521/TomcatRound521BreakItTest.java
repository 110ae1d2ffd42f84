package io.tokenquota.servlet.breakit521;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound521BreakItTest extends AbstractRound521 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
