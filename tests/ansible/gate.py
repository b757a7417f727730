"""The restart gate stops a roll (run by tests/ansible/run.sh on a converged scenario, before rolling.py).

1. Refusal: with one broker hung (its JVM stopped with SIGSTOP: fenced and dropped from the ISRs while
   systemd still reports it active), the gate of another broker (`kafka-health-check --restart`)
   refuses to restart it, with one line naming it and what it saw.
2. A broker that does not come back: a heap change for every broker plus an invalid server.properties
   entry for the first one in the roll. Its restart fails, the play ends with one line naming it and
   the error in its server.log, and no other broker is restarted; every broker's restart stays
   pending on its host (restart-pending marker), also where the next run will change no file.

The cluster is left that way on purpose: rolling.py, run next with the same heap (--heap), resumes the
roll under load (the failed broker first, then the others for their pending restarts alone).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hostlib import Checks, Run, broker, converge, extra_inventory, main_guard, read_hosts, ssh, ssh_run

MARKER = "/etc/kafka/restart-pending"


def one_failure(check: Checks, run: Run, host: str, *words: str) -> None:
    fatal = run.fatal_lines()
    check(run.rc != 0, f"the run fails (rc={run.rc})")
    check(
        len(fatal) == 1 and fatal[0].startswith(f"fatal: [{host}]"),
        f"one failure, on {host} ({[f[:100] for f in fatal]})",
    )
    msg = next((line for line in run.output.splitlines() if line.startswith("[ERROR]: Task failed")), "")
    check(all(w in msg for w in words), f"its line names {host} and what the gate saw: {msg[:400]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--heap", default="640m", help="step 2's change for every broker")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = Path(args.log)
    hosts = {h.name: h.private for h in read_hosts()}
    first, *rest = sorted(hosts)
    hung = rest[-1]
    check = Checks()

    print(f"1. {hung} hangs: the gate of {first} refuses to restart it")
    before = {h: broker(a) for h, a in hosts.items()}
    ssh(hosts[hung], f"kill -STOP {before[hung].pid}")
    try:
        gate = ssh_run(hosts[first], "/usr/local/sbin/kafka-health-check --restart 15", timeout=300)
    finally:
        ssh(hosts[hung], f"kill -CONT {before[hung].pid}")
    lines = gate.stderr.strip().splitlines()
    check(gate.returncode == 1, f"the gate exits 1 (rc={gate.returncode})")
    check(
        len(lines) == 1 and lines[0].startswith(f"kafka-health-check: refusing to restart broker {first} ")
        and "the cluster is not healthy" in lines[0],
        f"one line naming {first} and what the gate saw: {lines}",
    )  # fmt: skip
    check({h: broker(a) for h, a in hosts.items()} == before, "no broker was restarted")
    ssh(hosts[hung], "/usr/local/sbin/kafka-health-check 180", timeout=240)

    print(f"2. {first} does not come back after its restart")
    broken = (
        f"all:\n  hosts:\n    {first}:\n"
        "      kafka_server_properties_extra:\n        num.io.threads: not-a-number\n"
    )
    before = {h: broker(a) for h, a in hosts.items()}
    with extra_inventory(broken) as inv:
        run = converge(args.scenario, log, "-i", inv, "-e", f"kafka_heap_size={args.heap}")
    one_failure(check, run, first, f"broker {first}", "exited after its restart", "ConfigException")
    after = {h: broker(a) for h, a in hosts.items()}
    check(
        all(after[h] == before[h] for h in rest),
        f"{rest} were not restarted (start times {[before[h].started_us for h in rest]} -> "
        f"{[after[h].started_us for h in rest]})",
    )
    pending = {h: ssh(a, f"test -e {MARKER} && echo pending || echo none") for h, a in hosts.items()}
    check(
        all(v == "pending" for v in pending.values()), f"every broker's restart is still pending ({pending})"
    )
    return check.done()


if __name__ == "__main__":
    main_guard(main)
