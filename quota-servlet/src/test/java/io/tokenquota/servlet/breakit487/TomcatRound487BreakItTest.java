package io.tokenquota.servlet.breakit487;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound487BreakItTest extends AbstractRound487 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
