package org.stemsight;

/**
 * Every failure of the StemSight engine or its native library, with the engine's message.
 * {@link #getKind()} names the cause as the engine sorts it: InvalidParameter, Decode, Io,
 * Unsupported, Cancelled, Model, Panic (an internal engine error, caught before it could
 * reach the JVM), Jni, or Loading (the native library could not be loaded).
 */
public class StemSightException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * The cause as the engine sorts it: the first six mirror the Rust {@code ErrorKind}
     * (a test checks them against the engine's list); the others are the binding's own.
     */
    public enum Kind {
        InvalidParameter, Decode, Io, Unsupported, Cancelled, Model,
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

    /** Called from native code (jni_api.rs) with the engine's error kind and message. */
    public StemSightException(String kind, String message) {
        super(message);
        this.kind = kind == null ? "Engine" : kind;
    }

    public StemSightException(String kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind == null ? "Engine" : kind;
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
        return "Cancelled".equals(kind);
    }
}
