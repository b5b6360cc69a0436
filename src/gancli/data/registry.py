"""The registry of known datasets and weights, and where a downloaded one lives on disk.

Layout under the data root (``gancli.paths.data_root``)::

    downloads/<name>/<file>.part   partial downloads (resumed by the next run)
    datasets/<name>/               the ready dataset, holding a ``.complete.json`` marker
        archive kinds:              the extracted image files (flowers/flower_photos/daisy/...)
        idx, cifar-binary kinds:    images.npy (train split, uint8 N,H,W,C) and test_images.npy,
                                    labels.npy and classes.json (the train split's classes)
        oxford-flowers kind:        the extracted jpg/ folder, labels.npy and classes.json for
                                    the files labelled_files.json lists (data/labels.py)
        file kinds:                 the file itself (e.g. the FID Inception weights)

A folder without the marker is not ready: the marker is written into a temporary folder
after everything else, and that folder is renamed into place in one step.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gancli import paths
from gancli.data import classnames
from gancli.errors import UserError

Kind = Literal["archive", "oxford-flowers", "idx", "cifar-binary", "file"]
# kinds whose install extracts an archive of image files (bounded by the registry's size and count)
EXTRACTED_KINDS = ("archive", "oxford-flowers")
ChecksumKind = Literal["sha256", "md5"]

MARKER = ".complete.json"
IMAGES_NPY = "images.npy"
TEST_IMAGES_NPY = "test_images.npy"

# Dataset names become folder names: keep them to one safe path component.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: its addresses, expected size and checksum."""

    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    mirrors: tuple[str, ...] = ()
    role: str = ""  # what the file is for inside a multi-file dataset, e.g. "train-images"

    @property
    def urls(self) -> tuple[str, ...]:
        """The primary address followed by the mirrors."""
        return (self.url, *self.mirrors)

    @property
    def checksum(self) -> tuple[ChecksumKind, str] | None:
        """The strongest recorded full digest as (kind, hex), or None when none is known.

        Only whole digests count: a prefix (such as the 8 hex digits in a file name) is not
        recorded as a checksum, so a file known only by one is downloaded and reported as
        unverified rather than passed off as verified.
        """
        if self.sha256:
            return ("sha256", self.sha256.lower())
        if self.md5:
            return ("md5", self.md5.lower())
        return None


@dataclass(frozen=True)
class DatasetInfo:
    """A known dataset (or weights file): where it comes from and what it holds."""

    name: str
    kind: Kind
    files: tuple[RemoteFile, ...]
    images: int | None
    resolution: str
    channels: int | None
    licence: str
    description: str = ""
    notes: tuple[str, ...] = field(default=())
    # class names by label, for a format that reads labels but no names (idx, oxford-flowers)
    classes: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The address of the first (for single-file kinds, the only) file."""
        return self.files[0].url

    @property
    def mirrors(self) -> tuple[str, ...]:
        """Mirror addresses of the first file."""
        return self.files[0].mirrors

    @property
    def filename(self) -> str:
        """The name of the first (for single-file kinds, the only) file."""
        return self.files[0].filename

    @property
    def size(self) -> int | None:
        """Total download size in bytes, or None when a size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]

    @property
    def sha256(self) -> str | None:
        """The sha256 of the first file, when recorded."""
        return self.files[0].sha256


# Sizes and sha256s of flowers, MNIST, Fashion-MNIST, CIFAR-10, LFW and Oxford 102 Flowers (its
# label file too) are those recorded in TensorFlow Datasets' checksum lists (tensorflow_datasets/
# url_checksums/{tf_flowers,mnist,fashion_mnist,cifar10,lfw,oxford_flowers102}.txt). torchvision
# records md5s of the same files (datasets/mnist.py, lfw.py, flowers102.py); they are noted in
# comments for cross-checking. Only the training split's label files are fetched: the test
# images are kept for reference, but nothing here trains or scores on their classes.
# `licence` is short (it is a column of `gan download --list`); `description` says the rest.
_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist/"  # TFDS's address
_MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's address
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

