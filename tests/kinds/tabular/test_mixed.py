"""Mixed-type rows with `categorical="embed"`: categories embedded on the way in, predicted by a
softmax on the way out, missing numerics masked in the loss; the layout lives in the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional

from anomaly import Detector
from anomaly.config import DataConfig
from anomaly.errors import ConfigError
from anomaly.kinds.rowwise import network_output
from anomaly.kinds.tabular.features import UNKNOWN, TabularFeatures
from anomaly.nn import MixedAutoencoder
from tests.conftest import FAST, run_main


def make_mixed(n: int, seed: int) -> pd.DataFrame:
    """`b` follows `a`; `color` is set by `a` (so it can be predicted); `shop` is independent;
    `b` is missing in about 5 % of rows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({
        "id": [f"t{i:04d}" for i in range(n)],
        "a": a,
        "b": 2 * a + 0.1 * rng.normal(size=n),
        "color": np.where(a > 0.4, "red", np.where(a < -0.4, "blue", "green")),
        "shop": rng.choice(["s1", "s2", "s3"], size=n),
    })
    frame.loc[rng.random(n) < 0.05, "b"] = np.nan
    return frame


@pytest.fixture(scope="module")
def trained() -> Detector:
    return Detector(categorical="embed", id_col="id", seed=0, **FAST).fit(make_mixed(600, 1))


def test_embed_layout_is_one_index_input_per_categorical_column() -> None:
    frame = make_mixed(50, 0)
    f = TabularFeatures().fit(frame, DataConfig(id_col=("id",), categorical="embed"))
    assert f.input_names == ["a", "b", "b:missing", "color", "shop"]
    assert f.input_sources == ["a", "b", "b", "color", "shop"]
    assert f.missing_of() == [-1, 2, -1]
    odd = frame.head(3).assign(color=["red", "purple", None])
    x, _ = f.transform(odd)
    colors = f.labels(f.categorical[0])
    assert [colors[int(v)] for v in x[:, 3]] == ["red", UNKNOWN, UNKNOWN]
    again = TabularFeatures.from_json(json.loads(json.dumps(f.to_json())))
    assert again.encoding == "embed" and again.input_names == f.input_names
    old = {k: v for k, v in f.to_json().items() if k != "encoding"}  # bundles before it
    assert TabularFeatures.from_json(old).input_names[3:] == [
        f"color={c}" for c in colors] + [f"shop={c}" for c in f.labels(f.categorical[1])]


def test_missing_values_are_masked_and_categories_cost_cross_entropy() -> None:
    torch.manual_seed(0)
    net = MixedAutoencoder(3, (4,), missing_of=(-1, 2, -1), hidden=(8, 2)).eval()
    x = torch.tensor([[0.3, 5.0, 1.0, 2.0], [0.3, -1.0, 0.0, 2.0]])  # row 0: b is missing
    code = net.encode(x)
    residual = net.residual(x, code).detach()
    assert residual[0, 1] == 0.0 and residual[1, 1] != 0.0
    other = x.clone()
    other[0, 1] = -7.0  # another imputed value where b is missing: it is no target
    torch.testing.assert_close(net.residual(other, code)[0], residual[0])
    logits = net.decoder(code)[:, 3:]
    expected = functional.cross_entropy(logits, torch.tensor([2, 2]), reduction="none")
    torch.testing.assert_close(residual[:, 3].square(), expected, rtol=1e-5, atol=1e-6)
    loss = float(net.loss(x).detach())
    assert loss == pytest.approx(float(residual.square().sum(1).mean() / 4), rel=1e-5)
    assert net(x)[:, 3].tolist() == logits.argmax(1).float().tolist()


def test_trains_scores_and_flags_wrong_or_unseen_categories(trained: Detector) -> None:
    assert trained.architecture_["class"] == "MixedAutoencoder"
    near = trained.scorer_.neighbours
    assert near is not None and not near.inputs  # category indices are no coordinates
    normal = make_mixed(300, 2)
    wrong = normal.head(20).copy()
    wrong["a"], wrong["b"], wrong["color"] = 1.5, 3.0, "blue"  # blue belongs to a < -0.4
    unseen = normal.head(20).assign(color="purple")
    base = trained.anomaly_scores(normal)
    assert np.isfinite(base).all()
    assert np.median(trained.anomaly_scores(wrong)) > np.quantile(base, 0.95)
    assert trained.anomaly_scores(unseen).min() > np.quantile(base, 0.95)
    scored = trained.score_frame(unseen)
    assert scored["top_features"].str.startswith("color").all()


