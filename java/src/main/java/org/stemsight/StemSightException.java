package org.stemsight;

/**
 * Every failure of the StemSight engine or its native library, with the engine's message.
 * {@link #getKind()} names the cause as the engine sorts it: InvalidParameter, Decode, Io,
 * Unsupported, Cancelled, Model, Device (the requested device cannot be used), Panic (an
 * internal engine error, caught before it could reach the JVM), Jni, Engine, or Loading
 * (the native library could not be loaded).
 */
public class StemSightException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * The cause as the engine sorts it: the first seven mirror the Rust {@code ErrorKind}
     * in its order, then come the kinds the native binding adds (Panic, Jni, Engine), then
     * the Java side's own (Loading). A test checks them against the lists the engine
     * exports ({@code NativeBridge.limits()}).
     */
    public enum Kind {
        /** A parameter is out of its physical or supported range. */
        InvalidParameter,
        /** A file could not be read or decoded. */
        Decode,
        /** A file could not be written. */
        Io,
        /** The input is valid but not supported (e.g. RGB, an unknown format). */
        Unsupported,
        /** The operation was cancelled by the caller. */
        Cancelled,
        /** A model is missing or does not match its card. */
        Model,
        /** The requested device cannot be used (no CUDA support, driver or GPU). */
        Device,
        /** An internal engine error, caught before it could reach the JVM. */
        Panic,
        /** A JNI call failed. */
        Jni,
        /** Another engine failure. */
        Engine,
        /** The native library could not be loaded. */
        Loading;

        /** The kind named {@code name}; Engine for a name this binding does not know. */
        public static Kind of(String name) {
            for (Kind k : values()) {
                if (k.name().equals(name)) {
                    return k;
                }
            }
            return Engine;
        }
    }

    private final String kind;

    /** Called from native code (native/src/jni/errors.rs) with the kind's name and the message. */
    public StemSightException(String kind, String message) {
        super(message);
        this.kind = kind == null ? Kind.Engine.name() : kind;
    }

    public StemSightException(Kind kind, String message) {
        this(kind.name(), message);
    }

    public StemSightException(String kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind == null ? Kind.Engine.name() : kind;
    }

    public StemSightException(Kind kind, String message, Throwable cause) {
        this(kind.name(), message, cause);
    }

    public String getKind() {
        return kind;
    }

    /** {@link #getKind()} as a {@link Kind}. */
    public Kind kind() {
        return Kind.of(kind);
    }

    /** True when the analysis stopped because the progress listener asked it to. */
    public boolean isCancelled() {
        return Kind.Cancelled.name().equals(kind);
    }
}
