"""Settings: defaults, then the TOML file (RINGBRIDGE_CONFIG), then RINGBRIDGE_* variables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bridge.config import ConfigError, Settings, load_settings


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ringbridge.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file_or_variables() -> None:
    assert load_settings(environ={}) == Settings()


def test_the_file_named_by_ringbridge_config_is_read(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'http_port = 9000\nari_url = "http://10.0.0.5:8088/ari"\n')
    settings = load_settings(environ={"RINGBRIDGE_CONFIG": str(path)})
    assert (settings.http_port, settings.ari_url) == (9000, "http://10.0.0.5:8088/ari")
    assert settings.ami_port == 5038, "what the file does not set keeps its default"


def test_an_explicit_file_is_read_instead_of_ringbridge_config(tmp_path: Path) -> None:
    named = config_file(tmp_path, "http_port = 9000\n")
    given = tmp_path / "given.toml"
    given.write_text("http_port = 9001\n")
    assert load_settings(given, {"RINGBRIDGE_CONFIG": str(named)}).http_port == 9001


def test_environment_variables_win_over_the_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'http_port = 9000\nlog_level = "DEBUG"\n')
    settings = load_settings(environ={"RINGBRIDGE_CONFIG": str(path),
                                      "RINGBRIDGE_HTTP_PORT": "9100"})
    assert (settings.http_port, settings.log_level) == (9100, "DEBUG")


def test_settings_of_each_type_come_from_their_variables() -> None:
    settings = load_settings(environ={"RINGBRIDGE_ARI_PASSWORD": "a", "RINGBRIDGE_AMI_SECRET": "b",
                                      "RINGBRIDGE_DIAL_TIMEOUT": "45",
                                      "RINGBRIDGE_PARKING_POSITIONS": "801-810"})
    assert (settings.ari_password, settings.ami_secret, settings.dial_timeout,
            settings.parking_positions) == ("a", "b", 45, "801-810")


def test_unknown_settings_in_the_file_are_refused_by_name(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'http_prot = 9000\nari_pasword = "x"\nlog_level = "INFO"\n')
    with pytest.raises(ConfigError, match=r"unknown settings ari_pasword, http_prot$"):
        load_settings(path, {})


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nowhere\.toml does not exist"):
        load_settings(environ={"RINGBRIDGE_CONFIG": str(tmp_path / "nowhere.toml")})


def test_a_file_that_is_not_toml_is_an_error(tmp_path: Path) -> None:
    path = config_file(tmp_path, "http_port: 9000\n")
    with pytest.raises(ConfigError, match=r"is not valid TOML"):
        load_settings(path, {})


@pytest.mark.parametrize("value", ["abc", "80.5", "", "0x50"])
def test_an_integer_variable_must_hold_an_integer(value: str) -> None:
    with pytest.raises(ConfigError) as failed:
        load_settings(environ={"RINGBRIDGE_HTTP_PORT": value})
    assert str(failed.value) == f"RINGBRIDGE_HTTP_PORT must be an integer, got {value!r}"


@pytest.mark.parametrize(("toml", "shown"), [('"abc"', "'abc'"), ("8.5", "8.5"),
                                             ("true", "True"), ("[1]", "[1]")])
def test_an_integer_in_the_file_must_be_an_integer(tmp_path: Path, toml: str,
                                                   shown: str) -> None:
    path = config_file(tmp_path, f"dial_timeout = {toml}\n")
    with pytest.raises(ConfigError) as failed:
        load_settings(path, {})
    assert str(failed.value) == f"config file {path}: dial_timeout must be an integer, got {shown}"


def test_an_integer_may_be_written_as_a_string_in_the_file(tmp_path: Path) -> None:
    assert load_settings(config_file(tmp_path, 'dial_timeout = "45"\n'), {}).dial_timeout == 45


@pytest.mark.parametrize(("name", "value", "message"), [
    ("HTTP_PORT", "0", "must be a port number (1-65535), got 0"),
    ("AMI_PORT", "65536", "must be a port number (1-65535), got 65536"),
    ("HTTP_THREADS", "0", "must be at least 1, got 0"),
    ("DIAL_TIMEOUT", "-5", "must be at least 1, got -5"),
    ("RESTAPI_AUTH_PER_MINUTE", "-1", "must be at least 0, got -1"),
    ("RINGOUT_HEAVY_PER_MINUTE", "-1", "must be at least 0, got -1"),  # its old name
    ("LOGIN_ADDRESS_FAILURES_PER_MINUTE", "-1", "must be at least 0, got -1"),
    ("LOGIN_CONCURRENT_CHECKS", "0", "must be at least 1, got 0"),
])
def test_integers_out_of_range_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        load_settings(environ={f"RINGBRIDGE_{name}": value})
    assert str(failed.value) == f"RINGBRIDGE_{name} {message}"


def test_zero_turns_a_rate_limit_off() -> None:
    assert load_settings(environ={"RINGBRIDGE_RESTAPI_LIGHT_PER_MINUTE": "0"}
                         ).restapi_light_per_minute == 0
    assert load_settings(environ={"RINGBRIDGE_LOGIN_USERNAME_FAILURES_PER_MINUTE": "0"}
                         ).login_username_failures_per_minute == 0


def test_a_string_setting_in_the_file_must_be_a_string(tmp_path: Path) -> None:
    path = config_file(tmp_path, "ari_password = 1234\n")
    with pytest.raises(ConfigError) as failed:
        load_settings(path, {})
    assert str(failed.value) == f"config file {path}: ari_password must be a string, got 1234"


@pytest.mark.parametrize(("password", "secret", "missing"), [
    ("", "", "RINGBRIDGE_ARI_PASSWORD, RINGBRIDGE_AMI_SECRET"),
    ("p", "", "RINGBRIDGE_AMI_SECRET"),
    ("", "s", "RINGBRIDGE_ARI_PASSWORD"),
])
def test_require_secrets_names_each_missing_secret(password: str, secret: str,
                                                   missing: str) -> None:
    settings = Settings(ari_password=password, ami_secret=secret)
    with pytest.raises(ConfigError) as failed:
        settings.require_secrets()
    assert str(failed.value).startswith(f"{missing} not set: run scripts/setup")


def test_require_secrets_accepts_secrets_from_the_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'ari_password = "p"\nami_secret = "s"\n')
    load_settings(path, {}).require_secrets()


@pytest.mark.parametrize("url", ["https://pbx.example.com/\n", "pbx.example.com",
                                 "https://user:secret@pbx.example.com", "http://h:port"])
def test_a_public_url_that_cannot_work_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="RINGBRIDGE_PUBLIC_URL"):
        load_settings(environ={"RINGBRIDGE_PUBLIC_URL": url})


def test_the_public_url_defaults_to_the_listen_address() -> None:
    assert load_settings(environ={}).api_url == "http://127.0.0.1:8887"
    assert load_settings(environ={"RINGBRIDGE_HTTP_HOST": "::1"}).api_url == "http://[::1]:8887"
    given = load_settings(environ={"RINGBRIDGE_PUBLIC_URL": "https://pbx.example.com/rb/"})
    assert given.api_url == "https://pbx.example.com/rb"


@pytest.mark.parametrize("networks", ["10.0.0.0/33", "lan", "10.0.0.0/8,,nope"])
def test_webhook_allowed_networks_that_are_not_networks_are_refused(networks: str) -> None:
    with pytest.raises(ConfigError, match=r"RINGBRIDGE_WEBHOOK_ALLOWED_NETWORKS: .* write"):
        load_settings(environ={"RINGBRIDGE_WEBHOOK_ALLOWED_NETWORKS": networks})


def test_webhook_allowed_networks_are_read_as_written() -> None:
    given = load_settings(environ={"RINGBRIDGE_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, ::1"})
    assert given.webhook_allowed_networks == "10.0.0.0/8, ::1"


def test_open_panels_must_leave_the_api_threads_of_its_own() -> None:
    with pytest.raises(ConfigError, match=r"panel_streams \(16\) must be less than "
                                          r"http_threads \(16\)"):
        load_settings(environ={"RINGBRIDGE_PANEL_STREAMS": "16"})
    settings = load_settings(environ={"RINGBRIDGE_PANEL_STREAMS": "2",
                                      "RINGBRIDGE_HTTP_THREADS": "4"})
    assert (settings.panel_streams, settings.http_threads) == (2, 4)


@pytest.mark.parametrize("edge", ["127.0.0.10:5060", "edge.example.com", "[fd00::10]:5060"])
def test_a_sip_edge_is_a_host_and_port(edge: str) -> None:
    assert load_settings(environ={"RINGBRIDGE_SIP_EDGE": edge}).sip_edge == edge


@pytest.mark.parametrize("edge", ["sip:127.0.0.10", "127.0.0.10:5060;lr", "a b"])
def test_a_sip_edge_that_is_not_a_host_and_port_is_refused(edge: str) -> None:
    with pytest.raises(ConfigError, match=r"RINGBRIDGE_SIP_EDGE must be the SIP edge's "
                                          r"host:port"):
        load_settings(environ={"RINGBRIDGE_SIP_EDGE": edge})


CLUSTER_NODE = {"RINGBRIDGE_SIP_EDGE": "127.0.0.10:5060",
                "RINGBRIDGE_DATABASE_URL": "postgresql+psycopg://rb@db/ringbridge",
                "RINGBRIDGE_ARI_URL": "http://127.0.0.11:8088/ari",
                "RINGBRIDGE_AMI_HOST": "127.0.0.11",
                "RINGBRIDGE_CLUSTER_ADDRESS": "127.0.0.21",
                "RINGBRIDGE_CLUSTER_KEY": "k" * 32}


def test_a_node_standing_by_drives_the_other_asterisk_as_its_own() -> None:
    settings = load_settings(environ={**CLUSTER_NODE,
                                      "RINGBRIDGE_STANDBY_ASTERISKS": "127.0.0.12, fd00::13"})
    assert settings.standby_hosts == ["127.0.0.12", "fd00::13"]
    other = settings.for_asterisk("127.0.0.12")
    assert (other.ari_url, other.ami_host) == ("http://127.0.0.12:8088/ari", "127.0.0.12")
    assert settings.for_asterisk("fd00::13").ari_url == "http://[fd00::13]:8088/ari"
    assert other.standby_hosts == ["127.0.0.11", "fd00::13"]  # the others, seen from it
    assert replace(other, ari_url=settings.ari_url, ami_host="127.0.0.11",
                   standby_asterisks=settings.standby_asterisks) == settings
    assert settings.other_ari_urls == ["http://127.0.0.12:8088/ari",
                                       "http://[fd00::13]:8088/ari"]


@pytest.mark.parametrize(("change", "message"), [
    ({"RINGBRIDGE_SIP_EDGE": ""}, "is for a cluster node: set sip_edge too"),
    ({"RINGBRIDGE_DATABASE_URL": "sqlite:///var/rb.db"}, "needs PostgreSQL"),
    ({"RINGBRIDGE_STANDBY_ASTERISKS": "127.0.0.11"}, "this node's own Asterisk"),
    ({"RINGBRIDGE_STANDBY_ASTERISKS": "http://127.0.0.12"}, "not a host name or address"),
    ({"RINGBRIDGE_CLUSTER_ADDRESS": ""}, "needs cluster_address"),
    ({"RINGBRIDGE_CLUSTER_KEY": "short"}, "needs cluster_key: a secret of at least 32"),
    ({"RINGBRIDGE_CLUSTER_PORT": "70000"}, "RINGBRIDGE_CLUSTER_PORT"),
    ({"RINGBRIDGE_CLUSTER_PORT": "65535"}, "leaves no room for every engine process"),
    ({"RINGBRIDGE_CLUSTER_ADDRESS": "0.0.0.0"}, "must be this node's own address"),
    ({"RINGBRIDGE_STANDBY_ASTERISKS": "", "RINGBRIDGE_CLUSTER_KEY": ""},
     "cluster_address needs cluster_key"),
])
def test_standing_by_without_what_it_needs_is_refused(change: dict[str, str],
                                                      message: str) -> None:
    environ = {**CLUSTER_NODE, "RINGBRIDGE_STANDBY_ASTERISKS": "127.0.0.12", **change}
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_each_engine_process_has_a_port_of_its_own_for_the_other_nodes() -> None:
    settings = load_settings(environ={**CLUSTER_NODE, "RINGBRIDGE_CLUSTER_PORT": "9000"})
    assert [settings.engine_address(slot) for slot in (0, 3)] == [
        "127.0.0.21:9000", "127.0.0.21:9003"]
    assert Settings(cluster_address="fd00::21").engine_address(1) == "[fd00::21]:8891"


def test_a_clusters_asterisk_nodes_share_the_parking_slots() -> None:
    """Each Asterisk node parks calls in its own share of parking_positions, by host
    order, so that a slot number is one call in the whole cluster; a standby engine
    for another node parks in that node's share."""
    settings = load_settings(environ={**CLUSTER_NODE, "RINGBRIDGE_PARKING_POSITIONS": "701-721",
                                      "RINGBRIDGE_STANDBY_ASTERISKS": "127.0.0.12,127.0.0.13"})
    assert str(settings.parking_share) == "701-707"
    assert [str(settings.for_asterisk(host).parking_share)
            for host in ("127.0.0.12", "127.0.0.13")] == ["708-714", "715-721"]
    assert str(load_settings(environ={"RINGBRIDGE_PARKING_POSITIONS": "701-705"})
               .parking_share) == "701-705"
    with pytest.raises(ConfigError, match="must have a slot for each of the 3 Asterisk"):
        load_settings(environ={**CLUSTER_NODE, "RINGBRIDGE_PARKING_POSITIONS": "701-702",
                               "RINGBRIDGE_STANDBY_ASTERISKS": "127.0.0.12,127.0.0.13"})


@pytest.mark.parametrize(("database_url", "journal_dir", "directory"), [
    ("sqlite:///var/ringbridge.db", "", "var/journal"),
    ("sqlite:////var/lib/ringbridge/ringbridge.db", "", "/var/lib/ringbridge/journal"),
    ("postgresql+psycopg://ringbridge@db/ringbridge", "", "var/journal"),
    ("sqlite:///var/ringbridge.db", "/srv/steps", "/srv/steps"),
])
def test_the_step_journal_is_beside_a_sqlite_database_unless_set(
        database_url: str, journal_dir: str, directory: str) -> None:
    settings = Settings(database_url=database_url, journal_dir=journal_dir)
    assert settings.journal_directory == Path(directory)