DATASETS: dict[str, DatasetInfo] = {
    "flowers": DatasetInfo(
        name="flowers",
        kind="archive",
        files=(
            RemoteFile(
                filename="flower_photos.tgz",
                # the bucket behind download.tensorflow.org, over https as TensorFlow's tutorials fetch it
                url="https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz",
                size=228_813_984,
                sha256="4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c",
            ),
        ),
        images=3_670,
        resolution="varied",
        channels=3,
        licence="CC BY 2.0 (Flickr)",
        description="TensorFlow example images, about 320x240 to 500x375: daisy, dandelion, roses, "
        "sunflowers, tulips; credits to the Flickr photographers in flower_photos/LICENSE.txt",
    ),
    "flowers102": DatasetInfo(
        name="flowers102",
        kind="oxford-flowers",
        files=(
            RemoteFile(
                # Despite the name, an uncompressed tar (TFDS says so too): jpg/image_00001.jpg ...
                filename="102flowers.tgz",
                url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",
                size=344_862_509,
                sha256="2d01ecc807db462958cfe3d92f57a8c252b4abd240eb955770201e45f783b246",
                role="images",
            ),
            RemoteFile(
                # A MATLAB v5 file: `labels`, 1 x 8,189 classes 1-102, entry i for image_0000i.jpg
                filename="imagelabels.mat",
                url="https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",
                size=502,
                # torchvision md5: e0620be6f572b9609742df49c70aed4d
                sha256="4903e94206bac23bf772aadf06451916df56b58fc483a62db32a97b82656651d",
                role="image-labels",
            ),
        ),
        images=8_189,
        resolution="varied",
        channels=3,
        licence="no licence; cite Nilsback & Zisserman 2008",
        description="Oxford 102 Category Flowers (Visual Geometry Group, University of Oxford): 8,189 "
        "photos of 102 kinds of flowers common in the UK, 40 to 258 per kind, with their class labels "
        "(imagelabels.mat); no licence is published, the images come from the web; cite Nilsback & "
        "Zisserman, ICVGIP 2008",
        classes=classnames.FLOWERS102_CLASSES,
    ),
    "lfw": DatasetInfo(
        name="lfw",
        kind="archive",
        files=(
            RemoteFile(
                # lfw/<Person_Name>/<Person_Name>_0001.jpg: read as a folder, no converter needed.
                filename="lfw.tgz",
                url="http://vis-www.cs.umass.edu/lfw/lfw.tgz",
                # scikit-learn's copy of the same file (same sha256), for when the original is down
                mirrors=("https://ndownloader.figshare.com/files/5976018",),
                size=180_566_744,
                # torchvision md5: a17d05bd522c52d84eca14327a23d494
                sha256="055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0",
            ),
        ),
        images=13_233,
        resolution="250x250",
        channels=3,
        licence="no licence; cite Huang et al. 2007",
        description="Labeled Faces in the Wild (University of Massachusetts, Amherst): 13,233 news photos "
        "of 5,749 people, each centred on one face found by a face detector; no licence is published; "
        "cite Huang, Ramesh, Berg & Learned-Miller, UMass TR 07-49 (2007)",
    ),
    "mnist": DatasetInfo(
        name="mnist",
        kind="idx",
        files=(
            RemoteFile(
                filename="train-images-idx3-ubyte.gz",
                url=_MNIST + "train-images-idx3-ubyte.gz",
                mirrors=(_MNIST_MIRROR + "train-images-idx3-ubyte.gz",),
                size=9_912_422,
                # torchvision md5: f68b3c2dcbeaaa9fbdd348bbdeb94873
                sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                role="train-images",
            ),
            RemoteFile(
                filename="train-labels-idx1-ubyte.gz",
                url=_MNIST + "train-labels-idx1-ubyte.gz",
                mirrors=(_MNIST_MIRROR + "train-labels-idx1-ubyte.gz",),
                size=28_881,
                # torchvision md5: d53e105ee54ea40749a09fcbcd1e9432
                sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                role="train-labels",
            ),
            RemoteFile(
                filename="t10k-images-idx3-ubyte.gz",
                url=_MNIST + "t10k-images-idx3-ubyte.gz",
                mirrors=(_MNIST_MIRROR + "t10k-images-idx3-ubyte.gz",),
                size=1_648_877,
                # torchvision md5: 9fb629c4189551a2d022fa330f9573f3
                sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                role="test-images",
            ),
        ),
        images=60_000,
        resolution="28x28",
        channels=1,
        licence="no licence; cite LeCun et al. 1998",
        description="handwritten digits (LeCun, Cortes & Burges, from NIST data); images.npy is the 60,000 "
        "training images with their labels (labels.npy: the digits 0-9), test_images.npy the 10,000 test "
        "images",
        classes=classnames.MNIST_CLASSES,
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        kind="idx",
        files=(
            RemoteFile(
                filename="train-images-idx3-ubyte.gz",
                url=_FASHION + "train-images-idx3-ubyte.gz",
                size=26_421_880,
                # torchvision md5: 8d4fb7e6c68d591d4c3dfef9ec88bf0d
                sha256="3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                role="train-images",
            ),
            RemoteFile(
                filename="train-labels-idx1-ubyte.gz",
                url=_FASHION + "train-labels-idx1-ubyte.gz",
                size=29_515,
                # torchvision md5: 25c81989df183df01b3e8a0aad5dffbe
                sha256="a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                role="train-labels",
            ),
            RemoteFile(
                filename="t10k-images-idx3-ubyte.gz",
                url=_FASHION + "t10k-images-idx3-ubyte.gz",
                size=4_422_102,
                # torchvision md5: bef4ecab320f06d8554ea6380940ec79
                sha256="346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                role="test-images",
            ),
        ),
        images=60_000,
        resolution="28x28",
        channels=1,
        licence="MIT (Zalando Research)",
        description="clothing articles (Xiao, Rasul & Vollgraf, Zalando Research); images.npy is the "
        "60,000 training images with their labels (labels.npy: 10 classes, T-shirt/top to Ankle boot), "
        "test_images.npy the 10,000 test images",
        classes=classnames.FASHION_MNIST_CLASSES,
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        kind="cifar-binary",
        files=(
            RemoteFile(
                # The binary version: fixed-size records, read without unpickling anything.
                filename="cifar-10-binary.tar.gz",
                url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                size=170_052_171,
                sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            ),
        ),
        images=50_000,
        resolution="32x32",
        channels=3,
        licence="no licence; cite Krizhevsky 2009",
        description="10 classes of small photos (Krizhevsky, Nair & Hinton, U. Toronto); images.npy is the "
        "50,000 training images with their labels (labels.npy), test_images.npy the 10,000 test images",
    ),
    "inception": DatasetInfo(
        name="inception",
        kind="file",
        files=(
            RemoteFile(
                filename="pt_inception-2015-12-05-6726825d.pth",
                url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
                # pytorch-fid publishes only the first 8 hex digits (in the file name, which is all
                # torch.hub checks). The full digest and size are those that several independent
                # projects pinning this exact URL record, and they agree with the published prefix.
                # We verify all 64 digits and the size.
                size=95_628_359,
                sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            ),
        ),
        images=None,
        resolution="-",
        channels=None,
        licence="Apache-2.0 (pytorch-fid)",
        description="FID Inception-v3 weights (91 MiB): pytorch-fid's port of TensorFlow's "
        "inception-2015-12-05, used by the metrics",
    ),
}


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; a UserError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise UserError(
            f"Unknown dataset {name!r}. Known datasets: {known}. To fetch another archive of "
            f"images, run `gan download URL --name NAME [--sha256 HEX]`; `gan download --list` "
            f"shows the known ones."
        ) from None


