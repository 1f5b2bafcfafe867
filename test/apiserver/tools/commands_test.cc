// The migrate and backup subcommands as an operator runs them: flags, exit codes, what they
// print, and what they leave on disk.
#include "apiserver/tools/commands.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "storage/store.h"
#include "test/apiserver/tools/tools_test_util.h"
#include "test/storage/store_test_util.h"

namespace csdr::apiserver {
namespace {

using storage::testing::TempDir;
using testing::ExpectSameContent;
using testing::Fill;

struct Outcome {
  int code = -1;
  std::string out, err;
};

Outcome Command(const std::string& name, const std::vector<std::string>& args) {
  std::ostringstream out, err;
  Outcome r;
  r.code = RunToolCommand(name, args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

size_t Lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CommandsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& file) const { return dir_.path() + "/" + file; }
  std::string Url(const std::string& file) const { return "sqlite://" + Path(file); }

  // A closed sqlite store at `file`, filled by Fill.
  void MakeSource(const std::string& file) {
    auto s = storage::OpenStore(Url(file));
    ASSERT_TRUE(s.ok()) << s.status().message();
    Fill(s->get());
    (*s)->Close();
  }
  std::unique_ptr<storage::Store> Open(const std::string& file) {
    auto s = storage::OpenStore(Url(file));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  TempDir dir_;
};

TEST_F(CommandsTest, DispatchesOnlyItsCommands) {
  EXPECT_TRUE(IsToolCommand("migrate"));
  EXPECT_TRUE(IsToolCommand("backup"));
  EXPECT_FALSE(IsToolCommand("--storage"));
  EXPECT_FALSE(IsToolCommand("--help"));
  EXPECT_FALSE(IsToolCommand(""));
}

TEST_F(CommandsTest, MigrateCopiesAndReportsCountsAndRevision) {
  MakeSource("a.db");
  Outcome r = Command("migrate", {"--from", Url("a.db"), "--to=" + Url("sub/b.db")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto source = Open("a.db");
  auto target = Open("sub/b.db");
  ASSERT_TRUE(source && target);
  const int64_t revision = source->CurrentRevision();
  EXPECT_NE(r.out.find("source " + Url("a.db") + " at revision " + std::to_string(revision)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("backups.csdr.io"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("_backupvault_tombstones.csdr.io"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
  ExpectSameContent(source.get(), revision, target.get());
}

TEST_F(CommandsTest, MigrateIntoANonEmptyTargetFailsInOneLineAndWritesNothing) {
  MakeSource("a.db");
  MakeSource("b.db");
  const std::string before = ReadFile(Path("b.db"));
  Outcome r = Command("migrate", {"--from", Url("a.db"), "--to", Url("b.db")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(Path("b.db")), before) << "the target file changed";
}

TEST_F(CommandsTest, MigrateFromAMissingFileCreatesNothing) {
  Outcome r = Command("migrate", {"--from", Url("missing.db"), "--to", Url("b.db")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(Path("missing.db")));
  EXPECT_FALSE(std::filesystem::exists(Path("b.db")));
}

TEST_F(CommandsTest, MigrateFromAFileInUseSaysSo) {
  MakeSource("a.db");
  auto serving = Open("a.db");  // holds the file's lock, as a running server does
  ASSERT_NE(serving, nullptr);
  Outcome r = Command("migrate", {"--from", Url("a.db"), "--to", Url("b.db")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
}

TEST_F(CommandsTest, UsageErrorsAndHelp) {
  struct Case {
    const char* name;
    std::string command;
    std::vector<std::string> args;
    int code;
    const char* in_output;  // on stdout for 0, on stderr otherwise
  };
  const std::vector<Case> cases = {
      {"migrate help",
       "migrate",
       {"--help"},
       0,
       "Usage: csdr-apiserver migrate --from URL --to URL"},
      {"backup help", "backup", {"-h"}, 0, "Usage: csdr-apiserver backup --storage"},
      {"no flags", "migrate", {}, 2, "--from and --to are required"},
      {"unknown flag", "migrate", {"--form", "memory://"}, 2, "unknown flag --form"},
      {"missing value", "migrate", {"--from"}, 2, "needs a value"},
      {"stray argument", "migrate", {"memory://"}, 2, "unexpected argument"},
      {"same store", "migrate", {"--from", Url("a.db"), "--to", Url("a.db")}, 2, "same store"},
      {"bad scheme", "migrate", {"--from", "memory://", "--to", "ftp://x"}, 1, "unknown scheme"},
      {"backup of memory",
       "backup",
       {"--storage", "memory://", "--to", Path("x.db")},
       2,
       "sqlite:///path/file.db"},
      {"backup pages",
       "backup",
       {"--storage", Url("a.db"), "--to", Path("x"), "--pages-per-step", "0"},
       2,
       "--pages-per-step"},
      {"backup pause",
       "backup",
       {"--storage", Url("a.db"), "--to", Path("x"), "--pause", "5"},
       2,
       "--pause"},
      {"backup missing",
       "backup",
       {"--storage", Url("none.db"), "--to", Path("x.db")},
       1,
       "no SQLite database file"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Outcome r = Command(c.command, c.args);
    EXPECT_EQ(r.code, c.code) << r.out << r.err;
    const std::string& text = c.code == 0 ? r.out : r.err;
    EXPECT_NE(text.find(c.in_output), std::string::npos) << text;
    if (c.code != 0) {
      EXPECT_EQ(Lines(r.err), 1u) << r.err;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(Path("none.db")));
  EXPECT_FALSE(std::filesystem::exists(Path("x.db")));
}

TEST_F(CommandsTest, BackupWritesAFileThatOpensWithEveryObject) {
  MakeSource("a.db");
  auto serving = Open("a.db");  // the backup works beside a server holding the file
  ASSERT_NE(serving, nullptr);
  ASSERT_TRUE(serving
                  ->Create("/registry/csdr.io/backups/csdr/while-serving",
                           testing::ObjectEncoder("Backup", "csdr", "while-serving", 99))
                  .ok());
  Outcome r = Command("backup", {"--storage", Url("a.db"), "--to", Path("backups/a.db"), "--pause",
                                 "1ms", "--pages-per-step", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("at revision " + std::to_string(serving->CurrentRevision())),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("integrity_check ok"), std::string::npos) << r.out;
  auto copy = Open("backups/a.db");
  ASSERT_NE(copy, nullptr);
  ExpectSameContent(serving.get(), serving->CurrentRevision(), copy.get());
  EXPECT_EQ(copy->CurrentRevision(), serving->CurrentRevision());
}

}  // namespace
}  // namespace csdr::apiserver
