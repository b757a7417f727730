"""Ansible's linear strategy over Mitogen's connections, when ansible_mitogen is installed.

Mitogen keeps one Python interpreter per host and sends each module once, so every task costs the control
host far less CPU than Ansible's own connection, which starts a new interpreter and ships the module
for every task. The kit's runs are that kind of work: about a hundred small tasks per broker, most of
them changing nothing on a rerun. `scripts/setup.sh ansible` installs ansible_mitogen (the `ansible`
extra pins it). Without it, or with an Ansible it does not support, the plain linear strategy runs and
says so once. One run without Mitogen: `ANSIBLE_STRATEGY=linear ansible-playbook ...`.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as Linear
from ansible.utils.display import Display

try:
    import ansible_mitogen.strategy  # its loaders raise AnsibleError on an Ansible it does not support
except (ImportError, AnsibleError) as err:
    Display().warning(f"stockpipe_linear: Mitogen unavailable ({err}); running Ansible's linear strategy")

    class StrategyModule(Linear):
        pass

else:
    import ansible_mitogen.affinity

    # Mitogen pins Ansible's processes to CPUs, and the commands a task starts on the control host to all
    # CPUs but the one it keeps for its multiplexer. Those commands keep that mask and hand it down: on two
    # cores, hosts started by a local command (the role tests' systemd-nspawn hosts) and a local keytool
    # all ran on one core, and the JVMs in them took twice as long to start (measured). No pinning.
    ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Linear):  # type: ignore[no-redef]
        pass
