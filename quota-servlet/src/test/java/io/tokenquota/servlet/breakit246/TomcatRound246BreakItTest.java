package io.tokenquota.servlet.breakit246;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound246BreakItTest extends AbstractRound246 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
