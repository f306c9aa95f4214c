import sys
import textwrap
from pathlib import Path

import pytest

import clvframe.hooks.specs as specs
from clvframe._plugins import BUILTIN_ORIGIN
from clvframe._plugins import ComponentRegistry
from clvframe._plugins import build_plugin_manager
from clvframe._plugins import build_registry
from clvframe.errors import ClvframePluginWarning
from clvframe.errors import ConfigError
from clvframe.errors import PluginContractError
from clvframe.errors import PluginLoadError
from clvframe.hooks import hookimpl
from clvframe.segmenters.tiers import ValueTiers


def make_distribution(root: Path, name: str, module_source: str) -> None:
    """Write an importable module and a dist-info announcing it as a plugin."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n"
    )
    (info / "entry_points.txt").write_text(f"[clvframe]\n{name} = {name}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("tp_")]:
        del sys.modules[name]


def test_builtins_register_through_the_hooks():
    registry = build_registry(autoload=False)
    assert {"cdnow", "csv", "synthetic"} <= set(registry.names("loader"))
    assert {"historic", "bgnbd"} <= set(registry.names("estimator"))
    assert registry.get("segmenter", "tiers").origin == BUILTIN_ORIGIN


def test_entry_point_plugin_is_discovered_with_its_distribution(site):
    make_distribution(
        site,
        "tp_good",
        """
        from clvframe.hooks import hookimpl
        from clvframe.segmenters.tiers import ValueTiers

        class Quartiles(ValueTiers):
            '''Quartiles of value.'''
            name = "quartiles"

        @hookimpl
        def clvframe_register_segmenters():
            return [Quartiles]
        """,
    )
    component = build_registry().get("segmenter", "quartiles")
    assert component.origin == "tp_good 1.2.3"
    assert component.plugin == "tp_good"


def test_plugin_that_fails_to_import_is_named(site):
    make_distribution(site, "tp_broken", "import not_a_module_anywhere\n")
    with pytest.raises(
        PluginLoadError, match=r"plugin 'tp_broken' .*tp_broken 1.2.3.*"
    ):
        build_plugin_manager()
    with pytest.warns(ClvframePluginWarning, match="tp_broken"):
        build_plugin_manager(strict=False)
    build_plugin_manager(disabled=["tp_broken"])


def test_misspelled_hook_stops_start_up_naming_the_plugin(site):
    make_distribution(
        site,
        "tp_typo",
        """
        from clvframe.hooks import hookimpl

        @hookimpl
        def clvframe_register_estimater():
            return []
        """,
    )
    with pytest.raises(PluginLoadError, match=r"'tp_typo' implements an unknown hook"):
        build_plugin_manager()


def test_class_instead_of_instance_is_refused():
    class Plugin:
        @hookimpl
        def clvframe_register_segmenters(self):
            return []

    with pytest.raises(
        PluginLoadError, match=r"is a class; register an instance.*Plugin\(\)"
    ):
        build_plugin_manager(autoload=False, extra_plugins=[Plugin])


def test_unknown_name_lists_the_valid_ones():
    registry = build_registry(autoload=False)
    with pytest.raises(
        ConfigError, match=r"'bgnb' is not a registered estimator.*'bgnbd'"
    ):
        registry.get("estimator", "bgnb")


def test_duplicate_name_is_a_contract_error():
    class Clash(ValueTiers):
        name = "tiers"

    class Plugin:
        @hookimpl
        def clvframe_register_segmenters(self):
            return [Clash]

    pm = build_plugin_manager(autoload=False, extra_plugins=[Plugin()])
    with pytest.raises(PluginContractError, match="'tiers' is registered twice"):
        ComponentRegistry.from_plugin_manager(pm)


def test_component_without_name_is_a_contract_error():
    class Plugin:
        @hookimpl
        def clvframe_register_loaders(self):
            return [object]

    pm = build_plugin_manager(autoload=False, extra_plugins=[Plugin()])
    with pytest.raises(PluginContractError, match="without a string 'name'"):
        ComponentRegistry.from_plugin_manager(pm)


def test_autoload_can_be_switched_off_by_environment(site, monkeypatch):
    make_distribution(site, "tp_off", "import not_a_module_anywhere\n")
    monkeypatch.setenv("CLVFRAME_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert not build_plugin_manager().has_plugin("tp_off")


# --- one test per hook (test_hooks_have_tests checks there is one) -----------


def _run_with(plugin, overrides=("estimator=historic",)):
    from clvframe.experiment import run_experiment

    return run_experiment(
        [
            "loader=cdnow",
            *overrides,
        ],
        extra_plugins=[plugin],
        track=False,
    )


def test_hook_clvframe_register_loaders():
    import pandas as pd

    from clvframe.loaders.base import Loader

    class Tiny(Loader):
        name = "tiny"

        def load(self):
            return pd.DataFrame(
                {
                    "customer_id": ["a", "a", "b"],
                    "timestamp": pd.to_datetime(
                        ["2020-01-01", "2020-02-01", "2020-01-05"]
                    ),
                    "amount": [1.0, 2.0, 3.0],
                }
            )

    class Plugin:
        @hookimpl
        def clvframe_register_loaders(self):
            return [Tiny]

    from clvframe.config.compose import compose_config
    from clvframe.experiment import run_experiment

    cfg = compose_config(["estimator=historic", "split.calibration_end=null"])
    cfg.loader.name = "tiny"
    cfg.loader.params = {}
    result = run_experiment(cfg, extra_plugins=[Plugin()], track=False)
    assert set(result.customers.index) == {"a", "b"}


def test_hook_clvframe_register_estimators():
    from clvframe.estimators.historic import HistoricEstimator

    class Doubled(HistoricEstimator):
        name = "doubled"

        def _spend_per_purchase(self, summary):
            return 2 * super()._spend_per_purchase(summary)

    class Plugin:
        @hookimpl
        def clvframe_register_estimators(self):
            return [Doubled]

    base = _run_with(Plugin())
    doubled = _run_with(Plugin(), ("estimator=historic", "estimator.name=doubled"))
    assert doubled.customers["clv"].sum() == pytest.approx(
        2 * base.customers["clv"].sum()
    )


def test_hook_clvframe_register_spend_models():
    from clvframe.estimators.spend import MeanSpend

    class Flat(MeanSpend):
        name = "flat"

        def expected_spend(self, summary):
            return summary["frequency"].to_numpy() * 0 + 10.0

    class Plugin:
        @hookimpl
        def clvframe_register_spend_models(self):
            return [Flat]

    result = _run_with(
        Plugin(),
        (
            "estimator=bgnbd",
            "estimator.params.spend_model=flat",
            "~estimator.params.spend_params",
        ),
    )
    forecast = result.customers
    assert (forecast["expected_spend"] == 10 * forecast["expected_purchases"]).all()


def test_hook_clvframe_register_segmenters():
    class Plugin:
        @hookimpl
        def clvframe_register_segmenters(self):
            class Halves(ValueTiers):
                name = "halves"

            return [Halves]

    result = _run_with(
        Plugin(),
        (
            "estimator=historic",
            "segmenter.name=halves",
            "segmenter.params.cut_points=[0.5]",
        ),
    )
    assert len(result.segment_table) == 2


def test_hook_clvframe_register_exporters(tmp_path):
    from clvframe.config.compose import compose_config
    from clvframe.experiment import run_experiment
    from clvframe.exporters.base import Exporter

    received = []

    class Memory(Exporter):
        name = "memory"

        def write(self, frame):
            received.append(frame)
            return "memory"

    class Plugin:
        @hookimpl
        def clvframe_register_exporters(self):
            return [Memory]

    cfg = compose_config(["estimator=historic", "segmenter=rfm"])
    cfg.export = {"mine": {"name": "memory", "params": {"segments": ["champions"]}}}
    result = run_experiment(cfg, extra_plugins=[Plugin()], track=False)
    champions = result.customers.index[result.customers["segment"] == "champions"]
    assert sorted(received[0]["customer_id"]) == sorted(champions)
    assert result.info["exports"] == [f"memory: {len(champions)} rows to memory"]


def test_hook_clvframe_after_fit():
    stages = []

    class Plugin:
        @hookimpl
        def clvframe_after_fit(self, estimator, stage):
            stages.append((estimator.name, stage))

    _run_with(Plugin())
    assert stages == [("historic", "calibration"), ("historic", "full")]


def test_hook_clvframe_after_run():
    seen = []

    class Plugin:
        @hookimpl
        def clvframe_after_run(self, result):
            seen.append(len(result.customers))

    result = _run_with(Plugin())
    assert seen == [len(result.customers)]


def test_hooks_have_tests():
    hooks = [name for name in dir(specs) if name.startswith("clvframe_")]
    tests = {name for name in globals() if name.startswith("test_hook_")}
    missing = [h for h in hooks if f"test_hook_{h}" not in tests]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def test_hook_clvframe_config_dirs(tmp_path):
    from clvframe.config.compose import compose_config

    group = tmp_path / "segmenter"
    group.mkdir()
    (group / "halves.yaml").write_text(
        "name: tiers\nparams:\n  cut_points: [0.5]\n  column: clv\n"
    )

    class Plugin:
        @hookimpl
        def clvframe_config_dirs(self):
            return [str(tmp_path)]

    cfg = compose_config(["segmenter=halves"], extra_plugins=[Plugin()])
    assert list(cfg.segmenter.params.cut_points) == [0.5]


def test_missing_plugin_config_folder_is_a_config_error(tmp_path):
    from clvframe.config.compose import compose_config

    class Plugin:
        @hookimpl
        def clvframe_config_dirs(self):
            return [str(tmp_path / "nowhere")]

    with pytest.raises(ConfigError, match="plugin config folders do not exist"):
        compose_config([], extra_plugins=[Plugin()])
