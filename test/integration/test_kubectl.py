"""The real kubectl against the real csdr-apiserver (acceptance item: kubectl suite).

Runs with the kubectl named by $CSDR_KUBECTL (run.sh repeats the suite for every kubectl on the
machine). Each test gets a fresh server and its own kubeconfig, cache dir and HOME, creates what it
needs from manifests/examples/backup-center.yaml and asserts on what kubectl prints.

Version gates (a flag is skipped only where it does not exist in that kubectl):
  * `patch --subresource` and `get --subresource`: added in kubectl 1.24.
Everything else here exists in kubectl 1.20 and later.
"""

import json
import os
import re
import subprocess
import threading
import time
import unittest

import yaml

import harness
from harness import EXAMPLES, ServerTestCase, wait_for

KUBECTL = os.environ.get("CSDR_KUBECTL", "/usr/bin/kubectl")

# The five kinds: resource, kind, short name, name in the example manifest, namespaced.
KINDS = [
    ("clusterprofiles", "ClusterProfile", "cprof", "cluster", False),
    ("backupvaults", "BackupVault", "bv", "prod-vault", True),
    ("backups", "Backup", "cbk", "shop-backup", True),
    ("restores", "Restore", "crs", "shop-restore", True),
    ("backupschedules", "BackupSchedule", "cbs", "nightly", True),
]
# Printer columns from domain.md section 7 that must show up in `get -o wide` (the default view
# may hide priority > 0 columns). The brief pins VAULT and PHASE for `get backups`.
WIDE_COLUMNS = {
    "clusterprofiles": ["NAME", "TYPE", "REGION", "AGE"],
    "backupvaults": ["NAME", "BUCKET", "REGION", "PHASE", "AGE"],
    "backups": ["NAME", "VAULT", "TYPE", "PHASE", "EXPIRES", "AGE"],
    "restores": ["NAME", "BACKUP", "PHASE", "AGE"],
    "backupschedules": ["NAME", "SCHEDULE", "VAULT", "AGE"],
}
DEFAULT_COLUMNS = {"backups": ["NAME", "VAULT", "PHASE", "AGE"]}


def kubectl_minor():
    out = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=60).stdout
    minor = json.loads(out)["clientVersion"]["minor"]
    return int(re.match(r"\d+", minor).group(0))


MINOR = kubectl_minor()


