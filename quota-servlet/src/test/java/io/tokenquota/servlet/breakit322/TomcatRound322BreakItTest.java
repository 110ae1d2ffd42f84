package io.tokenquota.servlet.breakit322;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound322BreakItTest extends AbstractRound322 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
