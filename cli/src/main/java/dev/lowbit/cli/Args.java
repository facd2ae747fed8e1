package dev.lowbit.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A command's arguments: options {@code --name value} or {@code --name=value}, flags {@code --name}, and
 * positional words, checked against what the command accepts. Anything else is a {@link UsageException}
 * naming the argument.
 */
final class Args {
    private final String command;
    private final Map<String, String> options = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();

    /**
     * @param valued the options that take a value
     * @param flags  the options that take none ({@code --help} is always one)
     */
    Args(String command, List<String> args, Set<String> valued, Set<String> flags) {
        this.command = command;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("-h")) {
                a = "--help";
            }
            if (!a.startsWith("--") || a.equals("--")) {
                if (a.startsWith("-") && a.length() > 1 && !a.equals("--")) {
                    throw new UsageException("unknown option '" + a + "'");
                }
                if (!a.equals("--")) {
                    positional.add(a);
                }
                continue;
            }
            String name = a.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (name.equals("help") || flags.contains(name)) {
                if (value != null) {
                    throw new UsageException("--" + name + " takes no value");
                }
                options.put(name, "");
            } else if (valued.contains(name)) {
                if (value == null) {
                    if (i + 1 >= args.size()) {
                        throw new UsageException("--" + name + " needs a value");
                    }
                    value = args.get(++i);
                }
                if (options.containsKey(name)) {
                    throw new UsageException("--" + name + " is given twice");
                }
                options.put(name, value);
            } else {
                throw new UsageException("unknown option '--" + name + "'");
            }
        }
    }

    boolean help() {
        return options.containsKey("help");
    }

    boolean flag(String name) {
        return options.containsKey(name);
    }

    /** The option's value, or {@code fallback} when it is not given. */
    String get(String name, String fallback) {
        return options.getOrDefault(name, fallback);
    }

    /** The option's value; a {@link UsageException} when it is missing. */
    String required(String name) {
        String v = options.get(name);
        if (v == null) {
            throw new UsageException("--" + name + " is required");
        }
        return v;
    }

    /** The option's value as an int within [min, max], or {@code fallback}. */
    int intValue(String name, int fallback, int min, int max) {
        String v = options.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            int i = Integer.parseInt(v);
            if (i >= min && i <= max) {
                return i;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException("--" + name + " must be a whole number from " + min + " to " + max + ", got '" + v + "'");
    }

    List<String> positional() {
        return positional;
    }

    /** The positional words, which must number from {@code min} to {@code max}. */
    List<String> positional(int min, int max, String what) {
        if (positional.size() < min) {
            throw new UsageException(command + " needs " + what);
        }
        if (positional.size() > max) {
            throw new UsageException("unexpected argument '" + positional.get(max) + "'");
        }
        return positional;
    }
}
