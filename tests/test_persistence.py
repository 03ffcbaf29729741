"""skgrad.persistence: save/load round trips, errors, and that load never runs code from the file."""
import io
import json
import pickle
import sys
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer
from skgrad import persistence
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
        assert sorted(zf.namelist()) == ["params.json", "state_dict.pt"]
        meta = json.loads(zf.read("params.json"))
        state = torch.load(io.BytesIO(zf.read("state_dict.pt")), weights_only=True)
    import skgrad

    assert meta["format"] == "skgrad-estimator" and meta["format_version"] == 1
    assert meta["skgrad_version"] == skgrad.__version__
    assert meta["class"] == "skgrad.transformers.GradientFeatureTransformer"
    assert meta["fitted"]["history_"] == est.history_
    assert set(state) == set(est.module_.state_dict())


# ------------------------------------------------------------------ devices
def _rewrite(path, out, edit_meta=None, state_bytes=None):
    """Copy the archive at ``path`` to ``out``, editing params.json and/or replacing state_dict.pt."""
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("params.json"))
        state = zf.read("state_dict.pt")
    if edit_meta:
        edit_meta(meta)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("params.json", json.dumps(meta))
        zf.writestr("state_dict.pt", state if state_bytes is None else state_bytes)
    return out


def test_explicit_device(images, tmp_path):
    est = _fit(GradientFeatureTransformer, images)
    path = save(est, tmp_path / "d.skgrad")
    loaded = load(path, device="cpu")
    assert loaded.device_ == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load(path, device="cuda")


def test_model_fitted_on_cuda_loads_on_the_cpu(images, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the fallback path is for CPU-only machines")
    est = _fit(GradientFeatureTransformer, images)
    path = _rewrite(save(est, tmp_path / "a.skgrad"), tmp_path / "cuda.skgrad",
                    edit_meta=lambda m: m["fitted"].update(device_="cuda:0"))
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
        del m["fitted"]["losses_"]

    broken = _rewrite(good, tmp_path / "broken.skgrad", edit_meta=drop_fitted)
    with pytest.raises(ValueError, match="broken.skgrad is not an skgrad"):
        load(broken)

    wrong_weights = _rewrite(good, tmp_path / "weights.skgrad",
                             state_bytes=_torch_bytes({"up.6.weight": torch.zeros(2)}))
    with pytest.raises(ValueError, match="weights.skgrad: the saved weights do not fit the rebuilt preset 'vae'"):
        load(wrong_weights)


@pytest.mark.parametrize("name", ["sklearn.decomposition._pca.PCA", "os.system", "skgrad._base.AutoencoderTransformerBase",
                                  "evil_module_never_imported.Thing", None])
def test_class_that_is_not_an_skgrad_estimator(name, images, tmp_path):
    good = save(_fit(GradientFeatureTransformer, images), tmp_path / "good.skgrad")
    path = _rewrite(good, tmp_path / "cls.skgrad", edit_meta=lambda m: m.update({"class": name}))
    with pytest.raises(ValueError, match=r"cls.skgrad names class .* not an skgrad estimator"):
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
