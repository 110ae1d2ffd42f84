package io.tokenquota.servlet.breakit363;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound363BreakItTest extends AbstractRound363 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
