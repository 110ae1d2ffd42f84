package io.tokenquota.servlet.breakit167;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound167BreakItTest extends AbstractRound167 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
