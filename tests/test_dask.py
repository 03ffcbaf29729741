"""Scale-out with dask: lazy transform, joblib's dask backend, out-of-core extraction.

The oracle throughout is the in-memory ``transform`` (or a sequential joblib run).
One loopback-only LocalCluster (2 worker processes, 1 thread each) serves the
whole module, so the estimator really is pickled to other processes.
"""
import importlib
import json
import pickle

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="dask is an optional dependency (pip install 'skgrad[dask]')")
da = pytest.importorskip("dask.array", reason="dask[array] is an optional dependency")
distributed = pytest.importorskip("distributed", reason="distributed is an optional dependency")

import joblib  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skgrad import ActivationFeatureTransformer, GradientFeatureTransformer  # noqa: E402
from skgrad.dask import dask_transform  # noqa: E402
from skgrad.datasets import ImageFolderArray, read_image  # noqa: E402
from skgrad.extract import extract  # noqa: E402

from numerics import RTOL, assert_allclose_blocks  # noqa: E402

def _one_torch_thread(fn):
    """Run ``fn`` here with one torch thread, as on the workers (nanny sets OMP_NUM_THREADS=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def _assert_close_to_in_memory(got, est, X):
    """Against the in-memory transform of all of ``X`` in this process, block by block
    at the float32 tolerance of tests/numerics.py.

    Not bit for bit: float32 features depend in their last bits on which samples
    share a batch and on the torch/BLAS thread setup (the workers get theirs from
    OMP_NUM_THREADS=1 at start-up, this process from ``torch.set_num_threads``), in
    memory too: measured <= 4.5 float32 eps of each block's largest value.
    """
    expected = est.transform(np.asarray(X))
    assert_allclose_blocks(got, expected, est.get_feature_names_out())


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        # a free port: None still binds distributed's HTTP server to 8787, which another
        # cluster (the other pytest worker's) may hold, and distributed then warns
        dashboard_address=":0",
        host="127.0.0.1",
        protocol="tcp",
    )
    c = distributed.Client(cluster, set_as_default=False)
    c.run(importlib.import_module, "skgrad")  # import torch on the workers here, not in a test
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).randint(0, 256, size=(30, 12, 12, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def gft(images):
    return GradientFeatureTransformer(epochs=1, batch_size=8, random_state=0, device="cpu").fit(images)


@pytest.fixture(scope="module")
def aft(images):
    return ActivationFeatureTransformer(epochs=1, batch_size=8, random_state=0, device="cpu").fit(images)


# ------------------------------------------------------------------ transform
@pytest.mark.parametrize("which", ["gft", "aft"])
def test_transform_on_cluster_equals_in_memory(request, client, images, which):
    est = request.getfixturevalue(which)
    # chunked along every axis: dask_transform must keep only the sample split
    X = da.from_array(images, chunks=(7, 5, 12, 2))
    with client.as_current():
        Z = est.transform(X)
        assert isinstance(Z, da.Array)
        assert Z.dtype == np.float32
        assert Z.shape == (30, est.n_features_out_)
        assert Z.chunks == ((7, 7, 7, 7, 2), (est.n_features_out_,))
        # the estimator was scattered to both workers once, not embedded in tasks
        graph = Z.__dask_graph__()
        assert len(pickle.dumps(dict(graph))) < len(pickle.dumps(images)) + len(pickle.dumps(est)) // 4
        got = Z.compute()
    assert got.dtype == np.float32
    _assert_close_to_in_memory(got, est, images)


def test_transform_with_explicit_client_and_whole_batch_chunks(client, images, gft):
    # Chunks a multiple of batch_size give the workers the same batches as the
    # in-memory transform, and both run one torch thread; still compared at float32
    # tolerance, not bit for bit: the workers set their single thread through
    # OMP_NUM_THREADS at start-up and this process through torch.set_num_threads,
    # which may select other BLAS kernels (the dense preset's small GEMMs differed in
    # the last bit between a worker and this process).
    Z = dask_transform(gft, da.from_array(images, chunks=(16, 12, 12, 3)), client=client)
    assert Z.chunks[0] == (16, 14)
    got = client.compute(Z).result()
    expected = _one_torch_thread(lambda: gft.transform(images))
    assert_allclose_blocks(got, expected, gft.get_feature_names_out())


def test_transform_grayscale_and_rows(client):
    rng = np.random.RandomState(1)
    gray = rng.randint(0, 256, size=(20, 10, 10), dtype=np.uint8)
    g = GradientFeatureTransformer("cae", epochs=1, batch_size=8, random_state=0, device="cpu").fit(gray)
    rows = rng.rand(25, 6).astype(np.float32)
    a = ActivationFeatureTransformer("dense", epochs=1, batch_size=8, random_state=0, device="cpu").fit(rows)
    with client.as_current():
        zg = g.transform(da.from_array(gray, chunks=(6, 10, 3))).compute()
        za = a.transform(da.from_array(rows, chunks=(10, 6))).compute()
    _assert_close_to_in_memory(zg, g, gray)
    _assert_close_to_in_memory(za, a, rows)


def test_local_threaded_scheduler_shares_one_estimator_safely(images, aft):
    # No cluster: dask's threaded scheduler runs blocks concurrently on the SAME
    # estimator object, whose transform registers hooks on the shared module.
    # Without per-thread copies these features come out mixed between blocks.
    X = da.from_array(np.concatenate([images] * 4), chunks=(4, 12, 12, 3))
    Z = dask_transform(aft, X)
    assert len(dict(Z.__dask_graph__())) < 3 * Z.numblocks[0] + 2  # blocks + one estimator node
    with dask.config.set(scheduler="threads", num_workers=4):
        got = Z.compute()
    _assert_close_to_in_memory(got, aft, np.concatenate([images] * 4))


def test_transform_checks_shape_lazily(gft):
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        gft.transform(da.zeros((4, 10, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="dimensions"):
        gft.transform(da.zeros((4, 12, 12, 3, 1), dtype=np.uint8))


def _hide_cuda_on_worker():
    torch.cuda._skgrad_test_is_available = torch.cuda.is_available
    torch.cuda.is_available = lambda: False


def _restore_cuda_on_worker():
    torch.cuda.is_available = torch.cuda.__dict__.pop("_skgrad_test_is_available")


# distributed also unpickles the scattered copy once in this process
@pytest.mark.filterwarnings("ignore:this model was fitted on cuda.0:UserWarning")
def test_cuda_fitted_model_runs_on_cpu_workers(client, images, gft, monkeypatch):
    # CPU-only workers (and this process) are simulated, so that the CUDA -> CPU
    # fallback is tested on a GPU machine too.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    client.run(_hide_cuda_on_worker)
    try:
        # The state a model fitted on cuda:0 pickles to: device_ "cuda:0" (its module is
        # always pickled from the CPU).  This object cannot run here ...
        cuda_fitted = pickle.loads(pickle.dumps(gft))
        cuda_fitted.device_ = torch.device("cuda:0")
        with pytest.warns(UserWarning, match="fitted on cuda:0"):
            assert pickle.loads(pickle.dumps(cuda_fitted)).device_ == torch.device("cpu")
        # ... but the workers unpickle it onto their CPU and give the same features.
        Z = dask_transform(cuda_fitted, da.from_array(images, chunks=(10, 12, 12, 3)), client=client)
        _assert_close_to_in_memory(client.compute(Z).result(), gft, images)
        ref = client.scatter(cuda_fitted, broadcast=True)
        workers = list(client.scheduler_info()["workers"])
        devices = client.gather([client.submit(_device_of, ref, w, workers=[w], pure=False) for w in workers])
        assert devices == ["cpu", "cpu"]
        del ref
    finally:
        client.run(_restore_cuda_on_worker)


def _device_of(estimator, worker):
    return str(estimator.device_)


def test_workers_use_one_torch_thread(client):
    # Documented in docs/scaling.md: nanny-started workers get OMP_NUM_THREADS=1.
    assert set(client.run(torch.get_num_threads).values()) == {1}


# --------------------------------------------------------------- joblib backend
def _tabular():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 8).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1.0).astype(int)
    return X, y


def _pipeline():
    return make_pipeline(
        GradientFeatureTransformer(module="dense", epochs=2, batch_size=16, random_state=0, device="cpu"),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )


def test_grid_search_and_cross_val_score_under_dask_backend(client):
    X, y = _tabular()
    grid = {
        "gradientfeaturetransformer__reduction": [None, "stats"],
        "logisticregression__C": [0.01, 1.0],
    }
    cv = KFold(3, shuffle=True, random_state=0)

    def search():
        return GridSearchCV(_pipeline(), grid, cv=cv, n_jobs=-1).fit(X, y)

    def scores():
        return cross_val_score(_pipeline(), X, y, cv=cv, n_jobs=-1, scoring="neg_log_loss")

    with client.as_current(), joblib.parallel_config(backend="dask"):
        with distributed.get_task_stream(client) as stream:
            gs = search()
            cvs = scores()
    ran = [t for t in stream.data if "fit_and_score" in t["key"] or "batch_of" in t["key"]]
    assert {t["worker"] for t in ran} == set(client.scheduler_info()["workers"])  # both workers worked

    with joblib.parallel_config(backend="sequential"):
        gs_ref = _one_torch_thread(search)
        cvs_ref = _one_torch_thread(scores)
    # Accuracies count correct predictions: equal unless a sample lies within float32
    # rounding of the decision boundary; the log losses at the float32 tolerance
    # (other processes: see _assert_close_to_in_memory).
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(gs.cv_results_[key], gs_ref.cv_results_[key])
    assert gs.best_params_ == gs_ref.best_params_
    np.testing.assert_allclose(cvs, cvs_ref, rtol=RTOL)
    assert np.all(np.isfinite(cvs))


# -------------------------------------------------------------------- extract
def _write_pngs(folder, images, mode="RGB"):
    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img if mode == "RGB" else img[..., 0]).convert(mode).save(folder / f"img_{i:03d}.png")
    return folder


def test_extract_png_folder_to_npy(client, tmp_path, images, gft):
    folder = _write_pngs(tmp_path / "pngs", images)
    (folder / "notes.txt").write_text("not an image")
    out = extract(gft, folder, tmp_path / "feats.npy", chunk_size=8, client=client)
    assert out == tmp_path / "feats.npy"
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (30, gft.n_features_out_)
    _assert_close_to_in_memory(got, gft, images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.npy", "pngs"]  # no leftovers


def test_extract_converts_mode_and_resizes_with_the_one_reader(client, tmp_path, images, gft):
    # the workers read the files with skgrad.datasets.read_image, as everything else does
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(images[0]).convert("RGBA").save(folder / "a.png")
    Image.fromarray(images[1]).convert("L").save(folder / "b.png")
    big = np.random.RandomState(3).randint(0, 256, size=(20, 18, 3), dtype=np.uint8)
    Image.fromarray(big).save(folder / "sub" / "c.png")  # subfolders are listed too
    out = extract(gft, folder, tmp_path / "f.npy", chunk_size=2, client=client)
    resized = np.asarray(Image.fromarray(big).resize((12, 12), Image.Resampling.BICUBIC))
    gray = np.asarray(Image.fromarray(images[1]).convert("L"))
    expected = np.stack([images[0], np.repeat(gray[..., None], 3, axis=2), resized])
    np.testing.assert_array_equal(expected, np.stack([read_image(p, size=12) for p in
                                                      (folder / "a.png", folder / "b.png", folder / "sub" / "c.png")]))
    _assert_close_to_in_memory(np.load(out), gft, expected)
    strict = ImageFolderArray([folder / "sub" / "c.png"], (12, 12), resize=False)
    with pytest.raises(ValueError, match="resize=True"):
        extract(gft, strict, tmp_path / "g.npy", client=client)
    assert not (tmp_path / "g.npy").exists()


def test_extract_dask_array_to_npy_without_cluster(tmp_path, images, aft):
    X = da.from_array(images, chunks=(11, 12, 12, 3))
    out = extract(aft, X, tmp_path / "f.npy", chunk_size=8)  # this process, one chunk after another
    _assert_close_to_in_memory(np.load(out), aft, images)
    with pytest.raises(FileExistsError):
        extract(aft, X, out)
    extract(aft, X[:5], out, overwrite=True)
    _assert_close_to_in_memory(np.load(out), aft, images[:5])


def test_extract_failure_on_a_worker_leaves_no_output_and_resumes(client, tmp_path, images, gft):
    folder = _write_pngs(tmp_path / "pngs", images[:6])
    good = (folder / "img_004.png").read_bytes()
    (folder / "img_004.png").write_bytes(b"this is not a png")  # fails on a worker
    out = tmp_path / "feats.npy"
    with pytest.raises(Exception, match="cannot identify image file"):
        extract(gft, folder, out, chunk_size=2, client=client)
    assert not out.exists()  # never a truncated output
    meta = json.loads((tmp_path / "feats.npy.partial.json").read_text())
    assert 4 not in meta["chunks_done"] and meta["rows_done"] == 2 * len(meta["chunks_done"]) <= 4
    # the same folder, repaired: the interrupted run is resumed on the cluster
    (folder / "img_004.png").write_bytes(good)
    extract(gft, folder, out, chunk_size=2, client=client, resume=True)
    _assert_close_to_in_memory(np.load(out), gft, images[:6])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.npy", "pngs"]


def test_extract_to_zarr(client, tmp_path, images, gft):
    zarr = pytest.importorskip("zarr", reason="zarr output is optional")
    out = extract(gft, da.from_array(images, chunks=7), tmp_path / "f.zarr", chunk_size=5, client=client)
    z = zarr.open_array(str(out), mode="r")
    assert z.shape == (30, gft.n_features_out_) and z.chunks == (8, gft.n_features_out_)  # 5 -> whole batch
    _assert_close_to_in_memory(z[:], gft, images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.zarr"]


def test_extract_rejects_row_model_with_paths(tmp_path):
    rows = np.random.RandomState(0).rand(10, 4).astype(np.float32)
    a = ActivationFeatureTransformer("dense", epochs=0, random_state=0, device="cpu").fit(rows)
    with pytest.raises(ValueError, match="not on images"):
        extract(a, [tmp_path / "x.png"], tmp_path / "f.npy")
    with pytest.raises(ValueError, match=r"\.npy or \.zarr"):
        extract(a, rows, tmp_path / "f.csv")


# --------------------------------------------------------------------------- #
# one image reader: the same folder gives the same features on every path, the CLI's
# --scheduler included (in test_dask.py for its cluster of worker processes)
# --------------------------------------------------------------------------- #
def _mixed_folder(root):
    """PNG, JPEG and BMP files, RGB and greyscale, of several sizes, in subfolders; plus a non-image."""
    from skgrad.datasets import load_digits_images

    rng = np.random.RandomState(7)
    imgs = np.repeat(load_digits_images(size=28).images[:18, ..., None], 3, axis=-1)
    specs = []
    for i, img in enumerate(imgs):
        size = (28, 28) if i % 3 == 0 else ((40, 33) if i % 3 == 1 else (17, 21))
        mode = "L" if i % 4 == 1 else "RGB"
        fmt = ("png", "jpg", "bmp")[i % 3]
        folder = root / ("a" if i < 6 else "b/c" if i < 12 else "d")
        folder.mkdir(parents=True, exist_ok=True)
        noisy = np.clip(img.astype(int) + rng.randint(-20, 21, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).convert(mode).resize(size[::-1]).save(folder / f"{i:02d}.{fmt}")
        specs.append((folder / f"{i:02d}.{fmt}", mode))
    (root / "a" / "notes.txt").write_text("not an image")
    return specs


def test_same_folder_same_features_from_every_entry_point(client, tmp_path):
    """`skgrad extract` (local, and --scheduler on this module's loopback cluster), extract() on
    the folder, and list_images + read_images + transform: one reader, one listing, the same
    features."""
    from skgrad.cli import main
    from skgrad.datasets import list_images, read_images
    from skgrad.persistence import save

    specs = _mixed_folder(tmp_path / "imgs")
    paths = list_images(tmp_path / "imgs")
    assert sorted(paths) == sorted(p for p, _ in specs) and len(paths) == 18  # recursive, images only
    X = read_images(paths, 28)
    assert X.shape == (18, 28, 28, 3)

    def fit_transform_extract():
        est = GradientFeatureTransformer(epochs=1, batch_size=4, random_state=0, device="cpu").fit(X)
        return est, est.transform(X), np.load(extract(est, tmp_path / "imgs", tmp_path / "api.npy"))

    est, expected, from_folder = _one_torch_thread(fit_transform_extract)
    np.testing.assert_array_equal(from_folder, expected)  # extract() given the folder, in this process
    model = save(est, tmp_path / "m.skgrad")
    common = ["extract", "--model", str(model), "--images", str(tmp_path / "imgs"), "--batch-size", "4",
              "--device", "cpu"]
    # the command, one torch thread as above: bit for bit
    assert main([*common, "--out", str(tmp_path / "local.npy"), "--threads", "1"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "local.npy"), expected)
    rel = [p.relative_to(tmp_path / "imgs").as_posix() for p in paths]
    assert (tmp_path / "local.npy.paths.txt").read_text().splitlines() == rel
    # on a loopback cluster of worker processes, which read the files themselves: their torch and
    # BLAS set-up differs from this process's, so float32 tolerance per block (tests/numerics.py)
    assert main([*common, "--out", str(tmp_path / "remote.npy"), "--scheduler", client.scheduler.address,
                 "--chunk-size", "8"]) == 0
    assert_allclose_blocks(np.load(tmp_path / "remote.npy"), expected, est.get_feature_names_out())
    assert (tmp_path / "remote.npy.paths.txt").read_text().splitlines() == rel
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name]
