package org.stemsight.fiji;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The analysis menu commands. The engine always runs every task (the network computes
 * them all at once, and one cached analysis then serves every command); a command
 * differs in what it shows and in which settings its results depend on.
 */
enum Command {
    ATOMS("atoms", "Find Atoms", "atoms"),
    // Vacancy statistics exclude contaminated areas, which needs the carbon map.
    VACANCIES("vacancies", "Detect Vacancies", "atoms,vacancies,carbon"),
    POLYMORPH("polymorph", "Identify Polymorphs", "polymorph"),
    CARBON("carbon", "Map Carbon Contamination", "carbon"),
    ALL("all", "Analyze All", "atoms,vacancies,polymorph,carbon");

    /** What the engine computes for every command (Tasks::parse). */
    static final String ENGINE_TASKS = "atoms,vacancies,polymorph,carbon";

    final String arg;
    final String title;
    /** The tasks whose results this command shows (Summary columns of the others stay empty). */
    final String shows;

    Command(String arg, String title, String shows) {
        this.arg = arg;
        this.title = title;
        this.shows = shows;
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

    /**
     * The settings (PluginSettings.analysisFields names) this command's results depend on:
     * a cached analysis made with other values of the rest serves it unchanged. The network
     * input (views, pixel size from the lattice, chemistry, model, device) and the allowed
     * polymorphs always count;
     * counted atoms depend on the carbon filter, so atoms read the carbon settings too.
     */
    List<String> reads() {
        List<String> r = new ArrayList<String>(PluginSettings.NETWORK_FIELDS);
        if (atoms()) {
            r.addAll(Arrays.asList(PluginSettings.ATOM_FIELDS));
            r.addAll(Arrays.asList(PluginSettings.CARBON_FIELDS));
        }
        if (vacancies()) {
            r.addAll(Arrays.asList(PluginSettings.VACANCY_FIELDS));
        }
        if (carbon()) {
            r.addAll(Arrays.asList(PluginSettings.CARBON_FIELDS));
        }
        return r;
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
