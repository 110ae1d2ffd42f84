package io.tokenquota.servlet.breakit;

import io.tokenquota.servlet.testing.ContainerKind;

final class TomcatFilterBreakItTest extends AbstractFilterBreakIt {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
