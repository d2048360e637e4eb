"""Settings: defaults, then a TOML config file, then RINGBRIDGE_* environment variables.

Every setting has the same name in all three places: `http_port` in the file is
`RINGBRIDGE_HTTP_PORT` in the environment. Secrets (ARI password, AMI secret) have no
default: ringbridge refuses to start without them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    http_host: str = "127.0.0.1"
    http_port: int = 8887
    http_threads: int = 16
    database_url: str = "sqlite:///var/ringbridge.db"
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "ringbridge"
    ari_password: str = ""
    ari_app: str = "ringbridge"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "ringbridge"
    ami_secret: str = ""
    dial_timeout: int = 30
    ringout_ring_time: int = 30
    ringout_prompt_timeout: int = 10
    ringout_retention: int = 600
    ringout_heavy_per_minute: int = 10
    ringout_light_per_minute: int = 50
    parking_positions: str = "701-720"
    log_level: str = "INFO"
    # Where clients reach this API: dispatch `callUrl`s point here.
    public_url: str = ""

    @property
    def api_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

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
    values: dict[str, Any] = {}
    path = config_file or environ.get("RINGBRIDGE_CONFIG")
    if path:
        values.update(_read_file(Path(path)))
    for field in fields(Settings):
        env_value = environ.get(f"RINGBRIDGE_{field.name.upper()}")
        if env_value is not None:
            values[field.name] = env_value
    return Settings(**{name: _coerce(name, value) for name, value in values.items()})


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    known = {field.name for field in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return data


def _coerce(name: str, value: Any) -> Any:
    wanted = next(field.type for field in fields(Settings) if field.name == name)
    if wanted == "int":
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be an integer, got {value!r}") from exc
    return str(value)
