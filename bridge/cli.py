"""The `ringbridge` command."""

from __future__ import annotations

import logging
import sys

import click

from bridge import __version__
from bridge.config import ConfigError, Settings, load_settings


@click.group()
@click.version_option(__version__, prog_name="ringbridge")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              envvar="RINGBRIDGE_CONFIG", help="TOML config file (environment wins over it).")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """ringbridge: call-control bridge for Asterisk."""
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per ARI request is noise; the engine logs what happened to each call.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("panoramisk").setLevel(logging.INFO)
    ctx.obj = settings


@main.command()
@click.pass_obj
def serve(settings: Settings) -> None:
    """Run the HTTP API and the telephony engine."""
    from bridge.service import serve as run_service

    try:
        run_service(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
