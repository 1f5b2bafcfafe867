// The binary's maintenance subcommands, dispatched from the top of main():
//
//   csdr-apiserver migrate --from URL --to URL
//       copies every object from one store to another (MigrateStore in migrate.h); the
//       target must be empty. URLs as --storage takes them: sqlite:///path/file.db, memory://,
//       etcd://... A sqlite:// source must exist (it is never created) and must not be open
//       in a running server (it holds the file's lock): migrate from a backup instead.
//   csdr-apiserver backup --storage sqlite:///path/file.db --to /path/backup.db
//       an online backup of the SQLite file while a server serves from it
//       (BackupSqliteDatabase in storage/sqlite/sqlite_backup.h).
//
// Each prints what it did on `out` and, on failure, one line naming the problem on `err`.
// Exit codes: 0 done, 1 failed, 2 bad usage. `--help` prints the command's usage.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace csdr::apiserver {

// True when `name` (argv[1]) is one of the subcommands above.
bool IsToolCommand(std::string_view name);

// Runs subcommand `name` with `args` (what follows it on the command line) and returns the
// process exit code.
int RunToolCommand(std::string_view name, const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err);

}  // namespace csdr::apiserver
