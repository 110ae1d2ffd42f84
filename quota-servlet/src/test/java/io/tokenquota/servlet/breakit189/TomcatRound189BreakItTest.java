package io.tokenquota.servlet.breakit189;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound189BreakItTest extends AbstractRound189 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
