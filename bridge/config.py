"""Settings: defaults, then a TOML config file, then RINGBRIDGE_* environment variables.

Every setting has the same name in all three places: `http_port` in the file is
`RINGBRIDGE_HTTP_PORT` in the environment. Secrets (ARI password, AMI secret) have no
default: ringbridge refuses to start without them.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from bridge.gateway import Positions
from bridge.http_urls import allowed_networks, http_url_problem
from bridge.logs import FORMATS


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    http_host: str = "127.0.0.1"
    http_port: int = 8887
    http_threads: int = 16  # per API process
    api_workers: int = 1  # API processes (docs/processes.md: limits are per process)
    panel_streams: int = 8  # open operator panels per API process (each holds a thread)
    database_url: str = "sqlite:///var/ringbridge.db"
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "ringbridge"
    ari_password: str = ""
    ari_app: str = "ringbridge"
    # Engine processes sharing the calls of one Asterisk (docs/processes.md): engine n
    # runs ARI application `engine_app(n)`, and Asterisk offers each new call to all.
    engines: int = 1
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "ringbridge"
    ami_secret: str = ""
    dial_timeout: int = 30
    ringout_ring_time: int = 30
    ringout_prompt_timeout: int = 10
    ringout_retention: int = 600
    # RingCentral's usage plan groups under /restapi/ (surfaces/ringcentral/rate_limits.py):
    # requests per minute per user, 0 = no limit.
    restapi_light_per_minute: int = 50
    restapi_medium_per_minute: int = 40
    restapi_heavy_per_minute: int = 10
    restapi_auth_per_minute: int = 5
    # Password grants (bridge/api/login_limits.py): failures per minute, 0 = no limit.
    login_username_failures_per_minute: int = 5
    login_address_failures_per_minute: int = 20
    login_concurrent_checks: int = 4
    parking_positions: str = "701-720"
    log_level: str = "INFO"
    log_format: str = "text"  # or json: one object per line (bridge/logs.py)
    # Where clients reach this API: absolute URLs in answers (a RingOut's `uri`, a
    # call's `link`) and dispatch `callUrl`s point here, never at the request's Host.
    public_url: str = ""
    # Where `ringbridge serve` publishes its engine's address and key for the commands
    # that act on live calls (`tenants delete`). Default: ringbridge-<http_port>.link
    # in the temporary directory.
    link_file: str = ""
    # Networks (comma-separated CIDRs) a subscription's WebHook address may resolve into
    # although they are not public, e.g. "10.0.0.0/8" for a receiver on the LAN.
    webhook_allowed_networks: str = ""
    # The bearer token Prometheus scrapes GET /metrics with ("" = /metrics is off), and
    # where `serve`'s processes keep their metrics (default: ringbridge-metrics-<http_port>
    # in the temporary directory, emptied at every start).
    metrics_token: str = ""
    metrics_dir: str = ""
    # Where call record steps wait on disk until the database has them (docs/operations.md,
    # the step journal). Default: `journal` beside the SQLite database, or var/journal.
    journal_dir: str = ""
    # A cluster node (docs/cluster.md): the SIP edge's host:port (Kamailio), which
    # authenticates the phones and through which Asterisk reaches them; every node's
    # engine follows the extensions changed through the others. Empty: one node, and
    # phones register with Asterisk itself.
    sip_edge: str = ""
    # A cluster node: the other Asterisk nodes (comma-separated hosts), whose apps this
    # node's engines stand by to run should their own ringbridge node die. They are
    # reached as this node's Asterisk is (ARI port and path, AMI port, credentials).
    standby_asterisks: str = ""
    # A cluster node: the address the other nodes reach its engines at, and the key they
    # share (a secret, like the database's password). Engine process k (0-based: this
    # node's engines, then each standby Asterisk's) listens on cluster_port + k, so any
    # node's API reaches the engine running a call, wherever it runs (docs/cluster.md).
    cluster_address: str = ""
    cluster_port: int = 8890
    cluster_key: str = ""

    def engine_app(self, number: int) -> str:
        """Engine `number`'s (1-based) ARI application: `ari_app`, then `ari_app`-2..."""
        return self.ari_app if number == 1 else f"{self.ari_app}-{number}"

    @property
    def standby_hosts(self) -> list[str]:
        return [host.strip() for host in self.standby_asterisks.split(",") if host.strip()]

    def engine_address(self, slot: int) -> str:
        """Where the other cluster nodes reach engine process `slot` (0-based): host:port."""
        return f"{_bracketed(self.cluster_address)}:{self.cluster_port + slot}"

    def for_asterisk(self, host: str) -> Settings:
        """These settings, driving the Asterisk node at `host` instead of this node's
        (whose Asterisk is then one of the others)."""
        parts = urlsplit(self.ari_url)
        address = _bracketed(host)
        netloc = f"{address}:{parts.port}" if parts.port else address
        others = [parts.hostname or "", *(h for h in self.standby_hosts if h != host)]
        return replace(self, ari_url=urlunsplit(parts._replace(netloc=netloc)),
                       ami_host=host, standby_asterisks=",".join(others))

    @property
    def parking_share(self) -> Positions:
        """The slots this engine's Asterisk parks calls in: all of `parking_positions`,
        or in a cluster an even share of them, by the Asterisk nodes' hosts in order,
        so that a slot number is one call in the whole cluster."""
        slots = Positions.parse(self.parking_positions)
        if not self.standby_hosts:
            return slots
        own = (urlsplit(self.ari_url).hostname or "").lower()
        hosts = sorted([own, *(host.lower() for host in self.standby_hosts)])
        index = hosts.index(own)
        size = slots.capacity // len(hosts)
        first = slots.first + index * size
        last = slots.last if index == len(hosts) - 1 else first + size - 1
        return Positions(first, last)

    @property
    def other_ari_urls(self) -> list[str]:
        """The ARI of the cluster's other Asterisk nodes (standby_asterisks)."""
        return [self.for_asterisk(host).ari_url for host in self.standby_hosts]

    @property
    def published_link(self) -> Path:
        return Path(self.link_file or Path(tempfile.gettempdir())
                    / f"ringbridge-{self.http_port}.link")

    @property
    def metrics_directory(self) -> Path:
        return Path(self.metrics_dir or Path(tempfile.gettempdir())
                    / f"ringbridge-metrics-{self.http_port}")

    @property
    def journal_directory(self) -> Path:
        if self.journal_dir:
            return Path(self.journal_dir)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(url.database).parent / "journal"
        return Path("var/journal")

    @property
    def api_url(self) -> str:
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return (self.public_url or f"http://{host}:{self.http_port}").rstrip("/")

    def require_secrets(self) -> None:
        missing = [name for name in ("ari_password", "ami_secret") if not getattr(self, name)]
        if missing:
            names = ", ".join(f"RINGBRIDGE_{name.upper()}" for name in missing)
            raise ConfigError(f"{names} not set: run scripts/setup, or set them in the config file")


