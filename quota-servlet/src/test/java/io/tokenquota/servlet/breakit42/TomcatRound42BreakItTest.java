package io.tokenquota.servlet.breakit42;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound42BreakItTest extends AbstractRound42 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
