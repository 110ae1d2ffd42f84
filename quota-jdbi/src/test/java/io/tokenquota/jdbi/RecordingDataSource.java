package io.tokenquota.jdbi;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * Wraps a real data source and records, per connection, the statements prepared and the
 * transaction boundaries ({@code BEGIN} when autocommit is switched off, {@code COMMIT},
 * {@code ROLLBACK}); can inject failures into chosen statements and pause before one. For asserting the
 * statement shape of the store's transactions and its retry loop against a real database. Thread-safe.
 */
public final class RecordingDataSource implements DataSource {
    private final DataSource target;
    private final List<String> log = new ArrayList<>();
    private Predicate<String> failWhen = sql -> false;
    private int failuresLeft;
    private String failState;
    private int failCode;
    private boolean down;
    private Predicate<String> pauseWhen = sql -> false;
    private Pause pause;

    public RecordingDataSource(DataSource target) {
        this.target = target;
    }

    public synchronized List<String> log() {
        return List.copyOf(log);
    }

    synchronized void clear() {
        log.clear();
    }

    /**
     * The next {@code times} statements matching {@code sql} fail with {@code sqlState} when executed; a commit
     * is matched as {@code "COMMIT"} and fails without reaching the database, its transaction still open.
     */
    synchronized void failNext(int times, String sqlState, Predicate<String> sql) {
        failNextWithCode(times, sqlState, 0, sql);
    }

    /** Like {@link #failNext} with a vendor error code too (H2 tells its lock timeout by code 50200). */
    synchronized void failNextWithCode(int times, String sqlState, int vendorCode, Predicate<String> sql) {
        this.failuresLeft = times;
        this.failState = sqlState;
        this.failCode = vendorCode;
        this.failWhen = sql;
    }

    /** Something to wait for on a connection before one of its statements (see {@link #pauseBefore}). */
    @FunctionalInterface
    public interface Pause {
        void await(Connection connection) throws Exception;
    }

    /**
     * The next statement or commit (matched as {@code "COMMIT"}) matching {@code sql} first runs {@code pause}
     * with the pool's connection it is about to use; once.
     */
    public synchronized void pauseBefore(Predicate<String> sql, Pause pause) {
        this.pauseWhen = sql;
        this.pause = pause;
    }

    /** While down, every new connection is refused the way a pool refuses one after its timeout. */
    synchronized void down(boolean down) {
        this.down = down;
    }

    private synchronized void record(String entry) {
        log.add(entry);
    }

    private synchronized Pause takePause(String sql) {
        Pause taken = pause != null && pauseWhen.test(sql) ? pause : null;
        if (taken != null) {
            pause = null;
        }
        return taken;
    }

    private synchronized SQLException injectedFailure(String sql) {
        if (failuresLeft > 0 && failWhen.test(sql)) {
            failuresLeft--;
            return new SQLException("injected failure", failState, failCode);
        }
        return null;
    }

    @Override
    public Connection getConnection() throws SQLException {
        synchronized (this) {
            if (down) {
                throw new java.sql.SQLTransientConnectionException("pool timed out (test)", "08001");
            }
        }
        return wrap(target.getConnection());
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return wrap(target.getConnection(username, password));
    }

    private Connection wrap(Connection connection) {
        InvocationHandler handler = new InvocationHandler() {
            @Override
            public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
                String name = method.getName();
                String entry = null;
                if (name.equals("prepareStatement") && args != null && args.length > 0) {
                    entry = (String) args[0];
                } else if (name.equals("setAutoCommit") && Boolean.FALSE.equals(args[0])) {
                    record("BEGIN");
                } else if (name.equals("commit")) {
                    entry = "COMMIT";
                } else if (name.equals("rollback") && (args == null || args.length == 0)) {
                    record("ROLLBACK");
                    // a pause before the rollback finds the transaction still open on the server (round 440)
                    Pause paused = takePause("ROLLBACK");
                    if (paused != null) {
                        paused.await(connection);
                    }
                }
                if (entry != null) {
                    record(entry);
                    Pause paused = takePause(entry);
                    if (paused != null) {
                        paused.await(connection);
                    }
                    SQLException failure = injectedFailure(entry);
                    if (failure != null) {
                        throw failure;
                    }
                }
                try {
                    return method.invoke(connection, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            }
        };
        return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
                new Class<?>[] {Connection.class}, handler);
    }

    /** First word(s) of a statement and its table, e.g. {@code UPDATE tq_account}, for compact assertions. */
    static String shape(String sql) {
        String s = sql.strip();
        String upper = s.toUpperCase(Locale.ROOT);
        if (upper.startsWith("SELECT") && upper.contains("FINAL TABLE (")) {
            s = s.substring(upper.indexOf("FINAL TABLE (") + "FINAL TABLE (".length());
            upper = s.toUpperCase(Locale.ROOT);
        }
        String[] words = s.split("\\s+");
        if (upper.startsWith("INSERT INTO") || upper.startsWith("DELETE FROM")) {
            return words[0].toUpperCase(Locale.ROOT) + " " + words[2];
        }
        if (upper.startsWith("UPDATE")) {
            return "UPDATE " + words[1];
        }
        if (upper.startsWith("SELECT")) {
            int from = upper.indexOf(" FROM ");
            return from < 0 ? "SELECT" : "SELECT " + s.substring(from + 6).split("\\s+")[0];
        }
        return words[0].toUpperCase(Locale.ROOT);
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