def load_settings(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from the optional TOML file and the environment (which wins)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}  # each value already checked against its field's type
    path = config_file or environ.get("RINGBRIDGE_CONFIG")
    if path:
        values.update(_from_file(Path(path)))
    values.update(_from_environment(environ))
    settings = Settings(**_without_aliases(values))
    if settings.panel_streams >= settings.http_threads:
        raise ConfigError(f"panel_streams ({settings.panel_streams}) must be less than "
                          f"http_threads ({settings.http_threads}): each open panel holds "
                          "one of the threads, and the API needs some for itself")
    if settings.engines > MAX_ENGINES:
        raise ConfigError(f"engines ({settings.engines}) must be at most {MAX_ENGINES}: "
                          "each is a process of its own with its connections to Asterisk")
    _check_standby(settings)
    return settings


def _bracketed(host: str) -> str:
    """`host` as it goes before a port: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _check_standby(settings: Settings) -> None:
    """Standing by needs a cluster node (the edge), leases (PostgreSQL) and the address
    and key the nodes' engines reach each other with."""
    _check_cluster_address(settings)
    if not settings.standby_asterisks:
        return
    if not settings.sip_edge:
        raise ConfigError("standby_asterisks is for a cluster node: set sip_edge too")
    if not settings.database_url.startswith("postgresql"):
        raise ConfigError("standby_asterisks needs PostgreSQL (database_url): the nodes "
                          "share their leases on Asterisk nodes there")
    if not settings.cluster_address or not HOST.fullmatch(settings.cluster_address):
        raise ConfigError("standby_asterisks needs cluster_address: the address the other "
                          "nodes reach this node's engines at, e.g. 10.0.0.21")
    # Its key was checked with the address (_check_cluster_address).
    nodes = 1 + len(settings.standby_hosts)
    try:
        slots = Positions.parse(settings.parking_positions)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if slots.capacity < nodes:
        raise ConfigError(f"parking_positions {settings.parking_positions} must have a slot "
                          f"for each of the {nodes} Asterisk nodes at least: they share them")
    last_port = settings.cluster_port + settings.engines * (1 + len(settings.standby_hosts)) - 1
    if last_port > 65535:
        raise ConfigError(f"cluster_port {settings.cluster_port} leaves no room for every "
                          f"engine process (up to port {last_port}); choose a lower one")
    own = (urlsplit(settings.ari_url).hostname or "").lower()
    for host in settings.standby_hosts:
        if not HOST.fullmatch(host):
            raise ConfigError(f"standby_asterisks: {host!r} is not a host name or address")
        if host.lower() == own:
            raise ConfigError(f"standby_asterisks: {host} is this node's own Asterisk "
                              "(ari_url)")


