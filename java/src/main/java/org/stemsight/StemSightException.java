package org.stemsight;

/**
 * Every failure of the StemSight engine or its native library, with the engine's message.
 * {@link #getKind()} names the cause as the engine sorts it: InvalidParameter, Decode, Io,
 * Unsupported, Cancelled, Model, Panic (an internal engine error, caught before it could
 * reach the JVM), Jni, or Loading (the native library could not be loaded).
 */
public class StemSightException extends RuntimeException {
    private static final long serialVersionUID = 1L;
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

    /** True when the analysis stopped because the progress listener asked it to. */
    public boolean isCancelled() {
        return "Cancelled".equals(kind);
    }
}