def test_missing_numerics_add_no_error_but_their_flag_does(trained: Detector) -> None:
    frame = make_mixed(200, 6)
    x, _ = trained.features_.transform(frame)
    signed = network_output(trained.network_, trained.features_, x, True, True).residuals
    assert signed is not None
    missing = frame["b"].isna().to_numpy()
    assert missing.any() and (signed[missing, 1] == 0).all() and (signed[~missing, 1] != 0).all()
    assert (signed[missing, 2] != 0).all()  # the flag input is reconstructed: missingness shows


def test_explain_names_the_categorical_column_and_shows_missing(trained: Detector) -> None:
    row = make_mixed(5, 3).head(1).assign(a=1.5, b=float("nan"), color="blue")
    table = trained.explain_item(row, 0).table.set_index("feature")
    assert table["error_share"].idxmax() == "color"
    assert table.loc["color", "value"] == "blue" and table.loc["color", "reconstruction"] == "red"
    assert table.loc["b", "value"] == "missing"
    unseen = trained.explain_item(row.assign(color="purple"), 0).table.set_index("feature")
    assert unseen.loc["color", "value"] == "purple (not seen in training)"


def test_bundle_records_the_layout_and_reloads_to_identical_scores(
        trained: Detector, tmp_path: Path) -> None:
    path = trained.save(tmp_path / "models", "mixed")
    meta = json.loads((path / "bundle.json").read_text())
    assert meta["features"]["encoding"] == "embed"
    assert sorted(meta["features"]["categorical"][0]["categories"]) == ["blue", "green", "red"]
    assert meta["network"]["class"] == "MixedAutoencoder"
    weights = load_file(str(path / "model.safetensors"))
    assert weights["embeddings.0.weight"].shape[0] == 4  # 3 colours + unknown
    frame = make_mixed(200, 4)
    frame.loc[0, "color"] = "purple"
    again = Detector.load(path)
    np.testing.assert_array_equal(again.anomaly_scores(frame), trained.anomaly_scores(frame))


def test_one_hot_stays_the_default_and_bad_choice_is_refused() -> None:
    det = Detector(id_col="id", seed=0, **{**FAST, "max_epochs": 2}).fit(make_mixed(200, 5))
    assert det.architecture_["class"] == "DenseAutoencoder"
    assert det.features_.encoding == "onehot"
    with pytest.raises(ConfigError, match="categorical 'dense' is not one of onehot, embed"):
        Detector(categorical="dense").fit(make_mixed(50, 0))
    with pytest.raises(ConfigError, match="'embed' applies to tabular data only"):
        Detector("timeseries", categorical="embed").fit(make_mixed(50, 0))


def test_config_key_trains_an_embedded_model_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "mixed.csv"
    make_mixed(300, 7).to_csv(data, index=False)
    config = tmp_path / "train.toml"
    config.write_text('[data]\nid_col = ["id"]\ncategorical = "embed"\n')
    ws = str(tmp_path / "ws")
    trained = run_main("train", str(data), "--config", str(config), "--name", "mx",
                       "--epochs", "3", "--no-progress", "--workspace", ws)
    assert trained.returncode == 0, trained.stderr
    info = run_main("info", "mx", "--workspace", ws)
    assert "network: MixedAutoencoder" in info.stdout
    scored = run_main("score", "mx", str(data), "-o", str(tmp_path / "out.csv"), "--workspace", ws)
    assert scored.returncode == 0, scored.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 300
    config.write_text('[data]\ncategorical = "dense"\n')
    bad = run_main("train", str(data), "--config", str(config), "--workspace", ws)
    assert bad.returncode == 2 and "categorical 'dense' is not one of onehot, embed" in bad.stderr
