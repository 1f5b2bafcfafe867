"""--permit-port-sharing (SO_REUSEPORT, as kube-apiserver's flag): several servers listen on one
address and port, which is how two replicas sit behind one Service on one machine.

Two servers with the flag, each on its own memory:// store, share a loopback port. A BackupVault
created on the first before the second starts tells them apart: a GET of it is 200 from the
first and 404 from the second. Over many fresh connections both answer (the kernel spreads
connections by a hash of their ports), every request succeeds, and after SIGTERM of one the
other takes every new connection. Without the flag on either side, the second server does not
start and says why in one line.
"""

import subprocess

import harness
from harness import ServerTestCase

CONNECTIONS = 64  # all on one of two listeners: a chance of 2^-63


class PortSharingTest(ServerTestCase):

    def sharing_server(self, port, certs, extra_args):
        """A server that must bind `port` itself (Server.start moves to another port when the
        one it has is taken, which would hide exactly what is tested here)."""
        s = harness.Server(self.workdir / f"server{len(self.servers)}", storage="memory://",
                           certs=certs, extra_args=extra_args)
        s.port = port
        self.servers.append(s)
        s.start()
        self.addCleanup(self._stop_and_check, s)
        self.assertEqual(s.port, port, "the server moved to another port")
        # Its /readyz poll may have been answered by the other server on the port: wait for
        # this process's own word that it listens (logged after the bind, before serving).
        harness.wait_for(lambda: not s.alive() or "serving csdr.io/v1alpha1 on" in
                         s.log_path.read_text(errors="replace"), timeout=harness.READY_TIMEOUT_S,
                         what="the second server's 'serving' line")
        self.assertTrue(s.alive(), f"the second server exited:\n{s.log_tail()}")
        return s

    def who_answers(self, server, count):
        """GETs of the marker vault over `count` fresh connections: {200: n, 404: m}."""
        answers = {}
        for i in range(count):
            r = server.get("backupvaults", "on-first")
            self.assertIn(r.status, (200, 404), f"connection {i}: {r!r}")
            answers[r.status] = answers.get(r.status, 0) + 1
        return answers

    def test_two_servers_share_one_port(self):
        sharing = ["--permit-port-sharing"]
        first = self.start_server(storage="memory://", extra_args=sharing)
        self.assertEqual(first.create("backupvaults", harness.vault("on-first")).status, 201)
        second = self.sharing_server(first.port, first.certs, sharing)

        for i in range(CONNECTIONS):
            r = second.request("GET", "/readyz", user=None)
            self.assertEqual((r.status, r.text()), (200, "ok"), f"/readyz, connection {i}")
        answers = self.who_answers(first, CONNECTIONS)
        self.assertGreater(answers.get(200, 0), 0, f"the first server got no connection: {answers}")
        self.assertGreater(answers.get(404, 0), 0, f"the second server got no connection: {answers}")

        # One replica goes away (a rolling update): the port keeps answering, all from the other.
        self.assertEqual(second.stop(), 0, second.log_tail())
        self.assertEqual(self.who_answers(first, 32), {200: 32})
        for i in range(16):
            self.assertEqual(first.request("GET", "/readyz", user=None).status, 200, f"connection {i}")

    def test_without_the_flag_the_second_server_cannot_bind(self):
        for first_args, second_args in ((["--permit-port-sharing"], []),
                                        ([], ["--permit-port-sharing"])):
            with self.subTest(first=first_args, second=second_args):
                first = self.start_server(storage="memory://", extra_args=first_args)
                second = harness.Server(self.workdir / f"refused{len(self.servers)}",
                                        storage="memory://", certs=first.certs,
                                        extra_args=second_args)
                second.port = first.port
                proc = subprocess.run(second.args(), capture_output=True, text=True, timeout=30,
                                      cwd=second.workdir)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                lines = [l for l in proc.stderr.splitlines() if l.startswith("csdr-apiserver:")]
                self.assertEqual(lines, [f"csdr-apiserver: cannot listen on 127.0.0.1:{first.port}: "
                                         "Address already in use"], proc.stderr)
                # The first is unharmed.
                self.assertEqual(first.request("GET", "/readyz", user=None).status, 200)
                self.assertEqual(first.stop(), 0, first.log_tail())


if __name__ == "__main__":
    import unittest
    unittest.main()
