"""The Python API: `Detector` fit/score/explain/save/load, its invariants, a quality floor on
separable data, column roles, config files, optimizers, network options and early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from anomaly import Detector
from tests.conftest import make_tabular, run_main

TINY = {"max_epochs": 2, "patience": 0, "batch_size": 32, "progress_bar": False}
# conftest.FAST (15 epochs) under-trains this 7-input network (ROC-AUC ~0.85); 30 epochs at a
# higher rate reach 0.94-0.97 over seeds 0-2 in ~3 s.
QUALITY = {"max_epochs": 30, "patience": 0, "batch_size": 32, "lr": 3e-3, "progress_bar": False}
FEATURES = ["a", "b", "c", "color"]


@pytest.fixture(scope="module")
def train_frame() -> pd.DataFrame:
    """600 rows, 30 of them labelled anomalies (left out of training), plus a time column."""
    frame = make_tabular(600, seed=1, anomalies=30)
    frame["ts"] = pd.date_range("2024-01-01", periods=len(frame), freq="min").astype(str)
    return frame


@pytest.fixture(scope="module")
def fitted(train_frame: pd.DataFrame) -> Detector:
    det = Detector(kind="tabular", id_col="row_id", time_col="ts", label_col="label", seed=0,
                   **QUALITY)
    assert det.fit(train_frame) is det  # fit returns self
    return det


@pytest.fixture(scope="module")
def test_frame() -> pd.DataFrame:
    return make_tabular(300, seed=2, anomalies=15)


def test_public_import() -> None:
    import anomaly

    assert anomaly.Detector is Detector
    assert "Detector" in anomaly.__all__


# ------------------------------------------------------------------ basics
def test_roles_are_never_features(fitted: Detector, test_frame: pd.DataFrame) -> None:
    assert fitted.features_.feature_columns == FEATURES
    assert set(fitted.features_.role_columns) == {"row_id", "ts", "label"}
    # Changing id/time/label values cannot change a score, and they may be absent at score time.
    base = fitted.anomaly_scores(test_frame)
    shuffled = test_frame.assign(row_id="x", label=1 - test_frame["label"])
    np.testing.assert_array_equal(fitted.anomaly_scores(shuffled), base)
    np.testing.assert_array_equal(fitted.anomaly_scores(test_frame.drop(columns=["row_id",
                                                                                  "label"])), base)
    scored = fitted.score_frame(test_frame)
    assert list(scored.columns) == ["row_id", "label", "anomaly_score", "score_percentile",
                                    "is_anomaly", "top_features"]


def test_labelled_anomalies_are_left_out_of_training(fitted: Detector) -> None:
    s = fitted.training_summary_
    assert s["train_rows"] + s["validation_rows"] == 570


def test_scores_explain_and_invariants(fitted: Detector, test_frame: pd.DataFrame) -> None:
    scores = fitted.anomaly_scores(test_frame)
    assert scores.shape == (300,) and np.isfinite(scores).all() and (scores >= 0).all()

    shares = fitted.explain(test_frame)
    assert list(shares.columns) == FEATURES
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-5)
    assert (shares.to_numpy() >= 0).all()

    predict = fitted.predict(test_frame)
    decision = fitted.decision_function(test_frame)
    assert set(np.unique(predict)) <= {-1, 1}
    np.testing.assert_array_equal(predict == -1, scores > fitted.threshold_)
    np.testing.assert_array_equal(decision < 0, predict == -1)
    np.testing.assert_array_equal(fitted.score_samples(test_frame), -scores)
    np.testing.assert_allclose(decision, fitted.threshold_ - scores, rtol=1e-6, atol=1e-9)

    scored = fitted.score_frame(test_frame)
    np.testing.assert_array_equal(scored["is_anomaly"], scores > fitted.threshold_)
    assert scored["score_percentile"].between(0, 1).all()


def test_explain_item_matches_the_row_score(fitted: Detector, test_frame: pd.DataFrame) -> None:
    why = fitted.explain_item(test_frame, 5)
    # one row through the float32 network vs a batch of 300: matrix products round differently
    # (~1e-6), and the neighbour score squares a distance
    assert why.score == pytest.approx(fitted.anomaly_scores(test_frame)[5], rel=1e-4)
    assert why.table.columns.tolist() == ["feature", "value", "reconstruction", "error_share"]
    assert why.table["error_share"].sum() == pytest.approx(1.0)


def test_quality_floor_on_separable_data(fitted: Detector, test_frame: pd.DataFrame) -> None:
    """Anomalies break the a/b correlation; the detector must rank them high."""
    scores = fitted.anomaly_scores(test_frame)
    assert roc_auc_score(test_frame["label"], scores) > 0.9
    top = fitted.score_frame(test_frame).nlargest(5, "anomaly_score")
    assert (test_frame.set_index("row_id").loc[top["row_id"], "label"] == 1).all()
    assert all(feature.split(" ")[0] in {"a", "b", "c"}
               for feature in top["top_features"].str.split(", ").str[0])


def test_unseen_category_scores_higher_without_crashing(fitted: Detector,
                                                        test_frame: pd.DataFrame) -> None:
    normal = test_frame[test_frame["label"] == 0]
    base = fitted.anomaly_scores(normal)
    purple = fitted.anomaly_scores(normal.assign(color="purple"))
    assert np.isfinite(purple).all()
    assert (purple > base).mean() > 0.9
    assert np.median(purple) > np.median(base)


def test_missing_values_are_imputed(fitted: Detector, test_frame: pd.DataFrame) -> None:
    holes = test_frame.copy()
    holes.loc[:9, "a"] = np.nan
    holes.loc[10:19, "color"] = None
    scores = fitted.anomaly_scores(holes)
    assert np.isfinite(scores).all()

    # Missing values in training: a missingness flag is learned for the column.
    train = make_tabular(200, seed=7).drop(columns=["label"])
    train.loc[::10, "a"] = np.nan
    det = Detector(id_col="row_id", **TINY).fit(train)
    assert "a:missing" in det.features_.input_names
    assert np.isfinite(det.anomaly_scores(holes)).all()


def test_inputs_follow_input_names_layout() -> None:
    """Each network input holds what its name says: scaled value, missing flag, one-hot."""
    from anomaly.kinds.tabular.features import CLIP

    train = pd.DataFrame({"a": [1.0, np.nan, 3.0, 5.0] * 10, "b": [10.0, 20.0, 30.0, 40.0] * 10,
                          "c": ["x", "y"] * 20})
    features = Detector(**TINY).fit(train).features_
    test = pd.DataFrame({"a": [np.nan, 3.0, 1e9], "b": [20.0, np.nan, 10.0],
                         "c": ["y", "x", "new"]})
    inputs, keep = features.transform(test)
    assert keep.all()
    col = {name: inputs[:, j] for j, name in enumerate(features.input_names)}
    a = next(n for n in features.numeric if n.name == "a")
    assert a.missing_flag
    np.testing.assert_allclose(col["a"], np.clip((np.array([a.fill, 3.0, 1e9]) - a.center)
                                                 / a.scale, -CLIP, CLIP), rtol=1e-6)
    np.testing.assert_array_equal(col["a:missing"], [1.0, 0.0, 0.0])
    b = next(n for n in features.numeric if n.name == "b")
    assert col["b"][1] == pytest.approx((b.fill - b.center) / b.scale, rel=1e-6)
    onehot = np.stack([v for n, v in col.items() if n.startswith("c=")], axis=1)
    np.testing.assert_array_equal(onehot.sum(axis=1), [1.0, 1.0, 1.0])
    assert col["c=y"][0] == 1.0 and col["c=x"][1] == 1.0


def test_same_seed_same_model(small: pd.DataFrame) -> None:
    import torch

    torch.manual_seed(12345)  # global RNG state left by earlier work must not matter
    first = Detector(id_col="row_id", seed=3, **TINY).fit(small)
    torch.manual_seed(54321)
    second = Detector(id_col="row_id", seed=3, **TINY).fit(small)
    pd.testing.assert_frame_equal(first.history_, second.history_)
    np.testing.assert_array_equal(first.anomaly_scores(small), second.anomaly_scores(small))


def test_save_and_load(fitted: Detector, test_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "models" / "api")
    assert path == tmp_path / "models" / "api" / "v1"
    loaded = Detector.load(path)
    np.testing.assert_array_equal(loaded.anomaly_scores(test_frame),
                                  fitted.anomaly_scores(test_frame))
    assert loaded.features_.feature_columns == FEATURES
    same = Detector.load("api", tmp_path / "models")
    assert same.bundle_path_ == path


def test_numpy_input(test_frame: pd.DataFrame) -> None:
    x = test_frame[["a", "b", "c"]].to_numpy()
    det = Detector(**TINY).fit(x)
    assert det.n_features_in_ == 3
    assert det.anomaly_scores(x).shape == (300,)
    with pytest.raises(ValueError, match="features"):
        det.predict(x[:, :2])


# ---------------------------------------------------------------- config file
def test_config_file_with_cli_overrides(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = make_tabular(200, seed=3).drop(columns=["label"])
    data["level"] = rng.integers(1, 5, size=len(data))  # numbers that are really categories
    path = tmp_path / "train.csv"
    data.to_csv(path, index=False)
    config = tmp_path / "cfg.toml"
    config.write_text('[data]\nid_col = "row_id"\ncolumn_types = { level = "categorical" }\n\n'
                      '[model]\nhidden = [6, 3]\n\n'
                      '[training]\nmax_epochs = 5\npatience = 0\noptimizer = "sgd"\n')
    result = run_main("train", str(path), "--config", str(config), "--name", "cfg",
                      "--epochs", "2", "--optimizer", "adam", "--no-progress",
                      "--workspace", str(tmp_path))
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "models" / "cfg" / "v1" / "bundle.json").read_text())
    dtypes = {c["name"]: c.get("dtype") for c in meta["schema"]["columns"]}
    assert dtypes["level"] == "categorical" and dtypes["a"] == "numeric"
    assert {c["name"]: c["role"] for c in meta["schema"]["columns"]}["row_id"] == "id"
    assert meta["network"]["args"]["hidden"] == [6, 3]  # from the file
    assert meta["training"]["epochs_run"] == 2  # --epochs beats max_epochs = 5
    assert meta["settings"]["training"]["optimizer"] == "adam"  # --optimizer beats the file
    assert meta["settings"]["training"]["patience"] == 0  # file value kept

    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nepocs = 3\n")
    refused = run_main("train", str(path), "--config", str(bad), "--workspace", str(tmp_path))
    assert refused.returncode == 2 and "epocs" in refused.stderr and "max_epochs" in refused.stderr


# ------------------------------------------------------------ training options
@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return make_tabular(160, seed=4).drop(columns=["label"])


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop", "adagrad"])
def test_every_optimizer_trains_and_records_history(optimizer: str, small: pd.DataFrame,
                                                    tmp_path: Path) -> None:
    det = Detector(optimizer=optimizer, id_col="row_id", **TINY).fit(small)
    assert det.settings_.training.optimizer == optimizer
    path = det.save(tmp_path, "opt")
    history = pd.read_csv(path / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "lr", "grad_norm"]
    assert history["epoch"].tolist() == [1, 2]
    assert np.isfinite(history.drop(columns="epoch").to_numpy()).all()
    assert (history[["train_loss", "val_loss", "grad_norm"]] > 0).all().all()


@pytest.mark.parametrize(("options", "lrs"), [
    ({"norm": "batch", "residual": True, "dropout": 0.2, "schedule": "step"},
     [1e-3, 3e-4, 9e-5]),
    ({"norm": "none", "l1": 1e-4, "noise": 0.1, "schedule": "plateau"}, [1e-3, 1e-3, 1e-3]),
    ({"norm": "layer", "activation": "relu", "schedule": "none", "gradient_clip": 0.0},
     [1e-3, 1e-3, 1e-3]),
    ({"activation": "tanh", "schedule": "cosine", "hidden": (8, 4, 2)}, None),
], ids=["batchnorm-residual-dropout-step", "nonorm-l1-noise-plateau", "layernorm-relu-const",
        "tanh-cosine-deep"])
def test_network_options_and_schedules(options: dict, lrs: list[float] | None,
                                       small: pd.DataFrame) -> None:
    det = Detector(id_col="row_id", **{**TINY, "max_epochs": 3}, **options).fit(small)
    history = det.history_
    assert len(history) == 3 and np.isfinite(history["train_loss"]).all()
    for key, value in options.items():
        section = "model" if key in ("norm", "residual", "dropout", "activation", "hidden") \
            else "training"
        assert getattr(getattr(det.settings_, section), key) == value
    if lrs is not None:
        np.testing.assert_allclose(history["lr"], lrs, rtol=1e-6)
    else:  # cosine: strictly decreasing from the initial rate
        assert history["lr"].iloc[0] == pytest.approx(1e-3)
        assert (np.diff(history["lr"]) < 0).all()
    assert np.isfinite(det.anomaly_scores(small)).all()


def test_early_stopping(tmp_path: Path) -> None:
    """b = a is learned at once; validation loss stops improving and training stops early."""
    x = np.random.default_rng(0).normal(size=40)
    frame = pd.DataFrame({"a": x, "b": x})
    stopped = Detector(max_epochs=100, patience=2, batch_size=8, lr=0.01,
                       progress_bar=False).fit(frame)
    run = stopped.training_summary_["epochs_run"]
    assert 5 <= run < 100  # at least min_epochs, then stop
    assert run - stopped.training_summary_["best_epoch"] >= 2  # stopped for lack of progress
    full = Detector(max_epochs=8, patience=0, batch_size=8, lr=0.01,
                    progress_bar=False).fit(frame)
    assert full.training_summary_["epochs_run"] == 8  # patience 0: early stopping off

    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    result = run_main("train", str(path), "--name", "p0", "--patience", "0", "--epochs", "7",
                      "--batch-size", "8", "--no-progress", "--workspace", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "trained p0: 7 epochs" in result.stdout