class Background:
    """A kubectl left running (get -w, delete --wait); its output is collected line by line."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines = []
        self.err = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, self.err),
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, sink):
        for line in stream:
            with self._lock:
                sink.append(line.rstrip("\n"))

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def count(self, pattern):
        return sum(1 for line in self.snapshot() if re.search(pattern, line))

    def wait_count(self, pattern, n, timeout=15):
        try:
            wait_for(lambda: self.count(pattern) >= n, timeout, what=f"{n} line(s) matching {pattern!r}")
        except AssertionError:
            raise AssertionError(f"timed out waiting for {n} line(s) matching {pattern!r}; "
                                 f"stdout so far: {self.snapshot()!r}; stderr: {self.err!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(2)


class KubectlTest(ServerTestCase):

    def setUp(self):
        self.server = self.start_server()
        self.home = self.workdir / "home"
        self.home.mkdir()
        self.env = dict(os.environ, HOME=str(self.home), KUBECONFIG=str(self.server.certs.kubeconfig))
        self.env.pop("KUBE_EDITOR", None)

    # --- running kubectl -------------------------------------------------------------
    def argv(self, args):
        return [KUBECTL, "--kubeconfig", str(self.server.certs.kubeconfig),
                "--cache-dir", str(self.home / "cache")] + [str(a) for a in args]

    def k(self, *args, ok=True, input=None, timeout=60, env=None):
        """Runs kubectl; ok=True expects exit 0, ok=False a failure, ok=None either."""
        cmd = self.argv(args)
        proc = subprocess.run(cmd, env=env or self.env, input=input, capture_output=True,
                              text=True, timeout=timeout)
        shown = "kubectl " + " ".join(str(a) for a in args)
        if ok is True and proc.returncode != 0:
            self.fail(f"`{shown}` exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        if ok is False and proc.returncode == 0:
            self.fail(f"`{shown}` should have failed\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def background(self, *args):
        bg = Background(self.argv(args), self.env)
        self.addCleanup(bg.stop)
        return bg

    def get_json(self, resource, name):
        return json.loads(self.k("get", resource, name, "-o", "json").stdout)

    def create_examples(self):
        out = self.k("create", "-f", EXAMPLES).stdout
        for resource, kind, _, name, _ in KINDS:
            self.assertRegex(out, rf"(?m)^{kind.lower()}\.csdr\.io/{name} created$")
        return out

    def assert_not_found(self, kind, name):
        gone = self.k("get", kind, name, ok=False)
        # After a NotFound every kubectl GETs /api/v1/namespaces/<ns> to tell a missing namespace
        # from a missing object; a standalone server without the core API answers that 404 too,
        # so kubectl may print its generic "the server could not find the requested resource".
        self.assertIn("Error from server (NotFound)", gone.stderr)
        r = self.server.get(f"{kind}s", name)
        self.assertStatus(r, 404, "NotFound", f"GET {kind} {name}")
        self.assertEqual(r.json()["message"], f'{kind}s.csdr.io "{name}" not found')

    def header(self, output):
        return output.splitlines()[0].split()

    def row(self, output, name):
        rows = [line for line in output.splitlines()[1:] if line.split() and line.split()[0] == name]
        self.assertEqual(len(rows), 1, f"expected one row for {name} in:\n{output}")
        return rows[0]

    # --- create / get ----------------------------------------------------------------
    def test_create_then_get_every_kind_and_format(self):
        self.create_examples()
        again = self.k("create", "-f", EXAMPLES, ok=False)
        self.assertIn("AlreadyExists", again.stderr)
        self.assertRegex(again.stderr, r'backups\.csdr\.io "shop-backup" already exists')

        wider_somewhere = False
        for resource, kind, short, name, namespaced in KINDS:
            with self.subTest(resource=resource):
                default = self.k("get", resource).stdout
                wide = self.k("get", resource, "-o", "wide").stdout
                head, wide_head = self.header(default), self.header(wide)
                self.assertEqual(head[0], "NAME", default)
                self.assertIn("AGE", head, default)
                for col in DEFAULT_COLUMNS.get(resource, []):
                    self.assertIn(col, head, f"`get {resource}` header: {default}")
                for col in WIDE_COLUMNS[resource]:
                    self.assertIn(col, wide_head, f"`get {resource} -o wide` header: {wide}")
                self.assertTrue(set(head) <= set(wide_head), f"-o wide lost columns: {default} / {wide}")
                wider_somewhere |= len(wide_head) > len(head)
                self.row(default, name)
                self.row(wide, name)

                one = yaml.safe_load(self.k("get", resource, name, "-o", "yaml").stdout)
                self.assertEqual(one["kind"], kind)
                self.assertEqual(one["apiVersion"], "csdr.io/v1alpha1")
                meta = one["metadata"]
                self.assertEqual(meta["name"], name)
                self.assertEqual(meta.get("namespace"), "csdr" if namespaced else None)
                for field in ("uid", "resourceVersion", "creationTimestamp"):
                    self.assertTrue(meta.get(field), f"metadata.{field} missing: {meta}")
                self.assertEqual(meta.get("generation"), 1, meta)

                listed = json.loads(self.k("get", resource, "-o", "json").stdout)
                self.assertEqual([i["metadata"]["name"] for i in listed["items"]], [name])
                self.assertEqual(listed["items"][0]["kind"], kind)

                self.assertEqual(self.k("get", resource, "-o", "name").stdout.strip(),
                                 f"{kind.lower()}.csdr.io/{name}")
                self.row(self.k("get", short).stdout, name)
        self.assertTrue(wider_somewhere, "no kind has a priority column that only -o wide shows")

        backups = self.k("get", "backups").stdout
        row = self.row(backups, "shop-backup")
        self.assertIn("prod-vault", row.split(), f"VAULT cell: {backups}")
        self.assertIn("ACKManaged", self.row(self.k("get", "cprof", "-o", "wide").stdout, "cluster").split())
        self.assertIn("cnfs-oss-prod-backup",
                      self.row(self.k("get", "bv", "-o", "wide").stdout, "prod-vault").split())

    def test_category_and_short_names(self):
        self.create_examples()
        out = self.k("get", "csdr").stdout
        for resource, kind, _, name, _ in KINDS:
            self.assertIn(f"{kind.lower()}.csdr.io/{name}", out, f"`get csdr`:\n{out}")
        self.assertEqual(self.k("get", "cbk", "-o", "name").stdout.strip(), "backup.csdr.io/shop-backup")
        out = self.k("get", "cbk").stdout
        self.assertIn("VAULT", self.header(out))
        self.row(out, "shop-backup")

    def test_create_dry_run_server_stores_nothing(self):
        out = self.k("create", "-f", EXAMPLES, "--dry-run=server").stdout
        self.assertRegex(out, r"(?m)^backup\.csdr\.io/shop-backup created \(server dry run\)$")
        listed = self.k("get", "backups")
        self.assertIn("No resources found", listed.stdout + listed.stderr)

    # --- protocol --------------------------------------------------------------------
    def protocol_counts(self):
        """Requests read so far by protocol; this read itself is one HTTP/1.1 request."""
        text = self.server.request("GET", "/metrics").text()
        counts = {}
        for proto in ("HTTP/1.1", "HTTP/2"):
            m = re.search(r'^csdr_http_requests_total\{protocol="%s"\} (\d+)' % re.escape(proto),
                          text, re.M)
            self.assertIsNotNone(m, f"no csdr_http_requests_total for {proto}")
            counts[proto] = int(m.group(1))
        return counts

    def test_kubectl_speaks_http2(self):
        """Every kubectl negotiates h2 (ALPN) and is served over it: its gets, creates and
        watches all arrive as HTTP/2 requests, none as HTTP/1.1."""
        before = self.protocol_counts()
        self.create_examples()
        self.k("get", "backups", "-o", "name")
        self.k("label", "backups", "shop-backup", "proto=h2")
        self.k("get", "backups", "--watch-only", "--request-timeout", "2s", ok=None)
        after = self.protocol_counts()
        self.assertEqual(after["HTTP/1.1"] - before["HTTP/1.1"], 1,
                         f"kubectl fell back to HTTP/1.1: {before} -> {after}")
        # the creates, the get, label's get and patch, the watch (discovery besides)
        self.assertGreaterEqual(after["HTTP/2"] - before["HTTP/2"], len(KINDS) + 4,
                                f"{before} -> {after}")

    # --- watch -----------------------------------------------------------------------
    def test_get_watch_lists_then_streams_changes(self):
        self.create_examples()
        w = self.background("get", "backups", "-w")
        w.wait_count(r"^shop-backup\s", 1)
        self.assertIn("VAULT", w.snapshot()[0].split(), w.snapshot())
        # The watch starts at the list's resourceVersion: nothing may be replayed.
        time.sleep(1.0)
        self.assertEqual(w.count(r"^shop-backup\s"), 1, f"replayed events: {w.snapshot()}")

        self.server.create("backups", harness.backup("later-backup"))
        w.wait_count(r"^later-backup\s", 1)
        r = self.server.request("PATCH", self.server.path("backups", "shop-backup", subresource="status"),
                                {"status": {"phase": "Completed"}},
                                content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        w.wait_count(r"^shop-backup\s.*\bCompleted\b", 1)
        self.assertEqual(w.count(r"^nightly|^prod-vault"), 0, "other kinds leaked into the watch")

    def test_get_single_object_watch(self):
        self.create_examples()
        self.server.create("backups", harness.backup("other-backup"))
        w = self.background("get", "backups", "shop-backup", "-w")
        w.wait_count(r"^shop-backup\s", 1)
        # kubectl swallows the first (synthetic ADDED) event of a single-object watch; a later
        # change must show up as a second row.
        self.k("label", "backups", "shop-backup", "watched=yes")
        w.wait_count(r"^shop-backup\s", 2)
        self.k("label", "backups", "other-backup", "watched=yes")
        time.sleep(1.0)
        self.assertEqual(w.count(r"^other-backup"), 0, f"field selector ignored: {w.snapshot()}")

    # --- apply -----------------------------------------------------------------------
    def test_apply_twice_then_change(self):
        out = self.k("apply", "-f", EXAMPLES).stdout
        for _, kind, _, name, _ in KINDS:
            self.assertRegex(out, rf"(?m)^{kind.lower()}\.csdr\.io/{name} created$")
        out = self.k("apply", "-f", EXAMPLES).stdout
        for _, kind, _, name, _ in KINDS:
            self.assertRegex(out, rf"(?m)^{kind.lower()}\.csdr\.io/{name} unchanged$")

        changed = self.workdir / "changed.yaml"
        changed.write_text(EXAMPLES.read_text().replace("network: internal", "network: public"))
        out = self.k("apply", "-f", changed).stdout
        self.assertRegex(out, r"(?m)^backupvault\.csdr\.io/prod-vault configured$")
        self.assertRegex(out, r"(?m)^backup\.csdr\.io/shop-backup unchanged$")
        vault = self.get_json("backupvaults", "prod-vault")
        self.assertEqual(vault["spec"]["network"], "public")
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration", vault["metadata"]["annotations"])
        self.assertEqual(vault["metadata"]["generation"], 2)

    def ssa_state(self):
        """(resourceVersion, spec) of each example object, read with the server's own API."""
        state = {}
        for resource, _, _, name, _ in KINDS:
            body = self.server.get(resource, name).json()
            state[resource] = (body["metadata"]["resourceVersion"], body["spec"],
                               body["metadata"].get("managedFields"))
        return state

    def test_apply_server_side_twice(self):
        out = self.k("apply", "--server-side", "-f", EXAMPLES).stdout
        for _, kind, _, name, _ in KINDS:
            self.assertRegex(out, rf"(?m)^{kind.lower()}\.csdr\.io/{name} serverside-applied$")
        first = self.ssa_state()
        out = self.k("apply", "--server-side", "-f", EXAMPLES).stdout
        for _, kind, _, name, _ in KINDS:
            self.assertRegex(out, rf"(?m)^{kind.lower()}\.csdr\.io/{name} serverside-applied$")
        second = self.ssa_state()
        for resource, (rv, spec, managed) in first.items():
            self.assertEqual(second[resource][0], rv, f"{resource}: a repeated apply changed the object")
            self.assertTrue(any(m.get("manager") == "kubectl" and m.get("operation") == "Apply"
                                for m in managed or []), f"{resource} managedFields: {managed}")
        self.assertEqual(first["backups"][1]["vaultName"], "prod-vault")
        self.assertEqual(first["backupschedules"][1]["template"]["includedNamespaces"], ["shop"])

    def test_apply_server_side_after_client_side_keeps_spec(self):
        self.k("apply", "-f", EXAMPLES)
        out = self.k("apply", "--server-side", "-f", EXAMPLES).stdout
        self.assertRegex(out, r"(?m)^backup\.csdr\.io/shop-backup serverside-applied$")
        backup = self.server.get("backups", "shop-backup").json()
        self.assertEqual(backup["spec"]["vaultName"], "prod-vault", backup)
        self.assertEqual(backup["spec"]["includedNamespaces"], ["shop"], backup)
        schedule = self.server.get("backupschedules", "nightly").json()
        self.assertEqual(schedule["spec"]["schedule"], "1 4 * * *", schedule)

    def test_apply_server_side_conflict_and_force(self):
        self.create_examples()
        changed = self.workdir / "changed.yaml"
        changed.write_text(EXAMPLES.read_text().replace("network: internal", "network: public"))
        fail = self.k("apply", "--server-side", "-f", changed, ok=False)
        self.assertRegex(fail.stderr, r"(?i)conflict")
        self.assertIn(".spec.network", fail.stderr)
        self.assertEqual(self.server.get("backupvaults", "prod-vault").json()["spec"]["network"], "internal")
        out = self.k("apply", "--server-side", "--force-conflicts", "-f", changed).stdout
        self.assertRegex(out, r"(?m)^backupvault\.csdr\.io/prod-vault serverside-applied$")
        self.assertEqual(self.server.get("backupvaults", "prod-vault").json()["spec"]["network"], "public")

    # --- patch -----------------------------------------------------------------------
    def test_patch_merge_json_and_strategic(self):
        self.create_examples()
        out = self.k("patch", "backupschedule", "nightly", "--type", "merge",
                     "-p", '{"spec":{"paused":true}}').stdout
        self.assertEqual(out.strip(), "backupschedule.csdr.io/nightly patched")
        self.assertEqual(self.k("get", "cbs", "nightly", "-o", "jsonpath={.spec.paused}").stdout, "true")
        out = self.k("patch", "backupschedule", "nightly", "--type", "merge",
                     "-p", '{"spec":{"paused":true}}').stdout
        self.assertEqual(out.strip(), "backupschedule.csdr.io/nightly patched (no change)")

        out = self.k("patch", "backupschedule", "nightly", "--type", "json",
                     "-p", '[{"op":"replace","path":"/spec/paused","value":false},'
                           '{"op":"add","path":"/metadata/labels","value":{"tier":"gold"}}]').stdout
        self.assertEqual(out.strip(), "backupschedule.csdr.io/nightly patched")
        got = self.get_json("backupschedules", "nightly")
        self.assertEqual(got["spec"].get("paused", False), False)
        self.assertEqual(got["metadata"]["labels"], {"tier": "gold"})

        rv = got["metadata"]["resourceVersion"]
        fail = self.k("patch", "backupschedule", "nightly", "--type", "json",
                      "-p", '[{"op":"test","path":"/spec/schedule","value":"0 0 * * *"},'
                            '{"op":"replace","path":"/spec/paused","value":true}]', ok=False)
        # 422 Invalid, as kube-apiserver (kube-captures/24); kubectl prints "... is invalid".
        self.assertRegex(fail.stderr, r"(?i)invalid")
        self.assertEqual(self.get_json("backupschedules", "nightly")["metadata"]["resourceVersion"], rv,
                         "a JSON patch whose test op failed changed the object")

        smp = self.k("patch", "backupschedule", "nightly", "-p", '{"spec":{"paused":true}}', ok=False)
        # kubectl >= 1.21 explains "application/strategic-merge-patch+json is not supported by
        # ..."; 1.20 prints the server's 415 Status as it is.
        if "UnsupportedMediaType" not in smp.stderr:
            self.assertIn("strategic-merge-patch", smp.stderr)
            self.assertIn("not supported", smp.stderr)
        self.assertIn("accepted media types include: application/json-patch+json", smp.stderr)

        dry = self.k("patch", "backupschedule", "nightly", "--type", "merge", "--dry-run=server",
                     "-p", '{"spec":{"paused":true}}').stdout
        self.assertIn("patched", dry)
        self.assertEqual(self.get_json("backupschedules", "nightly")["metadata"]["resourceVersion"], rv,
                         "a --dry-run=server patch was stored")

    @unittest.skipIf(MINOR < 24, "patch/get --subresource were added in kubectl 1.24")
    def test_patch_status_subresource(self):
        self.create_examples()
        before = self.get_json("backups", "shop-backup")
        out = self.k("patch", "backup", "shop-backup", "--subresource=status", "--type", "merge",
                     "-p", '{"status":{"phase":"Completed"}}').stdout
        self.assertEqual(out.strip(), "backup.csdr.io/shop-backup patched")
        self.assertIn("Completed", self.row(self.k("get", "backups").stdout, "shop-backup").split())
        status = json.loads(self.k("get", "backup", "shop-backup", "--subresource=status", "-o", "json").stdout)
        self.assertEqual(status["status"]["phase"], "Completed")
        after = self.get_json("backups", "shop-backup")
        self.assertEqual(after["metadata"]["generation"], before["metadata"]["generation"],
                         "a status write moved generation")
        # A write to the main resource ignores status.
        out = self.k("patch", "backup", "shop-backup", "--type", "merge",
                     "-p", '{"status":{"phase":"Failed"}}').stdout
        self.assertIn("patched", out)
        self.assertEqual(self.get_json("backups", "shop-backup")["status"]["phase"], "Completed")

    # --- label / annotate / edit -----------------------------------------------------
    def test_label_annotate_and_stale_resource_version(self):
        self.create_examples()
        stale = self.get_json("backups", "shop-backup")["metadata"]["resourceVersion"]
        self.assertEqual(self.k("label", "backups", "shop-backup", "team=a").stdout.strip(),
                         "backup.csdr.io/shop-backup labeled")
        # kubectl 1.27 prints "annotate" (its own wording slip), the others "annotated".
        self.assertRegex(self.k("annotate", "backups", "shop-backup", "note=hello").stdout.strip(),
                         r"^backup\.csdr\.io/shop-backup annotated?$")
        got = self.get_json("backups", "shop-backup")
        self.assertEqual(got["metadata"]["labels"].get("team"), "a")
        self.assertEqual(got["metadata"]["annotations"].get("note"), "hello")

        self.assertEqual(self.k("get", "backups", "-l", "team=a", "-o", "name").stdout.strip(),
                         "backup.csdr.io/shop-backup")
        self.assertEqual(self.k("get", "backups", "-l", "team in (a,b)", "-o", "name").stdout.strip(),
                         "backup.csdr.io/shop-backup")
        self.assertEqual(self.k("get", "backups", "-l", "!team", "-o", "name").stdout.strip(), "")
        self.assertEqual(self.k("get", "restores", "-l", "csdr.io/vault=prod-vault", "-o", "name")
                         .stdout.strip(), "restore.csdr.io/shop-restore")

        fail = self.k("label", "backups", "shop-backup", "team=b", "--overwrite",
                      f"--resource-version={stale}", ok=False)
        self.assertIn("Conflict", fail.stderr)
        self.assertIn("the object has been modified", fail.stderr)
        self.assertEqual(self.get_json("backups", "shop-backup")["metadata"]["labels"]["team"], "a")

        # kubectl 1.20 says "labeled" for a removal too; later versions "unlabeled".
        self.assertRegex(self.k("label", "backups", "shop-backup", "team-").stdout.strip(),
                         r"^backup\.csdr\.io/shop-backup (un)?labeled$")
        self.assertNotIn("team", self.get_json("backups", "shop-backup")["metadata"].get("labels", {}))

    def test_edit_with_editor_script(self):
        self.create_examples()
        editor = self.workdir / "editor.sh"
        # kubectl edit runs "$EDITOR <file>" on a YAML copy of the object.
        editor.write_text("#!/bin/sh\nsed -i 's/network: internal/network: public/' \"$1\"\n")
        editor.chmod(0o755)
        env = dict(self.env, EDITOR=str(editor))
        out = self.k("edit", "backupvault", "prod-vault", env=env).stdout
        self.assertEqual(out.strip(), "backupvault.csdr.io/prod-vault edited")
        self.assertEqual(self.get_json("backupvaults", "prod-vault")["spec"]["network"], "public")

    # --- delete ----------------------------------------------------------------------
    def test_delete_wait(self):
        self.create_examples()
        start = time.monotonic()
        out = self.k("delete", "restore", "shop-restore", "--wait=true", "--timeout=30s").stdout
        self.assertRegex(out, r'restore\.csdr\.io "shop-restore" deleted')
        self.assertLess(time.monotonic() - start, 15, "delete --wait took too long")
        self.assert_not_found("restore", "shop-restore")

    def test_finalizer_flow(self):
        self.create_examples()
        self.k("patch", "restore", "shop-restore", "--type", "merge",
               "-p", '{"metadata":{"finalizers":["csdr.io/test-hold"]}}')
        out = self.k("delete", "restore", "shop-restore", "--wait=false").stdout
        self.assertRegex(out, r'restore\.csdr\.io "shop-restore" deleted')
        held = self.get_json("restores", "shop-restore")
        self.assertTrue(held["metadata"].get("deletionTimestamp"), held["metadata"])
        self.assertEqual(held["metadata"].get("finalizers"), ["csdr.io/test-hold"])

        waiter = self.background("delete", "restore", "shop-restore", "--wait=true", "--timeout=60s")
        time.sleep(1.0)
        self.assertIsNone(waiter.proc.poll(), f"delete --wait returned while a finalizer holds the "
                                              f"object: {waiter.snapshot()} {waiter.err}")
        self.k("patch", "restore", "shop-restore", "--type", "merge",
               "-p", '{"metadata":{"finalizers":null}}')
        try:
            code = waiter.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("delete --wait did not see the object go after its finalizer was removed")
        self.assertEqual(code, 0, waiter.err)
        self.assert_not_found("restore", "shop-restore")

    # --- the README's quick start, with the backup center's rules on ----------------------
    def test_readme_quick_start(self):
        """README.md's steps, as a newcomer types them, against a server with its policy on."""
        # As `make run` serves it: the rules and the built-in controllers on.
        self.server = self.start_server(policy=True, controllers=True)
        self.env["KUBECONFIG"] = str(self.server.certs.kubeconfig)

        def set_phase(resource, name, phase):
            if MINOR >= 24:
                self.k("patch", resource, name, "--subresource=status", "--type", "merge",
                       "-p", json.dumps({"status": {"phase": phase}}))
            else:  # kubectl < 1.24 has no --subresource: do what it would send
                r = self.server.request("PATCH", self.server.path(resource + "s", name, subresource="status"),
                                        {"status": {"phase": phase}},
                                        content_type="application/merge-patch+json")
                self.assertEqual(r.status, 200, r)

        empty = self.k("get", "backups")
        self.assertIn("No resources found in csdr namespace.", empty.stderr + empty.stdout)
        # Everything at once is refused by the rules until the vault is Available.
        early = self.k("create", "-f", EXAMPLES, "-l", "csdr.io/example=step2", ok=False)
        self.assertIn("[CSDR-DEP-003]", early.stderr)
        out = self.k("create", "-f", EXAMPLES, "-l", "csdr.io/example=step1").stdout
        self.assertEqual(out.split("\n")[:2], ["clusterprofile.csdr.io/cluster created",
                                               "backupvault.csdr.io/prod-vault created"])
        early = self.k("create", "-f", EXAMPLES, "-l", "csdr.io/example=step2", ok=False)
        self.assertIn('[CSDR-BK-001] backup vault "prod-vault" is not Available', early.stderr)
        set_phase("backupvault", "prod-vault", "Available")
        out = self.k("create", "-f", EXAMPLES, "-l", "csdr.io/example=step2").stdout
        self.assertIn("backup.csdr.io/shop-backup created", out)
        self.assertIn("backupschedule.csdr.io/nightly created", out)
        row = self.row(self.k("get", "backups").stdout, "shop-backup")
        self.assertIn("prod-vault", row.split())
        # The schedule's first run, at once, judged by the same rules; its columns filled in.
        first = harness.wait_for(
            lambda: self.server.get("backupschedules", "nightly").json().get("status", {})
            .get("lastBackup"), timeout=10, what="the nightly schedule's first run")
        self.assertTrue(first["name"].startswith("nightly-"), first)
        self.assertNotEqual(first.get("phase"), "FailedValidation", first)
        self.row(self.k("get", "backups").stdout, first["name"])
        schedules = self.k("get", "backupschedules").stdout
        self.assertIn("LAST BACKUP", schedules.splitlines()[0])
        self.assertIn(first["name"], self.row(schedules, "nightly").split())
        # Every column alive: EXPIRES counts down from the ttl (720h) since creation, NEXT RUN
        # says when 04:01 UTC comes.
        def column(table, name, header):
            lines = table.splitlines()
            at = lines[0].index(header)
            return self.row(table, name)[at:].split()[0]
        expires = column(self.k("get", "backups").stdout, "shop-backup", "EXPIRES")
        self.assertRegex(expires, r"^(29d|30d)", expires)
        next_run = column(schedules, "nightly", "NEXT RUN")
        self.assertRegex(next_run, r"^\d+[dhms]", next_run)
        set_phase("backup", "shop-backup", "Completed")
        out = self.k("create", "-f", EXAMPLES, "-l", "csdr.io/example=step3").stdout
        self.assertEqual(out.strip(), "restore.csdr.io/shop-restore created")
        out = self.k("get", "csdr").stdout
        for resource, kind, _, name, _ in KINDS:
            self.assertIn(f"{kind.lower()}.csdr.io/{name}", out)

    # --- describe / explain / api-resources --------------------------------------------
    def test_describe(self):
        self.create_examples()
        out = self.k("describe", "backup", "shop-backup").stdout
        uid = self.get_json("backups", "shop-backup")["metadata"]["uid"]
        self.assertRegex(out, r"(?m)^Name:\s+shop-backup$")
        self.assertRegex(out, r"(?m)^Namespace:\s+csdr$")
        self.assertRegex(out, r"(?m)^(Labels:)?\s+csdr\.io/vault=prod-vault$")
        self.assertRegex(out, r"(?m)^API Version:\s+csdr\.io/v1alpha1$")
        self.assertRegex(out, r"(?m)^Kind:\s+Backup$")
        self.assertRegex(out, rf"(?mi)^\s+uid:\s+{uid}$")
        self.assertRegex(out, r"(?m)^\s+Vault Name:\s+prod-vault$")
        out = self.k("describe", "cprof", "cluster").stdout
        self.assertRegex(out, r"(?m)^Kind:\s+ClusterProfile$")
        self.assertRegex(out, r"(?m)^\s+Cluster Type:\s+ACKManaged$")

    def test_explain(self):
        out = self.k("explain", "backups").stdout
        self.assertRegex(out, r"(?m)^KIND:\s+Backup$")
        self.assertRegex(out, r"(?m)^VERSION:\s+(csdr\.io/)?v1alpha1$")
        self.assertRegex(out, r"(?m)^FIELDS:")
        self.assertRegex(out, r"(?m)^\s+spec\b")
        self.assertRegex(out, r"(?m)^\s+status\b")
        out = self.k("explain", "backups.spec").stdout
        for field in ("vaultName", "backupType", "includedNamespaces", "ttl"):
            self.assertRegex(out, rf"(?m)^\s+{field}\b", f"explain backups.spec:\n{out}")
        out = self.k("explain", "backupvaults.spec.network").stdout
        self.assertRegex(out, r"(?m)^FIELD:\s+network")

    def test_api_resources(self):
        out = self.k("api-resources", "--api-group=csdr.io").stdout
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:2], ["NAME", "SHORTNAMES"], out)
        for resource, kind, short, _, namespaced in KINDS:
            self.assertRegex(out, rf"(?m)^{resource}\s+{short}\s+csdr\.io(/v1alpha1)?\s+"
                                  rf"{str(namespaced).lower()}\s+{kind}\s*$")
        self.assertEqual(len(lines), 1 + len(KINDS), out)
        wide = self.k("api-resources", "--api-group=csdr.io", "-o", "wide").stdout
        row = [l for l in wide.splitlines() if l.startswith("backups ")][0]
        for verb in ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"):
            self.assertIn(verb, row, wide)


if __name__ == "__main__":
    unittest.main()
