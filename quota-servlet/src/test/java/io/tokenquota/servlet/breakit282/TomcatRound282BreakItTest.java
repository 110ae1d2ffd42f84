package io.tokenquota.servlet.breakit282;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound282BreakItTest extends AbstractRound282 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
