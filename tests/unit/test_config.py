from __future__ import annotations

from pathlib import Path

import pytest

from pressroom_shared.config import ConfigError, Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == ""
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("var/pressroom.db")


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "PRESSROOM_DATABASE_URL": "postgresql+psycopg://db/pressroom",
            "PRESSROOM_MAX_TAGS": "7",
            "PRESSROOM_RETRY_BASE_SECONDS": "0.5",
            "PRESSROOM_LOG_JSON": "false",
            "PRESSROOM_OUTLETS_FILE": "/etc/outlets.toml",
            "UNRELATED": "x",
        }
    )
    assert settings.effective_database_url == "postgresql+psycopg://db/pressroom"
    assert settings.max_tags == 7
    assert settings.retry_base_seconds == 0.5
    assert settings.log_json is False
    assert settings.outlets_file == Path("/etc/outlets.toml")


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({"PRESSROOM_MAX_TAGS": "many", "PRESSROOM_LOG_JSON": "perhaps"})
    assert "PRESSROOM_MAX_TAGS" in str(excinfo.value)
    assert "PRESSROOM_LOG_JSON" in str(excinfo.value)


def test_settings_survive_the_trip_to_a_child_process() -> None:
    settings = Settings(
        redis_url="redis://x:1/0", max_tags=3, log_json=False, outlets_file=Path("o.toml")
    )
    assert Settings.from_env(settings.to_env()) == settings


def test_every_option_is_documented() -> None:
    rows = Settings.documentation()
    assert len(rows) == len({name for name, _, _ in rows})
    # prometheus-client reads its own variable; Settings declares it so `pressroom run` hands it on.
    foreign = {"PROMETHEUS_MULTIPROC_DIR"}
    assert all((name.startswith("PRESSROOM_") or name in foreign) and doc for name, _, doc in rows)


def test_inconsistent_timeouts_are_refused() -> None:
    with pytest.raises(ConfigError, match="LEASE_SECONDS"):
        Settings(lease_seconds=10, task_time_limit_seconds=60)
    with pytest.raises(ConfigError, match="VISIBILITY_TIMEOUT"):
        Settings(
            visibility_timeout_seconds=100, task_time_limit_seconds=90, short_retry_max_seconds=60
        )


def test_the_readme_lists_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [name for name, _, _ in Settings.documentation() if f"`{name}`" not in readme]
    assert not missing, f"README.md lacks {missing}: paste `pressroom config-docs`"


def test_pressroom_secret_variables_are_collected_and_never_shown() -> None:
    settings = Settings.from_env(
        {"PRESSROOM_SECRET_PARTNER": "whsec_abc", "PRESSROOM_SECRETX": "no", "OTHER_SECRET": "no"}
    )
    assert settings.secrets == {"PRESSROOM_SECRET_PARTNER": "whsec_abc"}
    assert "whsec_abc" not in repr(settings)
    assert Settings.from_env(settings.to_env()) == settings
    assert hash(settings) == hash(settings.replace(secrets={}))  # hashable with a dict inside
    assert "PRESSROOM_SECRET_<NAME>" in [name for name, _, _ in Settings.documentation()]


def test_example_secrets_are_refused_by_default() -> None:
    assert Settings.from_env({}).allow_example_secrets is False
    assert Settings.from_env({"PRESSROOM_ALLOW_EXAMPLE_SECRETS": "true"}).allow_example_secrets


def test_outlet_options_report_every_problem_and_unknown_keys() -> None:

    from pressroom_shared.outlet_options import OptionsError
    from pressroom_shared.outlets_config import OutletConfigError, parse_outlets
    from pressroom_workers.outlets.webhook import WebhookOutlet

    config = parse_outlets('[outlets.p]\ntype = "webhook"\nurll = "x"\ntimeout = -1\n')[0]
    with pytest.raises(OptionsError) as info:
        WebhookOutlet(config, Settings())
    message = str(info.value)
    for part in ("unknown option 'urll'", "url: is required", "timeout: must be positive"):
        assert part in message
    with pytest.raises(OutletConfigError, match="min_urgency"):
        parse_outlets('[outlets.p]\ntype = "webhook"\n[outlets.p.routing]\nmin_urgency = 12\n')


def test_secret_options_come_from_named_secret_variables() -> None:
    from dataclasses import dataclass

    from pressroom_shared.outlet_options import OptionsError, parse_options, secret_option

    @dataclass(frozen=True)
    class Opts:
        token: str = secret_option("the token")

    settings = Settings(secrets={"PRESSROOM_SECRET_TG": "123:abc"})
    assert parse_options(Opts, "tg", {"token_env": "PRESSROOM_SECRET_TG"}, settings).token == (
        "123:abc"
    )
    with pytest.raises(OptionsError, match="PRESSROOM_SECRET_"):
        parse_options(Opts, "tg", {"token_env": "HOME"}, settings)
    with pytest.raises(OptionsError, match="not set"):
        parse_options(Opts, "tg", {"token_env": "PRESSROOM_SECRET_NOPE"}, settings)
    with pytest.raises(OptionsError, match="not both"):
        parse_options(Opts, "tg", {"token": "x", "token_env": "PRESSROOM_SECRET_TG"}, settings)


def test_only_webhooks_may_take_embargoed_stories_flagged(tmp_path: Path) -> None:
    from pressroom_shared.outlets_config import OutletConfigError, parse_outlets
    from pressroom_shared.plugins import build_outlet, load_outlet_types

    (config,) = parse_outlets(
        f'[outlets.site]\ntype = "static_site"\npath = "{tmp_path}"\nembargo = "flag"\n'
    )
    with pytest.raises(OutletConfigError, match="only webhooks"):
        build_outlet(load_outlet_types(), config, Settings())
    with pytest.raises(OutletConfigError, match="unknown type 'fax'"):
        build_outlet(load_outlet_types(), config.__class__("x", "fax"), Settings())
