"""Run Erlang on a lab broker's own node: recreate a vhost (`lab.reset()`), add a learner's vhost and
user (class mode).

    rabbitmq_control.evaluate(data_dir, 'rabbit_vhost:exists(<<"/">>).')   # "true"
    rabbitmq_control.recreate_vhost(data_dir, "/", "guest")              # "3 queues"

Layer: components (used by brokers.RabbitMQ and the class server).

RabbitMQ's own CLI (rabbitmqctl) boots an Elixir runtime for every command (1-2 s of CPU here).
erl_call, a small C program that ships with Erlang, connects to the node's distribution port and
evaluates an expression there in a few milliseconds. It reads the Erlang cookie from
$HOME/.erlang.cookie, and a lab broker's HOME is its data dir, so nothing secret appears on a
command line. Where erl_call is missing, a hidden `erl` node does the same in ~0.5 s.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..runtime.errors import LabError

NODE_FILE = "node.json"  # written by brokers.RabbitMQ.processes(): {"node": ..., "dist": port}
TIMEOUT_S = 30


def _erl_call() -> str | None:
    erl = shutil.which("erl") or "/usr/lib/erlang/bin/erl"
    beside = Path(os.path.realpath(erl)).parent / "erl_call"
    return shutil.which("erl_call") or (str(beside) if os.access(beside, os.X_OK) else None)


def _erlang_text(value: str) -> str:
    """A Python str as an Erlang binary literal."""
    return "<<\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"/utf8>>"


def evaluate(data_dir: Path, code: str) -> str:
    """Evaluate Erlang expressions (ending with a full stop) on the broker of `data_dir`; returns the
    printed value of the last one. LabError when the node cannot be reached or the code fails."""
    try:
        info = json.loads((Path(data_dir) / NODE_FILE).read_text())
    except (OSError, ValueError):
        raise LabError(f"no running RabbitMQ node is described in {data_dir}") from None
    env = {**os.environ, "HOME": str(data_dir)}
    tool = _erl_call()
    if tool:
        argv = [tool, "-address", f"127.0.0.1:{info['dist']}", "-e", "-timeout", str(TIMEOUT_S)]
        run = subprocess.run(argv, input=code.strip() + "\n", capture_output=True, text=True, env=env,
                             timeout=TIMEOUT_S + 5)
        out = run.stdout.strip()
        if run.returncode == 0 and out.startswith("{ok,"):
            return out[len("{ok,"):-1].strip()
        raise LabError(f"RabbitMQ node {info['node']} refused the command: {(out or run.stderr).strip()[:300]}")
    # No erl_call: a hidden node of our own, for as long as one call takes.
    script = ('{ok, Ts, _} = erl_scan:string(os:getenv("LABS_ERLANG_CODE")), {ok, Es} = erl_parse:parse_exprs(Ts), '
              f'case rpc:call(\'{info["node"]}\', erl_eval, exprs, [Es, []], {TIMEOUT_S * 1000}) of '
              '{value, V, _} -> io:format("~p~n", [V]), halt(0); Bad -> io:format("~p~n", [Bad]), halt(1) end.')
    argv = [shutil.which("erl") or "erl", "-noshell", "-noinput", "-hidden", "-boot", "start_clean",
            "-sname", f"labsctl{os.getpid()}@localhost", "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "-eval", script]
    env.update({"LABS_ERLANG_CODE": code, "ERL_EPMD_PORT": str(info.get("epmd", ""))})
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT_S + 10)
    if run.returncode != 0:
        raise LabError(f"RabbitMQ node {info['node']} refused the command: {(run.stdout or run.stderr)[:300]}")
    return run.stdout.strip()


def recreate_vhost(data_dir: Path, vhost: str, user: str, acting: str = "labs-reset") -> str:
    """Delete `vhost` (its queues, exchanges, bindings, policies; its connections are closed, as a new
    broker would have none) and create it again, with every permission for `user` on it. Returns how
    many queues there were, e.g. "3 queues"."""
    vh, who = _erlang_text(vhost), _erlang_text(acting)
    out = evaluate(data_dir, f"""
        N = length(rabbit_amqqueue:list({vh})),
        _ = rabbit_vhost:delete({vh}, {who}),
        ok = rabbit_vhost:add({vh}, {who}),
        ok = rabbit_auth_backend_internal:set_permissions({_erlang_text(user)}, {vh},
                 <<".*">>, <<".*">>, <<".*">>, {who}),
        N.""")
    if not re.fullmatch(r"\d+", out):
        raise LabError(f"unexpected answer from RabbitMQ while recreating vhost {vhost!r}: {out[:200]}")
    return f"{out} queue{'s' if out != '1' else ''}"


def add_users(data_dir: Path, seats: list[tuple[str, str, str]], remove: tuple[str, ...] = ("guest",),
              acting: str = "labs-class") -> None:
    """For each (vhost, user, password): create the vhost and a user that may do anything there and
    nothing elsewhere, tagged `management` so it can list (and delete) what its vhost holds through
    the management API; then delete the users in `remove` (class mode: one seat per learner, and no
    guest/guest on an address others can reach). One call for all seats."""
    who = _erlang_text(acting)
    terms = ", ".join("{" + ", ".join(map(_erlang_text, seat)) + "}" for seat in seats)
    gone = ", ".join(map(_erlang_text, remove))
    evaluate(data_dir, f"""
        lists:foreach(fun({{VH, U, P}}) ->
            ok = rabbit_vhost:add(VH, {who}),
            ok = rabbit_auth_backend_internal:add_user(U, P, {who}),
            ok = rabbit_auth_backend_internal:set_tags(U, [management], {who}),
            ok = rabbit_auth_backend_internal:set_permissions(U, VH, <<".*">>, <<".*">>, <<".*">>, {who})
        end, [{terms}]),
        [rabbit_auth_backend_internal:delete_user(U, {who}) || U <- [{gone}]],
        ok.""")
