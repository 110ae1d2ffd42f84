package io.tokenquota.jdbi.breakit438;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * Round 438: the part of {@code io.tokenquota.jdbi.RecordingDataSource} (package-private there) this round needs:
 * records the statements prepared and commits, and runs a pause once before the first statement matching a
 * predicate, with the pool's connection it is about to use. Thread-safe.
 */
final class PausingDataSource implements DataSource {
    @FunctionalInterface
    interface Pause {
        void await(Connection connection) throws Exception;
    }

    private final DataSource target;
    private final List<String> log = new ArrayList<>();
    private Predicate<String> pauseWhen = sql -> false;
    private Pause pause;

    PausingDataSource(DataSource target) {
        this.target = target;
    }

    synchronized List<String> log() {
        return List.copyOf(log);
    }

    synchronized void pauseBefore(Predicate<String> sql, Pause pause) {
        this.pauseWhen = sql;
        this.pause = pause;
    }

    private synchronized Pause take(String sql) {
        log.add(sql);
        Pause taken = pause != null && pauseWhen.test(sql) ? pause : null;
        if (taken != null) {
            pause = null;
        }
        return taken;
    }

    @Override
    public Connection getConnection() throws SQLException {
        return wrap(target.getConnection());
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return wrap(target.getConnection(username, password));
    }

    private Connection wrap(Connection connection) {
        InvocationHandler handler = (proxy, method, args) -> {
            String name = method.getName();
            String entry = null;
            if (name.equals("prepareStatement") && args != null && args.length > 0) {
                entry = (String) args[0];
            } else if (name.equals("commit")) {
                entry = "COMMIT";
            }
            if (entry != null) {
                Pause paused = take(entry);
                if (paused != null) {
                    paused.await(connection);
                }
            }
            try {
                return method.invoke(connection, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        };
        return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[] {Connection.class},
                handler);
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
        return target.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
        target.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
        target.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
        return target.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        return target.getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        return target.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return target.isWrapperFor(iface);
    }
}