MAX_ENGINES = 32
MIN_KEY = 32
MAX_CLUSTER_ADDRESS = 40  # whole in the lease's session name (bridge/engine/lease.py)


def _check_cluster_address(settings: Settings) -> None:
    """The engines' TCP link opens on cluster_address: never without the key, never on
    an address the other nodes cannot reach."""
    address = settings.cluster_address
    if not address:
        return
    if len(settings.cluster_key) < MIN_KEY:
        raise ConfigError(f"cluster_address needs cluster_key: a secret of at least {MIN_KEY} "
                          "characters, the same on every node (scripts/cluster makes one)")
    if address in ("0.0.0.0", "::") or len(address) > MAX_CLUSTER_ADDRESS:
        raise ConfigError(f"cluster_address {address!r} must be this node's own address "
                          f"as the other nodes reach it, at most {MAX_CLUSTER_ADDRESS} "
                          "characters, e.g. 10.0.0.21")
_HOST = r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"  # a name, an IPv4 or a bracketed IPv6
SIP_EDGE = re.compile(_HOST + r"(?::[0-9]{1,5})?")  # host[:port]
ENGINE_ADDRESS = re.compile(_HOST + r":[0-9]{1,5}")  # host:port (engine_address)
HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")
_FIELD_TYPES = {field.name: field.type for field in fields(Settings)}
_PORTS = {"http_port", "ami_port", "cluster_port"}
_MAY_BE_ZERO = {"ringout_retention", "restapi_light_per_minute", "restapi_medium_per_minute",
                "restapi_heavy_per_minute", "restapi_auth_per_minute",
                "login_username_failures_per_minute", "login_address_failures_per_minute"}
# Deprecated names still read, for the setting they became: a config that sets one keeps
# its meaning; where both are set (in any source), the new name wins.
ALIASES = {"ringout_heavy_per_minute": "restapi_heavy_per_minute",
           "ringout_light_per_minute": "restapi_light_per_minute"}


def _without_aliases(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each deprecated name's value under its new name, unless set there."""
    resolved = {name: value for name, value in values.items() if name not in ALIASES}
    for old, new in ALIASES.items():
        if old in values:
            resolved.setdefault(new, values[old])
    return resolved


def _from_file(path: Path) -> dict[str, int | str]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_FIELD_TYPES) - set(ALIASES))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return {name: _checked(name, value, f"config file {path}: {name}")
            for name, value in data.items()}


def _from_environment(environ: Mapping[str, str]) -> dict[str, int | str]:
    values: dict[str, int | str] = {}
    for name in [*_FIELD_TYPES, *ALIASES]:
        variable = f"RINGBRIDGE_{name.upper()}"
        if variable in environ:
            values[name] = _checked(name, environ[variable], variable)
    return values


def _checked(name: str, value: Any, where: str) -> int | str:
    """`value` as the setting's type; `where` names its source in the error."""
    name = ALIASES.get(name, name)
    if _FIELD_TYPES[name] == "int":
        number = _integer(value, where)
        _check_range(name, number, where)
        return number
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if name == "public_url" and value:
        problem = http_url_problem(value)
        if problem is not None:
            raise ConfigError(f"{where} {problem}, e.g. https://pbx.example.com")
    if name == "log_format" and value not in FORMATS:
        raise ConfigError(f"{where} must be one of {', '.join(FORMATS)}, got {value!r}")
    if name == "sip_edge" and value and not SIP_EDGE.fullmatch(value):
        raise ConfigError(f"{where} must be the SIP edge's host:port, e.g. 10.0.0.10:5060, "
                          f"got {value!r}")
    if name == "webhook_allowed_networks":
        try:
            allowed_networks(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}; write networks as 10.0.0.0/8, "
                              "192.168.1.0/24") from exc
    return value


def _integer(value: Any, where: str) -> int:
    """An int, or a string holding one (the environment's form); never a bool or float."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ConfigError(f"{where} must be an integer, got {value!r}")


def _check_range(name: str, number: int, where: str) -> None:
    if name in _PORTS and not 1 <= number <= 65535:
        raise ConfigError(f"{where} must be a port number (1-65535), got {number}")
    minimum = 0 if name in _MAY_BE_ZERO else 1
    if number < minimum:
        raise ConfigError(f"{where} must be at least {minimum}, got {number}")
