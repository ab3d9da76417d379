#include "sshd/preauth.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace hatch {
namespace {

PeerAddress Addr(const std::string& text) {
  sockaddr_storage ss{};
  if (text.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, text.c_str(), &in->sin_addr), 1) << text;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &in6->sin6_addr), 1) << text;
  }
  return PeerAddressOf(ss);
}

TEST(StartupLimits, ParsesTripleAndSingleNumber) {
  EXPECT_EQ(*ParseStartupLimits("10:30:100"), (StartupLimits{10, 30, 100}));
  EXPECT_EQ(*ParseStartupLimits("5"), (StartupLimits{5, 100, 5}));
}

TEST(StartupLimits, RejectsMalformedOrInconsistentValues) {
  for (const char* bad : {"", "a:b:c", "10:30", "10:30:100:1", "0:30:10", "20:30:10", "10:101:20",
                          "10:-1:20", "-3"}) {
    EXPECT_FALSE(ParseStartupLimits(bad).ok()) << bad;
  }
}

TEST(EarlyDrop, NeverBelowStartAlwaysAtFull) {
  const StartupLimits l{10, 30, 60};
  for (int r = 0; r < 100; ++r) {
    EXPECT_FALSE(ShouldDropStartup(l, 0, r));
    EXPECT_FALSE(ShouldDropStartup(l, 9, r));
    EXPECT_TRUE(ShouldDropStartup(l, 60, r));
    EXPECT_TRUE(ShouldDropStartup(l, 75, r));
  }
}

TEST(EarlyDrop, ProbabilityIsRateAtStartRisingLinearlyToFull) {
  const StartupLimits l{10, 30, 60};
  auto percent = [&](int n) {
    int drops = 0;
    for (int r = 0; r < 100; ++r) drops += ShouldDropStartup(l, n, r) ? 1 : 0;
    return drops;
  };
  EXPECT_EQ(percent(10), 30);
  EXPECT_EQ(percent(35), 65);  // half-way: 30 + 70/2
  EXPECT_EQ(percent(59), 30 + 70 * 49 / 50);
  int last = 0;
  for (int n = 10; n <= 60; ++n) {
    EXPECT_GE(percent(n), last) << n;
    last = percent(n);
  }
}

TEST(EarlyDrop, SingleNumberRefusesExactlyAtTheLimit) {
  const StartupLimits l = *ParseStartupLimits("3");
  for (int r = 0; r < 100; ++r) {
    EXPECT_FALSE(ShouldDropStartup(l, 2, r));
    EXPECT_TRUE(ShouldDropStartup(l, 3, r));
  }
}

TEST(Source, GroupsIpv6ByPrefix64AndUnwrapsMappedIpv4) {
  EXPECT_EQ(SourceOf(Addr("2001:db8:1:2::1")), SourceOf(Addr("2001:db8:1:2:ffff::9")));
  EXPECT_NE(SourceOf(Addr("2001:db8:1:2::1")), SourceOf(Addr("2001:db8:1:3::1")));
  EXPECT_EQ(SourceOf(Addr("::ffff:10.1.2.3")), SourceOf(Addr("10.1.2.3")));
  EXPECT_NE(SourceOf(Addr("10.1.2.3")), SourceOf(Addr("10.1.2.4")));
  EXPECT_FALSE(Addr("::ffff:10.1.2.3").v6);
}

TEST(Cidr, MatchesPrefixesOfEitherFamily) {
  auto list = ParseCidrList("10.0.0.0/8, 192.168.1.7,fd00::/8,::ffff:172.16.0.0/108");
  ASSERT_TRUE(list.ok()) << list.status();
  auto contained = [&](const std::string& a) {
    for (const Cidr& c : *list) {
      if (c.Contains(Addr(a))) return true;
    }
    return false;
  };
  EXPECT_TRUE(contained("10.255.0.1"));
  EXPECT_TRUE(contained("::ffff:10.1.1.1"));
  EXPECT_TRUE(contained("192.168.1.7"));
  EXPECT_FALSE(contained("192.168.1.8"));
  EXPECT_TRUE(contained("fd12::1"));
  EXPECT_FALSE(contained("fe80::1"));
  EXPECT_TRUE(contained("172.16.9.9"));  // the mapped form names IPv4 peers
  EXPECT_FALSE(contained("172.32.0.1"));
  EXPECT_FALSE(contained("11.0.0.1"));
}

