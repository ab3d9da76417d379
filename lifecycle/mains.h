// The whole of the `shell` and `launcher` programs; their main()s only call these. Each
// returns an exit status only when it does not exec the command.
//
// shell [APP_DIR [COMMAND [credhub flags]]]
//   APP_DIR defaults to $HOME/app; it must be an existing directory (else exit 1).
//   COMMAND defaults to "bash" (an interactive shell on a terminal). The environment is rebuilt
//   (app_env.h), then bash sources the profile scripts and runs COMMAND (launch.h); without
//   /bin/bash, sh does, and COMMAND defaults to "sh".
//   Exit: 1 for a missing app dir, an environment error or a failed exec; 2 for a bad flag
//   (Go's flag package); otherwise COMMAND's status.
//
// launcher APP_DIR START_COMMAND METADATA [credhub flags]
//   The command is START_COMMAND, or when that is empty, start_command from staging_info.yml
//   in the working directory. METADATA is not used (the original parses credhub flags from it
//   on, so a METADATA that looks like a flag is one). Without /bin/bash, sh runs the profile
//   scripts and the command, as for `shell`.
//   Exit: 1 for too few arguments, an unreadable or invalid staging_info.yml, or no command;
//   2 for a bad flag; 3 for an environment error; 4 for a failed exec; otherwise the command's.
//
// Error messages go to stderr, ending in a newline; credhub retry reports go to stdout.
#ifndef HATCH_LIFECYCLE_MAINS_H_
#define HATCH_LIFECYCLE_MAINS_H_

namespace hatch::lifecycle {

int ShellMain(int argc, char** argv);
int LauncherMain(int argc, char** argv);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_MAINS_H_