def check_name(name: str) -> str:
    """Return ``name`` if it is usable as a dataset folder name, else raise UserError."""
    if not _NAME_RE.match(name or ""):
        raise UserError(
            f"Invalid dataset name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (it becomes a folder name)."
        )
    return name


def datasets_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds every downloaded dataset."""
    return paths.data_root(root) / "datasets"


def downloads_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder that holds the (partial) downloads of dataset ``name``."""
    return paths.data_root(root) / "downloads" / check_name(name)


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder where dataset ``name`` lives once downloaded (it may not exist yet)."""
    return datasets_root(root) / check_name(name)


def read_marker(folder: Path) -> dict | None:
    """The parsed completion marker of ``folder``, or None when absent or unreadable."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_downloaded(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The ready folder of dataset ``name``, or None when it is not (fully) downloaded."""
    if not _NAME_RE.match(name or ""):
        return None  # e.g. a path given to `--data`: not a dataset name, so not downloaded
    folder = datasets_root(root) / name
    marker = read_marker(folder)
    if marker is None:
        return None
    kind = marker.get("kind")
    if kind in ("idx", "cifar-binary") and not (folder / IMAGES_NPY).is_file():
        return None
    if kind == "file":
        filename = marker.get("filename")
        if not isinstance(filename, str) or not (folder / filename).is_file():
            return None
    return folder


def downloaded_file(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """For a ``file`` kind (e.g. ``inception``): the downloaded file, or None when absent."""
    folder = find_downloaded(name, root)
    if folder is None:
        return None
    marker = read_marker(folder) or {}
    filename = marker.get("filename")
    if marker.get("kind") != "file" or not isinstance(filename, str):
        return None
    return folder / filename
