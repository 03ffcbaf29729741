"""skgrad.persistence: save/load round trips (transformers, detector, IQA, version-1 files), errors, and that
load never runs code from the file.  Crafted files: test_persistence_checks.py and test_persistence_fuzz.py."""
import io
import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from torch import nn

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad import persistence
from skgrad.iqa import PairedGradientTransformer, SparsePatchAutoencoder
from skgrad.outlier import GradientOutlierDetector
from skgrad.persistence import load, save

TRANSFORMERS = [GradientFeatureTransformer, ActivationFeatureTransformer]


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).randint(0, 256, size=(24, 12, 12, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def rows():
    return np.random.RandomState(1).rand(30, 7)


def _fit(cls, X, **kw):
    kw.setdefault("epochs", 1)
    kw.setdefault("random_state", 0)
    kw.setdefault("device", "cpu")
    kw.setdefault("batch_size", 8)
    return cls(**kw).fit(X)


def _same_params(a, b):
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert pa.keys() == pb.keys()
    for k in pa:
        if isinstance(pa[k], nn.Module):
            continue
        if isinstance(pa[k], np.random.RandomState):
            sa, sb = pa[k].get_state(), pb[k].get_state()
            assert sa[0] == sb[0] and np.array_equal(sa[1], sb[1]) and sa[2:] == sb[2:]
            continue
        assert pa[k] == pb[k] and type(pa[k]) is type(pb[k]), k


def _assert_round_trip(est, loaded, X):
    assert type(loaded) is type(est)
    # every attribute that fit (and set_output) set, public and private, is restored
    assert sorted(vars(loaded)) == sorted(vars(est))
    _same_params(est, loaded)
    assert loaded._fitted_attributes() == est._fitted_attributes()
    for attr in est._fitted_attributes():
        if attr in ("module_", "device_", "feature_names_in_"):
            continue
        a, b = getattr(loaded, attr), getattr(est, attr)
        assert type(a) is type(b), attr
        if attr == "validation_history_" and b is not None:  # may hold NaN (epochs without validation)
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b, attr
    assert loaded.device_ == est.device_
    # the private transform-time state that fit's _prepare_transform sets
    if isinstance(est, GradientFeatureTransformer):
        assert loaded._blocks == est._blocks
        assert loaded._engine.module is loaded.module_
        assert loaded._engine.spec == est._engine.spec
    else:
        assert loaded._sizes == est._sizes
    assert loaded.module_ is not est.module_
    assert not loaded.module_.training
    for (ka, va), (kb, vb) in zip(est.module_.state_dict().items(), loaded.module_.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert all(p.requires_grad for p in loaded.module_.parameters())
    np.testing.assert_array_equal(loaded.get_feature_names_out(), est.get_feature_names_out())
    out = loaded.transform(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, est.transform(X))


@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("preset", ["vae", "cae", "dense"])
def test_round_trip_presets(cls, preset, images, tmp_path):
    kw = {"module_kwargs": {"channels": (4, 8)}} if preset == "cae" else {}
    est = _fit(cls, images, module=preset, **kw)
    path = save(est, tmp_path / "est.skgrad")
    assert path == str(tmp_path / "est.skgrad")
    loaded = load(path)
    _assert_round_trip(est, loaded, images)
    if preset == "cae":  # tuples inside module_kwargs come back as tuples
        assert loaded.module_kwargs == {"channels": (4, 8)}
        assert isinstance(loaded.module_kwargs["channels"], tuple)


def test_round_trip_tabular_dense(rows, tmp_path):
    for cls in TRANSFORMERS:
        est = _fit(cls, rows, module="dense", loss="mse", module_kwargs={"hidden_sizes": (5,), "latent_dim": 3})
        loaded = load(save(est, tmp_path / "d.skgrad"))
        _assert_round_trip(est, loaded, rows)


@pytest.mark.parametrize("reduction", [None, "norm", "stats"])
def test_round_trip_reductions(reduction, images, tmp_path):
    est = _fit(GradientFeatureTransformer, images, reduction=reduction)
    loaded = load(save(est, tmp_path / "r.skgrad"))
    assert loaded.reduction == reduction
    _assert_round_trip(est, loaded, images)


def test_round_trip_layers_loss_and_pooling(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images, loss=("mse", "kld"),
               layers={"mse": ["up.0.bias", "up.6.weight"], "kld": ["fc11.weight"]})
    loaded = load(save(est, tmp_path / "g.skgrad"))
    assert loaded.layers == est.layers and loaded.loss == ("mse", "kld")
    _assert_round_trip(est, loaded, images)

    act = _fit(ActivationFeatureTransformer, images, module="cae", layers=["encoder.0", "encoder"],
               pooling="avg", module_kwargs={"channels": (4, 8)})
    loaded = load(save(act, tmp_path / "a.skgrad"))
    _assert_round_trip(act, loaded, images)


def test_flat_input_with_image_shape(images, tmp_path):
    flat = images.reshape(len(images), -1)
    est = _fit(GradientFeatureTransformer, flat, image_shape=(12, 12, 3))
    loaded = load(save(est, tmp_path / "f.skgrad"))
    assert loaded.image_shape == (12, 12, 3) and loaded.image_shape_ == (12, 12, 3)
    _assert_round_trip(est, loaded, flat)
    np.testing.assert_array_equal(loaded.transform(images), est.transform(images))


def test_random_state_instance_and_torch_device_params(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images, random_state=np.random.RandomState(3),
               device=torch.device("cpu"))
    loaded = load(save(est, tmp_path / "rs.skgrad"))
    assert isinstance(loaded.random_state, np.random.RandomState)
    assert loaded.device == torch.device("cpu")
    _assert_round_trip(est, loaded, images)


def test_unstorable_parameter_is_refused_at_save(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images)
    est.set_params(batch_size=object())  # a value that has no JSON form
    with pytest.raises(TypeError, match="batch_size.*cannot be stored"):
        save(est, tmp_path / "x.skgrad")
    assert not (tmp_path / "x.skgrad").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file is left behind


class TinyAE(nn.Module):
    def __init__(self, hidden=6):
        super().__init__()
        self.enc = nn.Linear(12 * 12, hidden)
        self.dec = nn.Linear(hidden, 12 * 12)

    def forward(self, x):
        return torch.sigmoid(self.dec(torch.relu(self.enc(x.flatten(1))))).view_as(x)


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_round_trip_user_module(cls, images, tmp_path):
    grey = images[..., 0]
    kw = {"layers": ["enc"]} if cls is ActivationFeatureTransformer else {}
    est = _fit(cls, grey, module=TinyAE(), loss="bce", **kw)
    path = save(est, tmp_path / "u.skgrad")

    with pytest.raises(ValueError, match=r"user module \(.*TinyAE\).*pass module="):
        load(path)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        load(path, module=TinyAE)  # the class, not an instance

    fresh = TinyAE()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    loaded = load(path, module=fresh)
    assert loaded.module is fresh and loaded.module_ is not fresh
    for k, v in fresh.state_dict().items():  # the instance passed is never changed
        assert torch.equal(v, before[k])
    _assert_round_trip(est, loaded, grey)

    with pytest.raises(ValueError, match=str(tmp_path / "u.skgrad") + ".*do not fit module=TinyAE"):
        load(path, module=TinyAE(hidden=5))


def test_preset_refuses_module_argument(images, tmp_path):
    path = save(_fit(ActivationFeatureTransformer, images, module="cae"), tmp_path / "p.skgrad")
    with pytest.raises(ValueError, match="preset module='cae'"):
        load(path, module=TinyAE())


class MyGradients(GradientFeatureTransformer):
    """A user subclass: loadable once its class is defined (imported)."""


def test_round_trip_user_subclass(images, tmp_path):
    est = _fit(MyGradients, images, reduction="norm")
    loaded = load(save(est, tmp_path / "s.skgrad"))
    assert type(loaded) is MyGradients
    _assert_round_trip(est, loaded, images)


def test_dataframe_feature_names_and_set_output(rows, tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(rows, columns=[f"c{i}" for i in range(rows.shape[1])])
    est = _fit(GradientFeatureTransformer, df, module="dense", loss="mse").set_output(transform="pandas")
    loaded = load(save(est, tmp_path / "df.skgrad"))
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    out, ref = loaded.transform(df), est.transform(df)
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_frame_equal(out, ref)
    with pytest.raises(ValueError, match="feature names"):
        loaded.transform(df.rename(columns={"c0": "other"}))


def test_loaded_estimator_keeps_training_like_the_original(images, tmp_path):
    """warm_start from the loaded weights continues exactly as from the original ones."""
    est = _fit(GradientFeatureTransformer, images, warm_start=True)
    loaded = load(save(est, tmp_path / "w.skgrad"))
    est.fit(images)
    loaded.fit(images)
    assert len(loaded.history_) == 2 and loaded.history_ == est.history_
    np.testing.assert_array_equal(loaded.transform(images), est.transform(images))


def test_loaded_estimator_clones_pickles_and_refits(images, tmp_path):
    est = _fit(ActivationFeatureTransformer, images)
    loaded = load(save(est, tmp_path / "c.skgrad"))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(loaded)).transform(images), est.transform(images))
    np.testing.assert_array_equal(clone(loaded).fit(images).transform(images), clone(est).fit(images).transform(images))


def test_load_leaves_the_global_torch_rng_alone(images, tmp_path):
    path = save(_fit(GradientFeatureTransformer, images), tmp_path / "g.skgrad")
    before = torch.random.get_rng_state()
    load(path)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_save_overwrites(images, tmp_path):
    a = _fit(GradientFeatureTransformer, images, random_state=0)
    b = _fit(GradientFeatureTransformer, images, random_state=1)
    path = tmp_path / "o.skgrad"
    save(a, path)
    save(b, path)
    np.testing.assert_array_equal(load(path).transform(images), b.transform(images))
    assert [p.name for p in tmp_path.iterdir()] == ["o.skgrad"]


def test_file_layout_is_json_and_a_state_dict(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images)
    path = save(est, tmp_path / "l.skgrad")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["params.json", "state_dict.pt"]  # no arrays: no arrays.npz
        meta = json.loads(zf.read("params.json"))
        state = torch.load(io.BytesIO(zf.read("state_dict.pt")), weights_only=True)
    import skgrad

    assert meta["format"] == "skgrad-estimator" and meta["format_version"] == 2 == persistence.FORMAT_VERSION
    assert meta["skgrad_version"] == skgrad.__version__
    node = meta["estimator"]["__estimator__"]
    assert node["class"] == "skgrad.transformers.GradientFeatureTransformer"
    assert node["fitted"]["history_"] == est.history_
    assert node["fitted"]["module_"] == {"__torch_module__": "m0"}
    assert node["fitted"]["device_"] == {"__torch_device__": "cpu"}
    assert set(state) == {f"m0/{k}" for k in est.module_.state_dict()}


# ------------------------------------------------------------------ devices
def _rewrite(path, out, edit_meta=None, state_bytes=None):
    """Copy the archive at ``path`` to ``out``, editing params.json and/or replacing state_dict.pt."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(members["params.json"])
    if edit_meta:
        edit_meta(meta)
    members["params.json"] = json.dumps(meta).encode()
    if state_bytes is not None:
        members["state_dict.pt"] = state_bytes
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _node(meta):
    """The top estimator's node in a version-2 params.json."""
    return meta["estimator"]["__estimator__"]


def test_explicit_device(images, tmp_path, monkeypatch):
    est = _fit(GradientFeatureTransformer, images)
    path = save(est, tmp_path / "d.skgrad")
    loaded = load(path, device="cpu")
    assert loaded.device_ == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine, also on a GPU one
    with pytest.raises(ValueError, match="CUDA is not available"):
        load(path, device="cuda")


def test_model_fitted_on_cuda_loads_on_the_cpu(images, tmp_path, monkeypatch):
    est = _fit(GradientFeatureTransformer, images)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine, also on a GPU one
    path = _rewrite(save(est, tmp_path / "a.skgrad"), tmp_path / "cuda.skgrad",
                    edit_meta=lambda m: _node(m)["fitted"].update(device_={"__torch_device__": "cuda:0"}))
    with pytest.warns(UserWarning, match="fitted on cuda:0, which is not available here"):
        loaded = load(path)
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.transform(images), est.transform(images))


# ------------------------------------------------------------------- errors
def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.skgrad"):
        load(tmp_path / "nope.skgrad")


def test_not_an_skgrad_file(images, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt is not an skgrad estimator file.*not a zip"):
        load(text)
    with pytest.raises(ValueError, match="not an skgrad estimator file"):
        load(tmp_path)  # a directory

    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(ValueError, match="other.zip is not an skgrad.*no params.json"):
        load(other_zip)

    est = _fit(GradientFeatureTransformer, images)
    good = save(est, tmp_path / "good.skgrad")
    joblib_like = tmp_path / "est.pkl"  # a pickle is refused before anything is unpickled
    joblib_like.write_bytes(pickle.dumps(est))
    with pytest.raises(ValueError, match="est.pkl is not an skgrad"):
        load(joblib_like)

    no_marker = _rewrite(good, tmp_path / "nomarker.skgrad", edit_meta=lambda m: m.pop("format"))
    with pytest.raises(ValueError, match="nomarker.skgrad is not an skgrad.*format marker"):
        load(no_marker)

    bad_json = tmp_path / "badjson.skgrad"
    with zipfile.ZipFile(bad_json, "w") as zf:
        zf.writestr("params.json", "{not json")
        zf.writestr("state_dict.pt", b"")
    with pytest.raises(ValueError, match="badjson.skgrad is not an skgrad.*not valid JSON"):
        load(bad_json)

    newer = _rewrite(good, tmp_path / "newer.skgrad", edit_meta=lambda m: m.update(format_version=99))
    with pytest.raises(ValueError, match="newer.skgrad was written in skgrad file format version 99"):
        load(newer)

    tensor_only = _rewrite(good, tmp_path / "tensor.skgrad", state_bytes=_torch_bytes(torch.zeros(3)))
    with pytest.raises(ValueError, match="tensor.skgrad is not an skgrad.*not a dict of tensors"):
        load(tensor_only)

    def drop_fitted(m):
        del _node(m)["fitted"]["losses_"]

    broken = _rewrite(good, tmp_path / "broken.skgrad", edit_meta=drop_fitted)
    with pytest.raises(ValueError, match=r"broken.skgrad: params.json: estimator.fitted: .*misses .*losses_"):
        load(broken)

    wrong_weights = _rewrite(good, tmp_path / "weights.skgrad",
                             state_bytes=_torch_bytes({"m0/up.6.weight": torch.zeros(2)}))
    with pytest.raises(ValueError, match=r"weights.skgrad: params.json: estimator.fitted.module_: the saved "
                                         r"weights do not fit the rebuilt preset 'vae': missing \['down.0.bias'"):
        load(wrong_weights)


@pytest.mark.parametrize("name", ["sklearn.decomposition._pca.PCA", "os.system", "skgrad._base.AutoencoderTransformerBase",
                                  "evil_module_never_imported.Thing", None,
                                  "sklearn.preprocessing._data.StandardScaler"])  # allowed nested only
def test_class_that_is_not_an_skgrad_estimator(name, images, tmp_path):
    good = save(_fit(GradientFeatureTransformer, images), tmp_path / "good.skgrad")
    path = _rewrite(good, tmp_path / "cls.skgrad", edit_meta=lambda m: _node(m).update({"class": name}))
    with pytest.raises(ValueError, match=r"cls.skgrad: params.json: estimator.class: names class .* not an "
                                         r"estimator that skgrad.persistence loads"):
        load(path)
    assert "evil_module_never_imported" not in sys.modules  # nothing named in the file is imported


def test_save_refuses_unfitted_and_foreign_objects(tmp_path):
    with pytest.raises(NotFittedError):
        save(GradientFeatureTransformer(), tmp_path / "u.skgrad")
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="fitted skgrad estimator"):
        save(PCA(), tmp_path / "p.skgrad")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------ load never runs code
def _torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


RAN = []


def _payload(*args):
    RAN.append(args)
    return torch.zeros(1)


class Malicious:
    """Unpickling this calls ``_payload`` (it could as well call os.system)."""

    def __reduce__(self):
        return (_payload, ("pwned",))


def test_load_uses_weights_only(images, tmp_path, monkeypatch):
    path = save(_fit(GradientFeatureTransformer, images), tmp_path / "g.skgrad")
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load(path)
    assert calls and all(c.get("weights_only") is True for c in calls)


def test_load_refuses_a_malicious_state_dict(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images)
    good = save(est, tmp_path / "good.skgrad")
    evil_state = dict(est.module_.state_dict())
    evil_state["up.6.weight"] = Malicious()
    evil_bytes = _torch_bytes(evil_state)
    # sanity check: an unrestricted torch.load of these bytes does run the payload
    RAN.clear()
    torch.load(io.BytesIO(evil_bytes), weights_only=False)
    assert RAN == [("pwned",)]

    RAN.clear()
    evil = _rewrite(good, tmp_path / "evil.skgrad", state_bytes=evil_bytes)
    with pytest.raises(ValueError, match="evil.skgrad: refused to load state_dict.pt.*nothing in it was run"):
        load(evil)
    assert RAN == []


# ------------------------------------------------------ version-1 files
DATA = Path(__file__).resolve().parent / "data"


def test_version_1_files_still_load_and_give_the_saved_features():
    """tests/data holds files that skgrad wrote in format version 1 (see tests/data/README.md)."""
    expected = np.load(DATA / "v1_expected.npz")
    gft = load(DATA / "v1_gradient_cae.skgrad")
    aft = load(DATA / "v1_activation_dense.skgrad")
    assert type(gft) is GradientFeatureTransformer and type(aft) is ActivationFeatureTransformer
    # the fixture's features came from this machine's kernels; another CPU's kernels sum in another order
    # (measured with ATEN_CPU_CAPABILITY=default and =avx2: at most 1.7e-7 of the largest feature, i.e. about
    # one float32 ulp), so allow a few float32 ulps of the largest value; wrong weights would differ by O(1)
    for got, want in ((gft.transform(expected["images"]), expected["gradient_features"]),
                      (aft.transform(expected["rows"]), expected["activation_features"])):
        np.testing.assert_allclose(got, want, rtol=0, atol=4 * np.finfo(np.float32).eps * np.abs(want).max())
    assert isinstance(gft.random_state, np.random.RandomState) and gft.module_kwargs == {"channels": (4,)}
    gft.set_params(warm_start=True).fit(expected["images"])  # training continues from the saved weights
    assert gft.n_epochs_ == len(gft.history_) > 2


def test_version_1_random_state_is_checked(tmp_path):
    path = tmp_path / "v1.skgrad"
    with zipfile.ZipFile(DATA / "v1_gradient_cae.skgrad") as zf:
        meta, state = json.loads(zf.read("params.json")), zf.read("state_dict.pt")
    assert meta["format_version"] == 1
    meta["params"]["random_state"]["__random_state__"][2] = 10**6  # issue 11: segfaulted in a later fit
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("params.json", json.dumps(meta))
        zf.writestr("state_dict.pt", state)
    with pytest.raises(ValueError, match=r"v1.skgrad: params.json: estimator.params.random_state.pos: must be an "
                                         r"int in \[0, 624\], got 1000000"):
        load(path)


# --------------------------------------------------- detector and IQA
def _scores(det, X):
    return det.score_samples(X), det.decision_function(X), det.predict(X)


@pytest.mark.parametrize("method", ["mahalanobis", "cosine"])
def test_round_trip_detector(method, tmp_path):
    X = np.random.RandomState(0).randint(0, 256, size=(30, 8, 8), dtype=np.uint8)
    det = GradientOutlierDetector(
        GradientFeatureTransformer(module="cae", module_kwargs={"channels": (4,)}, epochs=1, batch_size=8,
                                   device="cpu"), method=method, random_state=0).fit(X)
    loaded = load(save(det, tmp_path / "det.skgrad"))
    assert type(loaded) is GradientOutlierDetector and sorted(vars(loaded)) == sorted(vars(det))
    for got, want in zip(_scores(loaded, X), _scores(det, X)):
        np.testing.assert_array_equal(got, want)
    assert loaded.offset_ == det.offset_ and loaded.blocks_ == det.blocks_ and loaded._slices == det._slices
    np.testing.assert_array_equal(loaded.validation_indices_, det.validation_indices_)
    assert loaded.validation_indices_.dtype == det.validation_indices_.dtype
    for a, b in zip(loaded.mean_gradients_, det.mean_gradients_):
        np.testing.assert_array_equal(a, b)
    if method == "mahalanobis":
        assert type(loaded.scaler_) is StandardScaler and type(loaded.covariance_) is LedoitWolf
        np.testing.assert_array_equal(loaded.covariance_.get_precision(), det.covariance_.get_precision())
        np.testing.assert_array_equal(loaded.scaler_.scale_, det.scaler_.scale_)
    else:
        assert loaded.scaler_ is None and loaded.covariance_ is None
    assert loaded.transformer.get_params() == det.transformer.get_params()  # the unfitted parameter too
    with zipfile.ZipFile(tmp_path / "det.skgrad") as zf:
        assert sorted(zf.namelist()) == ["arrays.npz", "params.json", "state_dict.pt"]
    # refitting the loaded detector gives the original's fit
    np.testing.assert_array_equal(clone(loaded).fit(X).score_samples(X), clone(det).fit(X).score_samples(X))


def test_detector_with_a_user_module_and_dataframe(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.random.RandomState(1).rand(24, 6), columns=[f"c{i}" for i in range(6)])

    class Rows(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = nn.Linear(6, 3), nn.Linear(3, 6)

        def forward(self, x):
            return self.dec(torch.relu(self.enc(x)))

    det = GradientOutlierDetector(GradientFeatureTransformer(module=Rows(), loss="mse", epochs=1, device="cpu"),
                                  random_state=0).fit(df)
    path = save(det, tmp_path / "rows.skgrad")
    with pytest.raises(ValueError, match=r"user module \(.*Rows\).*pass module="):
        load(path)
    loaded = load(path, module=Rows())
    np.testing.assert_array_equal(loaded.score_samples(df), det.score_samples(df))
    np.testing.assert_array_equal(loaded.feature_names_in_, det.feature_names_in_)


def _pairs():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255).astype(np.uint8)
    return np.stack([np.stack([ref, ref], 1), np.stack([ref, noisy], 1)]).reshape(4, 2, 64, 64, 3)


def test_round_trip_iqa_estimators(tmp_path):
    from sklearn.frozen import FrozenEstimator

    X = _pairs()
    trained = PairedGradientTransformer(
        model=SparsePatchAutoencoder(n_hidden=6, n_patches=200, max_iter=5), scales=(1, 0.5), random_state=0).fit(X)
    model = trained.model_
    for est in (trained, PairedGradientTransformer(model=model, scales=(1, 0.5)).fit(X),
                PairedGradientTransformer(model=FrozenEstimator(model), scales=(1, 0.5)).fit(X)):
        loaded = load(save(est, tmp_path / "pgt.skgrad"))
        np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
        assert loaded.scales_ == est.scales_ and loaded.n_training_references_ == est.n_training_references_
        assert type(loaded.model) is type(est.model)
    assert loaded.model.estimator is not model  # a FrozenEstimator of a copy
    shared = load(save(PairedGradientTransformer(model=model).fit(X), tmp_path / "shared.skgrad"))
    assert shared.model is shared.model_  # one object in the file, one object loaded
    spa = load(save(model, tmp_path / "spa.skgrad"))
    for name in ("W1_", "W2_", "b1_", "b2_"):
        np.testing.assert_array_equal(getattr(spa, name), getattr(model, name))
    assert spa.loss_ == model.loss_ and spa.n_iter_ == model.n_iter_ and spa.get_params() == model.get_params()


def test_iqa_model_from_mat_keeps_its_nan_loss(tmp_path):
    model = SparsePatchAutoencoder(n_hidden=2)
    model._set_params_vector(np.linspace(-1, 1, 2 * 2 * 192 + 2 + 192), 192)
    model.loss_, model.n_iter_ = float("nan"), 0  # as from_mat sets them
    loaded = load(save(model, tmp_path / "mat.skgrad"))
    assert np.isnan(loaded.loss_) and loaded.n_iter_ == 0
    patches = np.random.RandomState(0).rand(5, 192)
    np.testing.assert_array_equal(loaded.decoder_gradient(patches), model.decoder_gradient(patches))


# ---------------------------------------------------- save and load agree
def test_fitted_state_names_match_fit(images):
    """_restore requires _FITTED_STATE: it must name exactly what fit sets (besides _transform_state)."""
    for cls in TRANSFORMERS:
        est = _fit(cls, images)
        public = {k: getattr(est, k) for k in est._fitted_attributes()}
        extra = {k for k in est._transform_state(public) if not k.startswith("_")}
        assert set(est._FITTED_STATE) | extra == set(public)


def test_save_refuses_what_load_would_refuse(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images)
    est.set_params(batch_size=2**17)
    with pytest.raises(ValueError, match=r"estimator.params.batch_size: must be an int in \[1, 65536\]"):
        save(est, tmp_path / "b.skgrad")
    est.set_params(batch_size=8)
    est.best_epoch_ = est.n_epochs_ + 1
    with pytest.raises(ValueError, match=r"estimator.fitted.best_epoch_: must be <= n_epochs_=1"):
        save(est, tmp_path / "b.skgrad")
    assert list(tmp_path.iterdir()) == []


def test_saved_file_has_the_usual_permissions(images, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = save(_fit(GradientFeatureTransformer, images), tmp_path / "perm.skgrad")
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_version_1_feature_names(tmp_path):
    """A version-1 file stored feature_names_in_ as a plain list."""
    path = tmp_path / "names.skgrad"
    with zipfile.ZipFile(DATA / "v1_activation_dense.skgrad") as zf:
        meta, state = json.loads(zf.read("params.json")), zf.read("state_dict.pt")
    meta["fitted"]["feature_names_in_"] = ["a", "b", "c", "d", "e"]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("params.json", json.dumps(meta))
        zf.writestr("state_dict.pt", state)
    loaded = load(path)
    assert loaded.feature_names_in_.dtype == object and list(loaded.feature_names_in_) == ["a", "b", "c", "d", "e"]
    meta["fitted"]["feature_names_in_"] = ["a"]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("params.json", json.dumps(meta))
        zf.writestr("state_dict.pt", state)
    with pytest.raises(ValueError, match=r"names.skgrad: params.json: estimator.fitted.feature_names_in_: must hold "
                                         r"n_features_in_=5 names"):
        load(path)


def test_cli_takes_only_saved_transformers(tmp_path):
    from skgrad.cli import CLIError
    from skgrad.cli._common import load_saved_model

    model = SparsePatchAutoencoder(n_hidden=2)
    model._set_params_vector(np.zeros(2 * 2 * 192 + 2 + 192), 192)
    model.loss_, model.n_iter_ = float("nan"), 0
    path = save(model, tmp_path / "spa.skgrad")
    with pytest.raises(CLIError, match=r"--model .*spa.skgrad: holds a SparsePatchAutoencoder; the CLI takes a saved "
                                       r"gradient or activation transformer"):
        load_saved_model(path, "cpu")
    loaded = load_saved_model(DATA / "v1_gradient_cae.skgrad", "cpu")
    assert isinstance(loaded, GradientFeatureTransformer)


def test_diverged_model_round_trip(rows, tmp_path):
    """A fit whose training loss diverged after the kept epoch records NaN losses: the file still
    loads (the values are a record, not an input)."""
    est = _fit(GradientFeatureTransformer, rows, module="dense", loss="mse")
    est.history_[-1] = float("nan")
    est.validation_history_[-1] = float("nan")
    loaded = load(save(est, tmp_path / "nan.skgrad"))
    np.testing.assert_array_equal(loaded.history_, est.history_)
    np.testing.assert_array_equal(loaded.validation_history_, est.validation_history_)
