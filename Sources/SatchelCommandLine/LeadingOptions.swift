/// Options every command takes, given before the subcommand (`satchel --home DIR sync`,
/// `satchel-server --data DIR device list`), as people type them out of habit from git and
/// docker. ArgumentParser reads a command's options only after the subcommand's name, so the
/// executables move such leading options behind it before parsing.
public enum LeadingOptions {
    /// `arguments` (without the program's name) with the options at their front that are in
    /// `valued` (taking a value: `--home DIR` or `--home=DIR`) or in `flags` moved after the rest,
    /// before a `--` if there is one. Anything else at the front (`--help`, `--version`, an
    /// unknown option) stops the move, so ArgumentParser answers it as before.
    public static func reorder(_ arguments: [String], valued: Set<String>, flags: Set<String>) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if flags.contains(a) {
                leading.append(a)
                i += 1
            } else if valued.contains(a), i + 1 < arguments.count {
                leading += [a, arguments[i + 1]]
                i += 2
            } else if let eq = a.firstIndex(of: "="), valued.contains(String(a[..<eq])) {
                leading.append(a)
                i += 1
            } else {
                break
            }
        }
        // Nothing moved, or nothing to move it behind (`satchel --json` alone).
        guard !leading.isEmpty, i < arguments.count else { return arguments }
        var rest = Array(arguments[i...])
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        rest.insert(contentsOf: leading, at: end)
        return rest
    }
}
