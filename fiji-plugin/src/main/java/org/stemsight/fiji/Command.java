package org.stemsight.fiji;

/** The analysis menu commands: what the engine computes and what the plugin shows. */
enum Command {
    ATOMS("atoms", "Find Atoms", "atoms"),
    // Vacancy statistics exclude contaminated areas, which needs the carbon map.
    VACANCIES("vacancies", "Detect Vacancies", "atoms,vacancies,carbon"),
    POLYMORPH("polymorph", "Identify Polymorphs", "polymorph,carbon"),
    CARBON("carbon", "Map Carbon Contamination", "carbon"),
    ALL("all", "Analyze All", "atoms,vacancies,polymorph,carbon");

    final String arg;
    final String title;
    /** Engine tasks (Tasks::parse). */
    final String tasks;

    Command(String arg, String title, String tasks) {
        this.arg = arg;
        this.title = title;
        this.tasks = tasks;
    }

    boolean atoms() {
        return this == ATOMS || this == VACANCIES || this == ALL;
    }

    boolean vacancies() {
        return this == VACANCIES || this == ALL;
    }

    boolean polymorph() {
        return this == POLYMORPH || this == ALL;
    }

    boolean carbon() {
        return this == CARBON || this == ALL;
    }

    static Command of(String arg) {
        for (Command c : values()) {
            if (c.arg.equals(arg)) {
                return c;
            }
        }
        return null;
    }
}
