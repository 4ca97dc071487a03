// Package shell is the `shell` driver: it runs commands the exporter's config allows, on the
// exporter's host, and streams what they print. It stands in for the upstream
// jumpstarter_driver_shell.driver.Shell, with the same config and methods, so the upstream
// ShellClient drives it unchanged:
//
//	export:
//	  sh:
//	    type: shell            # or jumpstarter_driver_shell.driver.Shell
//	    config:
//	      methods:             # name -> script, or {command, description, timeout}
//	        ls: 'ls "$@"'
//	        reboot: {command: "systemctl reboot", description: "Reboot the host", timeout: 30}
//	      shell: [bash, -c]    # the interpreter of the scripts (default)
//	      timeout: 300         # seconds, per call, unless the method says otherwise
//	      cwd: /tmp            # optional working directory
//	      allow_any: false     # Go exporter only: run any command, without a shell
//
// Methods (the upstream ones):
//
//   - get_methods() -> [name, ...] (DriverCall): the configured method names, sorted;
//   - call_method(name, env, *args) (StreamingDriverCall): runs `shell + [script, name] +
//     args`, so the script sees args as "$1".. and its name as "$0", with env (a mapping of
//     variable names to strings) added to the exporter's environment. It yields
//     [stdout, stderr, null] as output arrives and ends with [stdout, stderr, exit code]. A
//     timeout kills the process group and ends with exit code 199, as upstream. Called as a
//     unary DriverCall (older upstream clients), it runs to the end and returns
//     [stdout, stderr, exit code].
//
// What a client can run is what the config names, nothing else: an unknown name is refused
// with INVALID_ARGUMENT naming the allowed methods. Arguments are never spliced into the
// script text (they are positional parameters), and environment variables that hijack a
// process (PATH, LD_*, BASH_ENV, ...) are refused, as upstream. A lab that wants any command
// sets allow_any: true; a name that is not a configured method then runs as a program with
// its arguments, looked up in PATH, without a shell (exit code 127 if it is not found), which
// is what `jmpctl shell -- CMD ARGS` relies on. It is off by default.
//
// Exit codes of processes killed by a signal are 128+signal, as a shell reports them.
package shell
