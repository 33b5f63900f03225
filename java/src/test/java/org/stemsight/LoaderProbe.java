package org.stemsight;

/** Run in a child JVM by NativeLoaderTest: exit 0 if the library loads, 3 with its error if not. */
public final class LoaderProbe {
    private LoaderProbe() {
    }

    public static void main(String[] args) {
        try {
            NativeLoader.load();
            System.out.println("loaded from " + NativeLoader.loadedFrom());
        } catch (StemSightException e) {
            System.out.println(e.getKind() + ": " + e.getMessage());
            System.exit(3);
        }
    }
}