TEST(Cidr, RejectsNamesAndBadPrefixes) {
  for (const char* bad : {"localhost", "10.0.0.0/33", "10.0.0.0/x", "::/129", "10.0.0.0/-1"}) {
    EXPECT_FALSE(ParseCidrList(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseCidrList("")->empty());
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains(Addr("1.2.3.4")));
}

PreauthLimits Limits(int max_connections, StartupLimits s, int per_source,
                     const std::string& exempt = "") {
  PreauthLimits l;
  l.max_connections = max_connections;
  l.startups = s;
  l.per_source = per_source;
  l.exempt = *ParseCidrList(exempt);
  return l;
}

using V = PreauthBudget::Verdict;

TEST(PreauthBudget, PerSourceCapCountsOnlyUnauthenticatedConnectionsOfThatSource) {
  PreauthBudget b(Limits(100, {50, 30, 60}, 2));
  const PeerAddress a = Addr("127.0.0.2"), other = Addr("127.0.0.3");
  b.Add(101, a);
  b.Add(102, a);
  EXPECT_EQ(b.Admit(a, 99), V::kPerSource);
  EXPECT_EQ(b.Admit(other, 0), V::kAccept);
  EXPECT_TRUE(b.Authenticated(101));
  EXPECT_FALSE(b.Authenticated(101));  // once
  EXPECT_EQ(b.unauthenticated_from(a), 1);
  EXPECT_EQ(b.Admit(a, 0), V::kAccept);
  EXPECT_TRUE(b.Remove(102));    // was unauthenticated
  EXPECT_FALSE(b.Remove(101));   // was authenticated
  EXPECT_EQ(b.unauthenticated(), 0);
  EXPECT_EQ(b.total(), 0);
}

TEST(PreauthBudget, FullAndEarlyDropApplyToUnauthenticatedOnly) {
  PreauthBudget b(Limits(100, {2, 50, 4}, 0));
  for (pid_t p = 1; p <= 4; ++p) b.Add(p, Addr("10.0.0." + std::to_string(p)));
  EXPECT_EQ(b.Admit(Addr("10.9.9.9"), 0), V::kStartupsFull);
  b.Authenticated(1);
  b.Authenticated(2);
  // 2 unauthenticated = start: 50% drop.
  EXPECT_EQ(b.Admit(Addr("10.9.9.9"), 49), V::kEarlyDrop);
  EXPECT_EQ(b.Admit(Addr("10.9.9.9"), 50), V::kAccept);
  b.Authenticated(3);
  EXPECT_EQ(b.Admit(Addr("10.9.9.9"), 0), V::kAccept);
}

TEST(PreauthBudget, TotalLimitCountsEveryConnectionEvenExemptOnes) {
  PreauthBudget b(Limits(3, {10, 30, 20}, 0, "127.0.0.0/8"));
  b.Add(1, Addr("127.0.0.1"));
  b.Add(2, Addr("10.0.0.1"));
  b.Authenticated(2);
  b.Add(3, Addr("127.0.0.5"));
  EXPECT_EQ(b.Admit(Addr("127.0.0.1"), 99), V::kTooManyConnections);
  EXPECT_EQ(b.Admit(Addr("10.0.0.7"), 99), V::kTooManyConnections);
  b.Remove(2);
  EXPECT_EQ(b.Admit(Addr("10.0.0.7"), 99), V::kAccept);
}

TEST(PreauthBudget, ExemptSourcesSkipThePreauthBudgetAndDoNotFillIt) {
  PreauthBudget b(Limits(100, {1, 100, 1}, 1, "192.0.2.0/24"));
  const PeerAddress proxy = Addr("192.0.2.10");
  for (pid_t p = 1; p <= 10; ++p) {
    ASSERT_EQ(b.Admit(proxy, 0), V::kAccept);
    b.Add(p, proxy);
  }
  EXPECT_EQ(b.unauthenticated(), 0);
  EXPECT_EQ(b.Admit(Addr("198.51.100.1"), 99), V::kAccept);
  b.Add(11, Addr("198.51.100.1"));
  EXPECT_EQ(b.Admit(Addr("198.51.100.2"), 99), V::kStartupsFull);
  EXPECT_EQ(b.Admit(proxy, 0), V::kAccept);  // a flood from elsewhere never blocks the proxy
}

TEST(PreauthBudget, UnknownPidsAreIgnored) {
  PreauthBudget b(Limits(10, {5, 30, 8}, 2));
  EXPECT_FALSE(b.Authenticated(42));
  EXPECT_FALSE(b.Remove(42));
  EXPECT_EQ(b.total(), 0);
}

TEST(AuthReport, TheListenerLearnsTheSendersPidFromTheKernel) {
  auto sockets = MakeAuthReportSockets();
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  pid_t child = fork();
  if (child == 0) {
    SetAuthReportFd(std::move(sockets->child_end));
    ReportAuthenticated();
    ReportAuthenticated();  // the fd is closed after the first: no second report
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  std::vector<pid_t> pids;
  ReadAuthReports(sockets->listener_end.get(), &pids);
  EXPECT_EQ(pids, std::vector<pid_t>{child});
}

TEST(IntervalLog, FirstEventAtOnceThenOneSummaryPerInterval) {
  IntervalLog log("test.refused", absl::Seconds(10));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  log.Note("per_source", "a", t0);
  EXPECT_EQ(log.lines_logged(), 1);
  EXPECT_EQ(log.NextFlush(), absl::InfiniteFuture());
  for (int i = 1; i <= 500; ++i) log.Note("early_drop", "b", t0 + absl::Milliseconds(i));
  EXPECT_EQ(log.lines_logged(), 1);
  EXPECT_EQ(log.NextFlush(), t0 + absl::Seconds(10));
  log.Flush(t0 + absl::Seconds(9));
  EXPECT_EQ(log.lines_logged(), 1);
  log.Flush(t0 + absl::Seconds(10));
  EXPECT_EQ(log.lines_logged(), 2);
  EXPECT_EQ(log.NextFlush(), absl::InfiniteFuture());
  // Another burst inside the next interval waits for its end, too.
  log.Note("per_source", "c", t0 + absl::Seconds(11));
  EXPECT_EQ(log.lines_logged(), 2);
  log.Flush(t0 + absl::Seconds(20));
  EXPECT_EQ(log.lines_logged(), 3);
  // After a quiet interval the next event is logged at once again.
  log.Note("per_source", "d", t0 + absl::Seconds(40));
  EXPECT_EQ(log.lines_logged(), 4);
}

}  // namespace
}  // namespace hatch
