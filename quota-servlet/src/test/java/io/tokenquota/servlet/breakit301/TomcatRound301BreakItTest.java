package io.tokenquota.servlet.breakit301;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound301BreakItTest extends AbstractRound301 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
