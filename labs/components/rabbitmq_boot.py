"""How to start RabbitMQ's Erlang VM directly: the command its start script would build, minus
the parts a lab's one-node, loopback-only broker does not need.

    plan = rabbitmq_boot.direct_start(script, data_dir, node, dist_port, plugins=["rabbitmq_management"])
    if plan.ok:
        ProcessSpec(plan.argv, env={**env, **plan.env})   # ~2x less CPU than the script
    else:
        ProcessSpec([script], env=env)                    # plan.reason says why not

Layer: components (used by brokers.RabbitMQ).

Where the script's boot time goes (measured on RabbitMQ 3.10.8, Erlang 25, 2 cores; see
benchmarks/startup.py for the figures before and after):

- The VM searches its code path for every module it loads, one module at a time, and each load
  copies the VM's whole export table. RabbitMQ puts all ~70 bundled plugins on that path
  (ERL_LIBS) and then, to find its boot steps and feature flags, loads every module of every
  application it has loaded: ~900 modules, ~1.3 s of CPU. Here the path holds only the ~20
  applications the broker (and the plugins a lab enables) need, and all their modules are loaded
  in batches (one per application) before the broker boots (`code:ensure_modules_loaded`),
  which is several times cheaper than one by one.
- Started without a node name, the broker starts a second Erlang VM (`-sname epmd-starter-...`)
  to make sure epmd runs, then checks its ports and name. The lab runs its own epmd, so here the
  VM is started already distributed (`-sname`), which skips that second VM and those checks.
- The script runs two shell scripts and the broker then runs `sh -ex` to source
  RABBITMQ_CONF_ENV_FILE; pointing that variable at a file that does not exist skips it (the
  lab never sets anything there).

Tried and dropped: a pre-initialised data directory copied per lab (saves ~0.1 s of CPU and
would need one fixed node name), the classic `.config` format instead of rabbitmq.conf (no
gain once only RabbitMQ's own config schema is on the path), `+S 1:1` (no gain).

The direct start is used for the RabbitMQ versions it was checked against (3.9 to 3.13: one
start script and prelaunch design); for others, or when the layout is not the generic-unix one
(plugins/ beside sbin/), the lab starts the script as before, and `python -m labs doctor` says
so. LABS_RABBITMQ_START=script forces the script, =direct forces the direct start.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

VERIFIED = ((3, 9), (3, 13))  # (major, minor) range the direct start was checked against
MODES = ("auto", "direct", "script")

# The Erlang arguments RabbitMQ 3.9-3.13's rabbitmq-server script passes (rabbitmq-env's
# defaults, with RABBITMQ_IGNORE_SIGINT's "+B i").
_SCRIPT_ARGS = [
    "+W", "w", "+MBas", "ageffcbf", "+MHas", "ageffcbf", "+MBlmbcs", "512", "+MHlmbcs", "512",
    "+MMmcs", "30", "+P", "1048576", "+t", "5000000", "+stbt", "db", "+zdbbl", "128000",
    "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none", "+B", "i",
    "-syslog", "logger", "[]", "-syslog", "syslog_error_logger", "false",
    "-kernel", "prevent_overlapping_partitions", "false",
]
# Loads every module of the listed ebin directories, one batch per directory (one batch for all
# would hold every module's code twice at once: ~100 MiB more at the peak), before `rabbit boot`.
_PRELOAD = ('[code:ensure_modules_loaded([list_to_atom(filename:basename(F, ".beam")) || '
            'F <- filelib:wildcard(filename:join(D, "*.beam"))]) || '
            'D <- string:split(os:getenv("LABS_RABBITMQ_PRELOAD"), ":", all)].')


@dataclass
class Plan:
    """Either a command (`ok`) or the reason the start script must be used instead."""
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    version: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.argv)


@dataclass
class Layout:
    """Where an installed RabbitMQ and the Erlang it runs on keep their applications."""
    home: Path  # RABBITMQ_HOME: has sbin/ and plugins/
    plugins: Path
    erl: str
    otp_lib: Path  # Erlang/OTP's lib/ (kernel-*, stdlib-*, ssl-*, ...)
    version: str


def mode() -> str:
    chosen = os.environ.get("LABS_RABBITMQ_START", "auto").strip() or "auto"
    if chosen not in MODES:
        raise ValueError(f"LABS_RABBITMQ_START must be one of {', '.join(MODES)}, got {chosen!r}")
    return chosen


def layout(script: str) -> tuple[Layout | None, str]:
    """The installation behind `script` (following symlinks, as the script itself does)."""
    home = Path(os.path.realpath(script)).parent.parent
    plugins = home / "plugins"
    rabbit = sorted(plugins.glob("rabbit-[0-9]*/ebin/rabbit.app"))
    if not rabbit:
        return None, f"no plugins/rabbit-*/ebin in {home} (not the generic-unix layout)"
    version = rabbit[-1].parent.parent.name.split("-", 1)[1]
    erl = shutil.which("erl")  # from PATH, as the start script takes it
    if not erl:
        return None, "no `erl` on PATH"
    otp_lib = Path(os.path.realpath(erl)).parent.parent / "lib"
    if not any(otp_lib.glob("kernel-*/ebin")):
        return None, f"no Erlang/OTP lib directory beside {os.path.realpath(erl)}"
    return Layout(home, plugins, erl, otp_lib, version), ""


def _app_dirs(root: Path) -> dict[str, Path]:
    """name -> application directory, the newest version when several are installed."""
    found: dict[str, Path] = {}
    for ebin in sorted(root.glob("*/ebin")):
        app_dir = ebin.parent
        name = app_dir.name.rsplit("-", 1)[0] if "-" in app_dir.name else app_dir.name
        if (ebin / f"{name}.app").exists():
            found[name] = app_dir
    return found


_DEPS = re.compile(r"\{\s*(?:applications|included_applications)\s*,\s*\[([^\]]*)\]")


def applications(lay: Layout, roots: list[str]) -> tuple[list[Path], list[Path]]:
    """The application directories `roots` need, transitively: (bundled with RabbitMQ, from OTP)."""
    plugins, otp = _app_dirs(lay.plugins), _app_dirs(lay.otp_lib)
    seen: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or (name not in plugins and name not in otp):
            continue
        seen[name] = plugins.get(name) or otp[name]
        text = (seen[name] / "ebin" / f"{name}.app").read_text(errors="replace")
        for deps in _DEPS.findall(text):
            todo += [d.strip() for d in deps.split(",") if d.strip()]
    bundled = [d for n, d in sorted(seen.items()) if n in plugins]
    from_otp = [d for n, d in sorted(seen.items()) if n not in plugins]
    return bundled, from_otp


def _version_ok(version: str) -> bool:
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return VERIFIED[0] <= (major, minor) <= VERIFIED[1]


def describe(script: str | None) -> tuple[bool, str]:
    """(direct start applies, a sentence for the doctor)."""
    if not script:
        return False, "RabbitMQ is not installed"
    chosen = mode()
    if chosen == "script":
        return False, "the start script (LABS_RABBITMQ_START=script)"
    lay, why = layout(script)
    if lay is None:
        return False, f"the start script: {why}"
    if chosen == "auto" and not _version_ok(lay.version):
        low, high = (".".join(map(str, v)) for v in VERIFIED)
        return False, (f"the start script: the direct start was checked on RabbitMQ {low}-{high}, this is "
                       f"{lay.version} (LABS_RABBITMQ_START=direct tries it anyway)")
    return True, f"direct Erlang VM start (RabbitMQ {lay.version}, ~2x less CPU than the script)"


def direct_start(script: str, data_dir: Path, node: str, dist_port: int, plugins: list[str]) -> Plan:
    """The command that boots the broker like `script` would, for the lab's environment."""
    usable, why = describe(script)
    if not usable:
        return Plan(reason=why)
    lay, _ = layout(script)
    assert lay is not None
    # mnesia: the broker starts it without listing it among its applications.
    bundled, from_otp = applications(lay, ["rabbit", "mnesia", *plugins])
    # The code path and the plugins directory: links to just the applications needed.
    libs = data_dir / "erl_libs"
    libs.mkdir(exist_ok=True)
    for app_dir in bundled:
        link = libs / app_dir.name
        if not link.exists():
            link.symlink_to(app_dir)
    preload = [str(libs / d.name / "ebin") for d in bundled] + [str(d / "ebin") for d in from_otp]
    argv = [lay.erl, "-pa", "", "-noinput", "-boot", "start_sasl",
            "-sname", node, "-kernel", "inet_dist_listen_min", str(dist_port),
            "-kernel", "inet_dist_listen_max", str(dist_port),
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            *_SCRIPT_ARGS, "-eval", _PRELOAD, "-s", "rabbit", "boot"]
    env = {
        "ERL_LIBS": str(libs), "RABBITMQ_PLUGINS_DIR": str(libs), "RABBITMQ_HOME": str(lay.home),
        "ERL_MAX_ETS_TABLES": "50000", "ERL_MAX_PORTS": "65536", "LABS_RABBITMQ_PRELOAD": ":".join(preload),
        # A file that does not exist: the broker then skips sourcing it through `sh -ex`.
        "RABBITMQ_CONF_ENV_FILE": str(data_dir / "no-rabbitmq-env.conf"),
    }
    return Plan(argv, env, version=lay.version)
