package io.tokenquota.servlet.breakit162;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound162BreakItTest extends AbstractRound162 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
